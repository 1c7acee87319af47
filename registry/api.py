"""The registry's API endpoints: list, search and show datasets, their audit history,
transfers (uploads in parts, content downloads) and the administrators' actions.

Each parses its input, calls one read or service with the request's Actor (set by
tokens.auth), and serialises the result; the services decide what the Actor may do.

Transfers (the contract the remote client is written against):

- ``POST /uploads`` ``{sha256, size, name, source, description, parents}``: known,
  available, stored, uncorrupted content answers 200 ``{"status": "exists", "outcome",
  "dataset"}`` (parents linked, nothing else to do); otherwise 201 ``{"status":
  "upload", "upload_id", "part_size", "parts", "expires_at"}``. 413 ``too_large`` past
  DATATRAC_MAX_UPLOAD_SIZE; parents that do not resolve 404/400 before anything.
- ``PUT /uploads/{id}/parts/{n}`` (n from 1), raw bytes with ``Content-Length`` (411
  ``length_required`` without) and ``Content-Digest: sha-256=:<base64>:`` (400
  ``digest_required`` without): 200 ``{"n", "size", "sha256"}``. 422 ``bad_part`` (n
  out of range, a length short of or past the part's place: refused before the body
  is read) and 422 ``digest_mismatch`` (nothing kept). Sending a part again replaces it.
- ``GET /uploads/{id}``: ``{"upload_id", "sha256", "size", "part_size", "parts",
  "received": [{"n", "size", "sha256"}], "expires_at"}``. The expiry moves to
  DATATRAC_UPLOAD_EXPIRY after each part received.
- ``POST /uploads/{id}/complete``: 201 ``{"outcome", "dataset"}``; 409
  ``upload_incomplete`` naming the missing parts (or another complete running); 422
  ``digest_mismatch`` when the whole does not hash to the announced hash: nothing is
  registered and the upload is discarded (start again).
- ``DELETE /uploads/{id}``: 204. An upload that is not the caller's (unless they are
  an administrator), completed, aborted or expired is 404 ``unknown_upload``.
- ``GET /datasets/{ref}/content``: the bytes; ``ETag: "<sha256>"``, ``Repr-Digest``,
  ``Accept-Ranges: bytes``; ``Range: bytes=a-b | a- | -n`` gives 206 with
  ``Content-Range`` (416 ``range_not_satisfiable`` with ``Content-Range: bytes */size``),
  ``If-Range`` with another ETag gives the whole. 410 ``dataset_deleted`` for a
  tombstone, 502 ``integrity_failure`` for bytes found corrupt. See registry.content
  for what the server verifies and when a download is counted.
- ``DELETE /datasets/{ref}?force=false`` (200 ``{"dataset", "object_was_missing"}``,
  409 with living children), ``POST /datasets/{ref}/purge`` (200 PurgeOut),
  ``POST /datasets/{ref}/restore`` (200 DatasetOut): administrators (token scope
  ``admin``); no password, the token is the credential.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header
from ninja import Field, Query, Router, Schema, Status
from ninja.params import Path

from registry.content import etag, open_content
from registry.naming import safe_file_name
from registry.presenters import dataset_as_dict
from registry.reads import MAX_PER_PAGE, PER_PAGE, audit_history, browse_datasets, show_dataset
from registry.services import (
    HISTORY_LIMIT,
    PushResult,
    delete_dataset,
    purge_dataset,
    restore_dataset,
)
from registry.sorting import DEFAULT_SORT
from registry.storage import Storage, get_storage
from registry.uploads import (
    UploadState,
    abort_upload,
    complete_upload,
    content_digest,
    receive_part,
    show_upload,
    start_upload,
)
from tokens.auth import api_actor

router = Router(tags=["datasets"])

type Sort = Literal[
    "name", "-name", "sha256", "-sha256", "size", "-size", "source", "-source",
    "pushed_by", "-pushed_by", "pushed_at", "-pushed_at", "download_count", "-download_count",
]  # fmt: skip

REF = Path(..., description="a full SHA-256 or a unique prefix of 6+ hex characters")


class DatasetOut(Schema):
    """A dataset, as `fetch --json` prints it. Times are ISO 8601."""

    sha256: str
    name: str
    size: int
    source: str
    description: str
    registry_path: str
    pushed_by: str
    pushed_at: str
    downloads: int
    state: Literal["available", "deleted"]
    deleted_at: str | None
    deleted_by: str | None
    last_verified_at: str | None


class DatasetPageOut(Schema):
    items: list[DatasetOut]
    #: Cursors: pass ``after=<next>`` for the next page, ``before=<previous>`` for the one
    #: before; null when there is none.
    next: int | None
    previous: int | None


class ListFilters(Schema):
    q: str = Query("", max_length=200, description="search name, source, description or hash")
    deleted: bool = Query(False, description="include deleted datasets (tombstones)")
    sort: Sort = Query(DEFAULT_SORT, description="column, '-' first for descending")
    after: int | None = Query(None, ge=1, description="the `next` cursor of the page before")
    before: int | None = Query(None, ge=1, description="the `previous` cursor of the page after")
    after_dataset: str | None = Query(
        None,
        max_length=64,
        description="start after the dataset with this hash (instead of a cursor)",
    )
    limit: int = Query(PER_PAGE, ge=1, le=MAX_PER_PAGE)


class AuditEventOut(Schema):
    at: str
    actor: str
    action: str
    sha256: str
    origin: str
    outcome: str
    detail: str


class HistoryOut(Schema):
    events: list[AuditEventOut]
    #: Older events exist beyond these (the admin's audit trail lists them all).
    more: bool


@router.get("/datasets", response=DatasetPageOut, summary="List and search datasets")
def list_datasets(request: HttpRequest, filters: Query[ListFilters]) -> dict[str, object]:
    actor = api_actor(request)
    after = filters.after
    if filters.after_dataset:
        # `fetch --all --after HASH` in remote mode: the client knows hashes, not cursors.
        after = show_dataset(actor=actor, ref=filters.after_dataset).pk
    page = browse_datasets(
        actor=actor,
        query=filters.q,
        include_deleted=filters.deleted,
        sort=filters.sort,
        after=after,
        before=filters.before,
        per_page=filters.limit,
    )
    return {
        "items": [dataset_as_dict(dataset) for dataset in page.rows],
        "next": page.next_after,
        "previous": page.previous_before,
    }


@router.get("/datasets/{ref}", response=DatasetOut, summary="Show one dataset")
def get_dataset(request: HttpRequest, ref: str = REF) -> dict[str, object]:
    return dataset_as_dict(show_dataset(actor=api_actor(request), ref=ref))


@router.get(
    "/datasets/{ref}/history",
    response=HistoryOut,
    summary="A dataset's audit history (administrators)",
)
def get_history(
    request: HttpRequest, ref: str = REF, limit: int = Query(HISTORY_LIMIT, ge=1, le=200)
) -> dict[str, object]:
    actor = api_actor(request)
    dataset = show_dataset(actor=actor, ref=ref)
    history = audit_history(actor=actor, dataset=dataset, limit=limit)
    return {
        "events": [
            {
                "at": event.at.isoformat(),
                "actor": event.actor,
                "action": event.action,
                "sha256": event.sha256,
                "origin": event.origin,
                "outcome": event.outcome,
                "detail": event.detail,
            }
            for event in history.events
        ],
        "more": history.more,
    }


# --- uploads -------------------------------------------------------------------------

HEX64 = r"^[0-9a-f]{64}$"
Outcome = Literal["created", "existing", "restored", "repaired"]


class UploadIn(Schema):
    sha256: str = Field(..., pattern=HEX64, description="lowercase hex SHA-256 of the bytes")
    size: int = Field(..., ge=0, description="bytes")
    name: str = Field(..., max_length=10_000)
    source: str = Field("", max_length=10_000)
    description: str = Field("", max_length=100_000)
    parents: list[str] = Field([], max_length=1000, description="hashes or unique prefixes")


class UploadExistsOut(Schema):
    status: Literal["exists"]
    outcome: Outcome
    dataset: DatasetOut


class UploadStartedOut(Schema):
    status: Literal["upload"]
    upload_id: str
    part_size: int
    parts: int
    expires_at: str


class PartOut(Schema):
    n: int
    size: int
    sha256: str


class UploadOut(Schema):
    upload_id: str
    sha256: str
    size: int
    part_size: int
    parts: int
    received: list[PartOut]
    expires_at: str


class CompleteOut(Schema):
    outcome: Outcome
    dataset: DatasetOut


UPLOAD_ID = Path(..., description="the upload_id POST /uploads answered")


def _pushed(result: PushResult) -> dict[str, object]:
    return {"outcome": result.outcome, "dataset": dataset_as_dict(result.dataset)}


@router.post(
    "/uploads",
    response={200: UploadExistsOut, 201: UploadStartedOut},
    summary="Push: register known content (200) or open an upload for its bytes (201)",
    tags=["transfers"],
)
def post_upload(request: HttpRequest, body: UploadIn) -> Status[dict[str, object]]:
    with get_storage() as storage:
        started = start_upload(
            actor=api_actor(request),
            storage=storage,
            sha256=body.sha256,
            size=body.size,
            name=body.name,
            source=body.source,
            description=body.description,
            parents=body.parents,
        )
    if started.existing is not None:
        return Status(200, {"status": "exists", **_pushed(started.existing)})
    upload = started.upload
    assert upload is not None
    return Status(
        201,
        {
            "status": "upload",
            "upload_id": upload.id,
            "part_size": upload.part_size,
            "parts": upload.parts,
            "expires_at": upload.expires_at.isoformat(),
        },
    )


@router.put(
    "/uploads/{upload_id}/parts/{n}",
    response=PartOut,
    summary="Send part n (from 1): raw bytes, Content-Length and Content-Digest required",
    tags=["transfers"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
def put_part(
    request: HttpRequest, upload_id: str = UPLOAD_ID, n: int = Path(..., ge=1)
) -> dict[str, object]:
    declared = request.META.get("CONTENT_LENGTH")
    part = receive_part(
        actor=api_actor(request),
        upload_id=upload_id,
        n=n,
        body=request,  # read() streams the body: request.body would hold it whole
        length=int(declared) if declared and declared.isdigit() else None,
        content_digest=request.headers.get("Content-Digest"),
    )
    return {"n": part.n, "size": part.size, "sha256": part.sha256}


def _upload_state(state: UploadState) -> dict[str, object]:
    upload = state.upload
    return {
        "upload_id": upload.id,
        "sha256": upload.sha256,
        "size": upload.size,
        "part_size": upload.part_size,
        "parts": upload.parts,
        "received": [{"n": p.n, "size": p.size, "sha256": p.sha256} for p in state.received],
        "expires_at": upload.expires_at.isoformat(),
    }


@router.get(
    "/uploads/{upload_id}",
    response=UploadOut,
    summary="An upload and the parts received (to resume)",
    tags=["transfers"],
)
def get_upload(request: HttpRequest, upload_id: str = UPLOAD_ID) -> dict[str, object]:
    return _upload_state(show_upload(actor=api_actor(request), upload_id=upload_id))


@router.post(
    "/uploads/{upload_id}/complete",
    response={201: CompleteOut},
    summary="Assemble the parts, verify the whole, store and register it",
    tags=["transfers"],
)
def post_complete(request: HttpRequest, upload_id: str = UPLOAD_ID) -> Status[dict[str, object]]:
    with get_storage() as storage:
        result = complete_upload(actor=api_actor(request), upload_id=upload_id, storage=storage)
    return Status(201, _pushed(result))


@router.delete(
    "/uploads/{upload_id}", response={204: None}, summary="Abort an upload", tags=["transfers"]
)
def delete_upload(request: HttpRequest, upload_id: str = UPLOAD_ID) -> HttpResponse:
    abort_upload(actor=api_actor(request), upload_id=upload_id)
    return HttpResponse(status=204)


# --- content -------------------------------------------------------------------------


def _then_close(chunks: Iterator[bytes], storage: Storage) -> Iterator[bytes]:
    # The store (an SSH connection, say) stays open until the last chunk is sent.
    try:
        yield from chunks
    finally:
        storage.close()


@router.get(
    "/datasets/{ref}/content",
    response={200: None, 206: None},
    summary="Download a dataset's bytes (Range supported)",
    tags=["transfers"],
    openapi_extra={
        "responses": {
            # Keyed as ninja keys ``response`` (ints), so the two merge into one entry.
            200: {"description": "the bytes", "content": {"application/octet-stream": {}}},
            206: {"description": "a byte range", "content": {"application/octet-stream": {}}},
        }
    },
)
def get_content(request: HttpRequest, ref: str = REF) -> HttpResponseBase:
    actor = api_actor(request)
    dataset = show_dataset(actor=actor, ref=ref)
    storage = get_storage()
    try:
        content = open_content(
            actor=actor,
            dataset=dataset,
            storage=storage,
            range_header=request.headers.get("Range"),
            if_range=request.headers.get("If-Range"),
        )
    except BaseException:
        storage.close()
        raise
    response: StreamingHttpResponse
    if content.file is not None:
        storage.close()
        response = FileResponse(content.file, content_type="application/octet-stream")
        response.block_size = storage.read_size
    else:
        assert content.chunks is not None
        response = StreamingHttpResponse(
            _then_close(content.chunks, storage), content_type="application/octet-stream"
        )
    response["Content-Length"] = str(content.length)
    if content.partial:
        response.status_code = 206
        response["Content-Range"] = f"bytes {content.start}-{content.end}/{dataset.size}"
    response["ETag"] = etag(dataset)
    response["Repr-Digest"] = content_digest(dataset.sha256)
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=safe_file_name(dataset.name, fallback=dataset.short_hash)
    )
    response["Cache-Control"] = "private, no-store"
    return response


# --- administrators: delete, purge, restore ---------------------------------------------


class DeleteOut(Schema):
    dataset: DatasetOut
    #: The stored object was already gone (the row is a tombstone all the same).
    object_was_missing: bool


class PurgeOut(Schema):
    sha256: str
    name: str
    edges_removed: int
    downloads_removed: int
    bytes_removed: bool


@router.delete(
    "/datasets/{ref}",
    response=DeleteOut,
    summary="Remote delete: remove the bytes, keep a tombstone (administrators)",
    tags=["administration"],
)
def delete_dataset_endpoint(
    request: HttpRequest,
    ref: str = REF,
    force: bool = Query(False, description="delete even with living children"),
) -> dict[str, object]:
    actor = api_actor(request)
    dataset = show_dataset(actor=actor, ref=ref)
    with get_storage() as storage:
        result = delete_dataset(dataset=dataset, actor=actor, storage=storage, force=force)
    return {
        "dataset": dataset_as_dict(result.dataset),
        "object_was_missing": result.object_was_missing,
    }


@router.post(
    "/datasets/{ref}/purge",
    response=PurgeOut,
    summary="Purge a tombstone's row for good (administrators)",
    tags=["administration"],
)
def purge_dataset_endpoint(request: HttpRequest, ref: str = REF) -> dict[str, object]:
    actor = api_actor(request)
    dataset = show_dataset(actor=actor, ref=ref)
    with get_storage() as storage:
        result = purge_dataset(dataset=dataset, actor=actor, storage=storage)
    return {
        "sha256": result.sha256,
        "name": result.name,
        "edges_removed": result.edges_removed,
        "downloads_removed": result.downloads_removed,
        "bytes_removed": result.bytes_removed,
    }


@router.post(
    "/datasets/{ref}/restore",
    response=DatasetOut,
    summary="Restore a tombstone whose bytes are stored (administrators)",
    tags=["administration"],
)
def restore_dataset_endpoint(request: HttpRequest, ref: str = REF) -> dict[str, object]:
    actor = api_actor(request)
    dataset = show_dataset(actor=actor, ref=ref)
    with get_storage() as storage:
        return dataset_as_dict(restore_dataset(dataset=dataset, actor=actor, storage=storage))
