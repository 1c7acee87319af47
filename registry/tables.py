"""The dataset browser's table. Every cell is escaped: names and sources are user text."""

from __future__ import annotations

import django_tables2 as tables
from django.db.models import F, QuerySet
from django.db.models.functions import Left
from django.utils.functional import cached_property
from django.utils.safestring import SafeString
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

    # The shared table template renders the body with this (autoescaping) template
    # instead of walking django-tables2's cells: its per-cell path (a signature
    # inspection per render call, attributes rebuilt per cell) cost about half a
    # millisecond a row, several times the page's queries.
    rows_template = "registry/_dataset-rows.html"

    @cached_property
    def cell_attrs(self) -> dict[str, SafeString]:
        """Each column's ``<td>`` attributes, built once per page (not once per cell)."""
        return {column.name: column.attrs["td"].as_html() for column in self.columns}
