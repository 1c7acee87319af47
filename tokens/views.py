"""The "API tokens" page: a signed-in user makes, sees once, lists and revokes tokens."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe
from django.views.decorators.vary import vary_on_headers

from registry.actors import Actor
from registry.errors import DataTracError, PermissionDenied
from registry.htmx import HtmxHttpRequest, wants_fragment
from tokens.models import AccessToken
from tokens.services import (
    DEFAULT_LIFETIME,
    NewToken,
    allowed_scopes,
    create_token,
    own_token,
    revoke_token,
    tokens_of,
)

TEMPLATE = "tokens/token_list.html"
# The lifetimes offered, in days; DEFAULT_LIFETIME is preselected.
LIFETIMES = [7, 30, 90, 180, 365]


def _render(
    request: HtmxHttpRequest,
    *,
    new_token: NewToken | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    actor = Actor.for_request(request)
    scopes = allowed_scopes(actor=actor)
    context = {
        "tokens": tokens_of(actor=actor).select_related("user"),
        "scopes": [(value, label) for value, label in AccessToken.Scope.choices if value in scopes],
        "lifetimes": LIFETIMES,
        "default_lifetime": DEFAULT_LIFETIME.days,
        "new_token": new_token,
        "error": error,
    }
    template = TEMPLATE + "#tokens" if wants_fragment(request) else TEMPLATE
    # htmx swaps 2xx answers only: a refusal it should show is sent as 200.
    return render(request, template, context, status=200 if wants_fragment(request) else status)


@require_safe
@login_required
@vary_on_headers("HX-Request")
def token_list(request: HtmxHttpRequest) -> HttpResponse:
    return _render(request)


@require_POST
@login_required
def token_create(request: HtmxHttpRequest) -> HttpResponse:
    days = request.POST.get("days", "")
    try:
        new_token = create_token(
            actor=Actor.for_request(request),
            name=request.POST.get("name", ""),
            scope=request.POST.get("scope", ""),
            lifetime=timedelta(days=int(days) if days.isdigit() and len(days) < 5 else 0),
        )
    except PermissionDenied as exc:
        return _render(request, error=str(exc), status=403)
    except DataTracError as exc:
        return _render(request, error=str(exc), status=400)
    # Answered, not redirected: the secret is shown on this response and kept nowhere.
    response = _render(request, new_token=new_token)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@login_required
def token_revoke(request: HtmxHttpRequest, token_id: int) -> HttpResponseBase:
    actor = Actor.for_request(request)
    token = own_token(actor=actor, token_id=token_id)
    if token is None:
        raise Http404("no such token of yours")
    revoke_token(actor=actor, token=token)
    if wants_fragment(request):
        return _render(request)
    return redirect("tokens:token-list")
