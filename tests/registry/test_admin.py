"""The Django admin: dataset pages, the privileged actions by role, and what stays closed."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client
from django.urls import reverse

from lineage.models import LineageEdge
from registry.actors import record_audit
from registry.admin import CHANGE_FORM_ACTION_FIELD, INLINE_EDGES
from registry.errors import DeleteRefused
from registry.models import AuditEvent, Dataset
from registry.storage.local import LocalStorage
from tests.factories import DatasetFactory, LineageEdgeFactory, UserFactory
from tests.roles import ALLOWED, ROLES, Scene, make_role_users, root, snapshot

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:registry_dataset_changelist")
OPERATIONS = ["remote_delete", "purge", "restore"]


def change_url(dataset: Dataset) -> str:
    return reverse("admin:registry_dataset_change", args=[dataset.pk])


@pytest.fixture
def scene(local_store: LocalStorage, tmp_path: Path) -> Scene:
    return Scene.build(local_store, tmp_path / "files")


@pytest.fixture
def admin_client(client: Client) -> Client:
    users = make_role_users()
    client.force_login(users["administrator"])
    return client


def action_post(place: str, operation: str, dataset: Dataset, *, confirm: bool) -> dict[str, Any]:
    """The form data an admin action posts, from the list or from a dataset's page."""
    field = "action" if place == "list" else CHANGE_FORM_ACTION_FIELD
    data: dict[str, Any] = {field: operation, "_selected_action": [str(dataset.pk)]}
    if confirm:
        data["post"] = "yes"
    elif place == "list":
        data["index"] = "0"  # the list's "Run" button
    return data


def action_url(place: str, dataset: Dataset) -> str:
    return CHANGELIST if place == "list" else change_url(dataset)


def assert_operation_done(operation: str, dataset: Dataset, store: LocalStorage) -> None:
    if operation == "remote_delete":
        assert Dataset.objects.get(pk=dataset.pk).state == Dataset.State.DELETED
        assert not store.exists(dataset.sha256)
    elif operation == "purge":
        assert not Dataset.objects.filter(pk=dataset.pk).exists()
        assert not store.exists(dataset.sha256)
    else:
        assert Dataset.objects.get(pk=dataset.pk).is_available
        assert store.verify(dataset.sha256)


# --- the privileged actions, by role, from the list and from a dataset's page ---------


@pytest.mark.parametrize("place", ["list", "form"])
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", OPERATIONS)
def test_admin_action_succeeds_only_for_the_roles_allowed(
    operation: str, role: str, place: str, client: Client, scene: Scene, local_store: LocalStorage
) -> None:
    users = make_role_users()
    if users[role] is not None:
        client.force_login(users[role])
    target = scene.target(operation)
    url = action_url(place, target)
    before = snapshot(local_store)

    if role not in ALLOWED[operation]:
        response = client.post(url, action_post(place, operation, target, confirm=True))
        assert response.status_code == 302
        assert snapshot(local_store) == before
        assert not AuditEvent.objects.filter(action=operation).exclude(actor="root").exists()
        if role == "anonymous":
            assert response["Location"].startswith(reverse("admin:login"))
        else:
            denied = AuditEvent.objects.get(action="permission_denied")
            assert (denied.actor, denied.sha256, denied.origin) == (
                role,
                target.sha256,
                "127.0.0.1",
            )
            messages = [str(m) for m in client.get(response["Location"]).context["messages"]]
            assert any("may not" in m for m in messages)
        return

    page = client.post(url, action_post(place, operation, target, confirm=False))
    assert page.status_code == 200
    assert "are you sure?" in page.content.decode()
    assert snapshot(local_store) == before  # the confirmation page changes nothing

    response = client.post(url, action_post(place, operation, target, confirm=True))
    assert response.status_code == 302
    assert_operation_done(operation, target, local_store)
    event = AuditEvent.objects.get(action=operation, actor="administrator")
    assert (event.sha256, event.outcome, event.origin) == (target.sha256, "ok", "127.0.0.1")


def test_bulk_remote_delete_deletes_every_selected_dataset_through_the_service(
    admin_client: Client, scene: Scene, local_store: LocalStorage
) -> None:
    selected = [scene.parent, scene.child, scene.tombstone]
    response = admin_client.post(
        CHANGELIST,
        {"action": "remote_delete", "_selected_action": [d.pk for d in selected], "post": "yes"},
        follow=True,
    )
    assert response.status_code == 200
    for dataset in (scene.parent, scene.child):
        assert_operation_done("remote_delete", dataset, local_store)
    messages = [str(m) for m in response.context["messages"]]
    assert "Deleted 2 dataset(s)." in messages
    assert any("already deleted" in m for m in messages)  # the tombstone is left alone
    assert AuditEvent.objects.filter(action="remote_delete", actor="administrator").count() == 2


def test_remote_delete_confirmation_lists_living_children_and_needs_force(
    admin_client: Client, scene: Scene, local_store: LocalStorage
) -> None:
    grandchild = DatasetFactory(name="grandchild.csv")
    LineageEdgeFactory(parent=scene.parent, child=scene.child)
    LineageEdgeFactory(parent=scene.child, child=grandchild)
    page = admin_client.post(
        CHANGELIST, action_post("list", "remote_delete", scene.parent, confirm=False)
    ).content.decode()
    assert "child.csv" in page
    assert "1 living child(ren), and 2 living descendant(s) in all" in page
    assert 'name="force"' in page

    refused = admin_client.post(
        CHANGELIST, action_post("list", "remote_delete", scene.parent, confirm=True), follow=True
    )
    assert any("living" in str(m) for m in refused.context["messages"])
    assert local_store.exists(scene.parent.sha256)

    forced = action_post("list", "remote_delete", scene.parent, confirm=True) | {"force": "1"}
    admin_client.post(CHANGELIST, forced)
    assert_operation_done("remote_delete", scene.parent, local_store)


def test_purge_confirmation_says_what_goes_and_that_history_stays(
    admin_client: Client, scene: Scene
) -> None:
    LineageEdgeFactory(parent=scene.tombstone, child=scene.child)
    page = admin_client.post(
        change_url(scene.tombstone), action_post("form", "purge", scene.tombstone, confirm=False)
    ).content.decode()
    assert "removed for good, with 0 link(s) to parents, 1 link(s) to children" in page
    assert "the audit trail keeps every event" in page

    response = admin_client.post(
        change_url(scene.tombstone), action_post("form", "purge", scene.tombstone, confirm=True)
    )
    assert response["Location"] == CHANGELIST
    assert not LineageEdge.objects.filter(child=scene.child).exists()
    # The events from before the purge are still there, found by hash.
    actions = set(
        AuditEvent.objects.for_dataset(scene.tombstone.sha256).values_list("action", flat=True)
    )
    assert {"push", "remote_delete", "purge"} <= actions


def test_restore_of_a_tombstone_without_bytes_is_left_alone(
    admin_client: Client, scene: Scene
) -> None:
    page = admin_client.post(
        CHANGELIST, action_post("list", "restore", scene.tombstone, confirm=False)
    ).content.decode()
    assert "push the file again" in page
    assert 'name="post"' not in page  # nothing to confirm


def test_a_crafted_post_without_a_csrf_token_changes_nothing(
    scene: Scene, local_store: LocalStorage
) -> None:
    users = make_role_users()
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["administrator"])
    before = snapshot(local_store)
    for place in ("list", "form"):
        for operation in OPERATIONS:
            target = scene.target(operation)
            response = client.post(
                action_url(place, target), action_post(place, operation, target, confirm=True)
            )
            assert response.status_code == 403
    assert snapshot(local_store) == before
    assert not AuditEvent.objects.filter(action__in=OPERATIONS, actor="administrator").exists()


# --- what stays closed ---------------------------------------------------------------


def test_djangos_own_delete_is_closed_for_datasets(admin_client: Client, scene: Scene) -> None:
    superuser = UserFactory(username="su", is_superuser=True, is_staff=True)
    admin_client.force_login(superuser)
    url = reverse("admin:registry_dataset_delete", args=[scene.parent.pk])
    assert admin_client.get(url).status_code == 403
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    response = admin_client.post(
        CHANGELIST,
        {"action": "delete_selected", "_selected_action": [scene.parent.pk], "post": "yes"},
        follow=True,
    )
    assert Dataset.objects.get(pk=scene.parent.pk).is_available
    assert any("No action selected" in str(m) for m in response.context["messages"])
    assert "delete_selected" not in admin_client.get(CHANGELIST).content.decode()


def test_no_code_path_can_drop_a_dataset_row_outside_the_purge_service(
    scene: Scene, local_store: LocalStorage
) -> None:
    with pytest.raises(DeleteRefused), transaction.atomic():
        Dataset.objects.filter(pk=scene.parent.pk).delete()
    with pytest.raises(DeleteRefused), transaction.atomic():
        Dataset.objects.get(pk=scene.tombstone.pk).delete()
    # Deleting the user who pushed keeps the datasets (and their bytes).
    get_user_model().objects.filter(username="root").delete()
    assert Dataset.objects.get(pk=scene.parent.pk).pushed_by == "root"
    assert local_store.exists(scene.parent.sha256)


def test_the_audit_trail_is_read_only_even_to_superusers(client: Client) -> None:
    client.force_login(UserFactory(username="su", is_superuser=True, is_staff=True))
    event = AuditEvent.objects.create(actor="x", action="push", sha256="a" * 64)
    page = client.get(reverse("admin:registry_auditevent_change", args=[event.pk]))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert (
        client.post(
            reverse("admin:registry_auditevent_change", args=[event.pk]), {"actor": "y"}
        ).status_code
        == 403
    )
    assert client.get(reverse("admin:registry_auditevent_add")).status_code == 403
    delete = reverse("admin:registry_auditevent_delete", args=[event.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).actor == "x"
    listing = client.get(reverse("admin:registry_auditevent_changelist")).content.decode()
    assert 'name="action"' not in listing  # no bulk actions at all


def test_the_audit_trail_lists_one_datasets_events_and_finds_a_hash_prefix(
    admin_client: Client,
) -> None:
    record_audit(actor=root(), action="push", sha256="ab" * 32, detail="mine")
    record_audit(actor=root(), action="push", sha256="cd" * 32, detail="other")
    url = reverse("admin:registry_auditevent_changelist")
    by_hash = admin_client.get(url, {"sha256": "ab" * 32}).content.decode()
    assert "mine" in by_hash and "other" not in by_hash
    by_prefix = admin_client.get(url, {"q": "cdcdcd"}).content.decode()
    assert "other" in by_prefix and "mine" not in by_prefix


# --- browsing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "found"),
    [("parent.csv", "parent.csv"), ("test", "child.csv"), ("PARENT", "parent.csv")],
)
def test_dataset_list_searches_name_and_source(
    admin_client: Client, scene: Scene, query: str, found: str
) -> None:
    assert found in admin_client.get(CHANGELIST, {"q": query}).content.decode()


def test_dataset_list_finds_a_hash_prefix_and_shows_sizes_and_links(
    admin_client: Client, scene: Scene
) -> None:
    page = admin_client.get(CHANGELIST, {"q": scene.child.sha256[:8]}).content.decode()
    assert "child.csv" in page and "parent.csv" not in page
    assert f"{scene.child.size}\xa0B" in page  # sizes as the CLI writes them
    assert f'href="{scene.child.get_absolute_url()}"' in page
    lineage = reverse("registry:dataset-lineage", kwargs={"ref": scene.child.sha256})
    assert f'href="{lineage}"' in page


@pytest.mark.parametrize(
    ("params", "shown", "hidden"),
    [
        ({"state__exact": "deleted"}, "tombstone.csv", "parent.csv"),
        ({"pushed_by": "someone"}, "theirs.csv", "parent.csv"),
        (
            {
                "pushed_at__gte": "2001-01-01T00:00:00+00:00",
                "pushed_at__lt": "2001-01-02T00:00:00+00:00",
            },
            "old.csv",
            "child.csv",
        ),
    ],
)
def test_dataset_list_filters_by_state_pusher_and_date(
    admin_client: Client, scene: Scene, params: dict[str, str], shown: str, hidden: str
) -> None:
    DatasetFactory(name="theirs.csv", pushed_by="someone")
    DatasetFactory(name="old.csv", pushed_at="2001-01-01T12:00:00Z")
    page = admin_client.get(CHANGELIST, params).content.decode()
    assert shown in page and hidden not in page


def test_dataset_list_query_count_does_not_grow_with_rows(
    admin_client: Client, django_assert_max_num_queries: Callable[..., Any]
) -> None:
    DatasetFactory.create_batch(3)
    with django_assert_max_num_queries(12) as few:
        admin_client.get(CHANGELIST)
    DatasetFactory.create_batch(60)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert admin_client.get(CHANGELIST).status_code == 200


def test_dataset_page_shows_parents_and_children_inline_and_saves_text_edits(
    admin_client: Client, scene: Scene, django_assert_max_num_queries: Callable[..., Any]
) -> None:
    for _ in range(INLINE_EDGES + 5):
        LineageEdgeFactory(parent=scene.parent)
    LineageEdgeFactory(parent=DatasetFactory(name="its-parent.csv"), child=scene.parent)
    with django_assert_max_num_queries(25):
        page = admin_client.get(change_url(scene.parent)).content.decode()
    assert "its-parent.csv" in page
    assert page.count("dataset-") >= INLINE_EDGES  # factory names of the children
    assert "Remote delete (keep a tombstone)" in page  # the page's own actions

    form = {
        "name": "renamed.csv",
        "source": "https://example.org/x",
        "description": "d",
        "_save": "Save",
    }
    for prefix in ("parent_edges", "child_edges"):
        form |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    response = admin_client.post(change_url(scene.parent), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    dataset = Dataset.objects.get(pk=scene.parent.pk)
    assert (dataset.name, dataset.sha256, dataset.is_available) == (
        "renamed.csv",
        scene.parent.sha256,
        True,
    )
    assert LineageEdge.objects.filter(parent=scene.parent).count() == INLINE_EDGES + 5


def test_a_viewer_in_the_admin_sees_no_privileged_action(client: Client, scene: Scene) -> None:
    client.force_login(make_role_users()["viewer"])
    page = client.get(CHANGELIST).content.decode()
    assert "Remote delete" not in page and "Purge" not in page
    assert client.get(change_url(scene.parent)).status_code == 200  # view only


# --- lineage edges -------------------------------------------------------------------


def test_removing_a_lineage_edge_in_the_admin_unlinks_through_the_service(
    admin_client: Client, scene: Scene
) -> None:
    edge = LineageEdgeFactory(parent=scene.parent, child=scene.child)
    listing = reverse("admin:lineage_lineageedge_changelist")
    assert (
        "parent.csv" in admin_client.get(listing, {"q": scene.parent.sha256[:8]}).content.decode()
    )
    assert admin_client.get(reverse("admin:lineage_lineageedge_add")).status_code == 403
    response = admin_client.post(
        listing, {"action": "delete_selected", "_selected_action": [edge.pk], "post": "yes"}
    )
    assert response.status_code == 302
    assert not LineageEdge.objects.exists()
    event = AuditEvent.objects.get(action="unlink")
    assert (event.actor, event.sha256) == ("administrator", scene.child.sha256)


def test_a_viewer_cannot_remove_a_lineage_edge(client: Client, scene: Scene) -> None:
    client.force_login(make_role_users()["viewer"])
    edge = LineageEdgeFactory(parent=scene.parent, child=scene.child)
    url = reverse("admin:lineage_lineageedge_delete", args=[edge.pk])
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert LineageEdge.objects.filter(pk=edge.pk).exists()


# --- a large selection: every page at once -----------------------------------------------


def bulk_datasets(count: int, *, prefix: str, state: str = Dataset.State.AVAILABLE) -> list[int]:
    """``count`` dataset rows made at once (no bytes stored), their ids in name order."""
    rows = [
        Dataset(
            sha256=hashlib.sha256(f"{prefix}-{i}".encode()).hexdigest(),
            name=f"{prefix}-{i:05d}.csv",
            size=i,
            storage_location="bulk",
            pushed_by="root",
            state=state,
        )
        for i in range(count)
    ]
    Dataset.objects.bulk_create(rows, batch_size=2000)
    return list(
        Dataset.objects.filter(name__startswith=f"{prefix}-")
        .order_by("name")
        .values_list("pk", flat=True)
    )


def across_post(operation: str, first_page: list[int], **extra: str) -> dict[str, Any]:
    """What the list posts for "select all N" (select_across) and an action."""
    return {
        "action": operation,
        "index": "0",
        "select_across": "1",
        "_selected_action": [str(pk) for pk in first_page],
        **extra,
    }


LARGE = 25_000
PAGE_BUDGET = 200_000  # bytes


@pytest.fixture
def large_registry(admin_client: Client) -> list[int]:
    """25,000 datasets; 30 of the first have 12 living children each (also selected)."""
    pks = bulk_datasets(LARGE, prefix="bulk")
    LineageEdge.objects.bulk_create(
        LineageEdge(parent_id=parent, child_id=pks[1000 + n * 12 + k], created_by="root")
        for n, parent in enumerate(pks[:30])
        for k in range(12)
    )
    return pks


@pytest.mark.parametrize("operation", OPERATIONS)
def test_confirmation_of_a_large_selection_is_a_summary_in_a_bounded_number_of_queries(
    admin_client: Client,
    large_registry: list[int],
    operation: str,
    django_assert_max_num_queries: Callable[..., Any],
) -> None:
    with django_assert_max_num_queries(60):
        response = admin_client.post(CHANGELIST, across_post(operation, large_registry[:100]))
    assert response.status_code == 200
    page = response.content.decode()
    assert len(response.content) < PAGE_BUDGET, len(response.content)
    assert f"{LARGE} datasets selected" in page
    assert f"and {LARGE - 50} more" in page
    if operation == "remote_delete":
        assert page.count('name="_selected_action"') == 100  # the ticked page, not 25,000 ids
        assert f"{LARGE} to delete" in page
        assert "Living datasets were made from 30 of them" in page
        assert "12 living child(ren), and 12 living descendant(s) in all" in page
        assert "and 10 more with living children" in page
        assert 'name="force"' in page
    else:
        assert f"{LARGE} not deleted" in page
        assert "Nothing selected can be" in page


def test_purge_confirmation_of_a_large_selection_of_tombstones_counts_what_goes(
    admin_client: Client, django_assert_max_num_queries: Callable[..., Any]
) -> None:
    pks = bulk_datasets(LARGE, prefix="gone", state=Dataset.State.DELETED)
    LineageEdge.objects.bulk_create(
        LineageEdge(parent_id=pks[i], child_id=pks[i + 1], created_by="root") for i in range(40)
    )
    with django_assert_max_num_queries(200):  # the store is asked about the 50 shown
        response = admin_client.post(
            CHANGELIST + "?state__exact=deleted", across_post("purge", pks[:100])
        )
    page = response.content.decode()
    assert len(response.content) < PAGE_BUDGET, len(response.content)
    assert f"in all, {LARGE} record(s) are removed for good, with 40 lineage link(s)" in page
    assert f"Yes, purge {LARGE} datasets" in page


def test_confirmed_remote_delete_across_every_page_deletes_every_selected_dataset(
    admin_client: Client,
) -> None:
    pks = bulk_datasets(300, prefix="batch")
    confirm = admin_client.post(CHANGELIST, across_post("remote_delete", pks[:100]))
    token = re.search(r'name="selection" value="([^"]+)"', confirm.content.decode())
    assert token is not None

    done = admin_client.post(
        CHANGELIST,
        across_post("remote_delete", pks[:100], post="yes", selection=token.group(1)),
        follow=True,
    )
    assert "Deleted 300 dataset(s)." in [str(m) for m in done.context["messages"]]
    assert not Dataset.objects.available().exists()
    assert AuditEvent.objects.filter(action="remote_delete").count() == 300


def test_a_selection_across_pages_that_changed_since_it_was_confirmed_is_not_acted_on(
    admin_client: Client,
) -> None:
    pks = bulk_datasets(120, prefix="batch")
    confirm = admin_client.post(CHANGELIST, across_post("remote_delete", pks[:100]))
    token = re.search(r'name="selection" value="([^"]+)"', confirm.content.decode())
    assert token is not None
    DatasetFactory(name="pushed-meanwhile.csv")

    done = admin_client.post(
        CHANGELIST,
        across_post("remote_delete", pks[:100], post="yes", selection=token.group(1)),
        follow=True,
    )
    assert any("selection changed" in str(m) for m in done.context["messages"])
    assert Dataset.objects.available().count() == 121


def test_a_selection_whose_rows_were_swapped_for_others_of_equal_count_and_sum_is_not_acted_on(
    admin_client: Client,
) -> None:
    # Tombstones 0, 3 and 4 are confirmed for purge; meanwhile 0 and 3 are restored and
    # 1 and 2 deleted: as many rows, the same highest id and the same sum of ids, but
    # not the datasets the administrator agreed to remove for good.
    pks = bulk_datasets(5, prefix="swap", state=Dataset.State.DELETED)
    assert pks == list(range(pks[0], pks[0] + 5))  # consecutive ids: 0 + 3 == 1 + 2
    Dataset.objects.filter(pk__in=[pks[1], pks[2]]).update(state=Dataset.State.AVAILABLE)
    url = CHANGELIST + "?state__exact=deleted"
    confirm = admin_client.post(url, across_post("purge", [pks[0]]))
    token = re.search(r'name="selection" value="([^"]+)"', confirm.content.decode())
    assert token is not None
    Dataset.objects.filter(pk__in=[pks[0], pks[3]]).update(state=Dataset.State.AVAILABLE)
    Dataset.objects.filter(pk__in=[pks[1], pks[2]]).update(state=Dataset.State.DELETED)

    done = admin_client.post(
        url, across_post("purge", [pks[1]], post="yes", selection=token.group(1)), follow=True
    )
    assert any("selection changed" in str(m) for m in done.context["messages"])
    assert Dataset.objects.filter(pk__in=pks).count() == 5
