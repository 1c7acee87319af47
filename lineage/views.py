"""The lineage explorer page."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe
from django.views.decorators.vary import vary_on_headers

from lineage.explorer import build_drawing, parse_expand
from registry.access import browse_required
from registry.htmx import HtmxHttpRequest, wants_fragment
from registry.views import get_dataset_or_404


def _int(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw is not None else default
    except ValueError:
        return default


@require_safe
@browse_required
@vary_on_headers("HX-Request")
def dataset_lineage(request: HtmxHttpRequest, ref: str) -> HttpResponse:
    dataset = get_dataset_or_404(ref)
    drawing = build_drawing(
        center=dataset,
        depth=_int(request.GET.get("depth"), 1),
        expand=parse_expand(request.GET.get("expand", "")),
    )
    template = "lineage/dataset_lineage.html"
    if wants_fragment(request):
        template += "#explorer"
    return render(request, template, {"dataset": dataset, "drawing": drawing})
