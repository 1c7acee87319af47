"""The registry's web pages: browse, a dataset's page, and its download."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_safe
from django.views.decorators.vary import vary_on_headers

from lineage.services import relative_counts
from registry.access import browse_required
from registry.actors import Actor
from registry.charts import download_chart
from registry.errors import (
    AmbiguousHash,
    DataTracError,
    InvalidHash,
    PermissionDenied,
    UnknownDataset,
)
from registry.htmx import HtmxHttpRequest, wants_fragment
from registry.keyset import Total, listing_total
from registry.models import Dataset
from registry.naming import safe_file_name
from registry.services import dataset_history, stream_dataset
from registry.storage import get_storage
from registry.storage.base import Storage
from registry.tables import DatasetTable

PER_PAGE = 25
RELATIVES_PER_PAGE = 20
HISTORY_SHOWN = 20
MAX_QUERY = 200
# Listings at least this big show the planner's estimate, not a COUNT(*) of every row.
EXACT_COUNT_BELOW = 10_000


def get_dataset_or_404(ref: str) -> Dataset:
    """The dataset a hash or unique prefix names; 404 for anything else.

    The 404 carries no text from the URL (the not-found page must not echo what a link
    says); an ambiguous prefix's candidates, registry data, reach the page as the cause.
    """
    try:
        return Dataset.objects.resolve(ref)
    except (InvalidHash, UnknownDataset, AmbiguousHash) as exc:
        raise Http404("no such dataset") from exc


@require_safe
@browse_required
@vary_on_headers("HX-Request")
def dataset_list(request: HtmxHttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:MAX_QUERY]
    show_deleted = request.GET.get("deleted") == "1"
    datasets = Dataset.objects.all() if show_deleted else Dataset.objects.available()
    datasets = datasets.search(query)
    # Keyset pages (?after=<id>, ?before=<id>): one index seek whatever the depth.
    table = DatasetTable.for_page(
        datasets,
        sort=request.GET.get("sort", ""),
        after=_cursor(request.GET.get("after")),
        before=_cursor(request.GET.get("before")),
        per_page=PER_PAGE,
    )
    # Only an empty page asks whether the registry itself is empty.
    registry_empty = not table.rows and not Dataset.objects.exists()
    total = None if registry_empty else _total(datasets, table, searching=bool(query))
    template = "registry/dataset_list.html"
    if wants_fragment(request):
        template += "#results"
    return render(
        request,
        template,
        {
            "table": table,
            "total": total,
            "query": query,
            "show_deleted": show_deleted,
            "registry_empty": registry_empty,
        },
    )


def _total(datasets: QuerySet[Dataset], table: DatasetTable, *, searching: bool) -> Total | None:
    """What the summary line says about the size of the listing.

    A search is not counted: a common word's trigrams match a large part of a big
    registry, and reading all of them costs ~20 ms an index even when the page itself is
    found in a few milliseconds. Its first page says how many it shows, or "more than".
    """
    page = table.keyset
    if not searching:
        return listing_total(datasets, estimate=True, exact_below=EXACT_COUNT_BELOW)
    if page is None or page.has_cursor:
        return None
    return Total(len(page.rows), "more than" if page.has_next else "exact")


def _cursor(raw: str | None) -> int | None:
    """A keyset cursor from the query string: a row id, or None for anything else."""
    # isdigit() alone accepts "²" and other digits int() refuses; < 19 digits fit a bigint.
    return int(raw) if raw and raw.isascii() and raw.isdigit() and len(raw) < 19 else None


class _CountedPaginator(Paginator):
    """A paginator told its count: a dataset's two sides are counted in one query."""

    def __init__(self, object_list: QuerySet[Dataset], per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self._known_count = count

    @property
    def count(self) -> int:  # type: ignore[override]
        return self._known_count


@require_safe
@browse_required
@vary_on_headers("HX-Request")
def dataset_detail(request: HtmxHttpRequest, ref: str) -> HttpResponse:
    dataset = get_dataset_or_404(ref)
    parent_count, child_count = relative_counts(dataset)
    parents = _CountedPaginator(
        Dataset.objects.filter(child_edges__child=dataset).order_by("name", "id"),
        RELATIVES_PER_PAGE,
        count=parent_count,
    ).get_page(request.GET.get("parents"))
    children = _CountedPaginator(
        Dataset.objects.filter(parent_edges__parent=dataset).order_by("name", "id"),
        RELATIVES_PER_PAGE,
        count=child_count,
    ).get_page(request.GET.get("children"))
    actor = Actor.for_request(request)
    context = {
        "dataset": dataset,
        "parents": parents,
        "children": children,
        # The actor's rule, not the template's `perms`: public read may download too.
        "can_download": actor.has_perm("registry.download_dataset"),
    }
    template = "registry/dataset_detail.html"
    if wants_fragment(request):
        return render(request, template + "#relatives", context)
    context["chart"] = download_chart(dataset=dataset)
    context["history"] = dataset_history(dataset=dataset, actor=actor, limit=HISTORY_SHOWN)
    return render(request, template, context)


def _stream_then_close(chunks: Iterator[bytes], storage: Storage) -> Iterator[bytes]:
    # The store (an SSH connection, say) stays open until the last chunk is sent.
    try:
        yield from chunks
    finally:
        storage.close()


@require_GET  # not HEAD: a download reads (and counts) the whole object
@browse_required
def dataset_download(request: HtmxHttpRequest, ref: str) -> HttpResponseBase:
    dataset = get_dataset_or_404(ref)
    if not dataset.is_available:
        return render(
            request, "registry/download_error.html", {"dataset": dataset, "gone": True}, status=410
        )
    storage = get_storage()
    try:
        chunks = stream_dataset(dataset=dataset, actor=Actor.for_request(request), storage=storage)
        # The first chunk is read before the response starts: a store that fails at once,
        # or a small object that fails verification (its only chunk is held back until
        # then), gets this page instead of a transfer that breaks off.
        first = next(chunks, b"")
    except PermissionDenied as exc:
        storage.close()
        return render(
            request, "registry/download_error.html", {"dataset": dataset, "error": exc}, status=403
        )
    except DataTracError as exc:  # unreachable store, lost object, corrupt bytes
        storage.close()
        return render(
            request, "registry/download_error.html", {"dataset": dataset, "error": exc}, status=502
        )
    response = StreamingHttpResponse(
        _stream_then_close(itertools.chain([first], chunks), storage),
        content_type="application/octet-stream",
    )
    response["Content-Length"] = str(dataset.size)
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=safe_file_name(dataset.name, fallback=dataset.short_hash)
    )
    response["X-Content-SHA256"] = dataset.sha256
    response["Cache-Control"] = "private, no-store"
    return response
