"""Sizes for people: one way of writing them, in the terminal and on the web."""

from __future__ import annotations

NBSP = "\xa0"


def human_size(size: int, space: str = " ") -> str:
    """1536 -> '1.5 KiB' (binary units, as file managers and `ls -h` show them).

    The web passes a no-break ``space`` so that a size never wraps between its number
    and its unit.
    """
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)}{space}B" if unit == "B" else f"{value:.1f}{space}{unit}"
        value /= 1024
    raise AssertionError("unreachable")
