"""Lineage links and walks, on whichever database the suite runs against."""

from __future__ import annotations

import itertools

import pytest

from lineage.models import LineageEdge
from lineage.services import find_path, lineage_graph, link_datasets, unlink_datasets
from registry.actors import Actor
from registry.errors import LineageError
from registry.models import AuditEvent
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


def test_lineage_graph_is_one_query(django_assert_num_queries) -> None:
    nodes = chain(30)
    # Both walks with their rows, the edges among them, both capped counts, the degrees.
    with django_assert_num_queries(1):
        graph = lineage_graph(dataset=nodes[15], depth=10, degrees=True)
    assert len(graph.nodes) == 21


def test_lineage_graph_edges_are_every_link_among_its_nodes_and_no_other() -> None:
    """Not only the links the walk followed: a link between two siblings, or from the
    centre to a node the walk reached another way, is drawn too."""
    center = DatasetFactory()
    a, b = DatasetFactory(), DatasetFactory()
    outside_parent, outside_child = DatasetFactory(), DatasetFactory()
    actor = Actor.for_cli()
    link_datasets(parent=center, child=a, actor=actor)
    link_datasets(parent=a, child=b, actor=actor)
    link_datasets(parent=center, child=b, actor=actor)  # b is a child and a grandchild
    link_datasets(parent=outside_parent, child=a, actor=actor)  # a's other parent: not walked
    link_datasets(parent=b, child=outside_child, actor=actor)  # deeper than 1: not walked
    graph = lineage_graph(dataset=center, depth=1)
    assert set(graph.levels) == {center.pk, a.pk, b.pk}
    assert graph.edges == sorted([(center.pk, a.pk), (center.pk, b.pk), (a.pk, b.pk)])


def test_lineage_graph_degrees_count_every_link_up_to_the_cap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("lineage.services.COUNT_CAP", 3)
    root = DatasetFactory()
    children = [DatasetFactory() for _ in range(6)]
    for child in children:
        LineageEdge.objects.create(parent=root, child=child)
    LineageEdge.objects.create(parent=DatasetFactory(), child=children[-1])
    graph = lineage_graph(dataset=root, depth=1, degrees=True, per_node=2)
    assert graph.degrees[root.pk] == (0, 4)  # 6 children, counted to the cap + 1
    assert graph.degrees[children[-1].pk] == (2, 0)  # its other parent was not walked
    assert set(graph.degrees) == set(graph.nodes)
    assert lineage_graph(dataset=root, depth=1).degrees == {}


def test_a_dataset_with_no_relatives_is_a_graph_of_itself() -> None:
    alone = DatasetFactory()
    graph = lineage_graph(dataset=alone, depth=3, degrees=True)
    assert graph.levels == {alone.pk: 0}
    assert graph.edges == []
    assert graph.degrees == {alone.pk: (0, 0)}
    assert (graph.ancestors_total, graph.descendants_total) == (0, 0)
