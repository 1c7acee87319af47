"""Uploads through the API: announce, send parts, complete (or abort), expire.

A client announces content by hash and size (start_upload). Known content registers at
once and nothing is sent (dedup); otherwise the client sends the bytes in numbered parts
of ``part_size`` bytes (receive_part), each checked against its own SHA-256 as it
streams to a part file, never held whole in memory. complete_upload copies the parts
in order straight into the store (Storage.put_parts through the push service's
registration path, registry.services.store_and_register): the server reads the parts
once, hashing the whole as it copies, so the store's guarantees (temporary name,
verify, fsync, rename; the object lock against gc) and the row's rules are the push's own.

Parts live under DATATRAC_UPLOAD_DIR/<upload id>/ as ``<n>.<sha256>.part`` (written as
a temporary and renamed, so a part file under its final name is always whole). An upload
is its uploader's: anyone else (but an administrator) is told it does not exist. An
unfinished upload expires DATATRAC_UPLOAD_EXPIRY after its start or its last part;
`gc` sweeps expired ones (sweep_expired_uploads).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.utils import timezone

from registry.actors import Actor, require_permission
from registry.errors import (
    BadPart,
    DigestMismatch,
    DigestRequired,
    IntegrityFailure,
    LengthRequired,
    UnknownUpload,
    UploadIncomplete,
    UploadTooLarge,
)
from registry.hashing import require_full_hash
from registry.models import Dataset, Upload
from registry.naming import storable_text
from registry.services import PushResult, store_and_register

if TYPE_CHECKING:
    from datetime import datetime

    from registry.storage.base import Storage

# Who may see, complete or abort another user's upload: those who may collect garbage
# (administrators), who also sweep expired uploads.
MANAGE_ANY_UPLOAD = "registry.collect_garbage"
_PART_FILE = re.compile(r"(\d{6})\.([0-9a-f]{64})\.part")
_TEMP_SUFFIX = ".tmp"
# Bytes asked of a part's body per read: large, so a 64 MiB part is a few dozen reads
# (each a Python-level call through the WSGI input) rather than thousands.
RECEIVE_SIZE = 4 * 1024 * 1024
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


def upload_expiry() -> timedelta:
    """DATATRAC_UPLOAD_EXPIRY as a duration."""
    from registry.integrity import parse_duration  # integrity imports this module

    return parse_duration(settings.DATATRAC_UPLOAD_EXPIRY)


def upload_dir(upload_id: str) -> Path:
    return Path(settings.DATATRAC_UPLOAD_DIR) / upload_id


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class Part:
    n: int
    size: int
    sha256: str


@dataclass(frozen=True)
class UploadStart:
    """What start_upload decided: ``existing`` (nothing to send) or a new ``upload``."""

    existing: PushResult | None = None
    upload: Upload | None = None


@dataclass(frozen=True)
class UploadState:
    upload: Upload
    received: list[Part]


def start_upload(
    *,
    actor: Actor,
    storage: Storage,
    sha256: str,
    size: int,
    name: str,
    source: str = "",
    description: str = "",
    parents: Sequence[str] = (),
) -> UploadStart:
    """Register known content at once, or open an upload for its bytes.

    Checked before anything: the push permission (and the link permission with
    ``parents``), the hash, the size (UploadTooLarge past DATATRAC_MAX_UPLOAD_SIZE), and
    that every parent resolves. Content already registered, available, stored and not
    flagged corrupt is registered as a push of it would be (parents linked, nothing
    stored): ``existing``. Anything else opens an upload of ``ceil(size / part_size)``
    parts.
    """
    require_permission(actor, "registry.push_dataset", action="push datasets")
    if parents:
        require_permission(actor, "lineage.link_datasets", action="link datasets")
    require_full_hash(sha256)
    if size < 0:
        raise BadPart("size must be 0 or more")
    limit = int(settings.DATATRAC_MAX_UPLOAD_SIZE)
    if size > limit:
        raise UploadTooLarge(
            f"{size} bytes is more than this server accepts (DATATRAC_MAX_UPLOAD_SIZE: "
            f"{limit} bytes)"
        )
    name = storable_text(name)
    source = storable_text(source)
    description = storable_text(description)
    parent_rows = [Dataset.objects.resolve(ref) for ref in parents]
    known = store_and_register(
        sha256=sha256,
        size=size,
        path=None,
        name=name,
        source=source,
        description=description,
        parents=parent_rows,
        actor=actor,
        storage=storage,
    )
    if known is not None:
        return UploadStart(existing=known)
    now = timezone.now()
    upload = Upload.objects.create(
        id=secrets.token_hex(16),
        user=actor.user,
        created_by=actor.name[:150],
        sha256=sha256,
        size=size,
        part_size=max(1, int(settings.DATATRAC_UPLOAD_PART_SIZE)),
        name=name,
        source=source,
        description=description,
        parents=[parent.sha256 for parent in parent_rows],
        created_at=now,
        expires_at=now + upload_expiry(),
    )
    upload_dir(upload.id).mkdir(parents=True, exist_ok=True)
    return UploadStart(upload=upload)


def show_upload(*, actor: Actor, upload_id: str) -> UploadState:
    """An upload and the parts received so far (so an interrupted push resumes)."""
    upload = _own_upload(actor=actor, upload_id=upload_id)
    return UploadState(upload=upload, received=received_parts(upload))


def receive_part(
    *,
    actor: Actor,
    upload_id: str,
    n: int,
    body: Readable,
    length: int | None,
    content_digest: str | None,
) -> Part:
    """Stream part ``n`` (from 1) of ``length`` bytes from ``body`` to its part file.

    Refused before a byte is read: no length (LengthRequired: a WSGI server reads a
    chunked body as empty), a part number out of range, a length other than the part's
    place in the upload (shorter: a short part; longer: past the declared size), no
    ``sha-256`` in ``content_digest`` (RFC 9530 ``Content-Digest``). The bytes are hashed
    as they are written; a body that ends early or does not hash to the digest is
    refused and nothing of it kept. A part sent again replaces the one received.
    Receiving a part pushes the upload's expiry back.
    """
    if length is None:
        raise LengthRequired(
            "Content-Length is required: send each part with its length (a chunked body "
            "reaches the server empty)"
        )
    upload = _own_upload(actor=actor, upload_id=upload_id)
    require_permission(actor, "registry.push_dataset", action="push datasets")
    if not 1 <= n <= upload.parts:
        raise BadPart(
            f"part {n} is out of range: this upload has "
            + (f"parts 1 to {upload.parts}" if upload.parts else "no parts (0 bytes)")
        )
    expected = upload.part_length(n)
    if length < expected:
        raise BadPart(f"part {n} is short: {length} bytes sent, {expected} expected")
    if length > expected:
        raise BadPart(
            f"part {n} goes past the declared size ({upload.size} bytes): {length} bytes "
            f"sent, {expected} expected"
        )
    want = parse_content_digest(content_digest)
    if upload.completing_since is not None:
        raise UploadIncomplete(f"upload {upload.id} is being completed: no more parts")
    directory = upload_dir(upload.id)
    temp = directory / f".{n:06d}.{secrets.token_hex(6)}{_TEMP_SUFFIX}"
    digest = hashlib.sha256()
    received = 0
    try:
        try:
            dst = temp.open("xb")
        except FileNotFoundError:  # completed, aborted or swept meanwhile
            raise UnknownUpload(f"upload {upload.id} is gone (completed or aborted)") from None
        with dst:
            while received < length:
                chunk = body.read(min(RECEIVE_SIZE, length - received))
                if not chunk:
                    break
                digest.update(chunk)
                dst.write(chunk)
                received += len(chunk)
        if received != length:
            raise BadPart(f"part {n} ended after {received} of {length} bytes")
        got = digest.hexdigest()
        if got != want:
            raise DigestMismatch(
                f"part {n} does not match its Content-Digest (received bytes hash to "
                f"sha256 {got[:12]}..., the header says {want[:12]}...); not kept: send it again"
            )
        final = directory / f"{n:06d}.{got}.part"
        try:
            temp.replace(final)
        except FileNotFoundError:
            raise UnknownUpload(f"upload {upload.id} is gone (completed or aborted)") from None
        for other in directory.glob(f"{n:06d}.*.part"):
            if other != final:
                other.unlink(missing_ok=True)  # an earlier copy of this part
    finally:
        temp.unlink(missing_ok=True)
    Upload.objects.filter(pk=upload.pk).update(expires_at=timezone.now() + upload_expiry())
    return Part(n=n, size=length, sha256=got)


def complete_upload(*, actor: Actor, upload_id: str, storage: Storage) -> PushResult:
    """Store the parts joined in order (the whole hashed once, as it is stored), register.

    UploadIncomplete (listing the missing parts) until every part is in, or while
    another complete of this upload runs. A whole that does not hash to the announced
    SHA-256 (and size) is DigestMismatch: nothing is stored or registered and the upload
    is discarded. Otherwise the push service stores the parts (Storage.put_parts:
    temporary name, verify, rename) and commits the row, linking the parents named at
    the start. The upload's files are removed once it is registered.
    """
    upload = _own_upload(actor=actor, upload_id=upload_id)
    require_permission(actor, "registry.push_dataset", action="push datasets")
    if upload.parents:
        require_permission(actor, "lineage.link_datasets", action="link datasets")
    parts = {part.n: part for part in received_parts(upload)}
    missing = [n for n in range(1, upload.parts + 1) if n not in parts]
    if missing:
        shown = ", ".join(str(n) for n in missing[:20]) + (" ..." if len(missing) > 20 else "")
        raise UploadIncomplete(
            f"{len(missing)} of {upload.parts} parts missing: {shown} (GET the upload to see "
            "what was received)"
        )
    claimed = Upload.objects.filter(pk=upload.pk, completing_since__isnull=True).update(
        completing_since=timezone.now()
    )
    if not claimed:
        raise UploadIncomplete(f"upload {upload.id} is being completed by another request")
    ordered = [parts[n] for n in range(1, upload.parts + 1)]
    try:
        parent_rows = [Dataset.objects.resolve(sha) for sha in upload.parents]
        total = sum(part.size for part in ordered)
        if total != upload.size:
            raise DigestMismatch(
                f"the parts hold {total} bytes, not the {upload.size} announced; nothing "
                "was registered (the upload is discarded: start again)"
            )
        directory = upload_dir(upload.id)
        try:
            result = store_and_register(
                sha256=upload.sha256,
                size=upload.size,
                path=None,
                parts=[directory / f"{part.n:06d}.{part.sha256}.part" for part in ordered],
                name=upload.name,
                source=upload.source,
                description=upload.description,
                parents=parent_rows,
                actor=actor,
                storage=storage,
            )
        except IntegrityFailure:
            raise DigestMismatch(
                f"the parts joined do not hash to sha256 {upload.sha256[:12]}... announced; "
                "nothing was registered (the upload is discarded: start again)"
            ) from None
    except DigestMismatch:
        _discard(upload)
        raise
    except BaseException:
        # The parts stay for a retry.
        Upload.objects.filter(pk=upload.pk).update(completing_since=None)
        raise
    _discard(upload)
    assert result is not None  # parts were given: the bytes were stored
    return result


def abort_upload(*, actor: Actor, upload_id: str) -> None:
    """Drop an upload and its parts."""
    _discard(_own_upload(actor=actor, upload_id=upload_id))


def sweep_expired_uploads(*, dry_run: bool = False) -> list[str]:
    """Remove expired uploads (rows and part files); return what went, one line each.

    An upload a complete has been working on for less than the expiry is kept. Also
    removes a directory under DATATRAC_UPLOAD_DIR that no upload row names (left by a
    process killed between removing the row and its files) once it is older than the
    expiry.
    """
    now = timezone.now()
    expiry = upload_expiry()
    removed: list[str] = []
    expired = Upload.objects.filter(expires_at__lte=now).exclude(completing_since__gt=now - expiry)
    for upload in expired:
        removed.append(
            f"{upload.id} ({upload.name!r}, {upload.sha256[:12]}, by {upload.created_by}, "
            f"expired {upload.expires_at:%Y-%m-%d %H:%M})"
        )
        if not dry_run:
            _discard(upload)
    root = Path(settings.DATATRAC_UPLOAD_DIR)
    if root.is_dir():
        known = set(Upload.objects.values_list("id", flat=True))
        cutoff = (now - expiry).timestamp()
        for directory in root.iterdir():
            if (
                _UPLOAD_ID.fullmatch(directory.name)
                and directory.name not in known
                and directory.is_dir()
                and directory.stat().st_mtime < cutoff
            ):
                removed.append(f"{directory.name} (files of no upload)")
                if not dry_run:
                    shutil.rmtree(directory, ignore_errors=True)
    return removed


def parse_content_digest(header: str | None) -> str:
    """The hex SHA-256 in an RFC 9530 ``Content-Digest`` header (``sha-256=:<b64>:``)."""
    for member in (header or "").split(","):
        key, _, value = member.strip().partition("=")
        if key.strip().lower() != "sha-256":
            continue
        value = value.strip()
        if len(value) < 2 or not value.startswith(":") or not value.endswith(":"):
            break
        try:
            raw = base64.b64decode(value[1:-1], validate=True)
        except (binascii.Error, ValueError):
            break
        if len(raw) == hashlib.sha256().digest_size:
            return raw.hex()
        break
    raise DigestRequired(
        "each part needs a Content-Digest header with its SHA-256: "
        "'Content-Digest: sha-256=:<base64 of the digest>:' (RFC 9530)"
    )


def content_digest(sha256: str) -> str:
    """``sha-256=:<base64>:`` for a hex SHA-256 (Content-Digest / Repr-Digest)."""
    return f"sha-256=:{base64.b64encode(bytes.fromhex(sha256)).decode()}:"


def received_parts(upload: Upload) -> list[Part]:
    """The parts of ``upload`` on disk, by number (the newest copy of each)."""
    directory = upload_dir(upload.id)
    found: dict[int, tuple[float, Part]] = {}
    if not directory.is_dir():
        return []
    for path in directory.iterdir():
        match = _PART_FILE.fullmatch(path.name)
        if not match:
            continue
        try:
            info = path.stat()
        except FileNotFoundError:
            continue  # replaced meanwhile
        n = int(match.group(1))
        part = Part(n=n, size=info.st_size, sha256=match.group(2))
        if n not in found or info.st_mtime > found[n][0]:
            found[n] = (info.st_mtime, part)
    return [found[n][1] for n in sorted(found)]


def _own_upload(*, actor: Actor, upload_id: str) -> Upload:
    """The actor's unexpired upload of that id (any, for an administrator)."""
    upload = (
        Upload.objects.filter(pk=upload_id).first() if _UPLOAD_ID.fullmatch(upload_id) else None
    )
    theirs = upload is not None and (
        (upload.user_id is not None and actor.user is not None and upload.user_id == actor.user.pk)
        or actor.has_perm(MANAGE_ANY_UPLOAD)
    )
    if upload is None or not theirs:
        raise UnknownUpload(f"no upload {upload_id!r} (it may have completed or been aborted)")
    if _expired(upload.expires_at):
        raise UnknownUpload(
            f"upload {upload_id} expired at {upload.expires_at:%Y-%m-%d %H:%M} UTC: start again"
        )
    return upload


def _expired(expires_at: datetime) -> bool:
    return expires_at <= timezone.now()


def _discard(upload: Upload) -> None:
    Upload.objects.filter(pk=upload.pk).delete()
    shutil.rmtree(upload_dir(upload.id), ignore_errors=True)
