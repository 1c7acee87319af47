"""Every endpoint against a live server, with real tokens of each role and scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from lineage.models import LineageEdge
from registry.models import AuditEvent, Dataset
from tests.api.conftest import ROLE_SCOPE_PAIRS, assert_error, make_token
from tests.factories import DatasetFactory, LineageEdgeFactory

Api = Callable[..., httpx.Client]

# What each (role, scope) may do beyond reading: the smaller of the two decides.
WRITES = {("contributor", "write"), ("administrator", "write"), ("administrator", "admin")}
AUDITS = {("administrator", "admin")}


@pytest.fixture
def chain(transactional_db: None) -> list[Dataset]:
    """raw -> clean -> report, plus an unlinked ``other``."""
    raw = DatasetFactory(name="raw.csv", sha256="aa" + "0" * 62)
    clean = DatasetFactory(name="clean.csv", sha256="bb" + "0" * 62)
    report = DatasetFactory(name="report.pdf", sha256="cc" + "0" * 62)
    other = DatasetFactory(name="other.csv", sha256="dd" + "0" * 62)
    LineageEdgeFactory(parent=raw, child=clean)
    LineageEdgeFactory(parent=clean, child=report)
    return [raw, clean, report, other]


@pytest.mark.parametrize(("role", "scope"), ROLE_SCOPE_PAIRS)
def test_each_role_and_scope_gets_exactly_the_smaller_of_the_two(
    api: Api, users: dict[str, Any], chain: list[Dataset], role: str, scope: str
) -> None:
    raw, clean, report, other = chain
    client = api(make_token(users[role], scope))

    me = client.get("/whoami").json()
    assert (me["username"], me["via"], me["scope"]) == (role, "token", scope)
    assert ("registry.push_dataset" in me["permissions"]) == ((role, scope) in WRITES)
    assert ("registry.view_auditevent" in me["permissions"]) == ((role, scope) in AUDITS)

    # Reading: everyone.
    listing = client.get("/datasets")
    assert listing.status_code == 200
    assert {d["name"] for d in listing.json()["items"]} == {d.name for d in chain}
    shown = client.get(f"/datasets/{clean.sha256[:8]}")
    assert shown.status_code == 200 and shown.json()["sha256"] == clean.sha256
    assert client.get(f"/datasets/{clean.sha256}/lineage").status_code == 200

    # Linking and unlinking: write scope on a contributor or administrator.
    link = client.post("/lineage/links", json={"parent": report.sha256, "child": other.sha256})
    unlink = client.delete("/lineage/links", params={"parent": raw.sha256, "child": clean.sha256})
    if (role, scope) in WRITES:
        assert link.status_code == 201, link.text
        assert link.json() == {"parent": report.sha256, "child": other.sha256, "created": True}
        assert unlink.status_code == 204, unlink.text
    else:
        assert_error(link, 403, "permission_denied")
        assert_error(unlink, 403, "permission_denied")
        assert LineageEdge.objects.count() == 2

    # The audit trail: administrators with an admin token only.
    history = client.get(f"/datasets/{clean.sha256}/history")
    if (role, scope) in AUDITS:
        assert history.status_code == 200
        assert {"at", "actor", "action", "outcome"} <= set(history.json()["events"][0])
    else:
        assert_error(history, 403, "permission_denied")


def test_a_refused_action_is_audited_with_the_token_users_name_and_address(
    api: Api, users: dict[str, Any], chain: list[Dataset]
) -> None:
    raw, _clean, _report, other = chain
    client = api(make_token(users["viewer"], "read"))
    client.post("/lineage/links", json={"parent": raw.sha256, "child": other.sha256})
    event = AuditEvent.objects.get(action="permission_denied")
    assert (event.actor, event.outcome, event.origin) == ("viewer", "denied", "127.0.0.1")
    assert "link datasets" in event.detail


def test_a_token_never_exceeds_its_users_current_role(
    api: Api, users: dict[str, Any], chain: list[Dataset]
) -> None:
    from django.contrib.auth.models import Group

    raw, _clean, _report, other = chain
    contributor = users["contributor"]
    client = api(make_token(contributor, "write"))
    contributor.groups.set([Group.objects.get(name="viewers")])  # demoted
    link = client.post("/lineage/links", json={"parent": raw.sha256, "child": other.sha256})
    assert_error(link, 403, "permission_denied")
    assert "registry.push_dataset" not in client.get("/whoami").json()["permissions"]


def test_a_superusers_read_token_cannot_write(
    api: Api, users: dict[str, Any], chain: list[Dataset]
) -> None:
    from tests.factories import UserFactory

    raw, _clean, _report, other = chain
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    client = api(make_token(root, "read"))
    link = client.post("/lineage/links", json={"parent": raw.sha256, "child": other.sha256})
    assert_error(link, 403, "permission_denied")
    assert_error(client.get(f"/datasets/{raw.sha256}/history"), 403, "permission_denied")


def test_list_pages_follow_next_cursors_in_the_browsers_order(
    api: Api, users: dict[str, Any]
) -> None:
    for i in range(7):
        DatasetFactory(name=f"part-{i}.csv")
    client = api(make_token(users["viewer"], "read"))
    names: list[str] = []
    params: dict[str, Any] = {"limit": 3, "sort": "name"}
    pages = 0
    while True:
        page = client.get("/datasets", params=params).json()
        names += [d["name"] for d in page["items"]]
        pages += 1
        if page["next"] is None:
            break
        params["after"] = page["next"]
    assert names == [f"part-{i}.csv" for i in range(7)]
    assert pages == 3
    back = client.get("/datasets", params={"limit": 3, "sort": "name", "before": page["previous"]})
    assert [d["name"] for d in back.json()["items"]] == ["part-3.csv", "part-4.csv", "part-5.csv"]


def test_list_searches_and_hides_tombstones_unless_asked(api: Api, users: dict[str, Any]) -> None:
    DatasetFactory(name="weather.csv", description="stations")
    DatasetFactory(name="sales.csv", description="crm")
    DatasetFactory(name="old-weather.csv", state=Dataset.State.DELETED)
    client = api(make_token(users["viewer"], "read"))
    found = client.get("/datasets", params={"q": "weather"}).json()["items"]
    assert [d["name"] for d in found] == ["weather.csv"]
    with_deleted = client.get("/datasets", params={"q": "weather", "deleted": "true"}).json()
    assert {d["name"] for d in with_deleted["items"]} == {"weather.csv", "old-weather.csv"}


def test_show_takes_a_unique_prefix_and_explains_bad_ones(api: Api, users: dict[str, Any]) -> None:
    DatasetFactory(sha256="abcdef01" + "0" * 56)
    DatasetFactory(sha256="abcdef02" + "0" * 56)
    client = api(make_token(users["viewer"], "read"))
    assert client.get("/datasets/abcdef01").json()["sha256"] == "abcdef01" + "0" * 56
    assert (
        "ambiguous" in assert_error(client.get("/datasets/abcdef"), 400, "ambiguous_hash")["detail"]
    )
    assert_error(client.get("/datasets/abc"), 400, "invalid_hash")
    assert_error(client.get("/datasets/not-hex!"), 400, "invalid_hash")
    assert_error(client.get("/datasets/fedcba"), 404, "unknown_dataset")


def test_lineage_walks_either_direction_to_a_depth(
    api: Api, users: dict[str, Any], chain: list[Dataset]
) -> None:
    raw, clean, report, _other = chain
    client = api(make_token(users["viewer"], "read"))
    both = client.get(f"/datasets/{report.sha256}/lineage", params={"depth": 5}).json()
    assert [d["name"] for d in both["ancestors"]] == ["clean.csv", "raw.csv"]
    assert [d["distance"] for d in both["ancestors"]] == [1, 2]
    assert both["descendants"] == []
    assert {(e["parent"], e["child"]) for e in both["edges"]} == {
        (raw.sha256, clean.sha256),
        (clean.sha256, report.sha256),
    }
    near = client.get(f"/datasets/{report.sha256}/lineage", params={"depth": 1}).json()
    assert [d["name"] for d in near["ancestors"]] == ["clean.csv"]
    assert near["ancestors_total"] == 2
    down = client.get(f"/datasets/{clean.sha256}/lineage", params={"direction": "down"}).json()
    assert down["ancestors"] is None and down["ancestors_total"] is None
    assert [d["name"] for d in down["descendants"]] == ["report.pdf"]
    assert down["edges"] == [{"parent": clean.sha256, "child": report.sha256}]
    assert_error(client.get(f"/datasets/{raw.sha256}/lineage", params={"depth": 0}), 422)
    assert_error(
        client.get(f"/datasets/{raw.sha256}/lineage", params={"direction": "sideways"}), 422
    )


def test_lineage_matches_the_lineage_json_command(
    api: Api, users: dict[str, Any], chain: list[Dataset], settings: Any
) -> None:
    import json
    from io import StringIO

    from django.core.management import call_command

    _raw, clean, _report, _other = chain
    settings.DATATRAC_USER = users["viewer"].username  # the CLI reads as a viewer too
    client = api(make_token(users["viewer"], "read"))
    out = StringIO()
    call_command("lineage", clean.sha256, "--depth", "3", "--json", stdout=out)
    served = client.get(f"/datasets/{clean.sha256}/lineage", params={"depth": 3}).json()
    assert served == json.loads(out.getvalue())


def test_link_is_idempotent_and_refuses_a_cycle_with_409(
    api: Api, users: dict[str, Any], chain: list[Dataset]
) -> None:
    raw, clean, report, _other = chain
    client = api(make_token(users["contributor"], "write"))
    again = client.post("/lineage/links", json={"parent": raw.sha256, "child": clean.sha256})
    assert again.status_code == 200 and again.json()["created"] is False
    cycle = client.post("/lineage/links", json={"parent": report.sha256, "child": raw.sha256})
    assert "cycle" in assert_error(cycle, 409, "lineage_conflict")["detail"]
    missing = client.delete("/lineage/links", params={"parent": raw.sha256, "child": report.sha256})
    assert_error(missing, 404)
    assert_error(
        client.post("/lineage/links", json={"parent": raw.sha256}), 422, "validation_error"
    )
    assert_error(
        client.post(
            "/lineage/links", content=b"{not json", headers={"Content-Type": "application/json"}
        ),
        400,
    )
