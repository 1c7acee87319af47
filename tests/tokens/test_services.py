"""Token services: made within the role, shown once, stored as a digest, revoked, audited."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from registry.actors import Actor
from registry.errors import PermissionDenied
from registry.models import AuditEvent
from tests.factories import UserFactory, member_of
from tokens.errors import InvalidTokenRequest, TokenRefused
from tokens.models import AccessToken
from tokens.services import (
    allowed_scopes,
    authenticate_token,
    create_token,
    revoke_token,
)

pytestmark = pytest.mark.django_db


def actor_of(group: str, name: str) -> Actor:
    return Actor.for_user(member_of(group, name))


def test_a_new_token_is_shown_once_and_stored_only_as_its_digest() -> None:
    new = create_token(actor=actor_of("viewers", "alice"), name="notebook", scope="read")
    prefix, token_id, secret = new.secret.split("_")
    assert (prefix, token_id) == ("dtk", str(new.token.pk)) and len(secret) == 64
    row = AccessToken.objects.values().get()
    assert row["digest"] == hashlib.sha256(secret.encode()).hexdigest()
    assert all(secret not in str(value) for value in row.values())
    assert not AuditEvent.objects.filter(detail__contains=secret).exists()


def test_a_token_lives_ninety_days_by_default() -> None:
    new = create_token(actor=actor_of("viewers", "alice"), name="ci", scope="read")
    lifetime = new.token.expires_at - new.token.created_at
    assert lifetime == timedelta(days=90)


@pytest.mark.parametrize(
    ("group", "scopes"),
    [
        ("viewers", ["read"]),
        ("contributors", ["read", "write"]),
        ("administrators", ["read", "write", "admin"]),
    ],
)
def test_each_role_may_give_its_tokens_the_scopes_it_reaches(group: str, scopes: list[str]) -> None:
    actor = actor_of(group, "someone")
    assert allowed_scopes(actor=actor) == scopes
    for scope in {"read", "write", "admin"} - set(scopes):
        with pytest.raises(PermissionDenied):
            create_token(actor=actor, name="too much", scope=scope)
    denied = AuditEvent.objects.filter(action="permission_denied", actor="someone")
    assert denied.count() == 3 - len(scopes)
    assert not AccessToken.objects.exclude(scope__in=scopes).exists()


def test_an_account_without_a_role_may_make_no_token() -> None:
    actor = Actor.for_user(UserFactory(username="nobody"))
    assert allowed_scopes(actor=actor) == []
    with pytest.raises(PermissionDenied):
        create_token(actor=actor, name="x", scope="read")


@pytest.mark.parametrize(
    ("name", "scope", "days"),
    [
        ("", "read", 90),
        ("x" * 101, "read", 90),
        ("ok", "root", 90),
        ("ok", "read", 0),
        ("ok", "read", 400),
    ],
)
def test_a_bad_token_request_says_what_is_wrong(name: str, scope: str, days: int) -> None:
    with pytest.raises(InvalidTokenRequest):
        create_token(
            actor=actor_of("administrators", "root"),
            name=name,
            scope=scope,
            lifetime=timedelta(days=days),
        )
    assert not AccessToken.objects.exists()


def test_creating_and_revoking_are_audited_without_the_secret() -> None:
    actor = actor_of("contributors", "carol")
    new = create_token(actor=actor, name="nightly CI", scope="write")
    assert revoke_token(actor=actor, token=new.token) is True
    assert revoke_token(actor=actor, token=new.token) is False  # once
    created = AuditEvent.objects.get(action="token_create")
    revoked = AuditEvent.objects.get(action="token_revoke")
    assert created.actor == revoked.actor == "carol"
    assert "'nightly CI'" in created.detail and "scope write" in created.detail
    assert f"token {new.token.pk}" in revoked.detail
    new.token.refresh_from_db()
    assert new.token.status == "revoked" and new.token.revoked_by == "carol"


def test_only_an_administrator_revokes_another_users_token() -> None:
    owner = actor_of("contributors", "carol")
    token = create_token(actor=owner, name="ci", scope="write").token
    with pytest.raises(PermissionDenied):
        revoke_token(actor=actor_of("contributors", "mallory"), token=token)
    assert AccessToken.objects.get().revoked_at is None
    superuser = Actor.for_user(UserFactory(username="root", is_superuser=True))
    assert revoke_token(actor=superuser, token=token) is True


def test_the_administrators_group_may_see_and_revoke_tokens_in_the_admin() -> None:
    codenames = set(
        Group.objects.get(name="administrators")
        .permissions.filter(content_type__app_label="tokens")
        .values_list("codename", flat=True)
    )
    assert codenames == {"view_accesstoken", "change_accesstoken"}


def test_a_token_acts_within_both_its_scope_and_its_users_role() -> None:
    admin_user: Any = member_of("administrators", "boss")
    secret = create_token(actor=Actor.for_user(admin_user), name="r", scope="read").secret
    actor = authenticate_token(raw=secret, origin="10.0.0.7")
    assert actor.name == "boss" and actor.origin == "10.0.0.7"
    assert actor.has_perm("registry.view_dataset")
    assert not actor.has_perm("registry.push_dataset")  # the scope stops it
    assert not actor.has_perm("registry.purge_dataset")


def test_an_expired_tokens_refusal_names_it_only_to_whoever_holds_the_secret() -> None:
    new = create_token(actor=actor_of("viewers", "alice"), name="old", scope="read")
    AccessToken.objects.update(expires_at=timezone.now() - timedelta(days=1))
    with pytest.raises(TokenRefused, match="expired"):
        authenticate_token(raw=new.secret, origin="10.0.0.1")
    wrong = new.secret[:-1] + ("0" if new.secret[-1] != "0" else "1")
    with pytest.raises(TokenRefused, match="invalid token"):
        authenticate_token(raw=wrong, origin="10.0.0.1")
