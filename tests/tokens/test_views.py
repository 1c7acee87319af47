"""The API tokens page: full page, htmx fragments, queries, and who may do what."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from registry.actors import Actor
from registry.models import AuditEvent
from tests.factories import UserFactory, member_of
from tokens.models import AccessToken
from tokens.services import create_token

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
LIST_URL = reverse("tokens:token-list")
CREATE_URL = reverse("tokens:token-create")
SECRET = re.compile(r"dtk_\d+_[0-9a-f]{64}")


@pytest.fixture
def carol(client: Client) -> object:
    user = member_of("contributors", "carol")
    client.force_login(user)
    return user


def test_anonymous_is_sent_to_sign_in(client: Client) -> None:
    response = client.get(LIST_URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.post(CREATE_URL, {"name": "x", "scope": "read", "days": "90"}).status_code == 302
    assert not AccessToken.objects.exists()


def test_the_page_offers_only_the_scopes_of_the_users_role(
    client: Client, carol: object, django_assert_max_num_queries: object
) -> None:
    for i in range(5):
        create_token(actor=Actor.for_user(carol), name=f"t{i}", scope="read")  # type: ignore[arg-type]
    with django_assert_max_num_queries(8):  # type: ignore[operator]
        page = client.get(LIST_URL)
    html = page.content.decode()
    assert page.status_code == 200 and "<html" in html
    assert 'value="read"' in html and 'value="write"' in html and 'value="admin"' not in html
    assert html.count('class="token-name"') == 5
    assert not SECRET.search(html)  # a listed token never shows its secret


def test_creating_shows_the_secret_once_in_the_htmx_fragment(client: Client, carol: object) -> None:
    response = client.post(CREATE_URL, {"name": "nightly CI", "scope": "write", "days": "30"}, **HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and 'id="tokens"' in html
    secret = SECRET.search(html)
    assert secret is not None
    assert response["Cache-Control"] == "no-store"
    token = AccessToken.objects.get()
    assert (token.name, token.scope, (token.expires_at - token.created_at).days) == (
        "nightly CI",
        "write",
        30,
    )
    # Listed afterwards, never shown again.
    assert secret.group() not in client.get(LIST_URL).content.decode()
    assert AuditEvent.objects.filter(action="token_create", actor="carol").exists()


def test_creating_without_javascript_renders_the_whole_page_with_the_secret(
    client: Client, carol: object
) -> None:
    response = client.post(CREATE_URL, {"name": "laptop", "scope": "read", "days": "90"})
    assert response.status_code == 200 and "<html" in response.content.decode()
    assert SECRET.search(response.content.decode())


def test_a_scope_beyond_the_role_is_refused_and_said_so(client: Client, carol: object) -> None:
    plain = client.post(CREATE_URL, {"name": "root", "scope": "admin", "days": "90"})
    assert plain.status_code == 403 and "may not" in plain.content.decode()
    fragment = client.post(CREATE_URL, {"name": "root", "scope": "admin", "days": "90"}, **HX)
    assert fragment.status_code == 200 and "notice-error" in fragment.content.decode()
    bad_days = client.post(CREATE_URL, {"name": "x", "scope": "read", "days": "forever"})
    assert bad_days.status_code == 400
    assert not AccessToken.objects.exists()


def test_revoking_ones_own_token(client: Client, carol: object) -> None:
    token = create_token(actor=Actor.for_user(carol), name="old", scope="read").token  # type: ignore[arg-type]
    url = reverse("tokens:token-revoke", kwargs={"token_id": token.pk})
    fragment = client.post(url, **HX)
    assert fragment.status_code == 200 and "revoked" in fragment.content.decode()
    token.refresh_from_db()
    assert token.status == "revoked"
    other = create_token(actor=Actor.for_user(carol), name="new", scope="read").token  # type: ignore[arg-type]
    plain = client.post(reverse("tokens:token-revoke", kwargs={"token_id": other.pk}))
    assert plain.status_code == 302 and plain["Location"] == LIST_URL


def test_another_users_token_cannot_be_revoked_from_the_page(client: Client, carol: object) -> None:
    theirs = create_token(
        actor=Actor.for_user(member_of("viewers", "dave")), name="dave's", scope="read"
    ).token
    response = client.post(reverse("tokens:token-revoke", kwargs={"token_id": theirs.pk}))
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "active"
    assert "dave's" not in client.get(LIST_URL).content.decode()


def test_revoke_takes_post_only(client: Client, carol: object) -> None:
    token = create_token(actor=Actor.for_user(carol), name="t", scope="read").token  # type: ignore[arg-type]
    assert (
        client.get(reverse("tokens:token-revoke", kwargs={"token_id": token.pk})).status_code == 405
    )


def test_an_account_with_no_role_sees_why_it_has_no_form(client: Client) -> None:
    client.force_login(UserFactory(username="nobody"))
    html = client.get(LIST_URL).content.decode()
    assert "no DataTrac role" in html and 'id="token-create"' not in html


def test_the_nav_links_to_the_tokens_page_when_signed_in(client: Client, carol: object) -> None:
    assert f'href="{LIST_URL}"' in client.get(reverse("registry:dataset-list")).content.decode()


@pytest.mark.parametrize(
    "url", [LIST_URL, reverse("admin:tokens_accesstoken_changelist"), "/api/v1/docs"]
)
def test_the_tokens_pages_and_api_docs_send_the_strict_csp_without_inline_script(
    client: Client, url: str
) -> None:
    from tests.test_hardening import assert_strict_csp, inline_scripts

    client.force_login(UserFactory(username="su", is_superuser=True, is_staff=True))
    response = client.get(url)
    assert response.status_code == 200
    assert_strict_csp(response["Content-Security-Policy"])
    assert inline_scripts(response.content.decode()) == []
