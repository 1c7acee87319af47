"""The floor under every app's services: who acts, what they may do, what they did.

An Actor is the identity behind an action (a CLI user, a web or API user, an anonymous
public reader); require_permission is the one permission check every service makes;
record_audit appends to the audit trail. registry.services, lineage.services and
tokens.services import this module, and it imports only models: so no app's services
import another's for these (registry.services still calls lineage.services to link a
push's parents, one way).
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.db.models import Case, Value, When
from django.http import HttpRequest

from registry.errors import AuthenticationFailed, PermissionDenied
from registry.models import AuditEvent
from registry.naming import escape_control_chars

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User


# --- who is acting -------------------------------------------------------------------


# What a CLI identity without an account may do while the registry has no account at
# all: the everyday actions, so a fresh embedded install works before `datatrac up`.
BOOTSTRAP_PERMISSIONS = frozenset(
    {
        "registry.view_dataset",
        "registry.push_dataset",
        "registry.download_dataset",
        "lineage.link_datasets",
    }
)
# What anyone may do without signing in when DATATRAC_PUBLIC_READ is on: browse, download.
PUBLIC_PERMISSIONS = frozenset({"registry.view_dataset", "registry.download_dataset"})
CLI_ORIGIN_PREFIX = "cli@"
# Where a synthetic request (the CLI's sign-in, see authenticate_actor) keeps its origin.
ORIGIN_META_KEY = "DATATRAC_ORIGIN"


# The CLI's sign-ins are counted (django-axes keys on an IP address) under an address of
# the discard-only prefix 100::/64 (RFC 6666), made from its host: never a web client's
# address, so neither locks the other out, and one host's guesses lock that host alone.
_CLI_ADDRESS_PREFIX = 0x0100 << 112


def client_address(request: HttpRequest) -> str:
    """The address of the client that sent ``request``: what sign-in throttling counts
    failures under (django-axes' AXES_CLIENT_IP_CALLABLE) and the audit trail records.

    REMOTE_ADDR, unless DATATRAC_BEHIND_PROXY: then the address that the outermost of
    the DATATRAC_TRUSTED_PROXY_COUNT proxies in front of DataTrac received the request
    from, read from the right of X-Forwarded-For (each proxy appends its peer). Entries
    further left are the client's to write, so they are never trusted; without the
    setting the header is ignored altogether.
    """
    remote = str(request.META.get("REMOTE_ADDR", ""))
    if not settings.DATATRAC_BEHIND_PROXY:
        return remote
    forwarded = [entry.strip() for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [entry for entry in forwarded if entry]
    if not forwarded:
        return remote
    # Fewer entries than trusted proxies: the request passed fewer of them (the inner
    # ones, which are trusted), so the leftmost entry is still one they wrote.
    candidate = forwarded[-min(settings.DATATRAC_TRUSTED_PROXY_COUNT, len(forwarded))]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote  # a proxy that writes no address: the connection's own


def cli_address(origin: str) -> str:
    """The address the CLI's sign-ins from ``origin`` (``cli@host``) are counted under."""
    digest = int.from_bytes(hashlib.sha256(origin.encode()).digest()[:8], "big")
    return str(ipaddress.IPv6Address(_CLI_ADDRESS_PREFIX | digest))


def request_origin(request: HttpRequest | None) -> str:
    """Where a request came from, for the audit trail: the CLI host or the client IP."""
    if request is None:
        return ""
    return str(request.META.get(ORIGIN_META_KEY) or client_address(request))


@dataclass(frozen=True)
class Actor:
    """Who performs an action, and from where: recorded on rows and in the audit trail."""

    name: str
    user: User | None = None
    origin: str = ""
    #: What this identity may do without an account: BOOTSTRAP_PERMISSIONS for the CLI
    #: of a registry with no account yet, PUBLIC_PERMISSIONS for anonymous public reads.
    granted: frozenset[str] = frozenset()

    @classmethod
    def for_cli(cls, name: str | None = None) -> Actor:
        """The CLI identity: DATATRAC_USER, linked to the active Django user of that name.

        That user's permissions decide what the CLI may do. Until the registry has any
        account at all (a fresh embedded install, before `datatrac up` creates its
        administrator) the identity may do the everyday actions (BOOTSTRAP_PERMISSIONS);
        once one exists, a name without an active account may do nothing.
        """
        name = name or settings.DATATRAC_USER
        # One query, as every CLI command asks it: the active account of that name if
        # there is one, else any account at all (then no bootstrap), else None.
        found = (
            get_user_model()
            .objects.annotate(
                _not_it=Case(When(username=name, is_active=True, then=Value(0)), default=Value(1))
            )
            .order_by("_not_it", "pk")
            .first()
        )
        user = found if found is not None and found._not_it == 0 else None  # type: ignore[attr-defined]
        granted = BOOTSTRAP_PERMISSIONS if found is None else frozenset()
        origin = f"{CLI_ORIGIN_PREFIX}{socket.gethostname()}"
        return cls(name=name, user=user, origin=origin, granted=granted)

    @classmethod
    def for_user(cls, user: AbstractBaseUser | AnonymousUser, origin: str = "") -> Actor:
        """A web or admin identity; with DATATRAC_PUBLIC_READ everyone may also read."""
        # Read at call time, not import time, so the setting can change under tests.
        granted = PUBLIC_PERMISSIONS if settings.DATATRAC_PUBLIC_READ else frozenset()
        if not user.is_authenticated:
            return cls(name="anonymous", user=None, origin=origin, granted=granted)
        return cls(name=user.get_username(), user=user, origin=origin, granted=granted)  # type: ignore[arg-type]

    @classmethod
    def for_request(cls, request: HttpRequest) -> Actor:
        return cls.for_user(request.user, origin=request_origin(request))

    @property
    def is_cli(self) -> bool:
        return self.origin.startswith(CLI_ORIGIN_PREFIX)

    def has_perm(self, perm: str) -> bool:
        if perm in self.granted:
            return True
        return self.user is not None and bool(self.user.has_perm(perm))


def _cli_request(origin: str) -> HttpRequest:
    """A request standing for one CLI sign-in, for authenticate() and django-axes.

    Axes keys its failure counters on a client IP and needs a request to do so. The CLI
    is not a web client - on the server's own host it would share loopback with every
    client of a same-host proxy - so its attempts count under cli_address(origin). The
    audit trail records the real origin (``cli@host``) from ORIGIN_META_KEY.
    """
    request = HttpRequest()
    request.META.update(
        {
            "REMOTE_ADDR": cli_address(origin),
            "HTTP_USER_AGENT": "datatrac-cli",
            ORIGIN_META_KEY: origin,
        }
    )
    return request


def authenticate_actor(*, username: str, password: str, origin: str = "") -> Actor:
    """Check a Django user's password; the Actor of that user, or AuthenticationFailed.

    Goes through Django's authenticate() like the web sign-in, so django-axes throttles
    repeated failures for the CLI too, and the user_login_failed signal audits each
    failure (registry.signals). A success is audited here as a sign in.
    """
    request = _cli_request(origin)
    user = authenticate(request, username=username, password=password)
    if user is None:
        if getattr(request, "axes_locked_out", False):
            raise AuthenticationFailed(
                f"too many failed sign-ins for user {username!r}: try again later, or ask "
                "an administrator to unlock the account"
            )
        raise AuthenticationFailed(f"authentication failed for user {username!r}")
    actor = Actor(name=user.get_username(), user=user, origin=origin)  # type: ignore[arg-type]
    record_audit(actor=actor, action=AuditEvent.Action.SIGN_IN, detail="password checked (CLI)")
    return actor


def require_permission(actor: Actor, perm: str, *, action: str, sha256: str = "") -> None:
    """Raise PermissionDenied (and audit the refusal) unless ``actor`` holds ``perm``."""
    if actor.has_perm(perm):
        return
    record_audit(
        actor=actor,
        action=AuditEvent.Action.PERMISSION_DENIED,
        sha256=sha256,
        outcome=AuditEvent.Outcome.DENIED,
        detail=f"{action} needs permission {perm}",
    )
    if actor.user is None and actor.is_cli:
        raise PermissionDenied(
            f"{actor.name!r} may not {action}: no active DataTrac account has that name "
            "(the CLI acts as DATATRAC_USER; set it to your account name, or ask an "
            "administrator for an account)"
        )
    raise PermissionDenied(f"user {actor.name!r} may not {action} (needs permission {perm})")


def require_view_permission(*, actor: Actor) -> None:
    """Raise PermissionDenied (audited) unless ``actor`` may read the registry.

    The gate of every read that is a plain query (list, show, lineage): the web's
    pages check the same permission (registry.access), the CLI calls this before it
    reads.
    """
    require_permission(actor, "registry.view_dataset", action="view datasets")


def record_audit(
    *,
    actor: Actor,
    action: str,
    sha256: str = "",
    outcome: str = AuditEvent.Outcome.OK,
    detail: str = "",
) -> AuditEvent:
    """Append one audit event.

    Text that users control (names, details quoting them) is stored with control
    characters escaped, so a newline in a dataset or user name cannot forge another
    entry wherever the trail is shown, logged or exported.
    """
    return AuditEvent.objects.create(
        actor=escape_control_chars(actor.name)[:150],
        user=actor.user if actor.user is not None and actor.user.pk else None,  # type: ignore[misc]
        action=action,
        sha256=sha256,
        origin=escape_control_chars(actor.origin)[:255],
        outcome=outcome,
        detail=escape_control_chars(detail),
    )
