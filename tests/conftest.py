"""Shared fixtures. Every test runs with its own DataTrac home, store and cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import LazySettings

from registry.storage.local import LocalStorage


@pytest.fixture(autouse=True)
def datatrac_dirs(tmp_path: Path, settings: LazySettings) -> Iterator[Path]:
    """Point the store and the download cache at this test's own directories."""
    home = tmp_path / "home"
    home.mkdir()
    settings.DATATRAC_HOME = home
    settings.DATATRAC_STORAGE_URL = (home / "store").as_uri()
    settings.DATATRAC_CACHE_DIR = home / "cache"
    settings.DATATRAC_USER = "tester"
    yield home


@pytest.fixture
def local_store(datatrac_dirs: Path) -> LocalStorage:
    return LocalStorage(datatrac_dirs / "store")
