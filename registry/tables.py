"""The dataset browser's table. Every cell is escaped: names and sources are user text."""

from __future__ import annotations

from html import escape

import django_tables2 as tables
from django.db.models import F, QuerySet
from django.db.models.functions import Left
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django_tables2.data import TableListData

from registry.keyset import KeysetPage, SortKey, keyset_page
from registry.models import SORT_PREFIX, Dataset

DEFAULT_SORT = "-pushed_at"
EMPTY_CELL = "—"  # django-tables2's default for an empty value
# The database sort key of each sortable column, matching Dataset.Meta.indexes so every
# sort is an index seek. Each ends on a unique column, so pages never overlap or skip.
SORT_KEYS: dict[str, tuple[SortKey, ...]] = {
    "name": (Left("name", SORT_PREFIX), F("id")),
    "sha256": (F("sha256"),),
    "size": (F("size"), F("id")),
    "source": (Left("source", SORT_PREFIX), F("id")),
    "pushed_by": (F("pushed_by"), F("id")),
    "pushed_at": (F("pushed_at"), F("id")),
    "download_count": (F("download_count"), F("id")),
}


class _SortedRows(TableListData):
    """A page the database already sorted and cut: the table must not sort it again."""

    def order_by(self, aliases: object) -> None:
        pass


def _row_class(record: Dataset) -> str:
    return "" if record.is_available else "is-deleted"


class DatasetTable(tables.Table):
    # The columns' order_by only drives the header links (which way a click sorts); the
    # database order is SORT_KEYS, applied by for_page.
    name = tables.Column(order_by=("name", "id"), attrs={"td": {"class": "col-name"}})
    sha256 = tables.Column(
        verbose_name="Hash",
        order_by=("sha256",),
        attrs={"th": {"class": "col-hash"}, "td": {"class": "col-hash"}},
    )
    size = tables.Column(
        order_by=("size", "id"), attrs={"th": {"class": "num"}, "td": {"class": "num"}}
    )
    source = tables.Column(
        order_by=("source", "id"),
        attrs={"th": {"class": "col-source"}, "td": {"class": "col-source"}},
    )
    pushed_by = tables.Column(
        verbose_name="Pushed by",
        order_by=("pushed_by", "id"),
        attrs={"th": {"class": "col-pushed-by"}, "td": {"class": "col-pushed-by"}},
    )
    pushed_at = tables.Column(
        verbose_name="Pushed",
        order_by=("pushed_at", "id"),
        attrs={"th": {"class": "col-pushed-at"}, "td": {"class": "col-pushed-at"}},
    )
    download_count = tables.Column(
        verbose_name="Downloads",
        order_by=("download_count", "id"),
        attrs={"th": {"class": "num col-downloads"}, "td": {"class": "num col-downloads"}},
    )

    class Meta:
        model = Dataset
        fields = ("name", "sha256", "size", "source", "pushed_by", "pushed_at", "download_count")
        order_by = (DEFAULT_SORT,)
        attrs = {"class": "data-table", "id": "datasets-table"}
        row_attrs = {"class": _row_class}
        empty_text = "No datasets match."

    keyset: KeysetPage[Dataset] | None = None

    @classmethod
    def for_page(
        cls,
        queryset: QuerySet[Dataset],
        *,
        sort: str,
        after: int | None,
        before: int | None,
        per_page: int,
    ) -> DatasetTable:
        """The table of one keyset page of ``queryset`` in the ``sort`` order (an alias)."""
        if sort.removeprefix("-") not in SORT_KEYS:
            sort = DEFAULT_SORT
        page = keyset_page(
            queryset,
            keys=SORT_KEYS[sort.removeprefix("-")],
            descending=sort.startswith("-"),
            per_page=per_page,
            after=after,
            before=before,
        )
        table = cls(_SortedRows(page.rows), order_by=sort)
        table.keyset = page
        return table

    # The shared table template renders body_rows instead of walking cells itself.
    prerenders_body = True

    @cached_property
    def body_rows(self) -> list[SafeString]:
        """Each row's ``<tr>`` as HTML, built in Python with the standard library's escape.

        django-tables2's per-cell path (a signature inspection per render call, the
        column's attributes rebuilt per cell, template lookups and format_html per cell)
        cost about half a millisecond a row: the 25-row browser page spent several times
        longer there than in its queries. Here each column's ``<td>`` attributes are
        built once per page and each cell is an f-string over ``escape()``d user text
        (Django's own escape is this same html.escape), so rows stay plain text-safe.
        """
        columns = [(column.name, column.attrs["td"].as_html()) for column in self.columns]
        html: list[SafeString] = []
        for index, record in enumerate(self.data):
            cells = _cells(record)
            row_class = "even" if index % 2 == 0 else "odd"
            if not record.is_available:
                row_class += " is-deleted"
            tds = "".join(f"<td {attrs}>{cells[name]}</td>" for name, attrs in columns)
            html.append(mark_safe(f'<tr class="{row_class}">{tds}</tr>'))  # noqa: S308
        return html


def _cells(record: Dataset) -> dict[str, str]:
    """The browser's cells for one dataset, as HTML: all user text goes through escape()."""
    badge = "" if record.is_available else ' <span class="badge badge-deleted">deleted</span>'
    local = timezone.localtime(record.pushed_at)
    return {
        "name": (
            f'<a href="{escape(record.get_absolute_url())}">'
            f"{escape(_truncate(record.name, 80))}</a>{badge}"
        ),
        "sha256": f'<code title="{record.sha256}">{record.short_hash}</code>',
        "size": (
            f'<span title="{record.size:,} bytes">{escape(filesizeformat(record.size))}</span>'
        ),
        "source": (
            f'<span title="{escape(record.source)}">{escape(_truncate(record.source, 48))}</span>'
            if record.source
            else EMPTY_CELL
        ),
        "pushed_by": escape(record.pushed_by) if record.pushed_by else EMPTY_CELL,
        "pushed_at": (
            f'<time datetime="{record.pushed_at.isoformat()}">'
            f"{local.strftime('%Y-%m-%d %H:%M')}</time>"
        ),
        "download_count": f"{record.download_count:,}",
    }


def _truncate(text: str, length: int) -> str:
    # Most names fit: skip Truncator's Unicode normalisation for them (same result).
    return text if len(text) <= length else Truncator(text).chars(length)
