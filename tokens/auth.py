"""How an API request says who it is: a bearer token, a browser session, or (with
DATATRAC_PUBLIC_READ) no one. Each gives the endpoint an Actor in ``request.auth``; the
services decide what that Actor may do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer

from registry.actors import Actor, request_origin
from tokens.services import PREFIX, authenticate_token, refuse_token

# Query parameters a client might put a token in. Refused outright: a URL ends up in
# proxy and server logs, browser history and Referer headers.
TOKEN_PARAMETERS = frozenset({"token", "access_token", "api_key", "apikey", "bearer", "auth"})


def _token_in_query(request: HttpRequest) -> bool:
    return any(
        name.lower() in TOKEN_PARAMETERS or any(value.startswith(PREFIX) for value in values)
        for name, values in request.GET.lists()
    )


class BearerToken(HttpBearer):
    """``Authorization: Bearer dtk_<id>_<secret>``: a personal access token.

    A request without an Authorization header falls through to the next method; any
    other Authorization, and any token in the query string, is refused (401). Nothing
    here logs the header (HttpBearer does, under DEBUG, for an unexpected scheme).
    """

    def __call__(self, request: HttpRequest) -> Actor | None:
        origin = request_origin(request)
        user_agent = request.headers.get("User-Agent", "")
        if _token_in_query(request):
            refuse_token(
                reason="a token in the query string is refused: send it in the "
                "'Authorization: Bearer <token>' header",
                origin=origin,
                user_agent=user_agent,
            )
        header = request.headers.get("Authorization")
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer":
            refuse_token(
                reason="unsupported Authorization scheme: send 'Authorization: Bearer <token>'",
                origin=origin,
                user_agent=user_agent,
            )
        return self.authenticate(request, value.strip())

    def authenticate(self, request: HttpRequest, token: str) -> Actor:
        return authenticate_token(
            raw=token,
            origin=request_origin(request),
            user_agent=request.headers.get("User-Agent", ""),
        )


class SessionActor(APIKeyCookie):
    """A signed-in browser session, with Django's CSRF check on unsafe methods.

    Only a signed-in session is CSRF-checked, so a request with no credentials at all
    gets 401 (not 403) whatever its method.
    """

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> str | None:
        if not request.user.is_authenticated:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Actor | None:
        if key is None or not request.user.is_authenticated:
            return None
        return Actor.for_request(request)


def public_read(request: HttpRequest) -> Any:
    """No credentials while DATATRAC_PUBLIC_READ is on: the anonymous Actor, who may read."""
    if settings.DATATRAC_PUBLIC_READ:
        return Actor.for_request(request)
    return None


API_AUTH: list[Callable[[HttpRequest], Any]] = [BearerToken(), SessionActor(), public_read]


def api_actor(request: HttpRequest) -> Actor:
    """The Actor an API request was authenticated as (by one of API_AUTH)."""
    actor = getattr(request, "auth", None)
    if not isinstance(actor, Actor):  # an operation mounted without API_AUTH
        raise TypeError("this API operation has no authentication")
    return actor
