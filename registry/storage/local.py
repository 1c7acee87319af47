"""``file://`` store: objects in a local (or mounted) directory."""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from registry.errors import IntegrityFailure, ObjectMissing, StoreError
from registry.hashing import CHUNK_SIZE, Progress, hash_file
from registry.storage.base import TEMP_SUFFIX, Storage, object_key


def describe_os_error(exc: OSError, what: str) -> str:
    """One line for an OSError, naming the common store failures plainly."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on the store while {what}"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"permission denied while {what}: {exc.filename or ''}".rstrip(": ")
    return f"{what} failed: {exc.strerror or exc}"


class LocalStorage(Storage):
    def __init__(self, root: Path, url: str | None = None) -> None:
        self.root = root
        self.url = url or root.as_uri()

    def _path(self, sha256: str) -> Path:
        return self.root / object_key(sha256)

    def location(self, sha256: str) -> str:
        return self._path(sha256).as_uri()

    def put(self, sha256: str, source: Path, *, progress: Progress | None = None) -> None:
        final = self._path(sha256)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(describe_os_error(exc, f"creating {final.parent}")) from exc
        # The temporary sits beside the final name so the rename is atomic.
        temp = final.with_name(f".{sha256}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
        digest = hashlib.sha256()
        try:
            with source.open("rb", buffering=0) as src, temp.open("xb", buffering=0) as dst:
                buffer = bytearray(CHUNK_SIZE)
                view = memoryview(buffer)
                while n := src.readinto(view):
                    digest.update(view[:n])
                    dst.write(view[:n])
                    if progress:
                        progress(n)
                os.fsync(dst.fileno())
            if digest.hexdigest() != sha256:
                raise IntegrityFailure(
                    f"{source} changed while it was being pushed (its bytes no longer hash "
                    f"to {sha256}); nothing was stored"
                )
            os.chmod(temp, 0o444)
            os.replace(temp, final)
            _fsync_dir(final.parent)
        except OSError as exc:
            raise StoreError(describe_os_error(exc, f"storing {sha256}")) from exc
        finally:
            temp.unlink(missing_ok=True)

    def open(self, sha256: str) -> AbstractContextManager[BinaryIO]:
        try:
            return self._path(sha256).open("rb")
        except FileNotFoundError:
            raise ObjectMissing(sha256, self.url) from None
        except OSError as exc:
            raise StoreError(describe_os_error(exc, f"reading {sha256}")) from exc

    def delete(self, sha256: str) -> None:
        try:
            self._path(sha256).unlink()
        except FileNotFoundError:
            raise ObjectMissing(sha256, self.url) from None
        except OSError as exc:
            raise StoreError(describe_os_error(exc, f"deleting {sha256}")) from exc

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).is_file()

    def stat(self, sha256: str) -> int:
        try:
            return self._path(sha256).stat().st_size
        except FileNotFoundError:
            raise ObjectMissing(sha256, self.url) from None

    def age(self, sha256: str) -> timedelta:
        try:
            mtime = self._path(sha256).stat().st_mtime
        except FileNotFoundError:
            raise ObjectMissing(sha256, self.url) from None
        return timedelta(seconds=max(0.0, time.time() - mtime))

    def verify(self, sha256: str) -> bool:
        try:
            return hash_file(self._path(sha256))[0] == sha256
        except FileNotFoundError:
            raise ObjectMissing(sha256, self.url) from None
        except OSError as exc:  # an I/O error is the store failing, not a corrupt object
            raise StoreError(describe_os_error(exc, f"verifying {sha256}")) from exc

    def iter_objects(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for first in sorted(self.root.glob("[0-9a-f][0-9a-f]")):
            for path in first.glob("[0-9a-f][0-9a-f]/*"):
                name = path.name
                if (
                    len(name) == 64
                    and not name.startswith(".")
                    and name.startswith(first.name + path.parent.name)
                ):
                    yield name

    def sweep_temporaries(self, *, older_than: timedelta, dry_run: bool = False) -> list[str]:
        cutoff = time.time() - older_than.total_seconds()
        removed: list[str] = []
        if not self.root.is_dir():
            return removed
        for temp in self.root.glob(f"[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]/.*{TEMP_SUFFIX}"):
            try:
                if temp.stat().st_mtime >= cutoff:
                    continue
                if not dry_run:
                    temp.unlink()
            except FileNotFoundError:
                continue
            removed.append(str(temp.relative_to(self.root)))
        return removed


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable: fsync the directory that holds the new name."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
