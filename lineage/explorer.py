"""The lineage explorer's drawing: which nodes to show, where, and what is left out.

The walk itself is ``lineage.services.lineage_graph``; this module decides how much of
it fits on a page, lays that out, and renders the nodes' SVG (user text escaped by
``format_html``), so that a dataset with ten thousand children still draws a readable
graph (the rest is counted, not drawn).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

from lineage import services
from lineage.layout import layered_layout
from lineage.services import LineageGraph, lineage_graph
from registry.models import Dataset
from registry.units import NBSP, human_size

MAX_DEPTH = 6
MAX_EXPANDED = 8
# A node shows at most this many of its parents or children; the rest are counted.
MAX_NEIGHBOURS = 12
# The centre and the nodes a user expanded show more: that is where they are looking.
MAX_EXPANDED_NEIGHBOURS = 2 * MAX_NEIGHBOURS
MAX_DRAWN = 160
NODE_WIDTH = 208
NODE_HEIGHT = 46
LABEL_CHARS = 26  # a node's name is cut to this many characters (the full one is its title)
CENTRED_MAX_WIDTH = 1100  # about the graph frame's width on a desktop screen


@dataclass(frozen=True)
class Badge:
    """A "+N" pill on a node's side: N parents or children not drawn."""

    x: float  # left edge
    y: float
    width: float
    label: str
    text_x: float
    text_y: float
    title: str
    height: float = 20


def _badge(
    count: int, *, at_least: bool, edge_x: float, cy: float, side: int, what: str
) -> Badge | None:
    """A pill just outside a node's left (side -1) or right (side +1) edge.

    ``at_least``: the node's degree was counted only up to COUNT_CAP, so ``count`` is a
    lower bound ("+226+").
    """
    if count <= 0:
        return None
    more = "+" if at_least else ""
    label = f"+{count:,}{more}"
    width = 12 + 7.5 * len(label)
    x = edge_x - 6 - width if side < 0 else edge_x + 6
    title = f"{count:,}{' or more' if at_least else ' more'} {what} not shown"
    return Badge(
        x=round(x, 1),
        y=round(cy - 10, 1),
        width=round(width, 1),
        label=label,
        text_x=round(x + width / 2, 1),
        text_y=round(cy + 4.5, 1),
        title=title,
    )


@dataclass(frozen=True)
class Node:
    dataset: Dataset
    x: float  # top-left corner
    y: float
    label: str
    role: str  # center, ancestor, descendant, related
    hidden_parents: int
    hidden_children: int
    recenter_url: str
    expand_url: str  # "" when the node is already expanded or has nothing hidden
    detail_url: str
    # The hidden counts are lower bounds: the degree was counted up to COUNT_CAP only.
    parents_capped: bool = False
    children_capped: bool = False
    width: float = NODE_WIDTH
    height: float = NODE_HEIGHT

    @property
    def cx(self) -> float:
        return self.x + self.width / 2

    @property
    def cy(self) -> float:
        return self.y + self.height / 2

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def text_x(self) -> float:
        return round(self.x + 12, 1)

    @property
    def name_y(self) -> float:
        return round(self.y + 20, 1)

    @property
    def meta_y(self) -> float:
        return round(self.y + 36, 1)

    @property
    def more_url(self) -> str:
        """Where a "+N" badge leads: expand here, or the full lists on the dataset page."""
        return self.expand_url or f"{self.detail_url}#relatives"

    @property
    def parents_badge(self) -> Badge | None:
        return _badge(
            self.hidden_parents,
            at_least=self.parents_capped,
            edge_x=self.x,
            cy=self.cy,
            side=-1,
            what="parents",
        )

    @property
    def children_badge(self) -> Badge | None:
        return _badge(
            self.hidden_children,
            at_least=self.children_capped,
            edge_x=self.right,
            cy=self.cy,
            side=1,
            what="children",
        )

    @property
    def css_class(self) -> str:
        classes = ["node", f"node-{self.role}"]
        if not self.dataset.is_available:
            classes.append("node-deleted")
        return " ".join(classes)

    @property
    def svg(self) -> SafeString:
        """This node's SVG group, its text and URLs escaped by ``format_html``.

        Built here rather than in the template for the same reason as the browser's
        rows (registry.tables): about 25 template variables a node made the template
        engine the larger part of an explorer page's time. Each value is escaped once
        (the link's URL appears twice) and the fixed pieces are passed as safe.
        """
        dataset = self.dataset
        meta = f"{dataset.short_hash[:8]} · {human_size(dataset.size, NBSP)}"
        if not dataset.is_available:
            meta += " · deleted"
        if self.role == "center":
            href, hx_get, action = conditional_escape(self.detail_url), _EMPTY, _OPEN_PAGE
        else:
            href = conditional_escape(self.recenter_url)
            hx_get, action = _hx_get(href), _RECENTRE
        return format_html(
            NODE_SVG,
            self.css_class,
            dataset.sha256,
            href,
            hx_get,
            dataset.name,
            dataset.short_hash,
            action,
            _numbers(
                'x="{}" y="{}" width="{}" height="{}"', self.x, self.y, self.width, self.height
            ),
            _numbers('x="{}" y="{}"', self.text_x, self.name_y),
            self.label,
            _numbers('x="{}" y="{}"', self.text_x, self.meta_y),
            meta,
            self._badge_svg(self.parents_badge),
            self._badge_svg(self.children_badge),
        )

    def _badge_svg(self, badge: Badge | None) -> SafeString:
        if badge is None:
            return _EMPTY
        expand = conditional_escape(self.expand_url) if self.expand_url else _EMPTY
        return format_html(
            BADGE_SVG,
            expand or conditional_escape(self.more_url),
            _hx_get(expand) if expand else _EMPTY,
            badge.title,
            _EXPAND if expand else _EMPTY,
            _numbers(
                'x="{}" y="{}" width="{}" height="{}"', badge.x, badge.y, badge.width, badge.height
            ),
            _numbers('x="{}" y="{}"', badge.text_x, badge.text_y),
            badge.label,
        )


# A node of the drawing: a link (to its page for the centre, else re-centring the
# graph on it) around its box and two lines of text, then its "+N" badges.
NODE_SVG = (
    '<g class="{}" data-sha256="{}">'
    '<a href="{}"{} class="node-link">'
    "<title>{} — {}{}</title>"
    '<rect {} rx="9"/>'
    '<text {} class="node-name">{}</text>'
    '<text {} class="node-meta">{}</text>'
    "</a>{}{}</g>"
)
BADGE_SVG = (
    '<a href="{}"{} class="badge-link"><title>{}{}</title><rect {} rx="10"/><text {}>{}</text></a>'
)
# Fixed pieces, safe as they are: format_html passes them through without escaping.
_EMPTY = mark_safe("")
_OPEN_PAGE = mark_safe(" (open its page)")
_RECENTRE = mark_safe(" (centre the graph here)")
_EXPAND = mark_safe(": expand")


def _hx_get(url: SafeString) -> SafeString:
    """An ``hx-get`` attribute for ``url`` (escaped once by the caller, who also uses it
    as the ``href``: format_html passes it through as it is)."""
    return format_html(' hx-get="{}"', url)


def _numbers(template: str, *values: float) -> SafeString:
    """SVG attributes whose values are numbers: nothing in them to escape.

    Passed to format_html as one safe argument instead of escaping each coordinate on
    its own.
    """
    return mark_safe(template.format(*values))  # noqa: S308 - floats and ints only


@dataclass(frozen=True)
class Drawing:
    center: Dataset
    depth: int
    expanded: tuple[str, ...]
    nodes: list[Node]
    edge_paths: list[str]  # SVG path data, one per edge
    width: float
    height: float
    view_box: str
    graph: LineageGraph
    truncated: bool  # some loaded nodes were left out to keep the drawing readable
    path: str  # the centre's explorer URL, without parameters

    def url(self, *, depth: int | None = None, expand: Sequence[str] | None = None) -> str:
        return _with_parameters(
            self.path,
            depth=self.depth if depth is None else depth,
            expand=self.expanded if expand is None else expand,
        )

    @property
    def depth_choices(self) -> list[tuple[int, str]]:
        return [(d, self.url(depth=d)) for d in range(1, MAX_DEPTH + 1)]

    @property
    def nodes_svg(self) -> SafeString:
        return format_html_join("\n", "{}", ((node.svg,) for node in self.nodes))

    @property
    def edges_svg(self) -> SafeString:
        return format_html_join(
            "", '<path d="{}" marker-end="url(#arrow)"/>', ((d,) for d in self.edge_paths)
        )


def _hash_paths(name: str) -> Callable[[str], str]:
    """The URL named ``name`` for any hash, from a single reverse().

    A drawing needs three URLs a node, and reverse() cost ~50 us a call here: about a
    tenth of an explorer page. Only the hash (hex) changes between them.
    """
    marker = "0" * 64
    head, _, tail = reverse(name, kwargs={"ref": marker}).partition(marker)
    return lambda sha256: f"{head}{sha256}{tail}"


def _with_parameters(url: str, *, depth: int, expand: Sequence[str]) -> str:
    params: dict[str, object] = {}
    if depth != 1:
        params["depth"] = depth
    if expand:
        params["expand"] = ",".join(expand)
    return f"{url}?{urlencode(params)}" if params else url


def parse_expand(raw: str) -> tuple[str, ...]:
    """Full hashes from the ``expand`` parameter; anything else is dropped."""
    seen: list[str] = []
    for part in raw.split(","):
        value = part.strip().lower()
        if len(value) == 64 and all(c in "0123456789abcdef" for c in value) and value not in seen:
            seen.append(value)
    return tuple(seen[:MAX_EXPANDED])


def _curve(points: list[tuple[float, float]], half_width: float) -> str:
    """Smooth left-to-right SVG path through a polyline, from box edge to box edge."""
    (x0, y0), *rest = points
    start = (x0 + half_width, y0)
    end_x, end_y = rest[-1]
    rest[-1] = (end_x - half_width, end_y)
    d = [f"M{start[0]:.1f},{start[1]:.1f}"]
    px, py = start
    for x, y in rest:
        mid = (x - px) / 2
        d.append(f"C{px + mid:.1f},{py:.1f} {x - mid:.1f},{y:.1f} {x:.1f},{y:.1f}")
        px, py = x, y
    return " ".join(d)


def _reachable(start: int, edges: list[tuple[int, int]], *, upward: bool) -> set[int]:
    step: dict[int, list[int]] = {}
    for parent, child in edges:
        a, b = (child, parent) if upward else (parent, child)
        step.setdefault(a, []).append(b)
    found: set[int] = set()
    queue = deque([start])
    while queue:
        for nxt in step.get(queue.popleft(), []):
            if nxt not in found:
                found.add(nxt)
                queue.append(nxt)
    return found


def build_drawing(*, center: Dataset, depth: int, expand: Sequence[str] = ()) -> Drawing:
    """Walk, merge expansions, pick what to draw, lay it out.

    A bounded number of queries: the centre's graph with every node's degrees (one),
    one per expanded node (at most MAX_EXPANDED) and one resolving the expanded hashes.
    """
    depth = min(max(depth, 1), MAX_DEPTH)
    # No node draws more than MAX_EXPANDED_NEIGHBOURS of its neighbours: load no more.
    graph = lineage_graph(
        dataset=center, depth=depth, degrees=True, per_node=MAX_EXPANDED_NEIGHBOURS
    )
    nodes: dict[int, Dataset] = dict(graph.nodes)
    edges: set[tuple[int, int]] = set(graph.edges)
    # {id: (parents, children)}, each counted up to COUNT_CAP + 1.
    node_degrees = dict(graph.degrees)
    expanded_rows = (
        list(Dataset.objects.filter(sha256__in=list(expand)).order_by("sha256")) if expand else []
    )
    expanded_ids = {center.pk}
    for row in expanded_rows:
        hop = lineage_graph(
            dataset=row, depth=1, counts=False, degrees=True, per_node=MAX_EXPANDED_NEIGHBOURS
        )
        nodes.update(hop.nodes)
        edges.update(hop.edges)
        node_degrees.update(hop.degrees)
        expanded_ids.add(row.pk)
    expanded = tuple(row.sha256 for row in expanded_rows)

    neighbours: dict[int, list[int]] = {pk: [] for pk in nodes}
    for parent, child in sorted(edges):
        neighbours[parent].append(child)
        neighbours[child].append(parent)

    # Breadth first from the centre, each node admitting a bounded number of new
    # neighbours (expanded nodes first, then the most recent datasets).
    def priority(pk: int) -> tuple[bool, float, int]:
        return (pk not in expanded_ids, -nodes[pk].pushed_at.timestamp(), pk)

    drawn: list[int] = [center.pk]
    seen = {center.pk}
    queue = deque([center.pk])
    truncated = False
    while queue:
        pk = queue.popleft()
        fresh = sorted((n for n in neighbours[pk] if n not in seen), key=priority)
        admitted = fresh[: MAX_EXPANDED_NEIGHBOURS if pk in expanded_ids else MAX_NEIGHBOURS]
        if len(admitted) < len(fresh):
            truncated = True
        for n in admitted:
            if len(drawn) >= MAX_DRAWN:
                truncated = True
                break
            seen.add(n)
            drawn.append(n)
            queue.append(n)
    drawn_set = set(drawn)
    drawn_edges = sorted((p, c) for p, c in edges if p in drawn_set and c in drawn_set)

    # Counted up to COUNT_CAP each: a badge says "+226+" rather than count 10,000 rows.
    cap = services.COUNT_CAP
    in_degree = {pk: node_degrees.get(pk, (0, 0))[0] for pk in drawn}
    out_degree = {pk: node_degrees.get(pk, (0, 0))[1] for pk in drawn}
    # The walk loads at most MAX_EXPANDED_NEIGHBOURS a node, so a node with more than it
    # may draw was cut there, before the loop above could see it.
    truncated = truncated or any(
        max(in_degree.get(pk, 0), out_degree.get(pk, 0))
        > (MAX_EXPANDED_NEIGHBOURS if pk in expanded_ids else MAX_NEIGHBOURS)
        for pk in drawn
    )
    shown_parents: dict[int, int] = {pk: 0 for pk in drawn}
    shown_children: dict[int, int] = {pk: 0 for pk in drawn}
    for parent, child in drawn_edges:
        shown_children[parent] += 1
        shown_parents[child] += 1

    # Roles follow the drawn edges, so an expansion's finds are ancestors or descendants
    # when they are, and "related" (a sibling, say) only otherwise.
    ancestors = _reachable(center.pk, drawn_edges, upward=True)
    descendants = _reachable(center.pk, drawn_edges, upward=False)

    layout = layered_layout(
        drawn, drawn_edges, node_width=NODE_WIDTH, node_height=NODE_HEIGHT, margin=72
    )
    lineage_path = _hash_paths("registry:dataset-lineage")
    detail_path = _hash_paths("registry:dataset-detail")
    center_path = lineage_path(center.sha256)
    result: list[Node] = []
    for pk in drawn:
        dataset = nodes[pk]
        role = (
            "center"
            if pk == center.pk
            else "ancestor"
            if pk in ancestors
            else "descendant"
            if pk in descendants
            else "related"
        )
        parents_capped = in_degree.get(pk, 0) > cap
        children_capped = out_degree.get(pk, 0) > cap
        # A capped degree hides at least one more than it can say (and so has a badge).
        hidden_parents = max(min(in_degree[pk], cap) - shown_parents[pk], int(parents_capped))
        hidden_children = max(min(out_degree[pk], cap) - shown_children[pk], int(children_capped))
        can_expand = pk not in expanded_ids and (hidden_parents or hidden_children)
        cx, cy = layout.positions[pk]
        result.append(
            Node(
                dataset=dataset,
                x=round(cx - NODE_WIDTH / 2, 1),
                y=round(cy - NODE_HEIGHT / 2, 1),
                # Truncator is slow (it normalises the text): only for names that may
                # need it, as a name no longer than the limit is shown whole anyway.
                label=dataset.name
                if len(dataset.name) <= LABEL_CHARS
                else Truncator(dataset.name).chars(LABEL_CHARS, truncate="…"),
                role=role,
                hidden_parents=hidden_parents,
                hidden_children=hidden_children,
                recenter_url=_with_parameters(lineage_path(dataset.sha256), depth=depth, expand=()),
                expand_url=(
                    _with_parameters(center_path, depth=depth, expand=[*expanded, dataset.sha256])
                    if can_expand and len(expanded) < MAX_EXPANDED
                    else ""
                ),
                detail_url=detail_path(dataset.sha256),
                parents_capped=parents_capped,
                children_capped=children_capped,
            )
        )
    paths = [_curve(layout.paths[edge], NODE_WIDTH / 2) for edge in drawn_edges]

    # Centre the centre node: pad the narrower side so it sits in the middle, as long
    # as the padded drawing still fits a desktop frame. A wider graph is not padded
    # (padding would push real nodes out of view); the page scrolls it to the centre.
    cx, _ = layout.positions[center.pk]
    half_w = max(cx, layout.width - cx)
    if 2 * half_w <= CENTRED_MAX_WIDTH:
        left, width = cx - half_w, 2 * half_w
    else:
        left, width = 0.0, layout.width
    view_box = f"{left:.1f} 0 {width:.1f} {layout.height:.1f}"
    return Drawing(
        center=center,
        depth=depth,
        expanded=expanded,
        nodes=result,
        edge_paths=paths,
        width=round(width, 1),
        height=layout.height,
        view_box=view_box,
        graph=graph,
        truncated=truncated,
        path=center_path,
    )
