"""The one interface every object store implements.

Objects are content-addressed: the key is always the full 64-character lowercase hex
SHA-256 of the bytes, and an object's path in a store is derived from that key only
(``ab/cd/abcd...``), so no user text ever reaches a path or a remote command.

A store is a context manager: entering it may open a connection (SSH) that every call
reuses until it is closed.
"""

from __future__ import annotations

import abc
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

from registry.hashing import CHUNK_SIZE, Progress, require_full_hash

# Temporary uploads carry this suffix; `gc` sweeps the stale ones.
TEMP_SUFFIX = ".tmp"


def object_key(sha256: str) -> str:
    """The relative path of an object: ``ab/cd/<sha256>``."""
    require_full_hash(sha256)
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


class Storage(abc.ABC):
    """Contract of an object store. Every method takes a full hex SHA-256."""

    #: The configured URL, e.g. ``file:///srv/datatrac`` or ``ssh://dt@host/srv/datatrac``.
    url: str
    #: How much to ask of a reader from ``open`` at a time; a read may return less.
    read_size: int = CHUNK_SIZE

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:  # noqa: B027 - stores without connections have nothing to close
        """Release connections. The store may be used again afterwards (it reconnects)."""

    @abc.abstractmethod
    def location(self, sha256: str) -> str:
        """The registry path of an object: a URL naming where its bytes live."""

    @abc.abstractmethod
    def put(self, sha256: str, source: Path, *, progress: Progress | None = None) -> None:
        """Store the bytes of local file ``source`` under ``sha256``.

        The bytes go to a temporary name first and appear under the final name only
        once complete and verified to hash to ``sha256``. The temporary is locked until
        then (see sweep_temporaries); a killed process leaves at most an unlocked
        temporary behind. Raises IntegrityFailure (and stores nothing) if the bytes do
        not hash to ``sha256`` (for instance the file changed after it was hashed) and
        StoreError for any failure of the store. Storing an object that
        already exists is allowed and leaves one object.
        """

    def put_parts(
        self, sha256: str, parts: Sequence[Path], *, progress: Progress | None = None
    ) -> None:
        """Store the bytes of local files ``parts`` joined in order under ``sha256``.

        ``put`` of their concatenation, with the same guarantees: a temporary name,
        locked until it is renamed into place; the whole hashed exactly once as it is
        stored and IntegrityFailure (nothing stored) unless it hashes to ``sha256`` -
        for instance when a part is not the bytes it was taken for; StoreError for any
        failure of the store. The parts are left as they are.

        This default joins the parts into one local temporary beside the first (so a
        store without a better way still works) and hands it to ``put``; a store that
        can copy parts straight into its own temporary overrides it.
        """
        if not parts:
            with tempfile.NamedTemporaryFile(prefix=".joined.", suffix=TEMP_SUFFIX) as empty:
                self.put(sha256, Path(empty.name), progress=progress)
            return
        directory = parts[0].parent
        with tempfile.NamedTemporaryFile(
            dir=directory, prefix=".joined.", suffix=TEMP_SUFFIX
        ) as joined:
            buffer = bytearray(CHUNK_SIZE)
            view = memoryview(buffer)
            for part in parts:
                with part.open("rb", buffering=0) as src:
                    while n := src.readinto(view):
                        joined.write(view[:n])
            joined.flush()
            self.put(sha256, Path(joined.name), progress=progress)

    @abc.abstractmethod
    def open(self, sha256: str) -> AbstractContextManager[BinaryIO]:
        """Open an object for streaming reads. Raises ObjectMissing if absent.

        The reader is not verified: callers that hand bytes on verify as they read.
        """

    @abc.abstractmethod
    def delete(self, sha256: str) -> None:
        """Remove an object. Raises ObjectMissing if it was not there."""

    @abc.abstractmethod
    def exists(self, sha256: str) -> bool:
        """Whether an object is stored under its final name."""

    @abc.abstractmethod
    def stat(self, sha256: str) -> int:
        """The object's size in bytes. Raises ObjectMissing if absent."""

    @abc.abstractmethod
    def verify(self, sha256: str) -> bool:
        """Recompute the object's SHA-256 where it is stored; True if it matches.

        Raises ObjectMissing if absent. Remote stores hash on the server and never
        download the object.
        """

    def local_path(self, sha256: str) -> Path | None:
        """The object's file on this machine, to hand to sendfile; None if the store is
        not a local file system (or has no such object).

        Reading the file is not verifying it: whoever sends it on unverified must have
        its receiver verify (the API's content download, see registry.content).
        """
        return None

    def age(self, sha256: str) -> timedelta:
        """How long ago the object was last written, by the store's own clock.

        ``gc`` removes an unreferenced object only once it is older than the grace
        period. Raises ObjectMissing if absent. A store that cannot tell raises
        NotImplementedError, and ``gc`` then keeps every object.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot tell the age of an object")

    @abc.abstractmethod
    def iter_objects(self) -> Iterator[str]:
        """Every hash stored under a final name (not temporaries), in no set order."""

    @abc.abstractmethod
    def sweep_temporaries(self, *, older_than: timedelta, dry_run: bool = False) -> list[str]:
        """Remove temporary uploads last modified more than ``older_than`` ago.

        Returns the store-relative names of what was (or, with ``dry_run``, would be)
        removed. Never touches an object under its final name, nor - whatever
        ``older_than`` - the temporary of an upload still running: ``put`` holds a lock
        on its temporary from creation to rename, and the sweep skips what it cannot lock.
        """
