"""Reads that check the reader: browse, show, a dataset's audit history.

The web pages guard a whole page (registry.access); the API calls these, so the same
permission (through require_permission, audited when refused) decides every read.
"""

from __future__ import annotations

from registry.actors import Actor, require_permission, require_view_permission
from registry.keyset import KeysetPage, keyset_page
from registry.models import Dataset
from registry.services import HISTORY_LIMIT, HISTORY_PERMISSION, DatasetHistory, dataset_history
from registry.sorting import DEFAULT_SORT, SORT_KEYS

PER_PAGE = 25
MAX_PER_PAGE = 200


def browse_datasets(
    *,
    actor: Actor,
    query: str = "",
    include_deleted: bool = False,
    sort: str = DEFAULT_SORT,
    after: int | None = None,
    before: int | None = None,
    per_page: int = PER_PAGE,
) -> KeysetPage[Dataset]:
    """One keyset page of datasets, searched and sorted as the browser's table does.

    ``sort`` is a column of registry.sorting.SORT_KEYS, ``-`` first for descending (an
    unknown one sorts newest first); ``after``/``before`` are the cursors of the page's
    neighbours. Needs ``registry.view_dataset``.
    """
    require_view_permission(actor=actor)
    datasets = Dataset.objects.all() if include_deleted else Dataset.objects.available()
    datasets = datasets.search(query)
    if sort.removeprefix("-") not in SORT_KEYS:
        sort = DEFAULT_SORT
    return keyset_page(
        datasets,
        keys=SORT_KEYS[sort.removeprefix("-")],
        descending=sort.startswith("-"),
        per_page=max(1, min(per_page, MAX_PER_PAGE)),
        after=after,
        before=before,
    )


def show_dataset(*, actor: Actor, ref: str) -> Dataset:
    """The dataset a full hash or unique prefix names (tombstones too).

    Needs ``registry.view_dataset``; raises InvalidHash, UnknownDataset, AmbiguousHash.
    """
    require_view_permission(actor=actor)
    return Dataset.objects.resolve(ref)


def audit_history(*, actor: Actor, dataset: Dataset, limit: int = HISTORY_LIMIT) -> DatasetHistory:
    """A dataset's latest audit events, newest first: the audit trail is for
    administrators (``registry.view_auditevent``)."""
    require_permission(
        actor, HISTORY_PERMISSION, action="read the audit trail", sha256=dataset.sha256
    )
    history = dataset_history(dataset=dataset, actor=actor, limit=limit)
    assert history is not None  # the permission was checked just above
    return history
