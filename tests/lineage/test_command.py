"""The lineage command through call_command."""

from __future__ import annotations

import io
import itertools
import json
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from lineage.management.commands.lineage import TREE_ROWS
from lineage.models import LineageEdge
from lineage.services import COUNT_CAP, MAX_DEPTH, MAX_NODES
from registry.models import Dataset
from tests.factories import DatasetFactory, LineageEdgeFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("lineage", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_link_then_link_again_says_so() -> None:
    a, b = DatasetFactory.create_batch(2)
    assert "linked" in run("--parent", a.sha256[:8], "--child", b.sha256[:8], "--note", "join")
    assert "already linked" in run("--parent", a.sha256, "--child", b.sha256)
    assert LineageEdge.objects.get().note == "join"


def test_self_and_cyclic_links_are_refused() -> None:
    a, b = DatasetFactory.create_batch(2)
    with pytest.raises(CommandError, match="own parent"):
        run("--parent", a.sha256, "--child", a.sha256)
    run("--parent", a.sha256, "--child", b.sha256)
    with pytest.raises(CommandError, match="cycle"):
        run("--parent", b.sha256, "--child", a.sha256)


def test_linking_an_unknown_dataset_is_refused() -> None:
    a = DatasetFactory()
    with pytest.raises(CommandError, match="no dataset"):
        run("--parent", a.sha256, "--child", "abcdef12")
    with pytest.raises(CommandError, match="needs both"):
        run("--parent", a.sha256)


def test_remove_unlinks_and_complains_when_there_is_no_link() -> None:
    edge = LineageEdgeFactory()
    p, c = edge.parent.sha256, edge.child.sha256
    assert "unlinked" in run("--parent", p, "--child", c, "--remove")
    with pytest.raises(CommandError, match="not a parent"):
        run("--parent", p, "--child", c, "--remove")


def test_show_prints_ancestors_and_descendants_as_trees() -> None:
    grand, parent, me, kid = DatasetFactory.create_batch(4)
    for p, c in [(grand, parent), (parent, me), (me, kid)]:
        LineageEdgeFactory(parent=p, child=c)
    out = run(me.sha256[:8])
    assert out.index(parent.name) < out.index(grand.name) < out.index("descendants of")
    assert kid.name in out.split("descendants of")[1]
    shallow = run(me.sha256[:8], "--depth", "1")
    assert grand.name not in shallow
    assert "1 more beyond depth 1" in shallow


def test_show_json_lists_distances_and_edges() -> None:
    parent, me = DatasetFactory.create_batch(2)
    LineageEdgeFactory(parent=parent, child=me)
    data = json.loads(run(me.sha256, "--json"))
    assert [(a["sha256"], a["distance"]) for a in data["ancestors"]] == [(parent.sha256, 1)]
    assert data["descendants"] == []
    assert data["edges"] == [{"parent": parent.sha256, "child": me.sha256}]


def test_depth_must_be_positive() -> None:
    a = DatasetFactory()
    with pytest.raises(CommandError, match="at least 1"):
        run(a.sha256, "--depth", "0")


def lattice(layers: int, width: int) -> tuple[Dataset, list[list[Dataset]]]:
    """A root above ``layers`` layers of ``width`` datasets, each linked to every
    dataset of the next layer: width**layers paths from the root to the last layer."""
    root = DatasetFactory()
    rows = [DatasetFactory.create_batch(width) for _ in range(layers)]
    LineageEdge.objects.bulk_create(
        [LineageEdge(parent=root, child=c, created_by="t") for c in rows[0]]
        + [
            LineageEdge(parent=p, child=c, created_by="t")
            for upper, lower in itertools.pairwise(rows)
            for p in upper
            for c in lower
        ]
    )
    return root, rows


def test_a_lattice_prints_each_dataset_once_and_later_meetings_as_references() -> None:
    root, rows = lattice(5, 8)
    out = run(root.sha256, "--depth", "5")
    below = out.split("descendants of")[1]
    for dataset in itertools.chain.from_iterable(rows):
        label = f"{dataset.short_hash} {dataset.name}"
        assert below.count(f"{label}\n") == 1, label  # printed once ...
    # ... and met again only as a reference: 8 + 4 x 64 edges, one row each at most.
    assert len(below.splitlines()) <= 1 + TREE_ROWS + 1
    assert "(see above)" in below
    assert f"{root.short_hash} {root.name}" in out.split("descendants of")[0]


def test_a_lattice_upwards_prints_each_ancestor_once() -> None:
    _, rows = lattice(4, 6)
    bottom = rows[-1][0]
    above = run(bottom.sha256, "--depth", "10").split("descendants of")[0]
    for dataset in itertools.chain.from_iterable(rows[:-1]):
        assert above.count(f"{dataset.short_hash} {dataset.name}\n") == 1


def test_a_huge_depth_is_clamped_and_walks_a_long_chain_in_bounded_queries(
    django_assert_max_num_queries: Any,
) -> None:
    chain = DatasetFactory.create_batch(300)
    LineageEdge.objects.bulk_create(
        [LineageEdge(parent=p, child=c, created_by="t") for p, c in itertools.pairwise(chain)]
    )
    # the reader's account (its view permission), resolve, then the graph (and the
    # embedded SQLite's check of its migration record)
    with django_assert_max_num_queries(3 if connection.vendor == "postgresql" else 4):
        out = run(chain[0].sha256, "--depth", str(10**9))
    lines = out.split("descendants of")[1].splitlines()
    assert chain[1].name in lines[1]
    assert len(lines) <= 1 + TREE_ROWS + 1
    assert "more not shown" in lines[-1]
    data = json.loads(run(chain[0].sha256, "--depth", str(10**30), "--json"))
    assert data["depth"] == MAX_DEPTH
    assert len(data["descendants"]) == MAX_NODES


def test_a_wide_fan_out_is_cut_with_a_line_saying_how_many_more_and_how() -> None:
    parent = DatasetFactory()
    children = DatasetFactory.create_batch(500)
    LineageEdge.objects.bulk_create(
        [LineageEdge(parent=parent, child=c, created_by="t") for c in children]
    )
    lines = run(parent.sha256).split("descendants of")[1].splitlines()
    assert len(lines) == 1 + TREE_ROWS + 1
    # 500 children: counted up to COUNT_CAP, so "at least" the rest.
    assert lines[-1].startswith(f"  ... {COUNT_CAP - TREE_ROWS}+ more not shown: `--json`")
    assert "web explorer" in lines[-1]
