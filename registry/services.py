"""Registry actions: one function per action, shared by the CLI, the web and the admin.

Each service validates its input, moves bytes, and only then commits rows, so a
failure at any step leaves neither a row pointing at missing bytes nor a half object.
Services raise DataTracError subclasses and never print or see a request.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from lineage.services import link_datasets, lock_graph
from registry.actors import Actor, record_audit, require_permission
from registry.errors import (
    BadPath,
    ConfirmationRequired,
    DataTracError,
    IntegrityFailure,
    ObjectMissing,
    StoreError,
    UnknownDataset,
)
from registry.hashing import Progress, hash_file
from registry.localfiles import output_target, place_copy
from registry.models import AuditEvent, Dataset, DownloadRecord, dataset_delete_allowed
from registry.naming import storable_text

if TYPE_CHECKING:
    from registry.storage.base import Storage


# --- push ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PushResult:
    dataset: Dataset
    #: ``repaired``: known, available content whose stored bytes were missing (or
    #: found corrupt by `verify`) and were uploaded again.
    outcome: Literal["created", "existing", "restored", "repaired"]
    uploaded: bool


# A push retries when the stored object vanishes between upload and commit (a racing
# remote delete or gc); more than this many times in a row is reported, not looped on.
PUSH_ATTEMPTS = 3
# Key space of the per-object advisory locks on PostgreSQL (lineage uses the one-key form).
_OBJECT_LOCK_CLASS = 0x44540001


class _ObjectVanished(Exception):
    """The stored object disappeared before the row was committed: upload again."""


def lock_object(sha256: str) -> None:
    """Serialise, until the transaction ends, every decision whether object ``sha256`` stays.

    A push committing its row and `gc` removing an unreferenced object both take this
    lock and then look at the store, so gc can never delete bytes a row is about to
    reference. PostgreSQL: a transaction-scoped advisory lock keyed by the hash. SQLite's
    write transactions (BEGIN IMMEDIATE) are already serial.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s::integer, %s::integer)",
                [_OBJECT_LOCK_CLASS, int(sha256[:8], 16) - 2**31],
            )


def check_readable_file(path: Path) -> os.stat_result:
    """The stat of a regular, readable file, or BadPath saying what is wrong with it."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise BadPath(f"{path}: no such file") from None
    except OSError as exc:
        raise BadPath(f"{path}: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise BadPath(f"{path} is a directory: push one file at a time")
    if not stat.S_ISREG(info.st_mode):
        raise BadPath(f"{path} is not a regular file (a FIFO, socket or device cannot be pushed)")
    if not os.access(path, os.R_OK):
        raise BadPath(f"{path}: permission denied (the file is not readable)")
    return info


def push_dataset(
    *,
    path: Path,
    source: str,
    actor: Actor,
    storage: Storage,
    name: str | None = None,
    description: str = "",
    parents: Sequence[str] = (),
    progress: Progress | None = None,
) -> PushResult:
    """Hash ``path``, store its bytes once, and register it.

    Known content uploads nothing and returns the existing dataset; content whose row
    is a tombstone is stored again and the row restored, and so are the bytes of a row
    whose stored object went missing (``repaired``). ``parents`` (hashes or unique
    prefixes) are resolved before any transfer and linked in the same transaction that
    writes the row. Text that is not valid UTF-8 is stored with ``\\xNN`` escapes.
    Needs ``registry.push_dataset`` (and ``lineage.link_datasets`` with ``parents``).
    """
    require_permission(actor, "registry.push_dataset", action="push datasets")
    if parents:
        require_permission(actor, "lineage.link_datasets", action="link datasets")
    check_readable_file(path)
    name = storable_text(name if name is not None else path.name)
    source = storable_text(source)
    description = storable_text(description)
    parent_rows = [Dataset.objects.resolve(ref) for ref in parents]
    try:
        sha256, size = hash_file(path, progress)
    except OSError as exc:
        raise BadPath(f"{path}: {exc.strerror}") from exc

    result = store_and_register(
        sha256=sha256,
        size=size,
        path=path,
        name=name,
        source=source,
        description=description,
        parents=parent_rows,
        actor=actor,
        storage=storage,
        progress=progress,
    )
    assert result is not None  # a path was given: the bytes are stored when needed
    return result


def store_and_register(
    *,
    sha256: str,
    size: int,
    path: Path | None,
    name: str,
    source: str,
    description: str,
    parents: Sequence[Dataset],
    actor: Actor,
    storage: Storage,
    progress: Progress | None = None,
    parts: Sequence[Path] | None = None,
) -> PushResult | None:
    """Register content of known hash and size, storing the bytes of ``path`` if needed.

    The one registration path of a push, whether its bytes are a local file
    (push_dataset) or an upload's parts on the server (registry.uploads). ``path``
    must hold bytes hashing to ``sha256``; with ``path=None`` (the API asking whether
    anything must be sent) nothing is stored: known, available content whose bytes are
    stored and not flagged corrupt is registered (parents linked) and returned, and
    anything else returns None, meaning the bytes must be sent. The caller has checked
    permissions and resolved ``parents``; text is stored as given.

    ``parts`` instead of ``path``: the bytes are those files joined in order (an upload's
    parts), stored with Storage.put_parts, which hashes the whole once as it stores and
    stores nothing unless it is ``sha256``.
    """
    existing = Dataset.objects.filter(sha256=sha256).first()
    # Bytes a registered, available dataset should have and does not: gone from the
    # store, or found corrupt by `verify`. Decided now, before any upload: a concurrent
    # push that registers the content meanwhile has stored good bytes, not repaired any.
    repairing = (
        existing is not None
        and existing.is_available
        and (existing.corrupt_since is not None or not storage.exists(sha256))
    )
    must_upload = existing is None or not existing.is_available or repairing
    uploaded = False
    for _attempt in range(PUSH_ATTEMPTS):
        if must_upload:
            if parts is not None:
                storage.put_parts(sha256, parts, progress=progress)
            elif path is None:
                return None
            else:
                storage.put(sha256, path, progress=progress)
            uploaded = True
        try:
            return _register_pushed(
                sha256=sha256,
                size=size,
                name=name,
                source=source,
                description=description,
                parents=parents,
                actor=actor,
                storage=storage,
                uploaded=uploaded,
                repairing=repairing,
            )
        except _ObjectVanished:
            must_upload = True
    raise StoreError(
        f"the stored object {sha256} disappeared {PUSH_ATTEMPTS} times while it was being "
        "pushed (a concurrent delete or gc?); nothing was registered"
    )


def _register_pushed(
    *,
    sha256: str,
    size: int,
    name: str,
    source: str,
    description: str,
    parents: Sequence[Dataset],
    actor: Actor,
    storage: Storage,
    uploaded: bool,
    repairing: bool,
) -> PushResult:
    """Commit the row of stored bytes; raise _ObjectVanished (committing nothing) if the
    bytes are no longer in the store by the time the row is locked.

    ``repairing``: the row was available before the upload and its bytes were missing
    or corrupt. Without it an existing row is "existing", even when this push uploaded
    (another push of the same content registered it first).
    """
    with transaction.atomic():
        if parents:
            # The lineage graph lock before any row lock, as a link takes them (graph,
            # then the rows its edge references): the other order deadlocked a push
            # holding this row against a link of it waiting for the row.
            lock_graph()
        lock_object(sha256)
        dataset, created = _get_or_create_dataset(
            sha256=sha256,
            defaults={
                "name": name,
                "size": size,
                "source": source,
                "description": description,
                "storage_location": storage.location(sha256),
                "pushed_by": actor.name[:150],
                "pushed_by_user": actor.user,
            },
        )
        # Checked again under the locks: a remote delete (row lock) or gc (object lock)
        # may have removed the bytes since the upload decision, and a row must never
        # become available without them.
        if not storage.exists(sha256):
            raise _ObjectVanished(sha256)
        outcome: Literal["created", "existing", "restored", "repaired"] = (
            "created" if created else "existing"
        )
        if not created and not dataset.is_available:
            dataset.state = Dataset.State.AVAILABLE
            dataset.deleted_at = None
            dataset.deleted_by = ""
            dataset.storage_location = storage.location(sha256)
            dataset.corrupt_since = None  # the bytes were just stored
            dataset.save(
                update_fields=[
                    "state",
                    "deleted_at",
                    "deleted_by",
                    "storage_location",
                    "corrupt_since",
                ]
            )
            outcome = "restored"
        elif not created and uploaded and repairing:
            dataset.corrupt_since = None
            dataset.save(update_fields=["corrupt_since"])
            outcome = "repaired"
        for parent in parents:
            link_datasets(parent=parent, child=dataset, actor=actor)
        if outcome != "existing":
            detail = {
                "created": "",
                "restored": " (restored by a push)",
                "repaired": " (the stored object was missing or corrupt; uploaded again)",
            }[outcome]
            record_audit(
                actor=actor,
                action=AuditEvent.Action.PUSH if created else AuditEvent.Action.RESTORE,
                sha256=sha256,
                detail=f"{size} bytes{detail}",
            )
    return PushResult(dataset=dataset, outcome=outcome, uploaded=uploaded)


def _get_or_create_dataset(*, sha256: str, defaults: dict[str, object]) -> tuple[Dataset, bool]:
    """get_or_create that survives a concurrent push of the same content."""
    try:
        with transaction.atomic():
            return Dataset.objects.select_for_update().get_or_create(
                sha256=sha256, defaults=defaults
            )
    except IntegrityError:
        return Dataset.objects.select_for_update().get(sha256=sha256), False


# --- download ------------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadResult:
    dataset: Dataset
    path: Path
    from_cache: bool
    #: An existing file at ``path`` was replaced (with ``force`` or the user's consent).
    replaced: bool = False


# A download killed mid-stream leaves its partial cache entry (``.<sha256>.<rand>.part``).
# The next download into that cache directory removes those older than this, and `gc`
# those older than its grace; a running download's part is never removed, whatever its
# age, because the download holds an exclusive lock on it while it writes.
CACHE_PART_STALE_AFTER = timedelta(hours=1)
_CACHE_PART_SUFFIX = ".part"


def cache_path(sha256: str) -> Path:
    """Where the local cached copy of an object lives."""
    return Path(settings.DATATRAC_CACHE_DIR) / sha256[:2] / sha256[2:4] / sha256


def resolve_output_path(
    dataset: Dataset,
    output: str | os.PathLike[str] | None,
    *,
    force: bool = False,
) -> tuple[Path, bool]:
    """The file a download of ``dataset`` writes, and whether it replaces an existing
    file (registry.localfiles.output_target)."""
    return output_target(dataset.name, dataset.short_hash, output, force=force)


def download_dataset(
    *,
    dataset: Dataset,
    actor: Actor,
    storage: Storage,
    output: str | os.PathLike[str] | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> DownloadResult:
    """Fetch a dataset's bytes into the local cache (verified) and copy them to ``output``.

    The cache entry and the output file are each written under a temporary name and
    renamed only once the bytes are known to hash to the dataset's SHA-256, so a failed
    or killed download leaves any existing file at the target untouched. The output is
    a file of its own (a reflink or a copy, never a link to the cache entry). An existing
    output file is replaced only with ``force`` (see resolve_output_path). Needs the
    ``registry.download_dataset`` permission.
    """
    require_permission(
        actor, "registry.download_dataset", action="download datasets", sha256=dataset.sha256
    )
    if not dataset.is_available:
        raise ObjectMissing(dataset.sha256, "the registry (the dataset was deleted)")
    target, replaces = resolve_output_path(dataset, output, force=force)
    cached = cache_path(dataset.sha256)
    sweep_cache_parts(older_than=CACHE_PART_STALE_AFTER, directory=cached.parent)
    from_cache = _cached_copy_is_valid(cached, dataset.sha256)
    if not from_cache:
        try:
            _fetch_into_cache(dataset=dataset, storage=storage, cached=cached, progress=progress)
        except IntegrityFailure as exc:
            record_download_failure(dataset=dataset, actor=actor, via="cli", error=exc)
            raise
    place_copy(cached, target, replace=replaces)
    record_download(dataset=dataset, actor=actor, via="cli")
    return DownloadResult(dataset=dataset, path=target, from_cache=from_cache, replaced=replaces)


def _cache_unusable(exc: OSError) -> BadPath:
    return BadPath(
        f"cannot write to the download cache {settings.DATATRAC_CACHE_DIR}: "
        f"{exc.strerror or exc} (set DATATRAC_CACHE_DIR to a writable directory)"
    )


def _cached_copy_is_valid(cached: Path, sha256: str) -> bool:
    try:
        if not cached.is_file():
            return False
        if hash_file(cached)[0] == sha256:
            return True
        cached.unlink(missing_ok=True)  # a corrupted cache entry is refetched, never served
    except OSError as exc:
        raise _cache_unusable(exc) from None
    return False


def _fetch_into_cache(
    *, dataset: Dataset, storage: Storage, cached: Path, progress: Progress | None
) -> None:
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        temp, out = _open_cache_part(cached)
    except OSError as exc:
        raise _cache_unusable(exc) from None
    try:
        with out:
            for chunk in stream_object(dataset=dataset, storage=storage):
                out.write(chunk)
                if progress:
                    progress(len(chunk))
            # No fsync: a cache entry is re-hashed before every use, so one torn by a
            # power loss is refetched, never served (and fsync costs ~1 s per GiB here).
            out.flush()
            os.fchmod(out.fileno(), 0o444)
            # Renamed while still open and locked, so a sweep never takes it from under us.
            os.replace(temp, cached)
    except OSError as exc:
        raise _cache_unusable(exc) from exc
    finally:
        temp.unlink(missing_ok=True)


def _open_cache_part(cached: Path) -> tuple[Path, BinaryIO]:
    """A new partial cache entry, open for writing and locked against sweeps."""
    for _ in range(3):
        temp = cached.with_name(f".{cached.name}.{secrets.token_hex(6)}{_CACHE_PART_SUFFIX}")
        out = temp.open("xb")
        fcntl.flock(out.fileno(), fcntl.LOCK_EX)
        if os.fstat(out.fileno()).st_nlink:
            return temp, out
        out.close()  # a sweep removed it between its creation and our lock: a new name
    raise OSError(errno.EAGAIN, "partial downloads keep being removed", str(cached.parent))


def sweep_cache_parts(
    *, older_than: timedelta, dry_run: bool = False, directory: Path | None = None
) -> list[Path]:
    """Remove partial cache entries that killed downloads left behind; return them.

    Looks in ``directory`` (one fan-out directory of the cache) or the whole cache, and
    removes ``.part`` files last written more than ``older_than`` ago that no running
    download holds locked. A cache that cannot be read is skipped, not an error: the
    sweep is housekeeping and never fails the download or `gc` that runs it.
    """
    root = Path(settings.DATATRAC_CACHE_DIR)
    directories = [directory] if directory is not None else root.glob("??/??")
    cutoff = time.time() - older_than.total_seconds()
    removed = []
    try:
        for folder in directories:
            try:
                names = sorted(os.listdir(folder))
            except OSError:
                continue
            for name in names:
                if name.startswith(".") and name.endswith(_CACHE_PART_SUFFIX):
                    path = folder / name
                    if _remove_abandoned_part(path, cutoff=cutoff, dry_run=dry_run):
                        removed.append(path)
    except OSError:
        pass  # the cache root itself is unreadable
    return removed


def _remove_abandoned_part(path: Path, *, cutoff: float, dry_run: bool) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False  # removed meanwhile, or not a file we may open
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_mtime > cutoff:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a download is writing it
        if not dry_run:
            path.unlink()
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def stream_object(
    *, dataset: Dataset, storage: Storage, on_verified: Callable[[], None] | None = None
) -> Iterator[bytes]:
    """Yield a dataset's stored bytes, verifying SHA-256 and size as they stream.

    The last chunk is held back until every byte is hashed: only bytes that verified
    ever complete, so a consumer that forwards chunks as they come (the web download)
    has sent strictly fewer than ``dataset.size`` bytes when the check fails. More bytes
    than ``dataset.size`` fail at once, before any excess is yielded. ``on_verified``
    runs after the check passes and before the last chunk is released (the place to
    count a download). Raises IntegrityFailure instead of yielding the last chunk.
    """
    digest = hashlib.sha256()
    received = 0
    held = b""
    with storage.open(dataset.sha256) as src:
        while chunk := src.read(storage.read_size):
            digest.update(chunk)
            received += len(chunk)
            if received > dataset.size:
                break
            if held:
                yield held
            held = chunk
    if received != dataset.size or digest.hexdigest() != dataset.sha256:
        raise IntegrityFailure(
            f"hash mismatch for dataset {dataset.short_hash} ({dataset.name!r}): the stored "
            f"bytes are corrupt ({'more than ' if received > dataset.size else ''}{received} "
            f"bytes, sha256 {digest.hexdigest()[:12]}); nothing was written"
        )
    if on_verified is not None:
        on_verified()
    if held:
        yield held


def stream_dataset(
    *, dataset: Dataset, actor: Actor, storage: Storage, via: str = "web"
) -> Iterator[bytes]:
    """The web (or API) download: stream verified bytes; count the download once they verify.

    Needs the ``registry.download_dataset`` permission, like the CLI's download. The
    download is counted (and audited) only when its last chunk is released, after the
    hash matched; corrupt bytes count nothing, leave a failed audit row, and end the
    stream with IntegrityFailure short of the dataset's size, so the client's transfer
    fails instead of completing.
    """
    require_permission(
        actor, "registry.download_dataset", action="download datasets", sha256=dataset.sha256
    )
    if not dataset.is_available:
        raise ObjectMissing(dataset.sha256, "the registry (the dataset was deleted)")
    if not storage.exists(dataset.sha256):
        raise ObjectMissing(dataset.sha256, storage.url)
    return _audited_stream(dataset=dataset, actor=actor, storage=storage, via=via)


def _audited_stream(
    *, dataset: Dataset, actor: Actor, storage: Storage, via: str
) -> Iterator[bytes]:
    try:
        yield from stream_object(
            dataset=dataset,
            storage=storage,
            on_verified=lambda: record_download(dataset=dataset, actor=actor, via=via),
        )
    except IntegrityFailure as exc:
        record_download_failure(dataset=dataset, actor=actor, via=via, error=exc)
        raise


def record_download(*, dataset: Dataset, actor: Actor, via: str) -> None:
    """Count one download: a record row and an in-place increment (no read-modify-write)."""
    with transaction.atomic():
        DownloadRecord.objects.create(
            dataset=dataset,
            downloaded_by=actor.name[:150],
            user=actor.user,
            via=via,
        )
        Dataset.objects.filter(pk=dataset.pk).update(download_count=F("download_count") + 1)
        record_audit(
            actor=actor,
            action=AuditEvent.Action.DOWNLOAD,
            sha256=dataset.sha256,
            detail=f"via {via}",
        )


def record_download_failure(
    *, dataset: Dataset, actor: Actor, via: str, error: DataTracError
) -> None:
    """Audit a download that failed verification; it is not counted."""
    record_audit(
        actor=actor,
        action=AuditEvent.Action.DOWNLOAD,
        sha256=dataset.sha256,
        outcome=AuditEvent.Outcome.FAILED,
        detail=f"via {via}: {error}",
    )


# --- delete --------------------------------------------------------------------------


@dataclass(frozen=True)
class DeleteResult:
    dataset: Dataset
    object_was_missing: bool


def delete_local_copy(*, dataset: Dataset) -> bool:
    """Remove the local cached copy; False if there was none."""
    cached = cache_path(dataset.sha256)
    try:
        cached.unlink()
    except FileNotFoundError:
        return False
    return True


def living_children(dataset: Dataset) -> list[Dataset]:
    """Available datasets made directly from ``dataset``."""
    return list(Dataset.objects.available().filter(parent_edges__parent=dataset).order_by("name"))


def delete_dataset(
    *, dataset: Dataset, actor: Actor, storage: Storage, force: bool = False
) -> DeleteResult:
    """Remove a dataset's stored bytes and keep its row as a tombstone.

    Needs the ``registry.remote_delete_dataset`` permission. Refuses while living
    children depend on it unless ``force``. The row is tombstoned in the same
    transaction that deletes the bytes, so a failed delete changes nothing. A missing
    object is reported in the result (and the audit trail), and the row still becomes a
    tombstone.
    """
    require_permission(
        actor, "registry.remote_delete_dataset", action="delete datasets", sha256=dataset.sha256
    )
    if not dataset.is_available:
        raise ConfirmationRequired(f"dataset {dataset.short_hash} is already deleted")
    children = living_children(dataset)
    if children and not force:
        names = ", ".join(str(c) for c in children[:5]) + (" ..." if len(children) > 5 else "")
        raise ConfirmationRequired(
            f"dataset {dataset.short_hash} has {len(children)} living "
            f"child{'ren' if len(children) != 1 else ''} ({names}); use --force to delete anyway"
        )
    missing = False
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        locked.state = Dataset.State.DELETED
        locked.deleted_at = timezone.now()
        locked.deleted_by = actor.name[:150]
        locked.save(update_fields=["state", "deleted_at", "deleted_by"])
        try:
            storage.delete(dataset.sha256)
        except ObjectMissing:
            missing = True
        record_audit(
            actor=actor,
            action=AuditEvent.Action.REMOTE_DELETE,
            sha256=dataset.sha256,
            detail="stored object was already missing" if missing else "stored object removed",
        )
    return DeleteResult(dataset=locked, object_was_missing=missing)


# --- purge and restore (tombstones) ----------------------------------------------------

# Counted from the cascade of a purge; named so registry never imports lineage models.
LINEAGE_EDGE_LABEL = "lineage.LineageEdge"


@dataclass(frozen=True)
class PurgeResult:
    sha256: str
    name: str
    edges_removed: int
    downloads_removed: int
    bytes_removed: bool


def purge_dataset(*, dataset: Dataset, actor: Actor, storage: Storage) -> PurgeResult:
    """Remove a tombstone's row for good, with its lineage links and download records.

    Needs ``registry.purge_dataset``. Only a tombstone can be purged (remote delete it
    first), so a purge never drops the row of bytes someone could still fetch. Bytes
    still stored under the hash (put back by hand, say) go in the same transaction, so
    no unreferenced object is left behind; a store failure rolls the purge back. The
    audit trail keeps the hash, the name and every earlier event.
    """
    require_permission(
        actor, "registry.purge_dataset", action="purge datasets", sha256=dataset.sha256
    )
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
        if locked is None:
            raise UnknownDataset(f"dataset {dataset.short_hash} was already purged")
        if locked.is_available:
            raise ConfirmationRequired(
                f"dataset {locked.short_hash} is not deleted: remote delete it first "
                f"(`datatrac delete {locked.short_hash}`), then purge it"
            )
        lock_object(locked.sha256)
        with dataset_delete_allowed(locked.pk):
            _, removed = locked.delete()
        try:
            storage.delete(locked.sha256)
            bytes_removed = True
        except ObjectMissing:
            bytes_removed = False
        result = PurgeResult(
            sha256=dataset.sha256,
            name=dataset.name,
            edges_removed=removed.get(LINEAGE_EDGE_LABEL, 0),
            downloads_removed=removed.get(DownloadRecord._meta.label, 0),
            bytes_removed=bytes_removed,
        )
        record_audit(
            actor=actor,
            action=AuditEvent.Action.PURGE,
            sha256=dataset.sha256,
            detail=(
                f"record of {dataset.name!r} purged with {result.edges_removed} lineage "
                f"link(s) and {result.downloads_removed} download record(s)"
                + ("; its stored object was removed too" if bytes_removed else "")
            ),
        )
    return result


def restore_dataset(*, dataset: Dataset, actor: Actor, storage: Storage) -> Dataset:
    """Make a tombstone available again when its bytes are stored (still, or again).

    Needs ``registry.restore_dataset``. The stored object is verified against the hash
    first (where it lies: a remote store hashes on its server), so a restored dataset
    never points at missing or corrupt bytes. Pushing the same file again is the other
    way back, and needs only the push permission.
    """
    require_permission(
        actor, "registry.restore_dataset", action="restore datasets", sha256=dataset.sha256
    )
    if dataset.is_available:
        raise ConfirmationRequired(f"dataset {dataset.short_hash} is not deleted")
    if not storage.exists(dataset.sha256):
        raise ObjectMissing(dataset.sha256, f"{storage.url}: push the file again to restore it")
    if not storage.verify(dataset.sha256):
        raise IntegrityFailure(
            f"the stored bytes of dataset {dataset.short_hash} do not match its hash; "
            "not restored: push the file again"
        )
    with transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        if locked.is_available:
            raise ConfirmationRequired(f"dataset {locked.short_hash} is not deleted")
        lock_object(locked.sha256)
        # Checked again under the locks: a gc may have swept the object meanwhile.
        if not storage.exists(locked.sha256):
            raise ObjectMissing(locked.sha256, storage.url)
        locked.state = Dataset.State.AVAILABLE
        locked.deleted_at = None
        locked.deleted_by = ""
        locked.storage_location = storage.location(locked.sha256)
        locked.save(update_fields=["state", "deleted_at", "deleted_by", "storage_location"])
        record_audit(
            actor=actor,
            action=AuditEvent.Action.RESTORE,
            sha256=locked.sha256,
            detail="restored from the stored object (verified)",
        )
    return locked


# --- history -------------------------------------------------------------------------

HISTORY_LIMIT = 50


@dataclass(frozen=True)
class DatasetHistory:
    """The latest audit events about one dataset, newest first."""

    events: list[AuditEvent]
    #: Older events exist beyond ``events`` (the admin's audit trail lists them all).
    more: bool


# The audit trail - who did what, from which address, and what was refused - is the
# administrators' (README, Roles); anyone else sees no history at all.
HISTORY_PERMISSION = "registry.view_auditevent"


def dataset_history(
    *, dataset: Dataset, actor: Actor, limit: int = HISTORY_LIMIT
) -> DatasetHistory | None:
    """A dataset's history for its page: at most ``limit`` events, in one query.

    None (and no query) unless ``actor`` may read the audit trail: viewers and
    anonymous public readers get the download count and chart, never other people's
    names, addresses or refused attempts.
    """
    if not actor.has_perm(HISTORY_PERMISSION):
        return None
    events = list(AuditEvent.objects.for_dataset(dataset.sha256)[: limit + 1])
    return DatasetHistory(events=events[:limit], more=len(events) > limit)
