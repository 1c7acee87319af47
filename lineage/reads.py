"""Lineage reads that check the reader (the API's; the pages guard the whole page)."""

from __future__ import annotations

from lineage.models import LineageEdge
from lineage.services import LineageGraph, lineage_graph
from registry.actors import Actor, require_permission
from registry.models import Dataset

MAX_DEPTH = 50


def explore_lineage(*, actor: Actor, dataset: Dataset, depth: int) -> LineageGraph:
    """``dataset``'s ancestors and descendants within ``depth`` hops (the bounded walk of
    lineage_graph). Needs ``registry.view_dataset``, as the lineage page does."""
    require_permission(actor, "registry.view_dataset", action="show lineage", sha256=dataset.sha256)
    return lineage_graph(dataset=dataset, depth=max(1, min(depth, MAX_DEPTH)))


def direct_links(*, actor: Actor, dataset: Dataset) -> tuple[list[LineageEdge], list[LineageEdge]]:
    """``dataset``'s links to its parents and to its children (with their notes), oldest
    first: what `fetch HASH` shows. Needs ``registry.view_dataset``."""
    require_permission(actor, "registry.view_dataset", action="show lineage", sha256=dataset.sha256)
    parents = LineageEdge.objects.filter(child=dataset).select_related("parent").order_by("id")
    children = LineageEdge.objects.filter(parent=dataset).select_related("child").order_by("id")
    return list(parents), list(children)
