"""The typed request htmx views take, and when to answer with a fragment."""

from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def wants_fragment(request: HtmxHttpRequest) -> bool:
    """An htmx swap; a history restore (cache miss on back/forward) needs the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request
