"""A live server (pytest-django's, on 127.0.0.1) and httpx clients with real tokens."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from registry.actors import Actor
from tests.factories import member_of
from tokens.services import create_token

ROLE_GROUPS = {
    "viewer": "viewers",
    "contributor": "contributors",
    "administrator": "administrators",
}
# Every scope each role may give a token.
ROLE_SCOPES = {
    "viewer": ["read"],
    "contributor": ["read", "write"],
    "administrator": ["read", "write", "admin"],
}
ROLE_SCOPE_PAIRS = [(role, scope) for role, scopes in ROLE_SCOPES.items() for scope in scopes]


@pytest.fixture
def users(transactional_db: None) -> dict[str, Any]:
    return {role: member_of(group, role) for role, group in ROLE_GROUPS.items()}


def make_token(user: Any, scope: str, *, name: str = "test", days: int = 90) -> str:
    return create_token(
        actor=Actor.for_user(user), name=name, scope=scope, lifetime=timedelta(days=days)
    ).secret


@pytest.fixture
def api_url(live_server: Any) -> str:
    return f"{live_server.url}/api/v1"


@pytest.fixture
def api(api_url: str) -> Iterator[Callable[..., httpx.Client]]:
    """``api(token)``: an httpx client of the live API, sending ``token`` as a bearer."""
    clients: list[httpx.Client] = []

    def make(token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=api_url, headers=headers, timeout=60)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def assert_error(response: httpx.Response, status: int, error: str | None = None) -> dict[str, Any]:
    """The response is a JSON error body ``{"error", "detail"}`` with ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in response.text
    if error is not None:
        assert body["error"] == error, body
    return body
