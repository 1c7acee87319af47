"""The audit trail: sign-ins, throttling, forged-line-proof text, and each dataset's history."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from registry.actors import Actor, authenticate_actor, record_audit
from registry.errors import AuthenticationFailed
from registry.models import AuditEvent, Dataset
from registry.services import dataset_history, delete_dataset, purge_dataset
from registry.storage.local import LocalStorage
from tests.factories import DatasetFactory, UserFactory, member_of
from tests.roles import PASSWORD, Scene, root

pytestmark = pytest.mark.django_db

CLIENT_IP = "203.0.113.7"
FORGED = "x\n2026-01-01 00:00:00 root purge ok\r\x1b[2K"


# --- text that cannot forge an entry -------------------------------------------------


def test_record_audit_escapes_newlines_and_control_characters() -> None:
    event = record_audit(
        actor=Actor(name=FORGED, origin="cli@host\nfake"), action="push", detail=FORGED
    )
    event.refresh_from_db()
    for text in (event.actor, event.origin, event.detail):
        assert "\n" not in text and "\r" not in text and "\x1b" not in text
    assert event.detail == "x\\x0a2026-01-01 00:00:00 root purge ok\\x0d\\x1b[2K"
    assert event.origin == "cli@host\\x0afake"


def test_a_dataset_name_with_a_newline_stays_on_one_line_in_the_purge_entry(
    local_store: LocalStorage, tmp_path: Path
) -> None:
    scene = Scene.build(local_store, tmp_path / "files")
    Dataset.objects.filter(pk=scene.tombstone.pk).update(name=FORGED)
    admin = root()
    purge_dataset(
        dataset=Dataset.objects.get(pk=scene.tombstone.pk), actor=admin, storage=local_store
    )
    event = AuditEvent.objects.get(action="purge")
    assert "\n" not in event.detail and "\\n2026" in event.detail


def test_the_history_on_the_dataset_page_is_escaped(
    client: Client, local_store: LocalStorage, tmp_path: Path
) -> None:
    scene = Scene.build(local_store, tmp_path / "files")
    record_audit(
        actor=Actor(name="<script>alert(1)</script>"), action="link", sha256=scene.parent.sha256
    )
    client.force_login(member_of("administrators", "boss"))
    page = client.get(scene.parent.get_absolute_url()).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page


# --- sign in, sign out, failed sign in -----------------------------------------------


def test_web_sign_in_and_out_are_audited_with_the_client_ip(client: Client) -> None:
    UserFactory(username="bob")
    response = client.post(
        reverse("login"), {"username": "bob", "password": PASSWORD}, REMOTE_ADDR=CLIENT_IP
    )
    assert response.status_code == 302
    client.post(reverse("logout"), REMOTE_ADDR=CLIENT_IP)
    events = list(AuditEvent.objects.order_by("id").values_list("action", "actor", "origin"))
    assert events == [("sign_in", "bob", CLIENT_IP), ("sign_out", "bob", CLIENT_IP)]


def test_a_failed_web_sign_in_is_audited_with_the_name_tried_and_the_ip(client: Client) -> None:
    client.post(
        reverse("login"), {"username": "mallory\nroot", "password": "guess"}, REMOTE_ADDR=CLIENT_IP
    )
    event = AuditEvent.objects.get()
    assert (event.action, event.outcome, event.actor, event.origin) == (
        "sign_in_failed",
        "failed",
        "mallory\\x0aroot",
        CLIENT_IP,
    )
    assert "guess" not in event.detail


def test_web_sign_ins_are_throttled_after_repeated_failures(client: Client, settings: Any) -> None:
    UserFactory(username="bob")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            reverse("login"), {"username": "bob", "password": "guess"}, REMOTE_ADDR=CLIENT_IP
        )
    # Now even the right password is refused, from that address, for that user.
    locked = client.post(
        reverse("login"), {"username": "bob", "password": PASSWORD}, REMOTE_ADDR=CLIENT_IP
    )
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(
        action="sign_in_failed", detail__contains="locked out"
    ).exists()
    # The same account from elsewhere is not locked out by a stranger's guesses.
    elsewhere = client.post(
        reverse("login"), {"username": "bob", "password": PASSWORD}, REMOTE_ADDR="198.51.100.1"
    )
    assert elsewhere.status_code == 302


def test_cli_sign_in_is_audited_and_throttled_like_the_web(settings: Any) -> None:
    UserFactory(username="alice")
    origin = f"cli@{socket.gethostname()}"
    actor = authenticate_actor(username="alice", password=PASSWORD, origin=origin)
    assert actor.user is not None
    signed_in = AuditEvent.objects.get(action="sign_in")
    assert (signed_in.actor, signed_in.origin) == ("alice", origin)

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        with pytest.raises(AuthenticationFailed, match="authentication failed"):
            authenticate_actor(username="alice", password="guess", origin=origin)
    # The failure that reaches the limit already says so; then even the right password
    # is refused until the cool-off ends.
    for password in ("guess", PASSWORD):
        with pytest.raises(AuthenticationFailed, match="too many failed sign-ins"):
            authenticate_actor(username="alice", password=password, origin=origin)
    failures = AuditEvent.objects.filter(action="sign_in_failed", actor="alice")
    assert failures.count() == settings.AXES_FAILURE_LIMIT + 1
    assert set(failures.values_list("origin", flat=True)) == {origin}


def test_a_locked_out_administrator_cannot_delete_from_the_cli(
    local_store: LocalStorage, tmp_path: Path, settings: Any, monkeypatch
) -> None:
    scene = Scene.build(local_store, tmp_path / "files")
    member_of("administrators", "boss")
    monkeypatch.setenv("DATATRAC_PASSWORD", "guess")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        with pytest.raises(CommandError):
            call_command("delete", scene.parent.sha256, "--yes", "--user", "boss")
    monkeypatch.setenv("DATATRAC_PASSWORD", PASSWORD)
    with pytest.raises(CommandError, match="too many failed sign-ins"):
        call_command("delete", scene.parent.sha256, "--yes", "--user", "boss")
    assert local_store.exists(scene.parent.sha256)


# --- each dataset's history ----------------------------------------------------------


def test_the_dataset_page_shows_its_history_newest_first(
    client: Client, local_store: LocalStorage, tmp_path: Path
) -> None:
    scene = Scene.build(local_store, tmp_path / "files")
    viewer = member_of("viewers", "alice")
    client.force_login(viewer)
    b"".join(
        client.get(
            reverse("registry:dataset-download", args=[scene.parent.sha256])
        ).streaming_content
    )
    delete_dataset(dataset=scene.parent, actor=root(), storage=local_store, force=True)

    client.force_login(member_of("administrators", "boss"))
    page = client.get(scene.parent.get_absolute_url()).content.decode()
    history = page.split('id="history-heading"', 1)[1]
    assert history.index("remote delete") < history.index("download") < history.index("push")
    assert "alice" in history and "127.0.0.1" in history


@pytest.mark.parametrize("events", [3, 120])
def test_the_history_is_one_query_and_bounded_whatever_its_length(
    client: Client,
    events: int,
    django_assert_max_num_queries: Callable[..., Any],
) -> None:
    dataset = DatasetFactory()
    for i in range(events):
        record_audit(actor=Actor(name=f"user{i}"), action="download", sha256=dataset.sha256)
    admin = root()
    with django_assert_max_num_queries(1):
        history = dataset_history(dataset=dataset, actor=admin, limit=50)
    assert history is not None
    assert len(history.events) == min(events, 50)
    assert history.more == (events > 50)

    staff = member_of("administrators", "boss", is_staff=True)
    client.force_login(staff)
    page = client.get(dataset.get_absolute_url()).content.decode()
    link = reverse("admin:registry_auditevent_changelist") + f"?sha256={dataset.sha256}"
    assert (link in page) == (events > 20)  # the page shows the latest 20


# --- who may see a dataset's history -------------------------------------------------

HX = {"HTTP_HX_REQUEST": "true"}
# What only the audit trail holds: another user's name, a client IP, a CLI host, a refusal.
SECRETS = ["mallory", CLIENT_IP, "cli@build-host-7", "permission denied", "history-heading"]


def _a_trail(dataset: Dataset) -> None:
    record_audit(
        actor=Actor(name="mallory", origin=CLIENT_IP),
        action=AuditEvent.Action.DOWNLOAD,
        sha256=dataset.sha256,
        detail="via web",
    )
    record_audit(
        actor=Actor(name="mallory", origin="cli@build-host-7"),
        action=AuditEvent.Action.PERMISSION_DENIED,
        sha256=dataset.sha256,
        outcome=AuditEvent.Outcome.DENIED,
        detail="delete datasets needs permission registry.remote_delete_dataset",
    )


@pytest.mark.parametrize("who", ["viewer", "contributor", "public"])
def test_only_administrators_see_a_datasets_history(
    client: Client, who: str, settings: Any, django_assert_max_num_queries: Callable[..., Any]
) -> None:
    dataset = DatasetFactory(download_count=2)
    _a_trail(dataset)
    if who == "public":
        settings.DATATRAC_PUBLIC_READ = True
    else:
        client.force_login(member_of(f"{who}s", "alice"))

    with django_assert_max_num_queries(9):  # the history's query is not even made
        page = client.get(dataset.get_absolute_url())
    fragment = client.get(dataset.get_absolute_url(), {"children": 1}, **HX)

    assert page.status_code == fragment.status_code == 200
    for text in (page.content.decode(), fragment.content.decode()):
        for secret in SECRETS:
            assert secret not in text
    assert 'class="chart' in page.content.decode()  # the download chart stays


def test_an_administrator_sees_the_whole_history_in_one_more_query(
    client: Client, django_assert_max_num_queries: Callable[..., Any]
) -> None:
    dataset = DatasetFactory(download_count=2)
    _a_trail(dataset)
    client.force_login(member_of("administrators", "boss", is_staff=True))

    with django_assert_max_num_queries(10):
        page = client.get(dataset.get_absolute_url()).content.decode()
    fragment = client.get(dataset.get_absolute_url(), {"children": 1}, **HX).content.decode()

    for secret in SECRETS:
        assert secret in page
    assert "history-heading" not in fragment  # the fragment is the relatives alone


def test_the_history_service_shows_nothing_to_non_administrators(
    django_assert_num_queries: Callable[..., Any], settings: Any
) -> None:
    from django.contrib.auth.models import AnonymousUser

    dataset = DatasetFactory()
    _a_trail(dataset)
    settings.DATATRAC_PUBLIC_READ = True
    for actor in (
        Actor.for_user(AnonymousUser()),
        Actor.for_user(member_of("contributors", "carol")),
        Actor.for_cli("nobody"),
    ):
        actor.has_perm("registry.push_dataset")  # load the user's permissions first
        with django_assert_num_queries(0):
            assert dataset_history(dataset=dataset, actor=actor) is None
    history = dataset_history(dataset=dataset, actor=Actor.for_user(member_of("administrators")))
    assert history is not None and len(history.events) == 2


# --- throttling behind a proxy -------------------------------------------------------

PROXY = "127.0.0.1"  # the README's same-host HTTPS proxy: every request comes from it
CLIENT_A, CLIENT_B = "198.51.100.10", "198.51.100.20"


def _sign_in(client: Client, username: str, password: str, forwarded_for: str) -> int:
    response = client.post(
        reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )
    return response.status_code


def test_behind_a_proxy_one_clients_failures_lock_out_neither_another_client_nor_the_cli(
    settings: Any,
) -> None:
    settings.DATATRAC_BEHIND_PROXY = True
    member_of("administrators", "boss")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(Client(), "boss", "guess", CLIENT_A)
    assert _sign_in(Client(), "boss", PASSWORD, CLIENT_A) == 429  # that client is locked out

    assert _sign_in(Client(), "boss", PASSWORD, CLIENT_B) == 302  # another is not
    actor = authenticate_actor(username="boss", password=PASSWORD, origin="cli@laptop")
    assert actor.name == "boss"  # nor is the CLI

    failed = AuditEvent.objects.filter(action="sign_in_failed")
    assert set(failed.values_list("origin", flat=True)) == {CLIENT_A}
    signed_in = AuditEvent.objects.filter(action="sign_in")
    assert set(signed_in.values_list("origin", flat=True)) == {CLIENT_B, "cli@laptop"}


def test_behind_a_proxy_only_the_addresses_the_trusted_proxies_wrote_count(
    settings: Any,
) -> None:
    """A client writes what it likes at the left of X-Forwarded-For; the entry the
    outermost trusted proxy appended is the one that counts."""
    settings.DATATRAC_BEHIND_PROXY = True
    settings.DATATRAC_TRUSTED_PROXY_COUNT = 2
    UserFactory(username="bob")
    inner_proxy = "10.0.0.5"
    for i in range(settings.AXES_FAILURE_LIMIT):
        spoofed = f"203.0.113.{i}"  # a fresh lie each time
        _sign_in(Client(), "bob", "guess", f"{spoofed}, {CLIENT_A}, {inner_proxy}")
    assert _sign_in(Client(), "bob", PASSWORD, f"{CLIENT_A}, {inner_proxy}") == 429
    assert _sign_in(Client(), "bob", PASSWORD, f"{CLIENT_B}, {inner_proxy}") == 302
    origins = set(AuditEvent.objects.values_list("origin", flat=True))
    assert origins == {CLIENT_A, CLIENT_B}


def test_without_behind_proxy_the_forwarded_header_is_ignored(settings: Any) -> None:
    """Anyone can send X-Forwarded-For: unless DataTrac is told a proxy writes it, a
    fresh value neither escapes a lockout nor lands in the audit trail."""
    assert settings.DATATRAC_BEHIND_PROXY is False
    UserFactory(username="bob")
    for i in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(Client(), "bob", "guess", f"203.0.113.{i}")
    assert _sign_in(Client(), "bob", PASSWORD, CLIENT_B) == 429
    assert set(AuditEvent.objects.values_list("origin", flat=True)) == {PROXY}


def test_cli_failures_do_not_lock_out_the_web_on_the_same_host(settings: Any) -> None:
    """The CLI used to count as 127.0.0.1 - the address of every web client behind a
    same-host proxy - so five wrong CLI passwords locked an administrator out of both."""
    member_of("administrators", "boss")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        with pytest.raises(AuthenticationFailed):
            authenticate_actor(username="boss", password="guess", origin="cli@server")
    with pytest.raises(AuthenticationFailed, match="too many failed sign-ins"):
        authenticate_actor(username="boss", password=PASSWORD, origin="cli@server")
    # The web, through the proxy on that host, and the CLI of another host still work.
    assert _sign_in(Client(), "boss", PASSWORD, CLIENT_A) == 302
    assert authenticate_actor(username="boss", password=PASSWORD, origin="cli@laptop").user
