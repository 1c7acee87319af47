"""How a lineage graph is shown outside the pages: the JSON of `lineage --json` and the API."""

from __future__ import annotations

from typing import Any, Literal

from lineage.services import LineageGraph
from registry.presenters import dataset_as_dict

type Direction = Literal["both", "up", "down"]


def graph_as_dict(graph: LineageGraph, direction: Direction = "both") -> dict[str, Any]:
    """The centre, its ancestors and descendants (each with its distance), the edges
    among them and the capped totals. One ``direction`` leaves the other side (and its
    edges) out: ``None`` lists and totals."""
    by_id = graph.nodes
    up, down = direction in ("both", "up"), direction in ("both", "down")
    shown = {
        node for node, level in graph.levels.items() if (level <= 0 and up) or (level >= 0 and down)
    }
    return {
        "dataset": dataset_as_dict(graph.center),
        "depth": graph.depth,
        "ancestors": [
            {**dataset_as_dict(by_id[i]), "distance": -level}
            for i, level in sorted(graph.levels.items(), key=lambda kv: -kv[1])
            if level < 0
        ]
        if up
        else None,
        "descendants": [
            {**dataset_as_dict(by_id[i]), "distance": level}
            for i, level in sorted(graph.levels.items(), key=lambda kv: kv[1])
            if level > 0
        ]
        if down
        else None,
        "edges": [
            {"parent": by_id[p].sha256, "child": by_id[c].sha256}
            for p, c in graph.edges
            if p in shown and c in shown
        ],
        "ancestors_total": graph.ancestors_total if up else None,
        "descendants_total": graph.descendants_total if down else None,
        # True: the total is "at least" (counting stops at lineage.services.COUNT_CAP).
        "ancestors_capped": graph.ancestors_capped if up else None,
        "descendants_capped": graph.descendants_capped if down else None,
    }
