"""Lineage links and walks, on whichever database the suite runs against."""

from __future__ import annotations

import itertools

import pytest

from lineage.models import LineageEdge
from lineage.services import find_path, lineage_graph, link_datasets, unlink_datasets
from registry.errors import LineageError
from registry.models import AuditEvent
from registry.services import Actor
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db


def chain(n: int) -> list:
    datasets = DatasetFactory.create_batch(n)
    for parent, child in itertools.pairwise(datasets):
        link_datasets(parent=parent, child=child, actor=Actor.for_cli())
    return datasets


def test_link_records_the_edge_and_audits_it() -> None:
    a, b = DatasetFactory.create_batch(2)
    result = link_datasets(parent=a, child=b, actor=Actor.for_cli(), note="dedup")
    assert result.created
    assert (result.edge.note, result.edge.created_by) == ("dedup", "tester")
    assert AuditEvent.objects.filter(action="link", sha256=b.sha256).count() == 1


def test_linking_the_same_pair_again_is_a_no_op() -> None:
    a, b = DatasetFactory.create_batch(2)
    link_datasets(parent=a, child=b, actor=Actor.for_cli())
    again = link_datasets(parent=a, child=b, actor=Actor.for_cli())
    assert not again.created
    assert LineageEdge.objects.count() == 1


def test_a_dataset_cannot_be_its_own_parent() -> None:
    a = DatasetFactory()
    with pytest.raises(LineageError, match="its own parent"):
        link_datasets(parent=a, child=a, actor=Actor.for_cli())


def test_a_link_closing_a_cycle_is_refused_naming_the_cycle() -> None:
    a, b, c = chain(3)
    with pytest.raises(LineageError) as info:
        link_datasets(parent=c, child=a, actor=Actor.for_cli())
    assert f"{a.short_hash} -> {b.short_hash} -> {c.short_hash} -> {a.short_hash}" in str(
        info.value
    )
    assert LineageEdge.objects.count() == 2


def test_a_diamond_is_not_a_cycle() -> None:
    a, b, c, d = DatasetFactory.create_batch(4)
    for parent, child in [(a, b), (a, c), (b, d), (c, d)]:
        link_datasets(parent=parent, child=child, actor=Actor.for_cli())
    assert LineageEdge.objects.count() == 4


def test_unlink_removes_the_edge_once() -> None:
    a, b = chain(2)
    assert unlink_datasets(parent=a, child=b, actor=Actor.for_cli()) is True
    assert unlink_datasets(parent=a, child=b, actor=Actor.for_cli()) is False
    assert AuditEvent.objects.filter(action="unlink").count() == 1


def test_find_path_returns_the_shortest_path() -> None:
    a, _b, _c, d = chain(4)
    link_datasets(parent=a, child=d, actor=Actor.for_cli())
    assert find_path(start=a, goal=d) == [a, d]
    assert find_path(start=d, goal=a) == []


def test_lineage_graph_walks_both_ways_to_the_given_depth_and_counts_the_rest() -> None:
    nodes = chain(7)
    center = nodes[3]
    graph = lineage_graph(dataset=center, depth=2)
    assert graph.levels == {
        nodes[1].pk: -2,
        nodes[2].pk: -1,
        center.pk: 0,
        nodes[4].pk: 1,
        nodes[5].pk: 2,
    }
    assert (graph.ancestors_total, graph.descendants_total) == (3, 3)
    assert (graph.ancestors_beyond, graph.descendants_beyond) == (1, 1)
    assert (nodes[2].pk, center.pk) in graph.edges


def test_a_walk_bounded_per_node_keeps_the_newest_neighbours_of_each() -> None:
    root = DatasetFactory()
    children = [DatasetFactory() for _ in range(5)]
    for child in children:
        LineageEdge.objects.create(parent=root, child=child)
    grandchildren = [DatasetFactory() for _ in range(4)]
    for grandchild in grandchildren:
        LineageEdge.objects.create(parent=children[-1], child=grandchild)
    graph = lineage_graph(dataset=root, depth=2, per_node=3)
    newest = {d.pk for d in children[-3:]} | {d.pk for d in grandchildren[-3:]}
    assert set(graph.levels) - {root.pk} == newest
    # The counts are of everything reachable, not of what the bound let in.
    assert graph.descendants_total == 9
    unbounded = lineage_graph(dataset=root, depth=2)
    assert len(unbounded.levels) == 10


def test_lineage_graph_counts_stop_at_the_cap_and_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lineage.services.COUNT_CAP", 3)
    nodes = chain(10)
    graph = lineage_graph(dataset=nodes[5], depth=1)
    assert (graph.ancestors_total, graph.ancestors_capped) == (3, True)  # 5 really
    assert (graph.descendants_total, graph.descendants_capped) == (3, True)  # 4 really
    graph = lineage_graph(dataset=nodes[7], depth=1)
    assert (graph.descendants_total, graph.descendants_capped) == (2, False)


def test_lineage_graph_uses_a_fixed_number_of_queries(django_assert_max_num_queries) -> None:
    nodes = chain(30)
    # Both walks with their rows, the edges among them, both capped counts.
    with django_assert_max_num_queries(3):
        graph = lineage_graph(dataset=nodes[15], depth=10)
    assert len(graph.nodes) == 21
