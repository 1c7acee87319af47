"""`whoami`: who the API takes the caller for, and what they may do."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from ninja import Router, Schema

from tokens.auth import api_actor
from tokens.services import SCOPE_PERMISSIONS, TokenActor

router = Router(tags=["account"])
# Every permission a role can hold: what whoami reports on.
KNOWN_PERMISSIONS = sorted(SCOPE_PERMISSIONS["admin"])


class WhoAmIOut(Schema):
    username: str
    authenticated: bool
    via: Literal["token", "session", "public"]
    token_id: int | None
    scope: str | None
    #: The permissions this caller holds through this means (a token: within its scope).
    permissions: list[str]


@router.get("/whoami", response=WhoAmIOut, summary="Who you are, and what you may do")
def whoami(request: HttpRequest) -> dict[str, object]:
    actor = api_actor(request)
    is_token = isinstance(actor, TokenActor)
    return {
        "username": actor.name,
        "authenticated": actor.user is not None,
        "via": "token" if is_token else ("session" if actor.user is not None else "public"),
        "token_id": actor.token_id if isinstance(actor, TokenActor) else None,
        "scope": actor.scope if isinstance(actor, TokenActor) else None,
        "permissions": [perm for perm in KNOWN_PERMISSIONS if actor.has_perm(perm)],
    }
