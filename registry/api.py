"""The registry's API endpoints: list and search, show one dataset, its audit history.

Each parses its input, calls one read or service with the request's Actor (set by
tokens.auth), and serialises the result; the services decide what the Actor may do.
"""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.params import Path

from registry.presenters import dataset_as_dict
from registry.reads import MAX_PER_PAGE, PER_PAGE, audit_history, browse_datasets, show_dataset
from registry.services import HISTORY_LIMIT
from registry.tables import DEFAULT_SORT
from tokens.auth import api_actor

router = Router(tags=["datasets"])

type Sort = Literal[
    "name", "-name", "sha256", "-sha256", "size", "-size", "source", "-source",
    "pushed_by", "-pushed_by", "pushed_at", "-pushed_at", "download_count", "-download_count",
]  # fmt: skip

REF = Path(..., description="a full SHA-256 or a unique prefix of 6+ hex characters")


class DatasetOut(Schema):
    """A dataset, as `fetch --json` prints it. Times are ISO 8601."""

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
    deleted_at: str | None
    deleted_by: str | None
    last_verified_at: str | None


class DatasetPageOut(Schema):
    items: list[DatasetOut]
    #: Cursors: pass ``after=<next>`` for the next page, ``before=<previous>`` for the one
    #: before; null when there is none.
    next: int | None
    previous: int | None


class ListFilters(Schema):
    q: str = Query("", max_length=200, description="search name, source, description or hash")
    deleted: bool = Query(False, description="include deleted datasets (tombstones)")
    sort: Sort = Query(DEFAULT_SORT, description="column, '-' first for descending")
    after: int | None = Query(None, ge=1, description="the `next` cursor of the page before")
    before: int | None = Query(None, ge=1, description="the `previous` cursor of the page after")
    after_dataset: str | None = Query(
        None, max_length=64, description="instead of `after`: start after this dataset (hash)"
    )
    limit: int = Query(PER_PAGE, ge=1, le=MAX_PER_PAGE)


class AuditEventOut(Schema):
    at: str
    actor: str
    action: str
    sha256: str
    origin: str
    outcome: str
    detail: str


class HistoryOut(Schema):
    events: list[AuditEventOut]
    #: Older events exist beyond these (the admin's audit trail lists them all).
    more: bool


@router.get("/datasets", response=DatasetPageOut, summary="List and search datasets")
def list_datasets(request: HttpRequest, filters: Query[ListFilters]) -> dict[str, object]:
    actor = api_actor(request)
    after = filters.after
    if filters.after_dataset:
        # `fetch --all --after HASH` in remote mode: the client knows hashes, not cursors.
        after = show_dataset(actor=actor, ref=filters.after_dataset).pk
    page = browse_datasets(
        actor=actor,
        query=filters.q,
        include_deleted=filters.deleted,
        sort=filters.sort,
        after=after,
        before=filters.before,
        per_page=filters.limit,
    )
    return {
        "items": [dataset_as_dict(dataset) for dataset in page.rows],
        "next": page.next_after,
        "previous": page.previous_before,
    }


@router.get("/datasets/{ref}", response=DatasetOut, summary="Show one dataset")
def get_dataset(request: HttpRequest, ref: str = REF) -> dict[str, object]:
    return dataset_as_dict(show_dataset(actor=api_actor(request), ref=ref))


@router.get(
    "/datasets/{ref}/history",
    response=HistoryOut,
    summary="A dataset's audit history (administrators)",
)
def get_history(
    request: HttpRequest, ref: str = REF, limit: int = Query(HISTORY_LIMIT, ge=1, le=200)
) -> dict[str, object]:
    actor = api_actor(request)
    dataset = show_dataset(actor=actor, ref=ref)
    history = audit_history(actor=actor, dataset=dataset, limit=limit)
    return {
        "events": [
            {
                "at": event.at.isoformat(),
                "actor": event.actor,
                "action": event.action,
                "sha256": event.sha256,
                "origin": event.origin,
                "outcome": event.outcome,
                "detail": event.detail,
            }
            for event in history.events
        ],
        "more": history.more,
    }
