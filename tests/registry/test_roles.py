"""Roles and permissions: each action by each role, through the CLI and the web.

(The admin's side of the same matrix is in test_admin.py.) Real parts throughout: the
local file store holds real bytes, the commands run through call_command and, for a
few, through the `datatrac` script in a subprocess.
"""

from __future__ import annotations

import hashlib
import importlib
import io
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import AnonymousUser, Group
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from lineage.models import LineageEdge
from registry.actors import Actor
from registry.models import AuditEvent, Dataset, VerifyRun
from registry.roles import ROLES as ROLE_PERMISSIONS
from registry.services import push_dataset
from registry.storage.local import LocalStorage
from tests.factories import UserFactory
from tests.roles import (
    ACTIONS,
    ALLOWED,
    AUDIT_ACTION,
    PASSWORD,
    ROLES,
    STRANGER,
    Scene,
    make_role_users,
    snapshot,
)

pytestmark = pytest.mark.django_db
PRIVILEGED = {"remote_delete", "purge", "restore"}


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def cli_args(action: str, scene: Scene, username: str, output: Path) -> list[str]:
    """The command line that performs ``action`` as ``username``."""
    return {
        "push": ["push", str(scene.new_file), "--source", "s"],
        "link": ["lineage", "--parent", scene.parent.sha256, "--child", scene.child.sha256],
        "download": ["fetch", scene.parent.sha256, "--download", "--output", str(output)],
        "remote_delete": ["delete", scene.parent.sha256, "--yes", "--user", username],
        "purge": ["delete", scene.tombstone.sha256, "--purge", "--yes", "--user", username],
        "restore": ["restore", scene.stored_tombstone.sha256, "--user", username],
    }[action]


def assert_done(action: str, scene: Scene, store: LocalStorage, output: Path) -> str:
    """Check that ``action`` fully happened (rows and bytes agree); its dataset's hash."""
    if action == "push":
        sha = hashlib.sha256(scene.new_file.read_bytes()).hexdigest()
        assert Dataset.objects.get(sha256=sha).is_available
        assert store.exists(sha)
        return sha
    target = scene.target(action)
    if action == "link":
        assert LineageEdge.objects.filter(parent=scene.parent, child=scene.child).exists()
    elif action == "download":
        assert hashlib.sha256(output.read_bytes()).hexdigest() == target.sha256
        assert Dataset.objects.get(pk=target.pk).download_count == 1
    elif action == "remote_delete":
        assert Dataset.objects.get(pk=target.pk).state == Dataset.State.DELETED
        assert not store.exists(target.sha256)
    elif action == "purge":
        assert not Dataset.objects.filter(sha256=target.sha256).exists()
        assert not store.exists(target.sha256)
    elif action == "restore":
        assert Dataset.objects.get(pk=target.pk).is_available
        assert store.verify(target.sha256)
    return target.sha256


# --- the CLI -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ACTIONS)
def test_cli_action_succeeds_only_for_the_roles_allowed(
    action: str, role: str, local_store: LocalStorage, tmp_path: Path, settings: Any, monkeypatch
) -> None:
    make_role_users()
    scene = Scene.build(local_store, tmp_path / "files")
    username = STRANGER if role == "anonymous" else role
    settings.DATATRAC_USER = username
    monkeypatch.setenv("DATATRAC_PASSWORD", PASSWORD)
    output = tmp_path / "out.csv"
    before = snapshot(local_store)

    if role in ALLOWED[action]:
        run(*cli_args(action, scene, username, output))
        sha = assert_done(action, scene, local_store, output)
        assert AuditEvent.objects.filter(
            action=AUDIT_ACTION[action], sha256=sha, actor=username, outcome="ok"
        ).exists()
        return

    with pytest.raises(CommandError, match=r"may not|authentication failed") as refused:
        run(*cli_args(action, scene, username, output))
    assert "\n" not in str(refused.value)
    assert snapshot(local_store) == before
    assert not output.exists()
    if role == "anonymous" and action in PRIVILEGED:
        # No account, so no password can be right: a failed sign-in, on the record.
        assert AuditEvent.objects.filter(
            action="sign_in_failed", actor=STRANGER, outcome="failed"
        ).exists()
    else:
        expected_sha = "" if action == "push" else scene.target(action).sha256
        assert AuditEvent.objects.filter(
            action="permission_denied", actor=username, sha256=expected_sha, outcome="denied"
        ).exists()


def test_cli_unlink_needs_the_link_permission(
    local_store: LocalStorage, tmp_path: Path, settings: Any
) -> None:
    make_role_users()
    scene = Scene.build(local_store, tmp_path / "files")
    settings.DATATRAC_USER = "contributor"
    run("lineage", "--parent", scene.parent.sha256, "--child", scene.child.sha256)
    settings.DATATRAC_USER = "viewer"
    with pytest.raises(CommandError, match="may not unlink"):
        run("lineage", "--parent", scene.parent.sha256, "--child", scene.child.sha256, "--remove")
    assert LineageEdge.objects.count() == 1
    settings.DATATRAC_USER = "contributor"
    run("lineage", "--parent", scene.parent.sha256, "--child", scene.child.sha256, "--remove")
    assert not LineageEdge.objects.exists()
    assert AuditEvent.objects.filter(action="unlink", actor="contributor").exists()


def test_a_push_with_parents_needs_the_link_permission_too(
    local_store: LocalStorage, tmp_path: Path
) -> None:
    pusher = UserFactory(username="pusher")
    pusher.user_permissions.add(*_perms("registry.push_dataset"))
    parent = push_dataset(
        path=_file(tmp_path, b"p"), source="s", actor=Actor.for_user(_root()), storage=local_store
    ).dataset
    actor = Actor.for_cli("pusher")
    from registry.errors import PermissionDenied

    with pytest.raises(PermissionDenied, match="may not link"):
        push_dataset(
            path=_file(tmp_path, b"c"),
            source="s",
            actor=actor,
            storage=local_store,
            parents=[parent.sha256],
        )
    # Refused before any byte moved.
    assert sorted(local_store.iter_objects()) == [parent.sha256]


# --- reading and the store's upkeep ---------------------------------------------------

# Commands that read the registry or look after the store, and who may run them.
UPKEEP_COMMANDS = ["list", "show", "lineage", "verify", "gc"]
UPKEEP_ALLOWED: dict[str, set[str]] = {
    "list": {"viewer", "contributor", "administrator"},
    "show": {"viewer", "contributor", "administrator"},
    "lineage": {"viewer", "contributor", "administrator"},
    "verify": {"administrator"},
    "gc": {"administrator"},
}
UPKEEP_PERMISSION = {
    "list": "registry.view_dataset",
    "show": "registry.view_dataset",
    "lineage": "registry.view_dataset",
    "verify": "registry.verify_store",
    "gc": "registry.collect_garbage",
}


def upkeep_args(command: str, scene: Scene) -> list[str]:
    return {
        "list": ["fetch", "--all", "--json"],
        "show": ["fetch", scene.parent.sha256, "--json"],
        "lineage": ["lineage", scene.parent.sha256, "--json"],
        "verify": ["verify", "--all", "--json"],
        "gc": ["gc", "--grace", "0"],
    }[command]


def plant_garbage(store: LocalStorage) -> None:
    """An orphaned object and a stale temporary: what a `gc --grace 0` would remove."""
    orphan = hashlib.sha256(b"orphan").hexdigest()
    path = store.root / orphan[:2] / orphan[2:4] / orphan
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"orphan")
    (path.parent / f".{orphan}.0123456789ab.tmp").write_bytes(b"half")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("command", UPKEEP_COMMANDS)
def test_reads_verify_and_gc_run_only_for_the_roles_allowed(
    command: str, role: str, local_store: LocalStorage, tmp_path: Path, settings: Any
) -> None:
    make_role_users()
    scene = Scene.build(local_store, tmp_path / "files")
    plant_garbage(local_store)
    settings.DATATRAC_USER = STRANGER if role == "anonymous" else role
    files_before = sorted(local_store.root.rglob("*"))

    if role in UPKEEP_ALLOWED[command]:
        try:
            run(*upkeep_args(command, scene))
        except CommandError as exc:  # verify reports the planted orphan: found, not refused
            assert command == "verify" and "orphaned" in str(exc)
        assert not AuditEvent.objects.filter(action="permission_denied").exists()
        return

    with pytest.raises(CommandError, match="may not") as refused:
        run(*upkeep_args(command, scene))
    assert refused.value.returncode == 3
    assert "\n" not in str(refused.value)
    assert sorted(local_store.root.rglob("*")) == files_before
    assert not VerifyRun.objects.exists()
    denied = AuditEvent.objects.get(action="permission_denied")
    assert (denied.actor, denied.outcome) == (settings.DATATRAC_USER, "denied")
    assert UPKEEP_PERMISSION[command] in denied.detail


def test_datatrac_script_refuses_a_stranger_reads_verify_and_gc_in_one_line(
    cli: Any, local_store: LocalStorage, tmp_path: Path
) -> None:
    """Once accounts exist, a DATATRAC_USER with none may do nothing: exit 3, one line."""
    make_role_users()
    scene = Scene.build(local_store, tmp_path / "files")
    plant_garbage(local_store)
    files_before = sorted(local_store.root.rglob("*"))

    for command in UPKEEP_COMMANDS:
        result = cli(*upkeep_args(command, scene), env={"DATATRAC_USER": STRANGER})
        assert result.returncode == 3, (command, result.stderr)
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith(f"error: {STRANGER!r} may not "), result.stderr
    assert sorted(local_store.root.rglob("*")) == files_before
    denied = AuditEvent.objects.filter(action="permission_denied", actor=STRANGER)
    assert sorted(denied.values_list("detail", flat=True)) == sorted(
        f"{what} needs permission {UPKEEP_PERMISSION[command]}"
        for command, what in [
            ("gc", "collect garbage in the store"),
            ("lineage", "view datasets"),
            ("list", "view datasets"),
            ("show", "view datasets"),
            ("verify", "verify the store"),
        ]
    )


def test_before_any_account_exists_verify_and_gc_still_need_an_administrator(
    make_file, local_store: LocalStorage
) -> None:
    sha = run("push", str(make_file(b"mine")), "--source", "s")[0].strip()
    assert sha in run("fetch", "--all", "--json")[0]  # reading is an everyday action
    for args in (["verify", "--all"], ["gc"]):
        with pytest.raises(CommandError, match="no active DataTrac account has that name"):
            run(*args)


# --- the CLI identity when no account matches (the embedded install) ------------------


def test_before_any_account_exists_the_cli_may_push_link_and_download(
    make_file, tmp_path: Path
) -> None:
    parent_sha = run("push", str(make_file(b"first")), "--source", "s")[0].strip()
    child_sha = run("push", str(make_file(b"second")), "--source", "s")[0].strip()
    run("lineage", "--parent", parent_sha, "--child", child_sha)
    run("fetch", parent_sha, "--download", "--output", str(tmp_path / "back"))
    assert (tmp_path / "back").read_bytes() == b"first"
    events = AuditEvent.objects.filter(actor="tester", outcome="ok")
    assert set(events.values_list("action", flat=True)) == {"push", "link", "download"}


def test_before_any_account_exists_privileged_actions_still_need_a_password(
    make_file, monkeypatch
) -> None:
    sha = run("push", str(make_file(b"x")), "--source", "s")[0].strip()
    monkeypatch.setenv("DATATRAC_PASSWORD", "anything")
    with pytest.raises(CommandError, match="authentication failed"):
        run("delete", sha, "--yes")
    assert Dataset.objects.get(sha256=sha).is_available


def test_once_an_account_exists_a_cli_name_without_one_is_refused(make_file) -> None:
    UserFactory(username="somebody-else", is_superuser=True)
    with pytest.raises(CommandError, match="no active DataTrac account has that name"):
        run("push", str(make_file(b"x")), "--source", "s")
    assert not Dataset.objects.exists()
    assert AuditEvent.objects.filter(action="permission_denied", actor="tester").exists()


def test_an_inactive_account_is_refused_not_treated_as_a_fresh_install(make_file) -> None:
    UserFactory(username="tester", is_active=False, is_superuser=True)
    with pytest.raises(CommandError, match="may not push"):
        run("push", str(make_file(b"x")), "--source", "s")
    assert not Dataset.objects.exists()


def test_up_after_a_first_push_keeps_the_newcomer_working(make_file) -> None:
    """The README's first steps in either order: push before `up`, then push after it."""
    run("push", str(make_file(b"before up")), "--source", "s")
    out, _ = run("up", "--no-server")
    assert "Created administrator 'tester'" in out
    sha = run("push", str(make_file(b"after up")), "--source", "s")[0].strip()
    assert Dataset.objects.get(sha256=sha).pushed_by_user.username == "tester"


# --- the CLI for real, in a subprocess -----------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_datatrac_script_push_and_remote_delete_follow_the_roles(
    cli: Any, role: str, local_store: LocalStorage, tmp_path: Path
) -> None:
    make_role_users()
    scene = Scene.build(local_store, tmp_path / "files")
    username = STRANGER if role == "anonymous" else role
    env = {"DATATRAC_USER": username, "DATATRAC_PASSWORD": PASSWORD}

    pushed = cli("push", str(scene.new_file), "--source", "s", env=env)
    deleted = cli("delete", scene.parent.sha256[:10], "--yes", "--user", username, env=env)

    for result, action in ((pushed, "push"), (deleted, "remote_delete")):
        if role in ALLOWED[action]:
            assert result.returncode == 0, result.stderr
        else:
            assert result.returncode == 3, result.stderr
            assert result.stderr.count("\n") == 1
            assert result.stderr.startswith("error: ")
    assert local_store.exists(scene.parent.sha256) == ("remote_delete" not in _allowed(role))
    assert Dataset.objects.get(pk=scene.parent.pk).is_available == local_store.exists(
        scene.parent.sha256
    )


def test_datatrac_script_never_accepts_a_password_option(cli: Any) -> None:
    for args in (
        ["restore", "abcdef", "--password", "x"],
        ["delete", "abcdef", "--purge", "--password=x"],
    ):
        result = cli(*args)
        assert result.returncode == 2
        assert "--password is not accepted" in result.stderr


# --- the web -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_web_download_succeeds_only_for_the_roles_allowed(
    role: str, client: Client, local_store: LocalStorage, tmp_path: Path
) -> None:
    users = make_role_users()
    scene = Scene.build(local_store, tmp_path / "files")
    if users[role] is not None:
        client.force_login(users[role])
    url = reverse("registry:dataset-download", kwargs={"ref": scene.parent.sha256})
    before = snapshot(local_store)

    response = client.get(url)

    if role == "anonymous":  # sent to sign in before anything is looked at
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
        assert snapshot(local_store) == before
        return
    if role in ALLOWED["download"]:
        assert response.status_code == 200
        body = b"".join(response.streaming_content)
        assert hashlib.sha256(body).hexdigest() == scene.parent.sha256
        outcome = ("download", "ok")
    else:
        assert response.status_code == 403
        assert snapshot(local_store) == before
        outcome = ("permission_denied", "denied")
    event = AuditEvent.objects.filter(sha256=scene.parent.sha256).first()
    assert event is not None
    assert (event.action, event.outcome, event.actor, event.origin) == (
        *outcome,
        role,
        "127.0.0.1",
    )


def test_web_public_read_lets_anyone_download_and_records_who(
    client: Client, local_store: LocalStorage, tmp_path: Path, settings: Any
) -> None:
    settings.DATATRAC_PUBLIC_READ = True
    scene = Scene.build(local_store, tmp_path / "files")
    url = reverse("registry:dataset-download", kwargs={"ref": scene.parent.sha256})
    assert b"".join(client.get(url).streaming_content) == b"raw,data\n7,8\n"
    client.force_login(UserFactory(username="no-role"))
    response = client.get(url)
    assert response.status_code == 200
    b"".join(response.streaming_content)  # counted once the verified last chunk is sent
    downloads = AuditEvent.objects.filter(action="download", sha256=scene.parent.sha256)
    assert sorted(downloads.values_list("actor", flat=True)) == ["anonymous", "no-role"]


def test_web_public_read_grants_reading_only() -> None:
    from django.test import override_settings

    with override_settings(DATATRAC_PUBLIC_READ=True):
        anonymous = Actor.for_user(AnonymousUser())
    assert anonymous.has_perm("registry.download_dataset")
    for perm in ("registry.push_dataset", "lineage.link_datasets", "registry.purge_dataset"):
        assert not anonymous.has_perm(perm)
    assert not Actor.for_user(AnonymousUser()).has_perm("registry.download_dataset")


# --- the roles themselves ----------------------------------------------------------


def test_the_roles_migrations_create_three_groups_with_their_permissions() -> None:
    Group.objects.filter(name__in=list(ROLE_PERMISSIONS)).delete()
    importlib.import_module("registry.migrations.0002_roles").add_roles(django_apps, None)
    # As an install made before 0008 has them: verify and gc for nobody yet.
    assert not Group.objects.filter(permissions__codename="verify_store").exists()
    upkeep = importlib.import_module("registry.migrations.0008_store_upkeep_permissions")
    upkeep.add_permissions(django_apps, None)
    for name, perms in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=name)
        have = {
            f"{p.content_type.app_label}.{p.codename}"
            for p in group.permissions.select_related("content_type")
        }
        assert have == set(perms)
    viewers, contributors, administrators = (
        set(ROLE_PERMISSIONS[n]) for n in ("viewers", "contributors", "administrators")
    )
    assert viewers < contributors < administrators
    assert "registry.remote_delete_dataset" not in contributors
    assert "auth.change_user" in administrators
    assert {"registry.verify_store", "registry.collect_garbage"} <= administrators - contributors


# --- helpers -----------------------------------------------------------------------


def _allowed(role: str) -> set[str]:
    return {action for action, roles in ALLOWED.items() if role in roles}


def _perms(*names: str) -> list[Any]:
    from django.contrib.auth.models import Permission

    found = []
    for name in names:
        app_label, codename = name.split(".")
        found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return found


def _root() -> Any:
    return UserFactory(username="root", is_superuser=True)


def _file(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / f"f-{hashlib.sha256(content).hexdigest()[:8]}"
    path.write_bytes(content)
    return path
