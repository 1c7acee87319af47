"""Registry actions: one function per action, shared by the CLI, the web and the admin.

Each service validates its input, moves bytes, and only then commits rows, so a
failure at any step leaves neither a row pointing at missing bytes nor a half object.
Services raise DataTracError subclasses and never print or see a request.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import socket
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from registry.errors import (
    AuthenticationFailed,
    BadPath,
    ConfirmationRequired,
    IntegrityFailure,
    ObjectMissing,
    PermissionDenied,
)
from registry.hashing import CHUNK_SIZE, Progress, hash_file
from registry.models import AuditEvent, Dataset, DownloadRecord
from registry.naming import safe_file_name

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
    from django.http import HttpRequest

    from registry.storage.base import Storage


# --- who is acting -------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who performs an action, and from where: recorded on rows and in the audit trail."""

    name: str
    user: User | None = None
    origin: str = ""

    @classmethod
    def for_cli(cls, name: str | None = None) -> Actor:
        """The CLI identity: DATATRAC_USER, linked to the Django user of that name if any."""
        name = name or settings.DATATRAC_USER
        user = get_user_model().objects.filter(username=name, is_active=True).first()
        return cls(name=name, user=user, origin=f"cli@{socket.gethostname()}")

    @classmethod
    def for_user(cls, user: AbstractBaseUser | AnonymousUser, origin: str = "") -> Actor:
        if not user.is_authenticated:
            return cls(name="anonymous", user=None, origin=origin)
        return cls(name=user.get_username(), user=user, origin=origin)  # type: ignore[arg-type]

    @classmethod
    def for_request(cls, request: HttpRequest) -> Actor:
        return cls.for_user(request.user, origin=request.META.get("REMOTE_ADDR", ""))

    def has_perm(self, perm: str) -> bool:
        return self.user is not None and self.user.has_perm(perm)  # type: ignore[attr-defined]


def authenticate_actor(*, username: str, password: str, origin: str = "") -> Actor:
    """Check a Django user's password; the Actor of that user, or AuthenticationFailed."""
    user = authenticate(username=username, password=password)
    if user is None:
        record_audit(
            actor=Actor(name=username, origin=origin),
            action=AuditEvent.Action.SIGN_IN_FAILED,
            outcome=AuditEvent.Outcome.FAILED,
            detail="wrong user name or password (CLI)",
        )
        raise AuthenticationFailed(f"authentication failed for user {username!r}")
    return Actor(name=user.get_username(), user=user, origin=origin)


def require_permission(actor: Actor, perm: str, *, action: str, sha256: str = "") -> None:
    """Raise PermissionDenied (and audit the refusal) unless ``actor`` holds ``perm``."""
    if actor.has_perm(perm):
        return
    record_audit(
        actor=actor,
        action=AuditEvent.Action.PERMISSION_DENIED,
        sha256=sha256,
        outcome=AuditEvent.Outcome.DENIED,
        detail=f"{action} needs permission {perm}",
    )
    raise PermissionDenied(f"user {actor.name!r} may not {action} (needs permission {perm})")


def record_audit(
    *,
    actor: Actor,
    action: str,
    sha256: str = "",
    outcome: str = AuditEvent.Outcome.OK,
    detail: str = "",
) -> AuditEvent:
    """Append one audit event."""
    return AuditEvent.objects.create(
        actor=actor.name[:150],
        user=actor.user if actor.user is not None and actor.user.pk else None,  # type: ignore[misc]
        action=action,
        sha256=sha256,
        origin=actor.origin[:255],
        outcome=outcome,
        detail=detail,
    )


# --- push ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PushResult:
    dataset: Dataset
    outcome: Literal["created", "existing", "restored"]
    uploaded: bool


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
    is a tombstone is stored again and the row restored. ``parents`` (hashes or unique
    prefixes) are resolved before any transfer and linked in the same transaction that
    writes the row.
    """
    from lineage.services import link_datasets

    check_readable_file(path)
    parent_rows = [Dataset.objects.resolve(ref) for ref in parents]
    try:
        sha256, size = hash_file(path, progress)
    except OSError as exc:
        raise BadPath(f"{path}: {exc.strerror}") from exc

    existing = Dataset.objects.filter(sha256=sha256).first()
    uploaded = False
    if existing is None or not existing.is_available or not storage.exists(sha256):
        storage.put(sha256, path, progress=progress)
        uploaded = True

    with transaction.atomic():
        dataset, created = _get_or_create_dataset(
            sha256=sha256,
            defaults={
                "name": name if name is not None else path.name,
                "size": size,
                "source": source,
                "description": description,
                "storage_location": storage.location(sha256),
                "pushed_by": actor.name[:150],
                "pushed_by_user": actor.user,
            },
        )
        outcome: Literal["created", "existing", "restored"] = "created" if created else "existing"
        if not created and not dataset.is_available:
            dataset.state = Dataset.State.AVAILABLE
            dataset.deleted_at = None
            dataset.deleted_by = ""
            dataset.storage_location = storage.location(sha256)
            dataset.save(update_fields=["state", "deleted_at", "deleted_by", "storage_location"])
            outcome = "restored"
        for parent in parent_rows:
            link_datasets(parent=parent, child=dataset, actor=actor)
        if outcome != "existing":
            record_audit(
                actor=actor,
                action=AuditEvent.Action.PUSH if created else AuditEvent.Action.RESTORE,
                sha256=sha256,
                detail=f"{size} bytes" + (" (restored by a push)" if outcome == "restored" else ""),
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


def cache_path(sha256: str) -> Path:
    """Where the local cached copy of an object lives."""
    return Path(settings.DATATRAC_CACHE_DIR) / sha256[:2] / sha256[2:4] / sha256


def resolve_output_path(dataset: Dataset, output: Path | None) -> Path:
    """The file a download writes: ``output``, or the dataset's safe name in the cwd.

    Refuses a target that is a symlink or whose directory does not exist; a directory
    target gets the dataset's safe name inside it.
    """
    default_name = safe_file_name(dataset.name, fallback=dataset.short_hash)
    target = Path(default_name) if output is None else output
    if target.is_dir() and not target.is_symlink():
        target = target / default_name
    if target.is_symlink():
        raise BadPath(f"{target} is a symbolic link: refusing to write through it")
    parent = target.parent
    if not parent.is_dir():
        raise BadPath(f"cannot write {target}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise BadPath(f"cannot write {target}: directory {parent} is not writable")
    return target


def download_dataset(
    *,
    dataset: Dataset,
    actor: Actor,
    storage: Storage,
    output: Path | None = None,
    progress: Progress | None = None,
) -> DownloadResult:
    """Fetch a dataset's bytes into the local cache (verified) and copy them to ``output``.

    The cache entry and the output file are each written under a temporary name and
    renamed only once the bytes are known to hash to the dataset's SHA-256, so a failed
    or killed download leaves any existing file at the target untouched.
    """
    if not dataset.is_available:
        raise ObjectMissing(dataset.sha256, "the registry (the dataset was deleted)")
    target = resolve_output_path(dataset, output)
    cached = cache_path(dataset.sha256)
    from_cache = _cached_copy_is_valid(cached, dataset.sha256)
    if not from_cache:
        _fetch_into_cache(dataset=dataset, storage=storage, cached=cached, progress=progress)
    _place_copy(cached, target)
    record_download(dataset=dataset, actor=actor, via="cli")
    return DownloadResult(dataset=dataset, path=target, from_cache=from_cache)


def _cached_copy_is_valid(cached: Path, sha256: str) -> bool:
    if not cached.is_file():
        return False
    if hash_file(cached)[0] == sha256:
        return True
    cached.unlink(missing_ok=True)  # a corrupted cache entry is refetched, never served
    return False


def _fetch_into_cache(
    *, dataset: Dataset, storage: Storage, cached: Path, progress: Progress | None
) -> None:
    cached.parent.mkdir(parents=True, exist_ok=True)
    temp = cached.with_name(f".{dataset.sha256}.{secrets.token_hex(6)}.part")
    try:
        with temp.open("xb") as out:
            for chunk in stream_object(dataset=dataset, storage=storage):
                out.write(chunk)
                if progress:
                    progress(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        temp.chmod(0o444)
        os.replace(temp, cached)
    except OSError as exc:
        raise BadPath(f"cannot write to the cache {cached.parent}: {exc.strerror}") from exc
    finally:
        temp.unlink(missing_ok=True)


def _place_copy(cached: Path, target: Path) -> None:
    """Hard-link (or copy) the verified cache entry to ``target``, atomically."""
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.part")
    try:
        try:
            os.link(cached, temp)
        except OSError:
            with cached.open("rb") as src, temp.open("xb") as dst:
                while chunk := src.read(CHUNK_SIZE):
                    dst.write(chunk)
        os.replace(temp, target)
    except OSError as exc:
        raise BadPath(f"cannot write {target}: {exc.strerror}") from exc
    finally:
        temp.unlink(missing_ok=True)


def stream_object(*, dataset: Dataset, storage: Storage) -> Iterator[bytes]:
    """Yield a dataset's stored bytes, verifying SHA-256 and size as they stream.

    Raises IntegrityFailure after the last chunk if the bytes are not the dataset's;
    consumers must not commit what they received before the iterator is exhausted.
    """
    digest = hashlib.sha256()
    received = 0
    with storage.open(dataset.sha256) as src:
        while chunk := src.read(CHUNK_SIZE):
            digest.update(chunk)
            received += len(chunk)
            yield chunk
    if received != dataset.size or digest.hexdigest() != dataset.sha256:
        raise IntegrityFailure(
            f"hash mismatch for dataset {dataset.short_hash} ({dataset.name!r}): the stored "
            f"bytes are corrupt ({received} bytes, sha256 {digest.hexdigest()[:12]}); "
            "nothing was written"
        )


def stream_dataset(*, dataset: Dataset, actor: Actor, storage: Storage) -> Iterator[bytes]:
    """The web download: stream verified bytes and count the download."""
    if not dataset.is_available:
        raise ObjectMissing(dataset.sha256, "the registry (the dataset was deleted)")
    if not storage.exists(dataset.sha256):
        raise ObjectMissing(dataset.sha256, storage.url)
    record_download(dataset=dataset, actor=actor, via="web")
    return stream_object(dataset=dataset, storage=storage)


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
