"""The allocator tuning that SSH transfers rely on (registry/storage/allocator.py)."""

from __future__ import annotations

import platform

import pytest

from registry.storage.allocator import keep_freed_memory


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="the thresholds are glibc's",
)
def test_glibc_takes_the_thresholds() -> None:
    # mallopt returns 0 for a value it refuses: the mmap threshold may not exceed 32 MiB.
    assert keep_freed_memory() is True
