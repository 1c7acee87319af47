"""What clients return: plain frozen dataclasses, the same from either backend."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset, as the API's DatasetOut and `fetch --json` give it (ISO 8601 times)."""

    sha256: str
    name: str
    size: int
    source: str
    description: str
    registry_path: str
    pushed_by: str
    pushed_at: str
    downloads: int
    state: Literal["available", "deleted"]
    deleted_at: str | None = None
    deleted_by: str | None = None
    last_verified_at: str | None = None

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]

    @property
    def is_available(self) -> bool:
        return self.state == "available"

    def __str__(self) -> str:
        return f"{self.short_hash} {self.name}"  # as registry.models.Dataset

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetInfo:
        known: dict[str, Any] = {name: data.get(name) for name in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class EdgeInfo:
    """One lineage link seen from a dataset: the dataset at the other end, and the note."""

    sha256: str
    name: str
    note: str = ""


@dataclass(frozen=True)
class DatasetDetail:
    """A dataset with its direct parents and children (`fetch HASH`)."""

    dataset: DatasetInfo
    parents: tuple[EdgeInfo, ...] = ()
    children: tuple[EdgeInfo, ...] = ()


@dataclass(frozen=True)
class LineageInfo:
    """A dataset's lineage graph, as `lineage --json` and the API give it: ``raw`` is that
    JSON, kept whole so both print alike; the rest are typed views of it."""

    dataset: DatasetInfo
    depth: int
    ancestors: tuple[tuple[DatasetInfo, int], ...]
    descendants: tuple[tuple[DatasetInfo, int], ...]
    edges: tuple[tuple[str, str], ...]
    raw: dict[str, Any] = field(compare=False, repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LineageInfo:
        def nodes(key: str) -> tuple[tuple[DatasetInfo, int], ...]:
            return tuple((DatasetInfo.from_dict(n), int(n["distance"])) for n in data[key] or ())

        return cls(
            dataset=DatasetInfo.from_dict(data["dataset"]),
            depth=int(data["depth"]),
            ancestors=nodes("ancestors"),
            descendants=nodes("descendants"),
            edges=tuple((e["parent"], e["child"]) for e in data["edges"]),
            raw=data,
        )


@dataclass(frozen=True)
class PushInfo:
    """What a push did: ``outcome`` is new, existing, repaired or restored."""

    dataset: DatasetInfo
    outcome: str
    uploaded: bool


@dataclass(frozen=True)
class DownloadInfo:
    dataset: DatasetInfo
    path: Path
    from_cache: bool
    replaced: bool


@dataclass(frozen=True)
class LinkInfo:
    parent: str
    child: str
    created: bool


@dataclass(frozen=True)
class DeleteInfo:
    dataset: DatasetInfo
    object_was_missing: bool


@dataclass(frozen=True)
class PurgeInfo:
    sha256: str
    name: str
    edges_removed: int
    downloads_removed: int


@dataclass(frozen=True)
class WhoAmI:
    username: str
    authenticated: bool
    via: str
    token_id: int | None
    scope: str | None
    permissions: tuple[str, ...]
    #: Where the answer came from: the server's URL, or "direct" (this machine's registry).
    server: str = "direct"


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    scope: str
    created_at: str
    expires_at: str
    last_used_at: str | None
    revoked_at: str | None
    #: ``dtk_<id>_<secret>``: only in the answer to create, never again.
    secret: str | None = None
