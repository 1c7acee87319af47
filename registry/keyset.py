"""Keyset ("seek") pagination: every page is one index seek, however deep.

OFFSET pagination reads and throws away every row before the page, so page 40,000 of a
million datasets costs a scan of a million index entries, and its page numbers need a
COUNT(*) of every row. A keyset page instead starts right after (or before) a pivot row:

    WHERE (sort key, id) > (SELECT sort key, id FROM t WHERE id = <pivot>)
    ORDER BY sort key, id LIMIT per_page + 1

which a btree on (sort key, id) answers by descending to the pivot and reading on:
the same cost on page 1 and page 40,000. The cursor is the pivot row's id, so links stay
short (``?after=123``); the one extra row read says whether there is a next page.

Row-value comparison works on PostgreSQL and on SQLite (3.15+).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections, models
from django.db.models import Expression, F, Func, Subquery, Value
from django.db.models.lookups import GreaterThan, LessThan

#: A column (F) or an expression (Left("name", 200)) of a sort key.
type SortKey = Expression | F


class Row(Func):
    """A row value ``(a, b, ...)``, for comparing a composite key in one condition."""

    template = "(%(expressions)s)"
    # Only compared, never returned: any field will do, but one must be named because
    # the parts have mixed types.
    output_field = models.TextField()


@dataclass(frozen=True)
class KeysetPage[T: models.Model]:
    """One page of rows and the cursors of its neighbours (None: there is none)."""

    rows: list[T]
    next_after: int | None
    previous_before: int | None
    #: Whether a cursor was given: this is not the first page (or was not asked as one).
    has_cursor: bool

    @property
    def has_next(self) -> bool:
        return self.next_after is not None

    @property
    def has_previous(self) -> bool:
        return self.previous_before is not None


def keyset_page[T: models.Model](
    queryset: models.QuerySet[T],
    *,
    keys: Sequence[SortKey],
    descending: bool,
    per_page: int,
    after: int | None = None,
    before: int | None = None,
) -> KeysetPage[T]:
    """The ``per_page`` rows of ``queryset`` that follow row ``after`` or precede ``before``.

    ``keys`` is the sort key, ending on a unique column so that no two rows tie; the
    database needs an index on exactly these expressions for the seek. Without a cursor
    it is the first page. A cursor naming a row that no longer exists gives the first
    page too, rather than an empty one.
    """
    forward = before is None
    pivot = after if forward else before
    ordering = [key.desc() if descending != (not forward) else key.asc() for key in keys]
    rows_qs = queryset.order_by(*ordering)
    if pivot is not None:
        # The pivot is looked up in the whole table, not the filtered queryset: a row
        # that was deleted (tombstoned) since the link was made still marks a position.
        names = [f"key_{i}" for i in range(len(keys))]
        pivot_key = (
            queryset.model._base_manager.filter(pk=pivot)
            .annotate(**dict(zip(names, keys, strict=True)))
            .values(*names)
        )
        lookup = GreaterThan if descending != forward else LessThan
        # (keys) > (SELECT keys of the pivot): one query; PostgreSQL seeks the index.
        condition: Any = lookup(Row(*keys), Subquery(pivot_key, output_field=models.TextField()))
        rows_qs = rows_qs.filter(condition)
    rows = list(rows_qs[: per_page + 1])
    if pivot is not None and not rows:
        # The pivot no longer exists, or nothing lies beyond it (a hand-made link).
        return keyset_page(queryset, keys=keys, descending=descending, per_page=per_page)
    more = len(rows) > per_page
    rows = rows[:per_page]
    if forward:
        has_next, has_previous = more, pivot is not None and bool(rows)
    else:
        rows.reverse()
        has_next, has_previous = True, more
    return KeysetPage(
        rows=rows,
        next_after=rows[-1].pk if has_next and rows else None,
        previous_before=rows[0].pk if has_previous and rows else None,
        has_cursor=pivot is not None,
    )


def keyset_chunks[T: models.Model](
    queryset: models.QuerySet[T],
    *,
    keys: Sequence[SortKey],
    descending: bool,
    chunk_size: int,
    after: int | None = None,
    limit: int | None = None,
) -> Iterator[list[T]]:
    """Every row of ``queryset`` in ``keys`` order (from just after row ``after``, up to
    ``limit`` rows), ``chunk_size`` rows a query.

    For reading a listing of any length in constant memory: each chunk is one index
    seek, where a cursor over a million rows held a transaction (and, through Django's
    iterator on SQLite, the whole result) open. Chunks after the first seek past the
    previous chunk's last key *values*, not its id, so a row deleted meanwhile cannot
    end or restart the listing. ``after`` names a row that must exist (the first seek
    reads its keys); a row inserted or changed meanwhile may be seen or missed, as in
    any paged listing.
    """
    names = [f"keyset_{i}" for i in range(len(keys))]
    ordering = [key.desc() if descending else key.asc() for key in keys]
    rows_qs = queryset.annotate(**dict(zip(names, keys, strict=True))).order_by(*ordering)
    lookup = LessThan if descending else GreaterThan
    pivot: Any = None
    if after is not None:
        pivot_key = (
            queryset.model._base_manager.filter(pk=after)
            .annotate(**dict(zip(names, keys, strict=True)))
            .values(*names)
        )
        pivot = Subquery(pivot_key, output_field=models.TextField())
    left = limit
    while left is None or left > 0:
        size = chunk_size if left is None else min(chunk_size, left)
        chunk_qs = rows_qs if pivot is None else rows_qs.filter(lookup(Row(*keys), pivot))
        rows = list(chunk_qs[:size])
        if rows:
            yield rows
        if len(rows) < size:
            return
        if left is not None:
            left -= len(rows)
        last = rows[-1]
        pivot = Row(*(Value(getattr(last, name)) for name in names))


def count_after(
    queryset: models.QuerySet[Any],
    *,
    keys: Sequence[SortKey],
    descending: bool,
    after: int,
    cap: int,
) -> int:
    """How many rows of ``queryset`` follow row ``after`` in ``keys`` order, counted up
    to ``cap`` + 1 (more than ``cap`` means "at least"): one query reading at most
    ``cap`` + 1 index entries, however many rows follow."""
    names = [f"keyset_{i}" for i in range(len(keys))]
    pivot_key = (
        queryset.model._base_manager.filter(pk=after)
        .annotate(**dict(zip(names, keys, strict=True)))
        .values(*names)
    )
    lookup = LessThan if descending else GreaterThan
    condition: Any = lookup(Row(*keys), Subquery(pivot_key, output_field=models.TextField()))
    return queryset.filter(condition).order_by()[: cap + 1].count()


@dataclass(frozen=True)
class Total:
    """How many rows a listing has: exact, an estimate, or "more than" some."""

    value: int
    kind: str  # "exact", "about" or "more than"


def listing_total(queryset: models.QuerySet[Any], *, estimate: bool, exact_below: int) -> Total:
    """The size of ``queryset`` without counting a million rows on every page view.

    With ``estimate`` on PostgreSQL, the planner's row estimate (from the table
    statistics: one EXPLAIN, no rows read) stands in when it is at least
    ``exact_below``; a smaller listing, or any listing on another database, is counted.
    """
    if estimate and _is_postgresql(queryset):
        plan = json.loads(queryset.explain(format="json"))
        rows = int(plan[0]["Plan"]["Plan Rows"])
        if rows >= exact_below:
            return Total(rows, "about")
    return Total(queryset.order_by().count(), "exact")


def _is_postgresql(queryset: models.QuerySet[Any]) -> bool:
    return connections[queryset.db].vendor == "postgresql"
