"""Site-wide middleware: malformed parameters are a 400, and every error under /api/
is JSON, not HTML."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus

from django.conf import settings
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import TO_FIELD_VAR
from django.db import DataError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.http.response import HttpResponseBase

logger = logging.getLogger("django.security.BadParameter")

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


class BadParametersMiddleware:
    """A malformed request parameter is a 400, never a 500.

    - A NUL byte in the query string, a form field or the session cookie: no parameter
      of DataTrac's means anything with one, and PostgreSQL refuses it in any text value
      (an admin list filter, a search, a session key). Refused before anything reads it.
    - The admin's row selection and ``_to_field`` that name no row: Django's admin
      passes them to a query as they come (``_selected_action=²``) or looks up a field
      named "" (``_to_field=``). Every model in this site's admin has integer ids.
    - A value the database refuses as data (a number beyond a bigint, an address that
      is no IP address, a name longer than its column), which the admin's list filters
      and django-axes' records of sign-ins pass on from the request: DataError on
      PostgreSQL, OverflowError from SQLite's driver.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # request.POST holds form posts only (it reads no other body), and is what the
        # views, the admin and CSRF read next anyway.
        # Of the cookies, only the session's reaches a query: another application's
        # cookie on the same domain is none of DataTrac's business, and refusing it
        # would lock its users out of every page until they clear it.
        session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME, "")
        if "\x00" in session_key or any(
            _holds_nul(pairs) for pairs in (request.GET.lists(), request.POST.lists())
        ):
            return _bad_request(request, "a request parameter holds a NUL character")
        if not all(_is_row_id(pk) for pk in request.POST.getlist(ACTION_CHECKBOX_NAME)):
            return _bad_request(request, "the selection names no row")
        if request.GET.get(TO_FIELD_VAR, None) == "" or request.POST.get(TO_FIELD_VAR) == "":
            return _bad_request(request, f"{TO_FIELD_VAR} names no field")
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, (DataError, OverflowError)):
            # Logged with the database's words, should one ever come from a bug instead.
            return _bad_request(
                request, "a request parameter is out of range for the registry", exception
            )
        return None


def _bad_request(request: HttpRequest, why: str, cause: Exception | None = None) -> HttpResponse:
    logger.warning("Bad request to %s: %s%s", request.path, why, f" ({cause})" if cause else "")
    return HttpResponseBadRequest(f"Bad request: {why}.\n", content_type="text/plain")


def _is_row_id(value: str) -> bool:
    # isdigit() alone accepts "²"; under 19 digits fits a bigint.
    return value.isascii() and value.isdigit() and len(value) < 19


def _holds_nul(pairs: Iterable[tuple[str, str | list[str]]]) -> bool:
    for key, values in pairs:
        listed = [values] if isinstance(values, str) else values
        if "\x00" in key or any("\x00" in value for value in listed):
            return True
    return False
