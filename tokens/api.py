"""`whoami`, and your own personal access tokens: make, list, revoke."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError

from tokens.auth import api_actor
from tokens.models import AccessToken
from tokens.services import (
    MAX_LIFETIME,
    SCOPE_PERMISSIONS,
    TokenActor,
    create_token,
    own_token,
    revoke_token,
    tokens_of,
)

router = Router(tags=["account"])
# Every permission a role can hold: what whoami reports on.
KNOWN_PERMISSIONS = sorted(SCOPE_PERMISSIONS["admin"])
# A listing of one's own tokens shows at most this many (the newest).
TOKENS_LISTED = 500


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


class TokenIn(Schema):
    name: str = Field(..., max_length=100, description="what the token is for")
    scope: Literal["read", "write", "admin"] = "read"
    expires_days: int = Field(90, ge=1, le=MAX_LIFETIME.days, description="lifetime in days")


class TokenOut(Schema):
    id: int
    name: str
    scope: str
    created_at: str
    expires_at: str
    last_used_at: str | None
    revoked_at: str | None
    status: str


class NewTokenOut(TokenOut):
    #: ``dtk_<id>_<secret>``: shown in this answer only, stored nowhere.
    secret: str


def _token_dict(token: AccessToken) -> dict[str, object]:
    return {
        "id": token.pk,
        "name": token.name,
        "scope": token.scope,
        "created_at": token.created_at.isoformat(),
        "expires_at": token.expires_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
        "status": token.status,
    }


@router.post(
    "/tokens",
    response={201: NewTokenOut},
    summary="Make a token for your own account (a token makes one no wider, no longer-lived)",
)
def post_token(request: HttpRequest, body: TokenIn) -> Status[dict[str, object]]:
    new = create_token(
        actor=api_actor(request),
        name=body.name,
        scope=body.scope,
        lifetime=timedelta(days=body.expires_days),
    )
    return Status(201, {**_token_dict(new.token), "secret": new.secret})


@router.get("/tokens", response=list[TokenOut], summary="Your own tokens, newest first")
def get_tokens(request: HttpRequest) -> list[dict[str, object]]:
    tokens = tokens_of(actor=api_actor(request)).order_by("-created_at", "-id")[:TOKENS_LISTED]
    return [_token_dict(token) for token in tokens]


@router.delete(
    "/tokens/{token_id}",
    response={200: TokenOut},
    summary="Revoke one of your own tokens (at once; revoking again changes nothing)",
)
def delete_token(request: HttpRequest, token_id: int) -> dict[str, object]:
    actor = api_actor(request)
    token = own_token(actor=actor, token_id=token_id)
    if token is None:
        raise HttpError(404, f"you have no token {token_id}")
    revoke_token(actor=actor, token=token)
    return _token_dict(token)
