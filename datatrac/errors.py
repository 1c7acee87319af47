"""The client's typed errors: what either backend raises, never an HTTP or Django error.

``exit_code`` is the CLI's: 1 for most failures, 2 for bad usage, 3 when who you are
is the problem (no permission, a refused token or password), as in registry/errors.py.
"""

from __future__ import annotations


class DataTracError(Exception):
    """Base of every error a client reports as one line."""

    exit_code = 1


class NotFound(DataTracError):
    """No dataset (token, upload, link) has that reference."""


class Ambiguous(DataTracError):
    """A hash prefix that matches more than one dataset."""


class InvalidRef(DataTracError):
    """A reference or argument that is malformed (not hex, too short, a bad value)."""


class PermissionDenied(DataTracError):
    """The caller lacks the permission (or the token the scope) an action needs."""

    exit_code = 3


class AuthenticationFailed(DataTracError):
    """A token (or password) that is refused: malformed, wrong, expired or revoked."""

    exit_code = 3


class Conflict(DataTracError):
    """The action would break something (a lineage cycle, living children, an existing
    file) or needs a confirmation it did not get."""


class IntegrityError(DataTracError):
    """Bytes whose SHA-256 (or size) is not the one they are fetched or stored under."""


class ServerError(DataTracError):
    """The server (or its store) failed: a 5xx, or an answer that makes no sense."""


class ConnectionFailed(DataTracError):
    """The server cannot be reached: refused, timed out, a TLS failure."""
