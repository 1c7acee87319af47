"""Who may read the web app: signed-in users, or everyone when DATATRAC_PUBLIC_READ."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django_htmx.http import HttpResponseClientRedirect

View = Callable[..., HttpResponseBase]


def read_allowed(request: HttpRequest) -> bool:
    # Read at request time, not import time, so the setting can change under tests.
    return bool(settings.DATATRAC_PUBLIC_READ) or request.user.is_authenticated


def browse_required(view: View) -> View:
    """Let the request through if it may read; otherwise send it to the sign-in page.

    An htmx request is redirected as a whole page: swapping a sign-in form into a
    table would leave a broken page behind.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if read_allowed(request):
            return view(request, *args, **kwargs)
        if getattr(request, "htmx", False):
            current = request.htmx.current_url_abs_path or "/"  # type: ignore[attr-defined]
            return HttpResponseClientRedirect(redirect_to_login(current).url)
        return redirect_to_login(request.get_full_path())

    return wrapper
