"""Personal access tokens: create, revoke, and authenticate a request's token.

A token acts as its user, restricted to its scope: the effective permissions are the
user's permissions intersected with the scope's set, so a token never exceeds its
user's role (and loses what the user loses). Creating and revoking a token, and every
refused token, leave a row in the audit trail; refused tokens are throttled per client
address by django-axes, like failed sign-ins. A token's secret is never stored, logged
or audited: only the SHA-256 of the secret is kept.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, NoReturn

from axes.handlers.proxy import AxesProxyHandler
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from registry.actors import Actor, record_audit, require_permission
from registry.errors import PermissionDenied
from registry.models import AuditEvent
from registry.naming import storable_text
from registry.roles import ADMINISTRATORS, CONTRIBUTORS, ROLES, VIEWERS
from tokens.errors import InvalidTokenRequest, TokenRefused, TooManyTokenAttempts
from tokens.models import AccessToken

if TYPE_CHECKING:
    from django.db.models import QuerySet

PREFIX = "dtk_"
SECRET_BYTES = 32
_SECRET = re.compile(r"[0-9a-f]{64}")
_ID = re.compile(r"[1-9][0-9]{0,17}")
# What each scope may do at most: the permissions of the role of the same rank.
SCOPE_PERMISSIONS: dict[str, frozenset[str]] = {
    AccessToken.Scope.READ: frozenset(ROLES[VIEWERS]),
    AccessToken.Scope.WRITE: frozenset(ROLES[CONTRIBUTORS]),
    AccessToken.Scope.ADMIN: frozenset(ROLES[ADMINISTRATORS]),
}
# The permission a user needs to create a token of each scope: the one that tells the
# role apart from the role below it.
SCOPE_REQUIRES: dict[str, str] = {
    AccessToken.Scope.READ: "registry.view_dataset",
    AccessToken.Scope.WRITE: "registry.push_dataset",
    AccessToken.Scope.ADMIN: "registry.view_auditevent",
}
DEFAULT_LIFETIME = timedelta(days=90)
MAX_LIFETIME = timedelta(days=366)
# A token's last use is written at most this often: not one UPDATE per API call.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# The user name django-axes counts refused tokens under: with the lockout keyed on
# (user name, address), refused tokens are counted per client address, apart from
# password failures.
AXES_TOKEN_USERNAME = "(API token)"  # noqa: S105 - a name, not a secret
# Compared against when no token has the id, so an unknown id costs what a wrong
# secret costs.
_DUMMY_DIGEST = hashlib.sha256(b"datatrac: no such token").hexdigest()


@dataclass(frozen=True)
class TokenActor(Actor):
    """The Actor of a token's user, restricted to the token's scope."""

    token_id: int = 0
    scope: str = AccessToken.Scope.READ

    def has_perm(self, perm: str) -> bool:
        return perm in SCOPE_PERMISSIONS.get(self.scope, frozenset()) and super().has_perm(perm)


@dataclass(frozen=True)
class NewToken:
    token: AccessToken
    #: ``dtk_<id>_<secret>``: shown to its owner once, stored nowhere.
    secret: str


def digest_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def allowed_scopes(*, actor: Actor) -> list[str]:
    """The scopes ``actor`` may give a token: those its role reaches."""
    if actor.user is None:
        return []
    return [scope for scope in AccessToken.Scope.values if actor.has_perm(SCOPE_REQUIRES[scope])]


def create_token(
    *, actor: Actor, name: str, scope: str, lifetime: timedelta = DEFAULT_LIFETIME
) -> NewToken:
    """Make a token for ``actor``'s own account; its secret is in the result, once.

    The scope must be one the actor's role reaches (SCOPE_REQUIRES), the lifetime
    between a day and MAX_LIFETIME. A token may make a token (`datatrac token create`
    in remote mode), never a wider one: its scope bounds the new scope (TokenActor's
    permissions are its scope's), and the new token expires no later than it does.
    """
    if actor.user is None:
        raise PermissionDenied(
            f"API tokens belong to an account, and {actor.name!r} has none: sign in and use "
            "the API tokens page, or set DATATRAC_USER to your account's name"
        )
    name = storable_text(name.strip())
    if not name:
        raise InvalidTokenRequest("a token needs a name (what it is for)")
    if len(name) > 100:
        raise InvalidTokenRequest("a token's name has at most 100 characters")
    if scope not in SCOPE_REQUIRES:
        raise InvalidTokenRequest(f"unknown scope {scope!r}: one of read, write, admin")
    if not timedelta(days=1) <= lifetime <= MAX_LIFETIME:
        raise InvalidTokenRequest(
            f"a token lives between 1 and {MAX_LIFETIME.days} days (asked: {lifetime.days})"
        )
    require_permission(actor, SCOPE_REQUIRES[scope], action=f"create a {scope} API token")
    secret = secrets.token_hex(SECRET_BYTES)
    now = timezone.now()
    expires_at = now + lifetime
    if isinstance(actor, TokenActor):
        maker = AccessToken.objects.filter(pk=actor.token_id).values_list("expires_at", flat=True)
        expires_at = min([expires_at, *maker])
    with transaction.atomic():
        token = AccessToken.objects.create(
            user=actor.user,
            name=name,
            scope=scope,
            digest=digest_of(secret),
            created_at=now,
            expires_at=expires_at,
        )
        record_audit(
            actor=actor,
            action=AuditEvent.Action.TOKEN_CREATE,
            detail=f"token {token.pk} {name!r}, scope {scope}, expires {token.expires_at:%Y-%m-%d}",
        )
    return NewToken(token=token, secret=f"{PREFIX}{token.pk}_{secret}")


def revoke_token(*, actor: Actor, token: AccessToken) -> bool:
    """Revoke ``token`` at once; False if it was revoked already.

    Anyone may revoke their own tokens; another user's needs
    ``tokens.change_accesstoken`` (administrators, in the admin).
    """
    if actor.user is None or token.user_id != actor.user.pk:
        require_permission(
            actor, "tokens.change_accesstoken", action="revoke another user's API token"
        )
    now = timezone.now()
    with transaction.atomic():
        # A conditional UPDATE: two revocations at once audit one.
        revoked = AccessToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=actor.name[:150]
        )
        if revoked:
            record_audit(
                actor=actor,
                action=AuditEvent.Action.TOKEN_REVOKE,
                detail=f"token {token.pk} {token.name!r} of {token.user.get_username()}",
            )
    token.refresh_from_db(fields=["revoked_at", "revoked_by"])
    return bool(revoked)


def tokens_of(*, actor: Actor) -> QuerySet[AccessToken]:
    """The actor's own tokens, newest first (none for anonymous)."""
    if actor.user is None:
        return AccessToken.objects.none()
    return AccessToken.objects.filter(user=actor.user)


def own_token(*, actor: Actor, token_id: int) -> AccessToken | None:
    """One of the actor's own tokens by id; None when it is not theirs or not there."""
    return tokens_of(actor=actor).filter(pk=token_id).first()


# --- authenticating a request ----------------------------------------------------------


def _attempt_request(origin: str, user_agent: str) -> HttpRequest:
    """A request standing for one token attempt, for django-axes' counters.

    Only the address and user agent: axes stores a failed attempt's query string, which
    must never hold a token.
    """
    request = HttpRequest()
    request.META.update(
        {
            "REMOTE_ADDR": origin,
            "HTTP_USER_AGENT": user_agent[:255],
            "PATH_INFO": "/api/v1/",
        }
    )
    return request


def _credentials() -> dict[str, str]:
    return {"username": AXES_TOKEN_USERNAME}


def _refuse(
    *, origin: str, user_agent: str, reason: str, name: str = AXES_TOKEN_USERNAME
) -> NoReturn:
    """Count a refused token against the address, audit it, and raise TokenRefused."""
    AxesProxyHandler.user_login_failed(
        sender=authenticate_token,
        credentials=_credentials(),
        request=_attempt_request(origin, user_agent),
    )
    record_audit(
        actor=Actor(name=name, origin=origin),
        action=AuditEvent.Action.SIGN_IN_FAILED,
        outcome=AuditEvent.Outcome.FAILED,
        detail=f"API token refused: {reason}",
    )
    raise TokenRefused(reason)


def _check_not_locked(*, origin: str, user_agent: str) -> None:
    if AxesProxyHandler.is_locked(_attempt_request(origin, user_agent), _credentials()):
        record_audit(
            actor=Actor(name=AXES_TOKEN_USERNAME, origin=origin),
            action=AuditEvent.Action.SIGN_IN_FAILED,
            outcome=AuditEvent.Outcome.FAILED,
            detail="API token refused: too many refused tokens from this address",
        )
        raise TooManyTokenAttempts(
            "too many refused API tokens from this address: try again later, or ask an "
            "administrator to unlock it"
        )


def refuse_token(*, reason: str, origin: str, user_agent: str = "") -> NoReturn:
    """Refuse a token sent the wrong way (say, in a query string): counted and audited."""
    _check_not_locked(origin=origin, user_agent=user_agent)
    _refuse(origin=origin, user_agent=user_agent, reason=reason)


def authenticate_token(*, raw: str, origin: str, user_agent: str = "") -> TokenActor:
    """The TokenActor a ``dtk_<id>_<secret>`` token stands for, or TokenRefused.

    An address with too many recent refusals gets TooManyTokenAttempts whatever it sends.
    Whether a token is revoked or expired is told only to someone holding its secret.
    """
    _check_not_locked(origin=origin, user_agent=user_agent)
    token_id, secret = _parse(raw)
    if token_id is None or secret is None:
        _refuse(
            origin=origin,
            user_agent=user_agent,
            reason=f"malformed token: expected {PREFIX}<id>_<secret>",
        )
    token = AccessToken.objects.select_related("user").filter(pk=token_id).first()
    matches = hmac.compare_digest(
        token.digest if token is not None else _DUMMY_DIGEST, digest_of(secret)
    )
    if token is None or not matches:
        _refuse(origin=origin, user_agent=user_agent, reason=f"invalid token (id {token_id})")
    user = token.user
    owner = user.get_username()
    if token.is_revoked:
        _refuse(
            origin=origin, user_agent=user_agent, reason=f"token {token.pk} is revoked", name=owner
        )
    if token.is_expired:
        _refuse(
            origin=origin,
            user_agent=user_agent,
            reason=f"token {token.pk} expired on {token.expires_at:%Y-%m-%d}",
            name=owner,
        )
    if not user.is_active:
        _refuse(
            origin=origin,
            user_agent=user_agent,
            reason=f"token {token.pk}: the account {owner!r} is deactivated",
            name=owner,
        )
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        AccessToken.objects.filter(pk=token.pk).update(
            last_used_at=now, last_used_from=origin[:255]
        )
    base = Actor.for_user(user, origin=origin)
    return TokenActor(
        name=base.name,
        user=base.user,
        origin=origin,
        granted=base.granted,
        token_id=token.pk,
        scope=token.scope,
    )


def _parse(raw: str) -> tuple[int | None, str | None]:
    if not raw.startswith(PREFIX):
        return None, None
    id_part, _, secret = raw.removeprefix(PREFIX).partition("_")
    if not _ID.fullmatch(id_part) or not _SECRET.fullmatch(secret):
        return None, None
    return int(id_part), secret
