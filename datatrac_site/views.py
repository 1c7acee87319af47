"""Site-wide views that belong to no app."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from registry.errors import AmbiguousHash


@require_safe
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness for load balancers, and the benchmarks' trivial page: no database work."""
    return HttpResponse("ok\n", content_type="text/plain")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A plain not-found page: nothing from the URL, no exception class names.

    Django's own handler shows the exception's message, which echoes the path (a link
    could make the page say anything) or, for an unknown URL, the word "Resolver404".
    Only an ambiguous hash prefix says more: the datasets it matches, which come from
    the registry, not from the URL.
    """
    cause = exception.__cause__
    candidates = cause.candidates[:10] if isinstance(cause, AmbiguousHash) else []
    return render(request, "404.html", {"candidates": candidates}, status=404)
