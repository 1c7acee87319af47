"""The lineage explorer page: drawn server-side, re-centred and expanded through htmx."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from lineage import services as lineage_services
from lineage.explorer import MAX_EXPANDED_NEIGHBOURS, build_drawing, parse_expand
from lineage.layout import layered_layout
from registry.models import Dataset
from tests.factories import DatasetFactory, LineageEdgeFactory
from tests.webhelpers import viewer

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def lineage_url(dataset: Dataset) -> str:
    return reverse("registry:dataset-lineage", kwargs={"ref": dataset.sha256})


@pytest.fixture
def user_client(client: Client) -> Client:
    client.force_login(viewer("alice"))
    return client


@pytest.fixture
def chain() -> list[Dataset]:
    """a -> b -> c -> d -> e"""
    nodes = [DatasetFactory(name=f"gen-{letter}") for letter in "abcde"]
    for parent, child in itertools.pairwise(nodes):
        LineageEdgeFactory(parent=parent, child=child)
    return nodes


def node_hashes(html: str) -> set[str]:
    return set(re.findall(r'data-sha256="([0-9a-f]{64})"', html))


def test_anonymous_user_is_sent_to_sign_in(client: Client, chain: list[Dataset]) -> None:
    response = client.get(lineage_url(chain[2]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_page_arrives_with_the_graph_drawn(user_client: Client, chain: list[Dataset]) -> None:
    response = user_client.get(lineage_url(chain[2]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html and "<svg" in html
    # One hop each way by default, the centre marked.
    assert node_hashes(html) == {chain[1].sha256, chain[2].sha256, chain[3].sha256}
    assert html.count("node-center") == 1
    assert "2</strong> ancestors" in html and "1</strong> beyond depth 1" in html


def test_fragment_is_only_the_explorer(user_client: Client, chain: list[Dataset]) -> None:
    html = user_client.get(lineage_url(chain[2]), **HX).content.decode()
    assert html.lstrip().startswith('<div id="explorer"')
    assert "<html" not in html
    assert "<title>Lineage of gen-c · DataTrac</title>" in html
    assert "<svg" in html


def test_depth_control_shows_more_generations(user_client: Client, chain: list[Dataset]) -> None:
    html = user_client.get(lineage_url(chain[2]), {"depth": 2}).content.decode()
    assert node_hashes(html) == {d.sha256 for d in chain}
    assert "beyond depth" not in html
    # Out-of-range or junk depths fall back to something sensible.
    assert user_client.get(lineage_url(chain[2]), {"depth": "99"}).status_code == 200
    assert user_client.get(lineage_url(chain[2]), {"depth": "x"}).status_code == 200


def test_nodes_recentre_and_expand_with_links_and_hx_get(
    user_client: Client, chain: list[Dataset]
) -> None:
    html = user_client.get(lineage_url(chain[2])).content.decode()
    parent_url = lineage_url(chain[1])
    assert f'href="{parent_url}" hx-get="{parent_url}"' in html
    expand = f"{lineage_url(chain[2])}?expand={chain[1].sha256}"
    assert f'href="{expand}" hx-get="{expand}"' in html


def test_expanding_a_node_draws_its_next_hop(user_client: Client, chain: list[Dataset]) -> None:
    html = user_client.get(
        lineage_url(chain[3]), {"expand": chain[2].sha256}, **HX
    ).content.decode()
    assert node_hashes(html) == {chain[1].sha256, chain[2].sha256, chain[3].sha256, chain[4].sha256}
    assert "Collapse 1 expanded" in html


def test_a_huge_fan_out_is_counted_not_drawn(user_client: Client) -> None:
    root = DatasetFactory(name="root")
    for i in range(MAX_EXPANDED_NEIGHBOURS + 30):
        LineageEdgeFactory(parent=root, child=DatasetFactory(name=f"part-{i}"))
    html = user_client.get(lineage_url(root)).content.decode()
    assert len(node_hashes(html)) == MAX_EXPANDED_NEIGHBOURS + 1
    assert "+30" in html
    assert "not drawn so the graph stays readable" in html


def test_a_fan_out_beyond_the_count_cap_says_at_least(
    user_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Degrees are counted up to COUNT_CAP only: past it, the badge is a lower bound.
    monkeypatch.setattr(lineage_services, "COUNT_CAP", MAX_EXPANDED_NEIGHBOURS + 5)
    root = DatasetFactory(name="root")
    for i in range(MAX_EXPANDED_NEIGHBOURS + 30):
        LineageEdgeFactory(parent=root, child=DatasetFactory(name=f"part-{i}"))
    html = user_client.get(lineage_url(root)).content.decode()
    assert len(node_hashes(html)) == MAX_EXPANDED_NEIGHBOURS + 1
    assert ">+5+<" in html and "5 or more children not shown" in html
    assert "+30" not in html


def test_node_names_are_plain_text(user_client: Client) -> None:
    evil = DatasetFactory(name='<svg onload=alert(1)><a hx-get="/x">boom</a>')
    LineageEdgeFactory(parent=evil, child=DatasetFactory())
    html = user_client.get(lineage_url(evil)).content.decode()
    assert "<svg onload" not in html and 'hx-get="/x"' not in html
    assert "&lt;svg onload=alert(1)&gt;" in html


def test_unknown_hash_is_404(user_client: Client) -> None:
    assert user_client.get("/datasets/" + "f" * 64 + "/lineage").status_code == 404


@pytest.mark.parametrize("width", [3, 60])
def test_query_count_does_not_grow_with_the_graph(
    user_client: Client, django_assert_max_num_queries: Callable[..., object], width: int
) -> None:
    center = DatasetFactory()
    for _ in range(width):
        parent = DatasetFactory()
        LineageEdgeFactory(parent=parent, child=center)
        LineageEdgeFactory(parent=DatasetFactory(), child=parent)
        LineageEdgeFactory(parent=center, child=DatasetFactory())
    # session, user, the user's permissions (2), resolve; the graph (both walks, their
    # rows, the edges among them, both counts and every node's degrees: one query)
    with django_assert_max_num_queries(6):
        assert user_client.get(lineage_url(center), {"depth": 2}).status_code == 200
    # Each expanded node adds one query (its hop), plus one resolving them all.
    some_parent = Dataset.objects.filter(child_edges__child=center).first()
    assert some_parent is not None
    with django_assert_max_num_queries(8):
        response = user_client.get(lineage_url(center), {"expand": some_parent.sha256}, **HX)
        assert response.status_code == 200


def test_parse_expand_keeps_only_full_hashes() -> None:
    good = "a" * 64
    assert parse_expand(f"{good},nope,{good},{'B' * 64}") == (good, "b" * 64)
    assert parse_expand("") == ()


def test_layout_puts_parents_left_of_children_without_overlap() -> None:
    edges = [("a", "b"), ("b", "c"), ("a", "c"), ("x", "b")] + [("c", f"k{i}") for i in range(5)]
    nodes = {n for edge in edges for n in edge}
    layout = layered_layout(nodes, edges, node_width=200, node_height=40)
    pos = layout.positions
    for parent, child in edges:
        assert pos[parent][0] < pos[child][0]
    boxes = sorted(pos.values())
    for (x1, y1), (x2, y2) in itertools.pairwise(boxes):
        assert x1 != x2 or abs(y1 - y2) >= 40
    assert all(0 <= x <= layout.width and 0 <= y <= layout.height for x, y in pos.values())
    # Edges start and end at their nodes' centres, bending through dummy points between.
    path = layout.paths[("a", "c")]
    assert path[0] == pos["a"] and path[-1] == pos["c"] and len(path) == 3


def test_drawing_centres_the_view_on_the_dataset(chain: list[Dataset]) -> None:
    drawing = build_drawing(center=chain[1], depth=1)
    center = next(n for n in drawing.nodes if n.role == "center")
    x, _, width, _ = (float(v) for v in drawing.view_box.split())
    assert abs((x + width / 2) - center.cx) < 0.5
    assert sorted(n.role for n in drawing.nodes) == ["ancestor", "center", "descendant"]


def test_a_wide_drawing_is_not_padded_out_of_view(chain: list[Dataset]) -> None:
    drawing = build_drawing(center=chain[4], depth=4)
    x, _, width, _ = (float(v) for v in drawing.view_box.split())
    assert x == 0 and width == drawing.width


def test_components_are_stacked_apart_with_every_bend_inside_the_box() -> None:
    # Three components, keys out of order. The first's long edges bend outside every
    # node's row (igraph routes 0 -> 5 and 1 -> 4 around the others).
    first_edges = [(0, 2), (0, 3), (0, 5), (1, 3), (1, 4), (2, 3), (3, 4), (3, 5)]
    edges = [(9 + p, 9 + c) for p, c in first_edges]
    edges += [(20, 21), (20, 22), (21, 23), (20, 23), (22, 23)]
    nodes = [23, 9, 40, 11, 22, 13, 10, 21, 20, 12, 14]
    layout = layered_layout(nodes, edges, node_width=200, node_height=40, row_gap=10)
    pos = layout.positions
    assert set(pos) == set(nodes)
    first, second = {9, 10, 11, 12, 13, 14}, {20, 21, 22, 23}

    # Components never share a row band, bends included: one lies wholly above another.
    def band(group: set[int]) -> tuple[float, float]:
        ys = [pos[n][1] for n in group]
        ys += [y for (p, _), path in layout.paths.items() if p in group for _, y in path]
        return (min(ys) - 20, max(ys) + 20)

    bands = sorted(band(group) for group in (first, second, {40}))
    for (_, bottom), (top, _) in itertools.pairwise(bands):
        assert bottom <= top
    for path in layout.paths.values():
        for x, y in path:
            assert 0 <= x <= layout.width and 0 <= y <= layout.height
