"""The lineage command through call_command."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from lineage.models import LineageEdge
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
