"""The one client interface: everything the CLI (and, later, the Python API) does.

Two backends implement it: ``datatrac.direct.DirectClient`` (this machine's registry,
through the services) and ``datatrac.remote.RemoteClient`` (a team server's /api/v1/).
Both return the plain records of datatrac.records and raise datatrac.errors only.
A ``ref`` is a full SHA-256 or a unique prefix of 6+ hex characters.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal, Self

from datatrac.records import (
    DatasetDetail,
    DatasetInfo,
    DeleteInfo,
    DownloadInfo,
    LineageInfo,
    LinkInfo,
    PurgeInfo,
    PushInfo,
    TokenInfo,
    WhoAmI,
)

#: Called with the number of bytes just hashed, sent or received.
type Progress = Callable[[int], None]
type Direction = Literal["both", "up", "down"]


class Client(ABC):
    """A DataTrac registry, local or remote. Use as a context manager to release it."""

    #: "direct" or the server's URL: shown by whoami and in errors.
    where: str

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # noqa: B027 - optional: only a backend holding resources needs it
        """Release connections; the client is not used afterwards."""

    @abstractmethod
    def whoami(self) -> WhoAmI:
        """Who the registry takes this client for, and the permissions it holds."""

    @abstractmethod
    def list_datasets(
        self,
        *,
        query: str = "",
        deleted: bool = False,
        limit: int | None = None,
        after: str | None = None,
    ) -> Iterator[DatasetInfo]:
        """Datasets newest first, searched by ``query`` (name, source, description or
        hash prefix), tombstones too with ``deleted``, starting after the dataset
        ``after`` names, at most ``limit`` (None: every one). Fetched a page at a time."""

    @abstractmethod
    def more_after(self, *, last: DatasetInfo, query: str, deleted: bool, cap: int) -> int:
        """How many datasets of that listing come after ``last`` (up to ``cap`` + 1;
        a remote registry answers 0 or 1: "some")."""

    @abstractmethod
    def get(self, ref: str) -> DatasetDetail:
        """One dataset (tombstones too) with its direct parents and children."""

    @abstractmethod
    def lineage(self, ref: str, *, depth: int = 3, direction: Direction = "both") -> LineageInfo:
        """A dataset's ancestors and descendants up to ``depth`` hops."""

    @abstractmethod
    def link(self, parent: str, child: str, *, note: str = "") -> LinkInfo:
        """Record that ``child`` was made from ``parent`` (created False: it already was)."""

    @abstractmethod
    def unlink(self, parent: str, child: str) -> LinkInfo:
        """Remove that link; NotFound when ``parent`` is not a parent of ``child``."""

    @abstractmethod
    def push(
        self,
        path: Path,
        *,
        source: str,
        name: str | None = None,
        description: str = "",
        parents: Sequence[str] = (),
        progress: Progress | None = None,
    ) -> PushInfo:
        """Hash ``path``, upload its bytes once (nothing when the content is known) and
        register it. ``progress`` counts hashed plus uploaded bytes (2 x size at most)."""

    @abstractmethod
    def download(
        self,
        ref: str,
        *,
        output: str | None = None,
        force: bool = False,
        progress: Progress | None = None,
    ) -> DownloadInfo:
        """Fetch a dataset's bytes into the local cache, verified while they stream, and
        place a copy at ``output`` (a file, or a directory getting the dataset's name;
        the name in the cwd by default) under a temporary name then renamed. An existing
        file is replaced only with ``force`` (Conflict otherwise)."""

    @abstractmethod
    def output_path(self, ref: str, output: str | None) -> tuple[Path, bool]:
        """Where a download of ``ref`` would write, and whether a file is already there."""

    @abstractmethod
    def delete_local(self, ref: str) -> tuple[DatasetInfo, bool]:
        """Remove this machine's cached copy; True when there was one."""

    @abstractmethod
    def delete(self, ref: str, *, force: bool = False) -> DeleteInfo:
        """(Administrators) remove the central copy, keeping the record as a tombstone;
        ``force`` even when living datasets derive from it."""

    @abstractmethod
    def purge(self, ref: str) -> PurgeInfo:
        """(Administrators) remove a deleted dataset's record for good."""

    @abstractmethod
    def restore(self, ref: str) -> DatasetInfo:
        """(Administrators) make a deleted dataset available again from stored bytes."""

    @abstractmethod
    def create_token(self, name: str, *, scope: str = "read", days: int = 90) -> TokenInfo:
        """A new personal access token for this account; its secret is in the answer once."""

    @abstractmethod
    def list_tokens(self) -> list[TokenInfo]:
        """This account's tokens, newest first (no secrets)."""

    @abstractmethod
    def revoke_token(self, token_id: int) -> bool:
        """Revoke one of this account's tokens; False when it already was."""
