"""Who may read the web app: users with the view permission (the viewers role and up),
or everyone when DATATRAC_PUBLIC_READ."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django_htmx.http import HttpResponseClientRedirect

from registry.actors import Actor

View = Callable[..., HttpResponseBase]


def read_allowed(request: HttpRequest) -> bool:
    # The same rule as every service's permission check (PUBLIC_READ included).
    return Actor.for_request(request).has_perm("registry.view_dataset")


def browse_required(view: View) -> View:
    """Let the request through if it may read; otherwise send it to the sign-in page.

    An htmx request is redirected as a whole page: swapping a sign-in form into a
    table would leave a broken page behind.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if read_allowed(request):
            return view(request, *args, **kwargs)
        if request.user.is_authenticated:
            # Signed in but in no role: say so, rather than loop back to the sign-in form.
            raise PermissionDenied(
                "Your account has no DataTrac role yet: ask an administrator to add you to "
                "the viewers group."
            )
        if getattr(request, "htmx", False):
            current = request.htmx.current_url_abs_path or "/"  # type: ignore[attr-defined]
            return HttpResponseClientRedirect(redirect_to_login(current).url)
        return redirect_to_login(request.get_full_path())

    return wrapper
