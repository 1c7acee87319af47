"""A dataset's bytes over HTTP: whole, or a byte range of them (GET .../content).

The API's download. Whole downloads from a store that streams (SSH) go through
registry.services.stream_dataset, which verifies the hash and holds back the last chunk,
so corrupt bytes never complete. A ``file://`` store serves the object file itself (the
WSGI server's sendfile): the server does not hash it first, and the client verifies as
it streams against the hash it asked for (also sent as ``ETag`` and ``Repr-Digest``);
an object `verify` flagged corrupt is refused before any byte. A byte range cannot be
verified by the server (it never reads the whole): the client verifies the whole file it
assembled.

Counting: a download is counted (and audited) once per transfer of the whole object.
Streamed: when the response has sent the object's last byte (a whole download: once it
verified), so an interrupted download is not counted and its resumption (``bytes=N-``)
is, once. Sendfile: the server cannot see the transfer end, so a response that starts at
byte 0 and reaches the end is counted as it starts, and a resumption (starting past
byte 0) is not: an interrupted and resumed download still counts once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from registry.actors import Actor, require_permission
from registry.errors import DatasetDeleted, IntegrityFailure, ObjectMissing, RangeNotSatisfiable
from registry.models import Dataset
from registry.services import record_download, stream_dataset

if TYPE_CHECKING:
    from registry.storage.base import Storage

VIA = "api"
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass(frozen=True)
class Content:
    """What to send: bytes ``start``..``end`` (inclusive) of the object, as a file to
    hand to sendfile (``file``) or as chunks."""

    dataset: Dataset
    start: int
    end: int
    #: A byte range was asked for and is served (206).
    partial: bool
    file: BinaryIO | BoundedReader | None = None
    chunks: Iterator[bytes] | None = None

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def etag(dataset: Dataset) -> str:
    return f'"{dataset.sha256}"'


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` inclusive for one ``bytes=a-b``, ``a-`` or ``-n`` range; None
    for no header or one this server serves whole (several ranges, another unit).

    RangeNotSatisfiable when the range selects no byte of ``size``.
    """
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if not match or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first == "":  # a suffix: the last n bytes
        n = int(last)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable(f"range {header!r} selects no byte", size)
        return max(0, size - n), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if last != "" and int(last) < start:
        return None  # invalid: ignored (RFC 9110 14.1.1), the whole is served
    if start >= size:
        raise RangeNotSatisfiable(
            f"range {header!r} starts past the end of the object ({size} bytes)", size
        )
    return start, end


def open_content(
    *,
    actor: Actor,
    dataset: Dataset,
    storage: Storage,
    range_header: str | None = None,
    if_range: str | None = None,
) -> Content:
    """Open a dataset's bytes (or the range asked) for an HTTP response.

    Needs ``registry.download_dataset``. DatasetDeleted for a tombstone, IntegrityFailure
    for bytes `verify` flagged corrupt, ObjectMissing when the store lost them. A Range
    is honoured unless ``if_range`` names another representation than the dataset's
    ETag. Streamed whole downloads read their first chunk here, so a store that fails
    at once or a small corrupt object fails before the response starts.
    """
    require_permission(
        actor, "registry.download_dataset", action="download datasets", sha256=dataset.sha256
    )
    if not dataset.is_available:
        raise DatasetDeleted(f"dataset {dataset.short_hash} was deleted: its bytes are gone")
    if dataset.corrupt_since is not None:
        raise IntegrityFailure(
            f"the stored bytes of dataset {dataset.short_hash} were found corrupt by verify "
            f"on {dataset.corrupt_since:%Y-%m-%d}: push the file again to repair them"
        )
    size = dataset.size
    asked = parse_range(range_header, size)
    if asked is not None and if_range is not None and if_range.strip() != etag(dataset):
        asked = None  # another representation than ours: the whole
    start, end = asked if asked is not None else (0, size - 1)
    whole = start == 0 and end == size - 1
    partial = asked is not None
    local = storage.local_path(dataset.sha256)
    if local is not None:
        try:
            file = local.open("rb")
        except FileNotFoundError:
            raise ObjectMissing(dataset.sha256, storage.url) from None
        actual = os.fstat(file.fileno()).st_size
        if actual != size:
            file.close()
            raise IntegrityFailure(
                f"the stored object of dataset {dataset.short_hash} is {actual} bytes, "
                f"not {size}: corrupt"
            )
        file.seek(start)
        if whole:
            record_download(dataset=dataset, actor=actor, via=VIA)
        if end < size - 1:  # a range short of the end: read, not sent whole by sendfile
            bounded = BoundedReader(file, end - start + 1)
            return Content(dataset=dataset, start=start, end=end, partial=partial, file=bounded)
        return Content(dataset=dataset, start=start, end=end, partial=partial, file=file)
    if whole:
        chunks = stream_dataset(dataset=dataset, actor=actor, storage=storage, via=VIA)
        first = next(chunks, b"")
        return Content(
            dataset=dataset,
            start=start,
            end=end,
            partial=partial,
            chunks=_prepend(first, chunks),
        )
    if not storage.exists(dataset.sha256):
        raise ObjectMissing(dataset.sha256, storage.url)
    return Content(
        dataset=dataset,
        start=start,
        end=end,
        partial=partial,
        chunks=_ranged(dataset=dataset, actor=actor, storage=storage, start=start, end=end),
    )


class BoundedReader:
    """At most ``length`` bytes of ``file`` from where it stands. No ``fileno``: a WSGI
    server's sendfile would send the file to its end."""

    def __init__(self, file: BinaryIO, length: int) -> None:
        self._file = file
        self._left = length

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        size = self._left if size < 0 else min(size, self._left)
        data = self._file.read(size)
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._file.close()


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _ranged(
    *, dataset: Dataset, actor: Actor, storage: Storage, start: int, end: int
) -> Iterator[bytes]:
    """Bytes ``start``..``end`` of the object, unverified (see the module docstring);
    counted once the object's last byte has been sent."""
    remaining = end - start + 1
    with storage.open(dataset.sha256) as src:
        try:
            src.seek(start)
        except (AttributeError, OSError, ValueError):
            _skip(src, start, storage.read_size)
        while remaining > 0:
            chunk = src.read(min(storage.read_size, remaining))
            if not chunk:
                raise IntegrityFailure(
                    f"the stored object of dataset {dataset.short_hash} ended early: corrupt"
                )
            remaining -= len(chunk)
            yield chunk
    if end == dataset.size - 1:
        record_download(dataset=dataset, actor=actor, via=VIA)


def _skip(src: BinaryIO, count: int, read_size: int) -> None:
    while count > 0:
        chunk = src.read(min(read_size, count))
        if not chunk:
            return
        count -= len(chunk)
