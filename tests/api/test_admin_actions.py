"""Remote delete, purge and restore through the API: administrators' admin-scope tokens."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from lineage.models import LineageEdge
from registry.models import AuditEvent, Dataset
from registry.storage.base import object_key
from registry.storage.local import LocalStorage
from tests.api.conftest import ROLE_SCOPE_PAIRS, assert_error, make_token
from tests.webhelpers import stored_dataset

Api = Callable[..., httpx.Client]


@pytest.fixture
def family(transactional_db: None, local_store: LocalStorage, tmp_path: Path) -> list[Dataset]:
    """parent -> child, both stored."""
    parent = stored_dataset(local_store, tmp_path, os.urandom(300), name="parent.csv")
    child = stored_dataset(local_store, tmp_path, os.urandom(300), name="child.csv")
    LineageEdge.objects.create(parent=parent, child=child)
    return [parent, child]


@pytest.fixture
def admin(api: Api, users: dict[str, Any]) -> httpx.Client:
    return api(make_token(users["administrator"], "admin"))


@pytest.mark.parametrize(
    ("role", "scope"), [pair for pair in ROLE_SCOPE_PAIRS if pair != ("administrator", "admin")]
)
def test_only_an_administrators_admin_token_may_delete_purge_or_restore_and_refusals_are_audited(
    api: Api, users: dict[str, Any], family: list[Dataset], role: str, scope: str
) -> None:
    parent, child = family
    client = api(make_token(users[role], scope))
    Dataset.objects.filter(pk=child.pk).update(state=Dataset.State.DELETED)

    refused = [
        client.delete(f"/datasets/{parent.sha256}", params={"force": "true"}),
        client.post(f"/datasets/{child.sha256}/purge"),
        client.post(f"/datasets/{child.sha256}/restore"),
    ]

    for response in refused:
        assert_error(response, 403, "permission_denied")
    denied = AuditEvent.objects.filter(action=AuditEvent.Action.PERMISSION_DENIED, actor=role)
    assert sorted(denied.values_list("sha256", flat=True)) == sorted(
        [parent.sha256, child.sha256, child.sha256]
    )
    assert Dataset.objects.get(pk=parent.pk).is_available
    assert Dataset.objects.filter(pk=child.pk).exists()


def test_delete_refuses_with_living_children_unless_forced(
    admin: httpx.Client, family: list[Dataset], local_store: LocalStorage
) -> None:
    parent, _child = family

    refused = admin.delete(f"/datasets/{parent.sha256[:10]}")
    forced = admin.delete(f"/datasets/{parent.sha256[:10]}", params={"force": "true"})
    again = admin.delete(f"/datasets/{parent.sha256}")

    assert "living child" in assert_error(refused, 409, "confirmation_required")["detail"]
    assert forced.status_code == 200, forced.text
    assert forced.json()["dataset"]["state"] == "deleted"
    assert forced.json()["object_was_missing"] is False
    assert not (local_store.root / object_key(parent.sha256)).exists()
    assert_error(again, 409, "confirmation_required")
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.REMOTE_DELETE, sha256=parent.sha256, actor="administrator"
    ).exists()


def test_purge_removes_a_tombstone_for_good_and_refuses_an_available_dataset(
    admin: httpx.Client, family: list[Dataset]
) -> None:
    _parent, child = family
    assert_error(admin.post(f"/datasets/{child.sha256}/purge"), 409, "confirmation_required")
    assert admin.delete(f"/datasets/{child.sha256}").status_code == 200

    purged = admin.post(f"/datasets/{child.sha256}/purge")

    assert purged.status_code == 200, purged.text
    assert purged.json() == {
        "sha256": child.sha256,
        "name": "child.csv",
        "edges_removed": 1,
        "downloads_removed": 0,
        "bytes_removed": False,
    }
    assert not Dataset.objects.filter(pk=child.pk).exists()
    assert_error(admin.post(f"/datasets/{child.sha256}/purge"), 404, "unknown_dataset")


def test_restore_brings_back_a_tombstone_whose_bytes_are_stored_again(
    admin: httpx.Client, family: list[Dataset], local_store: LocalStorage, tmp_path: Path
) -> None:
    parent, _child = family
    stored = local_store.root / object_key(parent.sha256)
    data = stored.read_bytes()
    assert admin.delete(f"/datasets/{parent.sha256}?force=true").status_code == 200

    missing = admin.post(f"/datasets/{parent.sha256}/restore")
    assert_error(missing, 502, "store_error")
    source = tmp_path / "again"
    source.write_bytes(data)
    local_store.put(parent.sha256, source)

    restored = admin.post(f"/datasets/{parent.sha256}/restore")

    assert restored.status_code == 200, restored.text
    assert restored.json()["state"] == "available"
    assert Dataset.objects.get(pk=parent.pk).is_available
    assert_error(admin.post(f"/datasets/{parent.sha256}/restore"), 409, "confirmation_required")
