"""Integrity services: `verify` re-reads what the store holds, `gc` removes what no row needs.

A hash must always mean those bytes. ``verify_datasets`` recomputes every stored
object's SHA-256 where it is stored (on the server for SSH) and reports datasets whose
bytes are corrupt or missing, and stored objects no dataset references (orphans).
``collect_garbage`` removes stale temporary uploads, orphans and partial downloads in
the local cache older than a grace period; orphans under the same per-object lock a
push takes before it commits its row, so it can never remove bytes that a row
references or is about to reference.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from django.db import transaction
from django.utils import timezone

from registry.actors import Actor, record_audit, require_permission
from registry.errors import ObjectMissing
from registry.hashing import normalize_hash_ref
from registry.models import AuditEvent, Dataset, VerifyRun
from registry.services import lock_object, sweep_cache_parts
from registry.uploads import sweep_expired_uploads

if TYPE_CHECKING:
    from registry.storage.base import Storage

CheckStatus = Literal["ok", "corrupt", "missing", "deleted"]
# Rows fetched and hashes looked up per query: bounds memory whatever the registry size.
BATCH = 500
VERIFY_PERMISSION = "registry.verify_store"
GC_PERMISSION = "registry.collect_garbage"


@dataclass(frozen=True)
class DatasetCheck:
    """The outcome of verifying one dataset."""

    sha256: str
    name: str
    status: CheckStatus

    @property
    def is_problem(self) -> bool:
        return self.status in ("corrupt", "missing")


#: Called after each dataset with its check, how many are done and how many in all.
VerifyProgress = Callable[[DatasetCheck, int, int], None]


@dataclass
class VerifyReport:
    """What one `verify` invocation found (plus what the run it continued had verified)."""

    run: VerifyRun
    resumed: bool
    #: Datasets verified ok earlier by the interrupted run this one continued.
    skipped: int
    #: The interrupted run over the same scope that this one did not continue (too old,
    #: or ``resume`` off); None when there was none.
    abandoned: VerifyRun | None = None
    checks: list[DatasetCheck] = field(default_factory=list)
    #: Stored objects with no available dataset; None when not looked for (named hashes).
    orphans: list[str] | None = None

    def count(self, status: CheckStatus) -> int:
        return sum(1 for check in self.checks if check.status == status)

    @property
    def problems(self) -> list[DatasetCheck]:
        return [check for check in self.checks if check.is_problem]

    @property
    def clean(self) -> bool:
        """True when every dataset checked out and the store holds nothing unreferenced."""
        return not self.problems and not self.orphans


def _scope_of(datasets: Sequence[Dataset] | None) -> str:
    """The key under which a run over these datasets is resumed."""
    if datasets is None:
        return VerifyRun.ALL
    joined = " ".join(sorted(d.sha256 for d in datasets))
    return "hashes:" + hashlib.sha256(joined.encode()).hexdigest()


def verify_datasets(
    *,
    actor: Actor,
    storage: Storage,
    hashes: Sequence[str] | None = None,
    resume: bool = True,
    resume_within: timedelta | None = None,
    progress: VerifyProgress | None = None,
    on_start: Callable[[VerifyReport], None] | None = None,
) -> VerifyReport:
    """Recompute the SHA-256 of stored objects and compare them with the registry.

    ``hashes`` (full hashes or unique prefixes, resolved before any store access) limits
    the run to those datasets; None verifies every available dataset and also lists
    orphans. Each dataset is reported ok, corrupt (its bytes hash to something else) or
    missing (the row says available, the store has no object); a named tombstone is
    reported as deleted. A dataset found ok gets ``last_verified_at`` at once, each in
    its own transaction, so that progress survives an interruption: with ``resume``, a
    run over the same scope whose predecessor never finished skips the datasets
    verified since that predecessor started. A store failure (StoreError) stops the run
    and leaves it to be resumed.

    Only an interrupted run started less than ``resume_within`` ago (None: any) is
    continued; an older one is left (``abandoned`` in the report) and this run starts
    over, since what it verified then says little about the bytes now. ``on_start`` is
    called with the report before the first dataset is read, so a caller can say
    which it was. Needs ``registry.verify_store`` (administrators).
    """
    for ref in hashes or ():
        normalize_hash_ref(ref)  # malformed input is refused before any query
    require_permission(actor, VERIFY_PERMISSION, action="verify the store")
    named = None if hashes is None else _resolve_all(hashes)
    scope = _scope_of(named)
    latest = VerifyRun.objects.filter(scope=scope).order_by("-started_at", "-id").first()
    interrupted = latest if latest is not None and latest.finished_at is None else None
    resumed = (
        resume
        and interrupted is not None
        and (resume_within is None or timezone.now() - interrupted.started_at < resume_within)
    )
    if resumed:
        assert interrupted is not None
        run = interrupted
    else:
        run = VerifyRun.objects.create(scope=scope, started_by=actor.name[:150])

    if named is None:
        candidates = Dataset.objects.available()
    else:
        candidates = Dataset.objects.filter(pk__in=[d.pk for d in named])
    skipped = 0
    if resumed:
        done = candidates.available().filter(last_verified_at__gte=run.started_at)
        skipped = done.count()
        candidates = candidates.exclude(pk__in=done.values("pk"))
    # The ids first: rows are updated as they are verified, and SQLite gives no
    # isolation between an open cursor and writes on the same connection.
    ids = list(candidates.order_by("sha256").values_list("pk", flat=True))

    report = VerifyReport(
        run=run, resumed=resumed, skipped=skipped, abandoned=None if resumed else interrupted
    )
    if on_start:
        on_start(report)
    for start in range(0, len(ids), BATCH):
        rows = Dataset.objects.in_bulk(ids[start : start + BATCH])
        for pk in ids[start : start + BATCH]:
            dataset = rows.get(pk)
            if dataset is None:  # purged while we were running
                continue
            check = _verify_one(dataset, storage)
            report.checks.append(check)
            if progress:
                progress(check, len(report.checks), len(ids))

    if named is None:
        report.orphans = _confirm_unreferenced(list(find_unreferenced(storage)))
    run.finished_at = timezone.now()
    run.ok = skipped + report.count("ok")
    run.corrupt = report.count("corrupt")
    run.missing = report.count("missing")
    run.orphans = len(report.orphans or [])
    run.save(update_fields=["finished_at", "ok", "corrupt", "missing", "orphans"])
    return report


def _resolve_all(refs: Iterable[str]) -> list[Dataset]:
    """Every named dataset, once, or the first InvalidHash/Unknown/Ambiguous error."""
    found: dict[int, Dataset] = {}
    for ref in refs:
        dataset = Dataset.objects.resolve(ref)
        found.setdefault(dataset.pk, dataset)
    return list(found.values())


def _verify_one(dataset: Dataset, storage: Storage) -> DatasetCheck:
    if not dataset.is_available:
        return DatasetCheck(dataset.sha256, dataset.name, "deleted")
    try:
        good = storage.verify(dataset.sha256)
    except ObjectMissing:
        return DatasetCheck(dataset.sha256, dataset.name, "missing")
    if not good:
        # Flagged for push, which stores the good bytes again when it next sees them.
        Dataset.objects.filter(pk=dataset.pk, corrupt_since__isnull=True).update(
            corrupt_since=timezone.now()
        )
        return DatasetCheck(dataset.sha256, dataset.name, "corrupt")
    Dataset.objects.filter(pk=dataset.pk).update(
        last_verified_at=timezone.now(), corrupt_since=None
    )
    return DatasetCheck(dataset.sha256, dataset.name, "ok")


def find_unreferenced(storage: Storage) -> Iterator[str]:
    """Hashes stored under a final name that no available dataset references.

    Tombstones do not reference bytes: a deleted dataset's leftover object is listed.
    """
    batch: list[str] = []
    for sha256 in storage.iter_objects():
        batch.append(sha256)
        if len(batch) >= BATCH:
            yield from _unreferenced(batch)
            batch = []
    yield from _unreferenced(batch)


def _unreferenced(batch: list[str]) -> list[str]:
    if not batch:
        return []
    referenced = set(
        Dataset.objects.available().filter(sha256__in=batch).values_list("sha256", flat=True)
    )
    return [sha256 for sha256 in batch if sha256 not in referenced]


def _confirm_unreferenced(hashes: list[str]) -> list[str]:
    """Look again once the scan is over: a push that was committing its row during a
    long scan is not an orphan."""
    confirmed: list[str] = []
    for start in range(0, len(hashes), BATCH):
        confirmed.extend(_unreferenced(hashes[start : start + BATCH]))
    return sorted(confirmed)


# --- gc ------------------------------------------------------------------------------


@dataclass
class GCReport:
    """What `gc` removed, or with ``dry_run`` would remove."""

    dry_run: bool
    grace: timedelta
    #: Store-relative names of stale temporary uploads.
    temporaries: list[str] = field(default_factory=list)
    #: Unreferenced objects older than the grace period.
    removed: list[str] = field(default_factory=list)
    #: Unreferenced objects kept because they are younger than the grace period.
    kept_recent: list[str] = field(default_factory=list)
    #: Unreferenced objects kept because the store cannot tell their age.
    kept_unknown_age: list[str] = field(default_factory=list)
    #: Partial entries that killed downloads left in this machine's download cache.
    cache_parts: list[Path] = field(default_factory=list)
    #: Expired uploads through the API (rows and part files), one line each.
    uploads: list[str] = field(default_factory=list)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``"24h"`` -> 1 day. Units s, m, h, d, w; a bare number is seconds."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not match:
        raise ValueError(f"{text!r} is not a duration: use e.g. 30m, 24h, 7d or 0")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def format_duration(value: timedelta) -> str:
    """``timedelta(hours=24)`` -> ``"1d"``: the form ``gc --grace`` takes."""
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def collect_garbage(*, storage: Storage, grace: timedelta, dry_run: bool, actor: Actor) -> GCReport:
    """Remove stale temporaries and stored objects that no available dataset references.

    Both must be older than ``grace`` (by the store's clock). An object is removed only
    under ``lock_object`` after checking, inside that lock, that no available row
    references it; a push takes the same lock and re-checks the store before it commits
    its row, so gc and push cannot both win. Never touches a referenced object.

    A temporary whose upload is still running is never removed, whatever ``grace``:
    the uploader holds a lock on it that the sweep tests (Storage.sweep_temporaries).
    Needs ``registry.collect_garbage`` (administrators), even for a dry run. Expired
    uploads through the API (registry.uploads) go too, rows and part files.

    Every removal leaves an audit row by ``actor``: one per
    object, written right after the store removed it while its lock is still held, and
    one for the temporaries once the sweep is done (a sweep that fails halfway records
    nothing for what it had removed: partial uploads, never a dataset's bytes).
    """
    require_permission(actor, GC_PERMISSION, action="collect garbage in the store")
    report = GCReport(dry_run=dry_run, grace=grace)
    report.temporaries = storage.sweep_temporaries(older_than=grace, dry_run=dry_run)
    report.cache_parts = sweep_cache_parts(older_than=grace, dry_run=dry_run)
    # Uploads expire by their own clock (DATATRAC_UPLOAD_EXPIRY after their last part),
    # not by ``grace``: an expired upload can no longer be completed.
    report.uploads = sweep_expired_uploads(dry_run=dry_run)
    if report.uploads and not dry_run:
        record_audit(
            actor=actor,
            action=AuditEvent.Action.GC_REMOVE,
            detail=f"{len(report.uploads)} expired API upload(s)",
        )
    if report.temporaries and not dry_run:
        record_audit(
            actor=actor,
            action=AuditEvent.Action.GC_REMOVE,
            detail=(
                f"{len(report.temporaries)} temporary upload(s) older than {format_duration(grace)}"
            ),
        )
    for sha256 in list(find_unreferenced(storage)):
        outcome = _remove_if_unreferenced(
            storage, sha256, grace=grace, dry_run=dry_run, actor=actor
        )
        if outcome == "removed":
            report.removed.append(sha256)
        elif outcome == "recent":
            report.kept_recent.append(sha256)
        elif outcome == "unknown-age":
            report.kept_unknown_age.append(sha256)
    return report


def _remove_if_unreferenced(
    storage: Storage, sha256: str, *, grace: timedelta, dry_run: bool, actor: Actor
) -> Literal["removed", "recent", "unknown-age", "referenced", "gone"]:
    with transaction.atomic():
        lock_object(sha256)
        if Dataset.objects.available().filter(sha256=sha256).exists():
            return "referenced"  # a push committed its row since the scan
        try:
            age = storage.age(sha256)
        except ObjectMissing:
            return "gone"
        except NotImplementedError:
            return "unknown-age"
        if age < grace:
            return "recent"
        if not dry_run:
            try:
                storage.delete(sha256)
            except ObjectMissing:
                return "gone"
            record_audit(
                actor=actor,
                action=AuditEvent.Action.GC_REMOVE,
                sha256=sha256,
                detail=f"unreferenced object older than {format_duration(grace)}",
            )
    return "removed"
