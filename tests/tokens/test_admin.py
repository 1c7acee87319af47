"""Administrators list every token and revoke them in the admin; no secret or digest shows."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from registry.actors import Actor
from registry.models import AuditEvent
from tests.factories import UserFactory, member_of
from tokens.models import AccessToken
from tokens.services import create_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def tokens() -> list[AccessToken]:
    return [
        create_token(
            actor=Actor.for_user(member_of(group, name)), name=f"{name}'s", scope="read"
        ).token
        for group, name in [("viewers", "alice"), ("contributors", "carol")]
    ]


def test_the_admin_lists_every_users_tokens_without_digests(
    client: Client, tokens: list[AccessToken]
) -> None:
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    listing = client.get(reverse("admin:tokens_accesstoken_changelist")).content.decode()
    assert "alice&#x27;s" in listing and "carol&#x27;s" in listing
    page = client.get(reverse("admin:tokens_accesstoken_change", args=[tokens[0].pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert tokens[0].digest not in listing + html and "digest" not in html.lower()
    assert client.get(reverse("admin:tokens_accesstoken_add")).status_code == 403


def test_an_administrator_revokes_tokens_with_the_admin_action(
    client: Client, tokens: list[AccessToken]
) -> None:
    boss = member_of("administrators", "boss", is_staff=True)
    client.force_login(boss)
    response = client.post(
        reverse("admin:tokens_accesstoken_changelist"),
        {"action": "revoke", "_selected_action": [t.pk for t in tokens]},
    )
    assert response.status_code == 302
    assert set(AccessToken.objects.values_list("revoked_by", flat=True)) == {"boss"}
    assert AuditEvent.objects.filter(action="token_revoke", actor="boss").count() == 2


def test_a_staff_member_without_the_permission_sees_no_tokens(
    client: Client, tokens: list[AccessToken]
) -> None:
    client.force_login(member_of("contributors", "staffer", is_staff=True))
    assert client.get(reverse("admin:tokens_accesstoken_changelist")).status_code == 403
