"""The remote push's one pass over the file: the whole's SHA-256 and each part's."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from datatrac.remote import READ_SIZE, _hash_with_parts


@pytest.mark.parametrize(
    "size, part_size",
    [
        (0, 1000),
        (READ_SIZE * 2, READ_SIZE),  # parts on read boundaries
        (READ_SIZE + 12_345, 1_000_003),  # parts straddling reads, a short last part
        (3_000, 10_000),  # one part smaller than a read
    ],
)
def test_one_pass_gives_the_whole_hash_and_every_parts_hash(
    tmp_path: Path, size: int, part_size: int
) -> None:
    data = os.urandom(size)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    seen: list[int] = []

    sha256, length, parts = _hash_with_parts(path, part_size, seen.append)

    assert sha256 == hashlib.sha256(data).hexdigest()
    assert length == size == sum(seen)
    assert parts == [
        hashlib.sha256(data[i : i + part_size]).digest() for i in range(0, size, part_size)
    ]
