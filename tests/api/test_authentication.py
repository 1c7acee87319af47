"""Who the API lets in: tokens refused for every reason, throttling, sessions and CSRF."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import closing
from datetime import timedelta
from typing import Any

import httpx
import pytest
from axes.models import AccessAttempt
from django.conf import LazySettings
from django.utils import timezone

from registry.actors import Actor
from registry.models import AuditEvent
from tests.api.conftest import assert_error, make_token
from tests.factories import DatasetFactory
from tests.fixtures.browser import PASSWORD
from tokens.models import AccessToken
from tokens.services import revoke_token

Api = Callable[..., httpx.Client]


def server_log(caplog: pytest.LogCaptureFixture) -> str:
    """What the server side logged (the test's own httpx client logs the URLs it asks)."""
    return "\n".join(
        record.getMessage()
        for record in caplog.records
        if not record.name.startswith(("httpx", "httpcore"))
    )


def _revoked(user: Any) -> str:
    secret = make_token(user, "read")
    revoke_token(actor=Actor.for_user(user), token=AccessToken.objects.get(user=user))
    return secret


def _expired(user: Any) -> str:
    secret = make_token(user, "read")
    AccessToken.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(seconds=1))
    return secret


def _wrong_secret(user: Any) -> str:
    secret = make_token(user, "read")
    return secret[:-4] + ("0000" if not secret.endswith("0000") else "1111")


def _deactivated(user: Any) -> str:
    secret = make_token(user, "read")
    user.is_active = False
    user.save()
    return secret


REFUSED: dict[str, tuple[Callable[[Any], str], str]] = {
    "revoked": (_revoked, "revoked"),
    "expired": (_expired, "expired"),
    "wrong secret": (_wrong_secret, "invalid token"),
    "unknown id": (lambda user: "dtk_999999_" + "ab" * 32, "invalid token"),
    "malformed": (lambda user: "dtk_1_short", "malformed"),
    "not a token at all": (lambda user: "hunter2", "malformed"),
    "deactivated user": (_deactivated, "deactivated"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_bad_token_is_refused_with_401_and_audited(
    api: Api, users: dict[str, Any], case: str, caplog: pytest.LogCaptureFixture
) -> None:
    make, reason = REFUSED[case]
    secret = make(users["viewer"])
    caplog.set_level(logging.DEBUG)
    response = api(secret).get("/datasets")
    body = assert_error(response, 401, "not_authenticated")
    assert reason in body["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")
    event = AuditEvent.objects.get(action="sign_in_failed")
    assert event.outcome == "failed" and event.origin == "127.0.0.1"
    assert event.detail.startswith("API token refused")
    # The secret is nowhere: not in the audit trail, axes' records or the logs.
    tail = secret.rsplit("_", 1)[-1]
    assert tail not in event.detail
    assert all(tail not in a.get_data + a.post_data for a in AccessAttempt.objects.all())
    assert tail not in server_log(caplog)


def test_a_token_in_the_query_string_is_refused_even_when_valid(
    api: Api, api_url: str, users: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    secret = make_token(users["viewer"], "read")
    caplog.set_level(logging.DEBUG)
    for params in ({"token": secret}, {"access_token": secret}, {"q": secret}):
        response = httpx.get(f"{api_url}/datasets", params=params, timeout=60)
        assert "query string" in assert_error(response, 401, "not_authenticated")["detail"]
    # Refused even beside a good header: the URL has leaked it already.
    both = api(secret).get("/whoami", params={"token": secret})
    assert_error(both, 401)
    assert secret.rsplit("_", 1)[-1] not in server_log(caplog)
    assert not AuditEvent.objects.filter(detail__contains=secret.rsplit("_", 1)[-1]).exists()


def test_another_authorization_scheme_is_refused(api_url: str, users: dict[str, Any]) -> None:
    response = httpx.get(f"{api_url}/whoami", auth=("viewer", PASSWORD), timeout=60)
    assert "Bearer" in assert_error(response, 401, "not_authenticated")["detail"]


def test_no_credentials_is_401_for_every_method(api: Api, transactional_db: None) -> None:
    client = api()
    assert_error(client.get("/datasets"), 401, "not_authenticated")
    assert_error(client.post("/lineage/links", json={"parent": "a", "child": "b"}), 401)


def test_public_read_lets_anyone_read_but_not_write(
    api: Api, settings: LazySettings, transactional_db: None
) -> None:
    settings.DATATRAC_PUBLIC_READ = True
    parent, child = DatasetFactory(), DatasetFactory()
    client = api()
    assert client.get("/datasets").status_code == 200
    assert client.get("/whoami").json()["via"] == "public"
    link = client.post("/lineage/links", json={"parent": parent.sha256, "child": child.sha256})
    assert_error(link, 403, "permission_denied")


def test_a_good_token_records_its_last_use(api: Api, users: dict[str, Any]) -> None:
    secret = make_token(users["viewer"], "read")
    assert api(secret).get("/whoami").status_code == 200
    token = AccessToken.objects.get()
    assert token.last_used_at is not None and token.last_used_from == "127.0.0.1"


def test_repeated_bad_tokens_from_one_address_are_throttled_with_429(
    api: Api, users: dict[str, Any], settings: LazySettings, live_server: Any
) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    good = make_token(users["viewer"], "read")
    for _ in range(3):
        assert_error(api("dtk_1_" + "0" * 64).get("/whoami"), 401)
    locked = assert_error(api("dtk_1_" + "0" * 64).get("/whoami"), 429, "too_many_attempts")
    assert "too many" in locked["detail"]
    # Locked out whatever it sends now, as a sign-in is: the address has to wait.
    assert_error(api(good).get("/whoami"), 429)
    assert AccessAttempt.objects.get().username == "(API token)"
    # Password sign-ins are counted apart: the same address still signs in.
    _signed_in(live_server, "viewer").close()


# --- sessions -----------------------------------------------------------------------


def _signed_in(live_server: Any, username: str) -> httpx.Client:
    """An httpx client that signed in through the real sign-in form."""
    client = httpx.Client(base_url=live_server.url, timeout=60, follow_redirects=False)
    client.get("/accounts/login/")
    response = client.post(
        "/accounts/login/",
        data={
            "username": username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
        headers={"Referer": f"{live_server.url}/accounts/login/"},
    )
    assert response.status_code == 302, response.text
    return client


def test_a_session_reads_but_writes_only_with_its_csrf_token(
    live_server: Any, users: dict[str, Any]
) -> None:
    parent, child = DatasetFactory(), DatasetFactory()
    with closing(_signed_in(live_server, "contributor")) as client:
        me = client.get("/api/v1/whoami").json()
        assert (me["username"], me["via"]) == ("contributor", "session")
        link = {"parent": parent.sha256, "child": child.sha256}
        refused = client.post("/api/v1/lineage/links", json=link)
        assert_error(refused, 403, "csrf_failed")
        refused_delete = client.delete("/api/v1/lineage/links", params=link)
        assert_error(refused_delete, 403, "csrf_failed")
        headers = {"X-CSRFToken": client.cookies["csrftoken"], "Referer": live_server.url + "/"}
        done = client.post("/api/v1/lineage/links", json=link, headers=headers)
        assert done.status_code == 201, done.text


def test_a_token_call_needs_no_csrf_token_even_with_a_session_cookie(
    live_server: Any, users: dict[str, Any]
) -> None:
    parent, child = DatasetFactory(), DatasetFactory()
    secret = make_token(users["contributor"], "write")
    with closing(_signed_in(live_server, "contributor")) as client:
        done = client.post(
            "/api/v1/lineage/links",
            json={"parent": parent.sha256, "child": child.sha256},
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert done.status_code == 201, done.text
