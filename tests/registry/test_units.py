"""Sizes read the same in the terminal and on the web."""

from __future__ import annotations

import pytest

from registry.units import NBSP, human_size


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (1_500_000, "1.4 MiB"),
        (2**30, "1.0 GiB"),
        (5 * 2**40, "5.0 TiB"),
        (2**60, "1048576.0 TiB"),
    ],
)
def test_sizes_are_written_in_binary_units(size: int, shown: str) -> None:
    assert human_size(size) == shown


def test_the_web_keeps_number_and_unit_together() -> None:
    assert human_size(1536, NBSP) == "1.5\xa0KiB"
