"""Why a token was refused. Both are AuthenticationFailed: the API answers 401 (429)."""

from __future__ import annotations

from registry.errors import AuthenticationFailed, DataTracError


class TokenRefused(AuthenticationFailed):
    """A token that is malformed, unknown, wrong, revoked, expired, or sent where it may
    not be (a query string); or whose user is no longer active."""


class TooManyTokenAttempts(AuthenticationFailed):
    """The client address has had too many refused tokens lately (django-axes)."""


class InvalidTokenRequest(DataTracError):
    """A token asked for with a bad name, scope or lifetime."""
