"""DataTrac's client: one interface (datatrac.client.Client), two backends.

``datatrac.direct.DirectClient`` calls the registry's services in this process (the
embedded default; imports Django when first used). ``datatrac.remote.RemoteClient``
talks to a team server's ``/api/v1/`` over HTTP with a personal access token and never
imports Django. ``datatrac.config.connect()`` picks one the way the CLI does.
"""

from __future__ import annotations

from datatrac.errors import (
    Ambiguous,
    AuthenticationFailed,
    Conflict,
    ConnectionFailed,
    DataTracError,
    IntegrityError,
    InvalidRef,
    NotFound,
    PermissionDenied,
    ServerError,
)

__all__ = [
    "Ambiguous",
    "AuthenticationFailed",
    "Conflict",
    "ConnectionFailed",
    "DataTracError",
    "IntegrityError",
    "InvalidRef",
    "NotFound",
    "PermissionDenied",
    "ServerError",
]
