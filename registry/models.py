"""The registry: datasets identified by SHA-256, their downloads, and the audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Self

from django.conf import settings
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Concat, Left, Length, Upper
from django.db.models.lookups import Exact
from django.db.models.signals import pre_delete
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone

from registry.errors import AmbiguousHash, DeleteRefused, UnknownDataset
from registry.hashing import MIN_PREFIX, normalize_hash_ref
from registry.keyset import count_after, keyset_chunks
from registry.naming import storable_text

SHORT_HASH = 12
# Long text columns sort by this many leading characters (see Dataset.Meta.indexes).
SORT_PREFIX = 200
# Joins the columns of Dataset.search_text: the ASCII unit separator, a control character
# nobody types. Only a search holding it could match across two columns (a newline would
# let "a\nb" match a name ending in "a" and a source starting with "b"); searches are
# taken as typed, as names are stored as given.
SEARCH_SEPARATOR = "\x1f"
# The listing's order, newest first: the dataset_pushed_at_key index read backwards.
NEWEST_FIRST = (F("pushed_at"), F("id"))


class DatasetQuerySet(models.QuerySet["Dataset"]):
    def available(self) -> Self:
        return self.filter(state=Dataset.State.AVAILABLE)

    def deleted(self) -> Self:
        return self.filter(state=Dataset.State.DELETED)

    def newest_first_chunks(
        self, *, chunk_size: int, after: Dataset | None = None, limit: int | None = None
    ) -> Iterator[list[Dataset]]:
        """These datasets newest first, from just after ``after`` (up to ``limit``),
        ``chunk_size`` a query: a listing of any length in constant memory."""
        return keyset_chunks(
            self,
            keys=NEWEST_FIRST,
            descending=True,
            chunk_size=chunk_size,
            after=None if after is None else after.pk,
            limit=limit,
        )

    def count_older_than(self, dataset: Dataset, *, cap: int) -> int:
        """How many of these datasets come after ``dataset`` newest first, counted up
        to ``cap`` + 1."""
        return count_after(self, keys=NEWEST_FIRST, descending=True, after=dataset.pk, cap=cap)

    def by_prefix(self, prefix: str) -> Self:
        """Datasets whose hash starts with ``prefix`` (already normalized hex).

        A range on the unique index rather than LIKE, so it stays an index seek on
        every database whatever its collation.
        """
        if len(prefix) == 64:
            return self.filter(sha256=prefix)
        return self.filter(sha256__gte=prefix, sha256__lt=prefix + "g")

    def search(self, text: str) -> Self:
        """Match any part of name, source or description, or a hash prefix.

        Text that is the start of some dataset's hash (MIN_PREFIX or more hex characters,
        as every command takes) finds those datasets alone: someone pasting a hash wants
        that dataset, and the unique index answers in one seek where the trigram index
        takes milliseconds over a string that no name contains. Deciding that runs one
        small query *now*, on this queryset as filtered so far: apply ``search`` after
        the other filters. (A lazy ``Exists`` in the same query would not do: the
        planner has chosen the trigram scans before it knows the answer.)
        """
        text = storable_text(text.strip())
        if not text:
            return self
        lowered = text.lower()
        looks_hex = len(lowered) >= 4 and all(c in "0123456789abcdef" for c in lowered)
        # The same range as by_prefix: a seek on the unique index, whatever the collation.
        by_hash = Q(sha256__gte=lowered, sha256__lt=lowered + "g")
        if looks_hex and len(lowered) >= MIN_PREFIX and self.filter(by_hash).exists():
            return self.filter(by_hash)
        # search_text is the three columns upper-cased once, when written: one LIKE a row
        # (served by its pg_trgm GIN index on PostgreSQL; SQLite scans, correctly). The
        # pattern is upper-cased by the database too, so both sides agree on every letter.
        condition = Q(search_text__contains=Upper(Value(text)))
        if looks_hex:
            condition |= by_hash
        return self.filter(condition)

    def resolve(self, ref: str) -> Dataset:
        """The one dataset a full hash or unique prefix names (tombstones included).

        Raises InvalidHash for malformed input (before any query), UnknownDataset
        when nothing matches and AmbiguousHash listing the candidates.
        """
        prefix = normalize_hash_ref(ref)
        matches = list(self.by_prefix(prefix).order_by("sha256")[:11])
        if not matches:
            raise UnknownDataset(f"no dataset has a hash starting with {prefix}")
        if len(matches) > 1:
            candidates = [f"{d.sha256[:SHORT_HASH]} {d.name}" for d in matches]
            raise AmbiguousHash(prefix, candidates)
        return matches[0]


class Dataset(models.Model):
    """One file's bytes, named by their SHA-256, and what we know about them."""

    class State(models.TextChoices):
        AVAILABLE = "available", "available"
        DELETED = "deleted", "deleted"

    sha256 = models.CharField("SHA-256", max_length=64, unique=True)
    name = models.TextField(help_text="File name by default; free text, stored as given.")
    size = models.PositiveBigIntegerField(help_text="Size in bytes.")
    source = models.TextField(blank=True, help_text="Where the data came from: URL or text.")
    description = models.TextField(blank=True)
    storage_location = models.TextField(
        "registry path", help_text="Where the bytes live in the store."
    )
    pushed_by = models.CharField(max_length=150, help_text="DataTrac user who pushed it.")
    pushed_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    pushed_at = models.DateTimeField(default=timezone.now, db_index=True)
    download_count = models.PositiveBigIntegerField(default=0)
    state = models.CharField(max_length=10, choices=State.choices, default=State.AVAILABLE)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.CharField(max_length=150, blank=True)
    last_verified_at = models.DateTimeField(null=True, blank=True)
    # Set by `verify` when the stored bytes no longer hash to sha256; a push of the
    # content then stores the good bytes again (and clears it), as for missing bytes.
    corrupt_since = models.DateTimeField(
        null=True, blank=True, help_text="When verify found the stored bytes corrupt."
    )
    # What a search looks in: name, source and description, upper-cased by the database
    # on every write. A search then tests one LIKE a row where it upper-cased three
    # columns a row, which was the larger part of its time (docs/benchmarks.md). The
    # columns are joined by SEARCH_SEPARATOR, which a search never contains.
    search_text = models.GeneratedField(
        expression=Upper(
            Concat(
                "name",
                Value(SEARCH_SEPARATOR),
                "source",
                Value(SEARCH_SEPARATOR),
                "description",
                output_field=models.TextField(),
            )
        ),
        output_field=models.TextField(),
        db_persist=True,
    )

    objects = DatasetQuerySet.as_manager()

    class Meta:
        ordering = ["-pushed_at", "-id"]
        # One (sort key, id) btree per sortable column of the browser, so that each sort
        # is a keyset seek (registry.keyset). Names and sources are unbounded text (a btree
        # row must stay under ~2.7 kB), so they are indexed and sorted by their first
        # SORT_PREFIX characters. The search's trigram index (on search_text) is
        # PostgreSQL-only: it lives in migration 0007, not here.
        indexes = [
            models.Index(F("pushed_at"), F("id"), name="dataset_pushed_at_key"),
            models.Index(Left("name", SORT_PREFIX), F("id"), name="dataset_name_key"),
            models.Index(F("size"), F("id"), name="dataset_size_key"),
            models.Index(Left("source", SORT_PREFIX), F("id"), name="dataset_source_key"),
            models.Index(F("pushed_by"), F("id"), name="dataset_pushed_by_key"),
            models.Index(F("download_count"), F("id"), name="dataset_downloads_key"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Exact(Length("sha256"), 64), name="dataset_sha256_is_64_chars"
            ),
            models.CheckConstraint(
                condition=Q(state__in=["available", "deleted"]), name="dataset_state_valid"
            ),
        ]
        permissions = [
            ("push_dataset", "Can push datasets"),
            ("download_dataset", "Can download datasets"),
            ("remote_delete_dataset", "Can delete a dataset's stored bytes"),
            ("purge_dataset", "Can purge a deleted dataset's record"),
            ("restore_dataset", "Can restore a deleted dataset"),
            ("verify_store", "Can verify every stored object (datatrac verify)"),
            ("collect_garbage", "Can remove unreferenced stored objects (datatrac gc)"),
        ]

    def __str__(self) -> str:
        return f"{self.sha256[:SHORT_HASH]} {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("registry:dataset-detail", kwargs={"ref": self.sha256})

    @property
    def short_hash(self) -> str:
        return self.sha256[:SHORT_HASH]

    @property
    def is_available(self) -> bool:
        return self.state == self.State.AVAILABLE


class DownloadRecord(models.Model):
    """One download of a dataset: the rows behind its download statistics."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="downloads")
    downloaded_by = models.CharField(max_length=150)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    downloaded_at = models.DateTimeField(default=timezone.now)
    via = models.CharField(max_length=10, default="cli")

    class Meta:
        ordering = ["-downloaded_at"]
        indexes = [models.Index(fields=["dataset", "downloaded_at"])]

    def __str__(self) -> str:
        return f"{self.downloaded_by} downloaded {self.dataset_id} at {self.downloaded_at}"


class Upload(models.Model):
    """An unfinished upload through the API (registry.uploads): what was announced.

    Its parts are files only, under DATATRAC_UPLOAD_DIR/<id>/ (named by part number and
    SHA-256); the row goes when the upload completes, is aborted, or `gc` sweeps it once
    ``expires_at`` has passed.
    """

    id = models.CharField(primary_key=True, max_length=32, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_by = models.CharField(max_length=150)
    sha256 = models.CharField("SHA-256", max_length=64)
    size = models.BigIntegerField()
    part_size = models.BigIntegerField()
    name = models.TextField()
    source = models.TextField(blank=True)
    description = models.TextField(blank=True)
    #: Full hashes of the parents named at the start, linked when the upload completes.
    parents = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    #: Set while one request assembles and stores the upload: a second complete waits
    #: its turn (409) instead of assembling the same parts again.
    completing_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"upload {self.id} of {self.sha256[:SHORT_HASH]} ({self.created_by})"

    @property
    def parts(self) -> int:
        """How many parts the upload has: the last holds the remainder (0 for no bytes)."""
        return -(-self.size // self.part_size)

    def part_length(self, n: int) -> int:
        """The size of part ``n`` (from 1)."""
        return min(self.part_size, self.size - (n - 1) * self.part_size)


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def for_dataset(self, sha256: str) -> Self:
        return self.filter(sha256=sha256)


class AuditEvent(models.Model):
    """An append-only record of a privileged, destructive or security-relevant action."""

    class Action(models.TextChoices):
        PUSH = "push", "push"
        RESTORE = "restore", "restore"
        DOWNLOAD = "download", "download"
        LINK = "link", "link"
        UNLINK = "unlink", "unlink"
        REMOTE_DELETE = "remote_delete", "remote delete"
        PURGE = "purge", "purge"
        GC_REMOVE = "gc_remove", "garbage collected"
        PERMISSION_DENIED = "permission_denied", "permission denied"
        SIGN_IN = "sign_in", "sign in"
        SIGN_OUT = "sign_out", "sign out"
        SIGN_IN_FAILED = "sign_in_failed", "failed sign in"
        TOKEN_CREATE = "token_create", "API token created"
        TOKEN_REVOKE = "token_revoke", "API token revoked"

    class Outcome(models.TextChoices):
        OK = "ok", "ok"
        DENIED = "denied", "denied"
        FAILED = "failed", "failed"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.CharField(max_length=150)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=24, choices=Action.choices)
    # The hash, not a foreign key: the trail outlives a purged dataset row.
    sha256 = models.CharField("SHA-256", max_length=64, blank=True, db_index=True)
    origin = models.CharField(max_length=255, blank=True, help_text="CLI host or client IP.")
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.OK)
    detail = models.TextField(blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.outcome}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValueError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ValueError("audit events are append-only")


class VerifyRun(models.Model):
    """One `verify` pass over the store, so an interrupted pass can be continued.

    A run that never finished is resumed by the next run over the same scope: datasets
    verified since it started are not read again.
    """

    ALL = "all"

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    #: ``all``, or ``hashes:`` and the SHA-256 of the sorted full hashes asked for.
    scope = models.CharField(max_length=80, default=ALL)
    started_by = models.CharField(max_length=150, blank=True)
    # Totals of the whole run, set when it finishes.
    ok = models.PositiveIntegerField(default=0)
    corrupt = models.PositiveIntegerField(default=0)
    missing = models.PositiveIntegerField(default=0)
    orphans = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        state = "finished" if self.finished_at else "unfinished"
        return f"verify {self.scope[:14]} started {self.started_at:%Y-%m-%d %H:%M} ({state})"


# A dataset row goes only through purge_dataset (registry.services), which removes the
# stored bytes with it and writes the audit row. Every other deletion - the admin's stock
# delete, a queryset .delete(), a cascade from another model, a shell - is refused here,
# so nothing can drop a row and silently orphan its bytes or its history.
_deletable_datasets: ContextVar[frozenset[int]] = ContextVar(
    "deletable_datasets", default=frozenset()
)


@contextmanager
def dataset_delete_allowed(pk: int) -> Iterator[None]:
    """Let the dataset row ``pk`` be deleted inside this block (purge_dataset only)."""
    token = _deletable_datasets.set(_deletable_datasets.get() | {pk})
    try:
        yield
    finally:
        _deletable_datasets.reset(token)


@receiver(pre_delete, sender=Dataset, dispatch_uid="registry.refuse_unplanned_dataset_delete")
def _refuse_unplanned_dataset_delete(
    sender: type[Dataset], instance: Dataset, **kwargs: Any
) -> None:
    if instance.pk not in _deletable_datasets.get():
        raise DeleteRefused(
            f"dataset {instance.short_hash} cannot be deleted directly: remote delete it "
            "(a tombstone), then purge it, so its bytes and its audit trail stay in step"
        )
