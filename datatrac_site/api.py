"""The JSON API at /api/v1/: one router per app, one place that turns errors into JSON.

Every error is ``{"error": <code>, "detail": <one line>}`` with its HTTP status: domain
errors (registry.errors) by class, ninja's own (validation, authentication, CSRF) by
kind. Interactive docs are served from ninja's own static files (no CDN).
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.openapi.docs import Swagger

from lineage.api import router as lineage_router
from registry.api import router as registry_router
from registry.errors import (
    AmbiguousHash,
    AuthenticationFailed,
    BadPath,
    ConfirmationRequired,
    DatasetDeleted,
    DataTracError,
    DeleteRefused,
    IntegrityFailure,
    InvalidHash,
    LineageError,
    NotMigrated,
    PermissionDenied,
    RangeNotSatisfiable,
    StoreError,
    UnknownDataset,
    UploadError,
)
from tokens.api import router as tokens_router
from tokens.auth import API_AUTH
from tokens.errors import InvalidTokenRequest, TooManyTokenAttempts

logger = logging.getLogger(__name__)

# Domain errors by class, most specific first: (class, status, error code).
ERROR_STATUS: list[tuple[type[DataTracError], int, str]] = [
    (TooManyTokenAttempts, 429, "too_many_attempts"),
    (AuthenticationFailed, 401, "not_authenticated"),
    (PermissionDenied, 403, "permission_denied"),
    (UnknownDataset, 404, "unknown_dataset"),
    (DatasetDeleted, 410, "dataset_deleted"),
    (RangeNotSatisfiable, 416, "range_not_satisfiable"),
    (InvalidHash, 400, "invalid_hash"),
    (AmbiguousHash, 400, "ambiguous_hash"),
    (BadPath, 400, "bad_path"),
    (InvalidTokenRequest, 400, "invalid_request"),
    (LineageError, 409, "lineage_conflict"),
    (ConfirmationRequired, 409, "confirmation_required"),
    (DeleteRefused, 409, "delete_refused"),
    (IntegrityFailure, 502, "integrity_failure"),
    (StoreError, 502, "store_error"),
    (NotMigrated, 503, "not_migrated"),
]
# ninja's HttpError by status: the code it is reported with.
HTTP_ERROR_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    411: "length_required",
    413: "too_large",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    429: "too_many_requests",
}
AUTHENTICATE_HINT = (
    "send 'Authorization: Bearer <token>' (make a token on the API tokens page, /tokens/) "
    "or sign in"
)


class LocalSwagger(Swagger):
    """Swagger UI from django-ninja's files, served as our own static files (see
    STATICFILES_DIRS): ninja only does that when it is an installed app, which would
    make every CLI command import it."""

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        config = {**self.settings, "url": self.get_openapi_url(api, kwargs)}
        # The docs' "Try it out" sends the CSRF token, for a signed-in session's POSTs.
        add_csrf = any(getattr(auth, "csrf", False) for auth in API_AUTH)
        context = {"swagger_settings": config, "api": api, "add_csrf": add_csrf}
        return render(request, "api/docs.html", context)


def error_body(error: str, detail: Any) -> dict[str, Any]:
    return {"error": error, "detail": detail}


api = NinjaAPI(
    title="DataTrac",
    version="1",
    description="The DataTrac registry over HTTP. Authenticate with a personal access "
    "token (`Authorization: Bearer dtk_...`, made on the API tokens page) or a signed-in "
    "session (unsafe methods then need the CSRF token).",
    urls_namespace="api-v1",
    auth=API_AUTH,
    docs=LocalSwagger(),
)
api.add_router("/", tokens_router)
api.add_router("/", registry_router)
api.add_router("/", lineage_router)


def _respond(request: HttpRequest, status: int, error: str, detail: Any) -> HttpResponse:
    response = api.create_response(request, error_body(error, detail), status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="datatrac"'
    return response


@api.exception_handler(DataTracError)
def domain_error(request: HttpRequest, exc: DataTracError) -> HttpResponse:
    if isinstance(exc, UploadError):  # each carries its own code and status
        return _respond(request, exc.status, exc.code, str(exc))
    for cls, status, code in ERROR_STATUS:
        if isinstance(exc, cls):
            response = _respond(request, status, code, str(exc))
            if isinstance(exc, RangeNotSatisfiable):
                response["Content-Range"] = f"bytes */{exc.size}"
            return response
    return _respond(request, 400, "error", str(exc))


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    # One line naming each bad field and what is wrong with it.
    parts = []
    for item in exc.errors:
        where = ".".join(str(p) for p in item.get("loc", ()))
        parts.append(f"{where}: {item.get('msg', 'invalid')}")
    return _respond(request, 422, "validation_error", "; ".join(parts) or "invalid input")


@api.exception_handler(AuthenticationError)
def authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _respond(
        request, 401, "not_authenticated", f"authentication required: {AUTHENTICATE_HINT}"
    )


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    status = exc.status_code
    if status == 403 and "CSRF" in exc.message:
        return _respond(
            request,
            403,
            "csrf_failed",
            "CSRF check failed: a signed-in session must send the X-CSRFToken header "
            "(tokens need none)",
        )
    return _respond(request, status, HTTP_ERROR_CODES.get(status, "error"), exc.message)


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _respond(request, 404, "not_found", str(exc) or "not found")


@api.exception_handler(Exception)
def server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    # Logged with its traceback for the operator; the client gets one line, never a trace.
    logger.exception("API error on %s %s", request.method, request.path)
    return _respond(request, 500, "server_error", "internal server error (logged on the server)")
