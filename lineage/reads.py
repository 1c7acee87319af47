"""Lineage reads that check the reader (the API's; the pages guard the whole page)."""

from __future__ import annotations

from lineage.services import LineageGraph, lineage_graph
from registry.actors import Actor, require_permission
from registry.models import Dataset

MAX_DEPTH = 50


def explore_lineage(*, actor: Actor, dataset: Dataset, depth: int) -> LineageGraph:
    """``dataset``'s ancestors and descendants within ``depth`` hops (the bounded walk of
    lineage_graph). Needs ``registry.view_dataset``, as the lineage page does."""
    require_permission(actor, "registry.view_dataset", action="show lineage", sha256=dataset.sha256)
    return lineage_graph(dataset=dataset, depth=max(1, min(depth, MAX_DEPTH)))
