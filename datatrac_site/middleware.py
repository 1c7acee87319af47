"""JSON, not HTML, for every error under /api/: unknown URLs, wrong methods, crashes."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase

API_PREFIX = "/api/"


def api_json_errors(
    get_response: Callable[[HttpRequest], HttpResponseBase],
) -> Callable[[HttpRequest], HttpResponseBase]:
    """Replace an error response that is not JSON (Django's 404 page for an unknown API
    URL, the plain 405 of a wrong method, a 500 page) on an /api/ path with
    ``{"error": ..., "detail": ...}`` and the same status and headers that matter."""

    def middleware(request: HttpRequest) -> HttpResponseBase:
        response = get_response(request)
        if (
            request.path.startswith(API_PREFIX)
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return _as_json(request, response)
        return response

    return middleware


def _as_json(request: HttpRequest, response: HttpResponseBase) -> HttpResponse:
    status = response.status_code
    if status == 404:
        error, detail = "not_found", f"no API endpoint at {request.path}"
    elif status == 405:
        allowed = response.get("Allow", "")
        error, detail = (
            "method_not_allowed",
            f"{request.method} is not allowed here (allowed: {allowed})",
        )
    else:
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "error"
        error, detail = phrase.lower().replace(" ", "_"), phrase
    replacement = JsonResponse({"error": error, "detail": detail}, status=status)
    for header in ("Allow", "WWW-Authenticate", "Retry-After"):
        if header in response:
            replacement[header] = response[header]
    return replacement
