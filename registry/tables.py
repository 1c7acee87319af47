"""The dataset browser's table. Every cell is escaped: names and sources are user text."""

from __future__ import annotations

from datetime import datetime

import django_tables2 as tables
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from registry.models import Dataset


def _row_class(record: Dataset) -> str:
    return "" if record.is_available else "is-deleted"


class DatasetTable(tables.Table):
    # Each ordering ends on the primary key so that pages never overlap or skip rows.
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
        order_by = ("-pushed_at",)
        attrs = {"class": "data-table", "id": "datasets-table"}
        row_attrs = {"class": _row_class}
        empty_text = "No datasets match."

    def render_name(self, value: str, record: Dataset) -> SafeString:
        badge = (
            format_html(' <span class="badge badge-deleted">{}</span>', "deleted")
            if not record.is_available
            else ""
        )
        return format_html(
            '<a href="{}">{}</a>{}', record.get_absolute_url(), Truncator(value).chars(80), badge
        )

    def render_sha256(self, value: str, record: Dataset) -> SafeString:
        return format_html('<code title="{}">{}</code>', value, record.short_hash)

    def render_size(self, value: int) -> SafeString:
        return format_html('<span title="{} bytes">{}</span>', f"{value:,}", filesizeformat(value))

    def render_source(self, value: str) -> SafeString:
        return format_html('<span title="{}">{}</span>', value, Truncator(value).chars(48))

    def render_pushed_at(self, value: datetime) -> SafeString:
        local = timezone.localtime(value)
        return format_html(
            '<time datetime="{}">{}</time>', value.isoformat(), local.strftime("%Y-%m-%d %H:%M")
        )

    def render_download_count(self, value: int) -> str:
        return f"{value:,}"
