"""SHA-256 helpers shared by every path that reads or checks bytes."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from registry.errors import InvalidHash

# 1 MiB reads keep memory flat and let OpenSSL's SHA-256 run at full speed.
CHUNK_SIZE = 1024 * 1024
MIN_PREFIX = 6
_HEX = re.compile(r"[0-9a-f]+")

Progress = Callable[[int], None]


def normalize_hash_ref(ref: str) -> str:
    """Return ``ref`` as a lowercase hex hash or prefix, or raise InvalidHash.

    Runs before any I/O, so nothing that is not plain hex ever reaches a path,
    a query or a remote command.
    """
    value = ref.strip().lower()
    if not value:
        raise InvalidHash("a hash is required")
    if not _HEX.fullmatch(value):
        raise InvalidHash(f"{ref!r} is not a hash: only hex digits 0-9 and a-f are allowed")
    if len(value) < MIN_PREFIX:
        raise InvalidHash(
            f"hash prefix {ref!r} is too short: give at least {MIN_PREFIX} hex characters"
        )
    if len(value) > 64:
        raise InvalidHash(f"{ref!r} is too long for a SHA-256 (64 hex characters)")
    return value


def require_full_hash(sha256: str) -> str:
    """Check that ``sha256`` is exactly 64 lowercase hex characters (a storage key)."""
    if len(sha256) != 64 or not _HEX.fullmatch(sha256):
        raise InvalidHash(f"{sha256!r} is not a full SHA-256 hex digest")
    return sha256


def hash_stream(stream: BinaryIO, progress: Progress | None = None) -> tuple[str, int]:
    """Hash a binary stream in one pass; return (hex digest, bytes read)."""
    digest = hashlib.sha256()
    size = 0
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    while n := stream.readinto(view):  # type: ignore[attr-defined]
        digest.update(view[:n])
        size += n
        if progress:
            progress(n)
    return digest.hexdigest(), size


def hash_file(path: Path, progress: Progress | None = None) -> tuple[str, int]:
    """Hash a local file in one streaming pass; return (hex digest, size)."""
    with path.open("rb", buffering=0) as stream:
        return hash_stream(stream, progress)
