"""``file://`` store: objects in a local (or mounted) directory."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import secrets
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from registry.errors import IntegrityFailure, ObjectMissing, StoreError
from registry.hashing import CHUNK_SIZE, Progress, hash_file
from registry.storage.base import TEMP_SUFFIX, Storage, object_key

# A new temporary swept by a concurrent gc between its creation and its lock (see
# _locked_temporary) is made again under another name, at most this many times.
TEMP_ATTEMPTS = 3


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
        self._store(
            sha256,
            [source],
            progress=progress,
            changed=f"{source} changed while it was being pushed (its bytes no longer "
            f"hash to {sha256}); nothing was stored",
        )

    def put_parts(
        self, sha256: str, parts: Sequence[Path], *, progress: Progress | None = None
    ) -> None:
        # Read once, hashed as it is copied into the locked temporary: the one pass over
        # the bytes the server must make anyway to verify them.
        self._store(
            sha256,
            parts,
            progress=progress,
            changed=f"the parts do not hash to {sha256} when joined; nothing was stored",
        )

    def _store(
        self,
        sha256: str,
        sources: Sequence[Path],
        *,
        progress: Progress | None,
        changed: str,
    ) -> None:
        """Copy ``sources`` in order into a locked temporary, hashing as they go; fsync,
        then rename into place only if the whole hashes to ``sha256``."""
        final = self._path(sha256)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(describe_os_error(exc, f"creating {final.parent}")) from exc
        digest = hashlib.sha256()
        temp: Path | None = None
        try:
            # Every source opened first: one that cannot be read fails before the store
            # is touched (the caller's problem, not the store's).
            with ExitStack() as stack:
                readers = [stack.enter_context(path.open("rb", buffering=0)) for path in sources]
                temp, dst = _locked_temporary(final)
                # The lock is held until the temporary is renamed into place (or the
                # process dies): gc never sweeps a temporary it cannot lock.
                with dst:
                    buffer = bytearray(CHUNK_SIZE)
                    view = memoryview(buffer)
                    for src in readers:
                        while n := src.readinto(view):
                            digest.update(view[:n])
                            _write_all(dst, view[:n])
                            if progress:
                                progress(n)
                    os.fsync(dst.fileno())
                    if digest.hexdigest() != sha256:
                        raise IntegrityFailure(changed)
                    os.fchmod(dst.fileno(), 0o444)
                    os.replace(temp, final)
                    _fsync_dir(final.parent)
        except OSError as exc:
            raise StoreError(describe_os_error(exc, f"storing {sha256}")) from exc
        finally:
            if temp is not None:
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

    def local_path(self, sha256: str) -> Path | None:
        path = self._path(sha256)
        return path if path.is_file() else None

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
        """Remove stale temporaries; one whose upload is running (locked) is kept."""
        cutoff = time.time() - older_than.total_seconds()
        removed: list[str] = []
        if not self.root.is_dir():
            return removed
        for temp in self.root.glob(f"[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]/.*{TEMP_SUFFIX}"):
            try:
                if _remove_if_stale(temp, cutoff, dry_run=dry_run):
                    removed.append(str(temp.relative_to(self.root)))
            except OSError as exc:
                raise StoreError(describe_os_error(exc, f"removing the temporary {temp}")) from exc
        return removed


def _locked_temporary(final: Path) -> tuple[Path, BinaryIO]:
    """A new temporary beside ``final`` (so the rename is atomic), open and locked.

    A sweep may remove the file between its creation and our lock: the sweep holds the
    lock while it unlinks, so once ours is granted the file is either still named (ours
    to write) or has no name left, and then another is made.
    """
    for _attempt in range(TEMP_ATTEMPTS):
        temp = final.with_name(f".{final.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
        dst = temp.open("xb", buffering=0)
        try:
            fcntl.flock(dst.fileno(), fcntl.LOCK_EX)
            if os.fstat(dst.fileno()).st_nlink > 0:
                return temp, dst
        except BaseException:
            dst.close()
            raise
        dst.close()
    raise StoreError(f"temporary uploads beside {final} kept being removed by a concurrent gc")


def _remove_if_stale(temp: Path, cutoff: float, *, dry_run: bool) -> bool:
    """Remove ``temp`` if it is older than ``cutoff`` and no upload holds its lock."""
    try:
        fd = os.open(temp, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # an upload in progress, whatever its age
        info = os.fstat(fd)
        if info.st_nlink == 0 or info.st_mtime >= cutoff:
            return False
        try:
            # Still the file we locked under that name (not renamed into place meanwhile).
            if os.stat(temp, follow_symlinks=False).st_ino != info.st_ino:
                return False
            if not dry_run:
                temp.unlink()
        except FileNotFoundError:
            return False
        return True
    finally:
        os.close(fd)


def _write_all(dst: BinaryIO, data: memoryview) -> None:
    """Write all of ``data`` to an unbuffered file: its write may write less (a disk
    filling up writes what fits and says so only on the next call), and a short write
    taken for a whole one would store an object missing bytes its hash was taken over."""
    while data:
        written = dst.write(data)
        if written is None:  # non-blocking files only; ours block
            raise StoreError("the store's temporary would block")
        data = data[written:]


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable: fsync the directory that holds the new name."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
