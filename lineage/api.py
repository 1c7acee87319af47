"""Lineage API endpoints: a dataset's graph, and link/unlink.

Thin: parse, call one lineage read or service with the request's Actor, serialise.
"""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError
from ninja.params import Path

from lineage.presenters import graph_as_dict
from lineage.reads import MAX_DEPTH, direct_links, explore_lineage
from lineage.services import link_datasets, unlink_datasets
from registry.api import DatasetOut
from registry.models import Dataset
from registry.reads import show_dataset
from tokens.auth import api_actor

router = Router(tags=["lineage"])


class LineageNodeOut(DatasetOut):
    #: Hops from the centre dataset.
    distance: int


class EdgeOut(Schema):
    parent: str
    child: str


class LineageOut(Schema):
    """As `lineage --json` prints it; the side a direction leaves out is null."""

    dataset: DatasetOut
    depth: int
    ancestors: list[LineageNodeOut] | None
    descendants: list[LineageNodeOut] | None
    edges: list[EdgeOut]
    ancestors_total: int | None
    descendants_total: int | None
    ancestors_capped: bool | None
    descendants_capped: bool | None


class LinkedOut(Schema):
    sha256: str
    name: str
    note: str


class LinksOut(Schema):
    """A dataset's direct parents and children, with each link's note (`fetch HASH`)."""

    parents: list[LinkedOut]
    children: list[LinkedOut]


class LinkIn(Schema):
    parent: str
    child: str
    note: str = ""


class LinkOut(Schema):
    parent: str
    child: str
    created: bool


@router.get("/datasets/{ref}/lineage", response=LineageOut, summary="A dataset's lineage graph")
def get_lineage(
    request: HttpRequest,
    ref: str = Path(..., description="a full SHA-256 or a unique prefix of 6+ hex characters"),
    depth: int = Query(3, ge=1, le=MAX_DEPTH, description="hops each way"),
    direction: Literal["both", "up", "down"] = Query("both", description="up: ancestors"),
) -> dict[str, object]:
    actor = api_actor(request)
    dataset = show_dataset(actor=actor, ref=ref)
    graph = explore_lineage(actor=actor, dataset=dataset, depth=depth)
    return graph_as_dict(graph, direction)


@router.get(
    "/datasets/{ref}/links", response=LinksOut, summary="A dataset's direct parents and children"
)
def get_links(
    request: HttpRequest,
    ref: str = Path(..., description="a full SHA-256 or a unique prefix of 6+ hex characters"),
) -> dict[str, object]:
    actor = api_actor(request)
    parents, children = direct_links(actor=actor, dataset=show_dataset(actor=actor, ref=ref))
    return {
        "parents": [
            {"sha256": e.parent.sha256, "name": e.parent.name, "note": e.note} for e in parents
        ],
        "children": [
            {"sha256": e.child.sha256, "name": e.child.name, "note": e.note} for e in children
        ],
    }


@router.post(
    "/lineage/links",
    response={200: LinkOut, 201: LinkOut},
    summary="Link a parent to a child (201 when new, 200 when it already was)",
)
def post_link(request: HttpRequest, link: LinkIn) -> Status[dict[str, object]]:
    actor = api_actor(request)
    parent, child = _pair(request, link.parent, link.child)
    result = link_datasets(parent=parent, child=child, actor=actor, note=link.note)
    body = {"parent": parent.sha256, "child": child.sha256, "created": result.created}
    return Status(201 if result.created else 200, body)


@router.delete("/lineage/links", response={204: None}, summary="Unlink a parent from a child")
def delete_link(
    request: HttpRequest,
    parent: str = Query(..., description="hash or unique prefix"),
    child: str = Query(..., description="hash or unique prefix"),
) -> HttpResponse:
    actor = api_actor(request)
    parent_row, child_row = _pair(request, parent, child)
    if not unlink_datasets(parent=parent_row, child=child_row, actor=actor):
        raise HttpError(404, f"{parent_row.short_hash} is not a parent of {child_row.short_hash}")
    return HttpResponse(status=204)


def _pair(request: HttpRequest, parent: str, child: str) -> tuple[Dataset, Dataset]:
    actor = api_actor(request)
    return show_dataset(actor=actor, ref=parent), show_dataset(actor=actor, ref=child)
