"""Audit trail entries for signing in, signing out and failed sign-ins (web and CLI)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from registry.actors import ORIGIN_META_KEY, Actor, record_audit, request_origin
from registry.models import AuditEvent


@receiver(user_logged_in, dispatch_uid="registry.audit_sign_in")
def audit_sign_in(sender: type, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    record_audit(
        actor=Actor(name=user.get_username(), user=user, origin=request_origin(request)),
        action=AuditEvent.Action.SIGN_IN,
        detail="web sign-in",
    )


@receiver(user_logged_out, dispatch_uid="registry.audit_sign_out")
def audit_sign_out(sender: type, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is None:  # signing out a session that was not signed in
        return
    record_audit(
        actor=Actor(name=user.get_username(), user=user, origin=request_origin(request)),
        action=AuditEvent.Action.SIGN_OUT,
    )


@receiver(user_login_failed, dispatch_uid="registry.audit_failed_sign_in")
def audit_failed_sign_in(
    sender: type, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Django has already masked the password in ``credentials``; only the name is kept.
    username = str(credentials.get("username") or "")
    locked = bool(getattr(request, "axes_locked_out", False))
    where = "CLI" if request is not None and ORIGIN_META_KEY in request.META else "web"
    reason = "locked out after too many failures" if locked else "wrong user name or password"
    record_audit(
        actor=Actor(name=username or "(no user name)", origin=request_origin(request)),
        action=AuditEvent.Action.SIGN_IN_FAILED,
        outcome=AuditEvent.Outcome.FAILED,
        detail=f"{reason} ({where})",
    )
