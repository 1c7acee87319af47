"""Layered (Sugiyama) layout of a lineage graph, left to right, with grandalf.

grandalf lays layers out top to bottom; we give it nodes with width and height
swapped and swap the coordinates back, so parents sit left of their children.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

from grandalf.graphs import Edge, Graph, Vertex
from grandalf.layouts import SugiyamaLayout

Point = tuple[float, float]


@dataclass(frozen=True)
class Layout:
    """Node centres and edge polylines in a box from (0, 0) to (width, height)."""

    positions: dict[Hashable, Point]
    paths: dict[tuple[Hashable, Hashable], list[Point]]
    width: float
    height: float


class _NodeView:
    def __init__(self, w: float, h: float) -> None:
        self.w = w
        self.h = h
        self.xy: Point = (0.0, 0.0)


class _EdgeView:
    def __init__(self) -> None:
        self.points: list[Point] = []

    def setpath(self, points: list[Point]) -> None:
        self.points = list(points)


def _place(point: Point, shift: Point) -> Point:
    """grandalf's (along a layer, across layers) to our (x, y), shifted into the box."""
    along, across = point
    return (round(across + shift[0], 1), round(along + shift[1], 1))


def layered_layout(
    nodes: Iterable[Hashable],
    edges: Iterable[tuple[Hashable, Hashable]],
    *,
    node_width: float,
    node_height: float,
    column_gap: float = 80,
    row_gap: float = 14,
    margin: float = 16,
) -> Layout:
    """Place ``nodes`` in columns by generation, parents left of children.

    Each connected component is laid out on its own and the components are stacked.
    An edge's path runs from its parent's centre through grandalf's dummy vertices
    (one per column it crosses, so it bends around nodes instead of through them) to
    its child's centre.
    """
    vertices = {key: Vertex(key) for key in nodes}
    graph_edges = []
    for parent, child in edges:
        if parent in vertices and child in vertices and parent != child:
            edge = Edge(vertices[parent], vertices[child])
            edge.view = _EdgeView()
            graph_edges.append(edge)
    for vertex in vertices.values():
        # Swapped: grandalf's "width" runs along a layer, which is our vertical axis.
        vertex.view = _NodeView(w=node_height, h=node_width)
    graph = Graph(list(vertices.values()), graph_edges)

    positions: dict[Hashable, Point] = {}
    paths: dict[tuple[Hashable, Hashable], list[Point]] = {}
    offset = margin  # where the next component starts, vertically
    width = 0.0
    for component in graph.C:
        sugiyama = SugiyamaLayout(component)
        sugiyama.xspace = row_gap
        sugiyama.yspace = column_gap
        sugiyama.init_all(optimize=True)
        sugiyama.draw()
        # grandalf's x runs along a layer (our y), its y across layers (our x).
        min_layer = min(v.view.xy[0] - v.view.w / 2 for v in component.sV)
        min_rank = min(v.view.xy[1] - v.view.h / 2 for v in component.sV)
        max_layer = max(v.view.xy[0] + v.view.w / 2 for v in component.sV)
        max_rank = max(v.view.xy[1] + v.view.h / 2 for v in component.sV)

        shift = (margin - min_rank, offset - min_layer)
        for v in component.sV:
            positions[v.data] = _place(v.view.xy, shift)
        for e in component.sE:
            paths[(e.v[0].data, e.v[1].data)] = [_place(p, shift) for p in e.view.points]
        width = max(width, max_rank - min_rank + 2 * margin)
        offset += max_layer - min_layer + row_gap * 2
    height = offset - row_gap * 2 + margin
    return Layout(positions=positions, paths=paths, width=round(width, 1), height=round(height, 1))
