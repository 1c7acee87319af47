"""The remote backend: a team server's /api/v1/ over HTTP, with a personal access token.

No Django here, nor anywhere this imports: a remote command needs no database, no store
credentials and no Django settings. Every failure is one of datatrac.errors (an httpx
error never escapes). Uploads go in parts and resume; downloads are verified as they
stream into the local cache, resume from their partial file with ``Range``, and are
placed with the same guarantees as in direct mode (registry.localfiles).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import ssl
import stat
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import httpx

from datatrac import errors
from datatrac.client import Client, Direction, Progress
from datatrac.records import (
    DatasetDetail,
    DatasetInfo,
    DeleteInfo,
    DownloadInfo,
    EdgeInfo,
    LineageInfo,
    LinkInfo,
    PurgeInfo,
    PushInfo,
    TokenInfo,
    WhoAmI,
)
from registry import errors as domain
from registry.hashing import CHUNK_SIZE, hash_file, normalize_hash_ref
from registry.localfiles import output_target, place_copy

USER_AGENT = "datatrac-cli/0.1 (+httpx)"
# A listing asks for the API's largest page: fewest round trips.
PAGE = 200
# Connecting gets a short ceiling (an unreachable server says so soon); reading a whole
# minute, since a server hashing or storing a large upload answers only when done.
TIMEOUT = httpx.Timeout(60.0, connect=15.0)
COMPLETE_TIMEOUT = httpx.Timeout(None, connect=15.0)
# The server's part size unless it says otherwise (DATATRAC_UPLOAD_PART_SIZE's default):
# the part digests are taken while the whole file is hashed, at this size.
GUESSED_PART_SIZE = 64 * 1024 * 1024
# Bytes per read of the file being pushed: large, so a 64 MiB part is sixteen reads and
# socket writes rather than sixty-four.
READ_SIZE = 4 * 1024 * 1024


class RemoteClient(Client):
    """A registry on a team server. ``url`` is the server (``https://host``), without
    /api/v1; ``cache`` the download cache directory (as in direct mode)."""

    def __init__(self, url: str, *, token: str | None, cache: Path) -> None:
        self.where = url
        self.token = token
        self.cache = cache
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=f"{url}/api/v1", headers=headers, timeout=TIMEOUT, follow_redirects=False
        )

    def close(self) -> None:
        self._http.close()

    # --- HTTP -----------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; a typed error for any failure (no connection, 4xx, 5xx)."""
        with self._translated():
            response = self._http.request(method, path, **kwargs)
        if response.is_error:
            raise self._error(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._call(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise errors.ServerError(
                f"the server at {self.where} answered {method} {path} with something that "
                "is not JSON: is DATATRAC_URL a DataTrac server?"
            ) from None

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """httpx's errors as ConnectionFailed: one line saying what went wrong where."""
        try:
            yield
        except httpx.TimeoutException as exc:
            kind = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "waiting for it"
            raise errors.ConnectionFailed(
                f"the server at {self.where} timed out ({kind}); try again later"
            ) from None
        except httpx.ConnectError as exc:
            cause = _root_cause(exc)
            if isinstance(cause, ssl.SSLError):
                reason = getattr(cause, "verify_message", None) or cause.reason or str(cause)
                raise errors.ConnectionFailed(
                    f"TLS failed with {self.where}: {reason}"
                    " (check the URL, the server's certificate, or SSL_CERT_FILE)"
                ) from None
            raise errors.ConnectionFailed(
                f"cannot reach the server at {self.where}: {_reason(cause)}"
            ) from None
        except httpx.HTTPError as exc:
            raise errors.ConnectionFailed(
                f"lost the connection to {self.where}: {_reason(_root_cause(exc))}"
            ) from None

    def _error(self, response: httpx.Response) -> errors.DataTracError:
        status = response.status_code
        code, detail = "", ""
        with contextlib.suppress(ValueError, AttributeError):
            body = json.loads(response.read())
            code, detail = str(body.get("error", "")), str(body.get("detail", ""))
        detail = detail or response.reason_phrase or f"HTTP {status}"
        if status in (401, 429):
            hint = (
                "set a valid DATATRAC_TOKEN"
                if self.token and os.environ.get("DATATRAC_TOKEN")
                else f"run `datatrac login {self.where}`"
            )
            if not self.token:
                hint = f"no token: run `datatrac login {self.where}` or set DATATRAC_TOKEN"
            return errors.AuthenticationFailed(f"the server refused the request: {detail}; {hint}")
        if status == 403:
            return errors.PermissionDenied(detail)
        if status in (404, 410):
            return errors.NotFound(detail)
        if code == "ambiguous_hash":
            return errors.Ambiguous(detail)
        if status == 409:
            return errors.Conflict(detail)
        if code == "integrity_failure":
            return errors.IntegrityError(detail)
        if 400 <= status < 500:
            return errors.InvalidRef(detail)
        if code in ("store_error", "not_migrated"):
            return errors.ServerError(f"the server failed: {detail}")
        return errors.ServerError(f"the server at {self.where} failed (HTTP {status}): {detail}")

    def _ref(self, ref: str) -> str:
        """A ref checked here first: bad input never becomes a request."""
        try:
            return quote(normalize_hash_ref(ref), safe="")
        except domain.InvalidHash as exc:
            raise errors.InvalidRef(str(exc)) from None

    # --- reads ------------------------------------------------------------------------

    def whoami(self) -> WhoAmI:
        data = self._json("GET", "/whoami")
        return WhoAmI(
            username=data["username"],
            authenticated=data["authenticated"],
            via=data["via"],
            token_id=data.get("token_id"),
            scope=data.get("scope"),
            permissions=tuple(data.get("permissions", ())),
            server=self.where,
        )

    def list_datasets(
        self,
        *,
        query: str = "",
        deleted: bool = False,
        limit: int | None = None,
        after: str | None = None,
    ) -> Iterator[DatasetInfo]:
        params: dict[str, Any] = {"q": query, "deleted": deleted, "sort": "-pushed_at"}
        if after is not None:
            params["after_dataset"] = self._ref(after)
        left = limit
        while left is None or left > 0:
            params["limit"] = PAGE if left is None else min(PAGE, left)
            page = self._json("GET", "/datasets", params=params)
            for item in page["items"]:
                yield DatasetInfo.from_dict(item)
            if left is not None:
                left -= len(page["items"])
            if page.get("next") is None or not page["items"]:
                return
            params.pop("after_dataset", None)
            params["after"] = page["next"]

    def more_after(self, *, last: DatasetInfo, query: str, deleted: bool, cap: int) -> int:
        return sum(
            1 for _ in self.list_datasets(query=query, deleted=deleted, limit=1, after=last.sha256)
        )

    def _dataset(self, ref: str) -> DatasetInfo:
        return DatasetInfo.from_dict(self._json("GET", f"/datasets/{self._ref(ref)}"))

    def get(self, ref: str) -> DatasetDetail:
        dataset = self._dataset(ref)
        links = self._json("GET", f"/datasets/{dataset.sha256}/links")

        def edges(key: str) -> tuple[EdgeInfo, ...]:
            return tuple(
                EdgeInfo(sha256=e["sha256"], name=e["name"], note=e["note"]) for e in links[key]
            )

        return DatasetDetail(dataset=dataset, parents=edges("parents"), children=edges("children"))

    def lineage(self, ref: str, *, depth: int = 3, direction: Direction = "both") -> LineageInfo:
        data = self._json(
            "GET",
            f"/datasets/{self._ref(ref)}/lineage",
            params={"depth": depth, "direction": direction},
        )
        return LineageInfo.from_dict(data)

    # --- lineage ----------------------------------------------------------------------

    def link(self, parent: str, child: str, *, note: str = "") -> LinkInfo:
        data = self._json(
            "POST",
            "/lineage/links",
            json={"parent": self._ref(parent), "child": self._ref(child), "note": note},
        )
        return LinkInfo(parent=data["parent"], child=data["child"], created=data["created"])

    def unlink(self, parent: str, child: str) -> LinkInfo:
        params = {"parent": self._ref(parent), "child": self._ref(child)}
        self._call("DELETE", "/lineage/links", params=params)
        return LinkInfo(parent=params["parent"], child=params["child"], created=False)

    # --- push -------------------------------------------------------------------------

    def push(
        self,
        path: Path,
        *,
        source: str,
        name: str | None = None,
        description: str = "",
        parents: Sequence[str] = (),
        progress: Progress | None = None,
    ) -> PushInfo:
        size = _readable_file(path).st_size
        try:
            sha256, hashed, part_digests = _hash_with_parts(path, GUESSED_PART_SIZE, progress)
        except OSError as exc:
            raise errors.InvalidRef(f"cannot read {path}: {exc.strerror or exc}") from None
        if hashed != size:
            raise errors.Conflict(f"{path} changed while it was hashed: push it again")
        upload = self._resumable_upload(sha256)
        if upload is None:
            body = {
                "sha256": sha256,
                "size": size,
                "name": name or path.name,
                "source": source,
                "description": description,
                "parents": [self._ref(p) for p in parents],
            }
            data = self._json("POST", "/uploads", json=body)
            if data.get("status") == "exists":
                if progress:
                    progress(size)
                return PushInfo(
                    dataset=DatasetInfo.from_dict(data["dataset"]),
                    outcome=data["outcome"],
                    uploaded=False,
                )
            upload = data
            self._remember_upload(sha256, data["upload_id"])
            upload["received"] = []
        self._send_parts(
            path,
            upload,
            size=size,
            progress=progress,
            digests=part_digests if int(upload["part_size"]) == GUESSED_PART_SIZE else None,
        )
        done = self._json(
            "POST", f"/uploads/{upload['upload_id']}/complete", timeout=COMPLETE_TIMEOUT
        )
        self._forget_upload(sha256)
        return PushInfo(
            dataset=DatasetInfo.from_dict(done["dataset"]), outcome=done["outcome"], uploaded=True
        )

    def _upload_memo(self, sha256: str) -> Path:
        # Keyed by server and content: an interrupted push of this file to this server.
        server = hashlib.sha256(self.where.encode()).hexdigest()[:16]
        return self.cache / "uploads" / server / f"{sha256}.json"

    def _remember_upload(self, sha256: str, upload_id: object) -> None:
        memo = self._upload_memo(sha256)
        with contextlib.suppress(OSError):  # without it a push still works, it just won't resume
            memo.parent.mkdir(parents=True, exist_ok=True)
            temp = memo.with_suffix(".tmp")
            temp.write_text(json.dumps({"upload_id": upload_id}))
            os.replace(temp, memo)

    def _forget_upload(self, sha256: str) -> None:
        with contextlib.suppress(OSError):
            self._upload_memo(sha256).unlink(missing_ok=True)

    def _resumable_upload(self, sha256: str) -> dict[str, Any] | None:
        """The server's record of an earlier, interrupted upload of this content (with
        the parts it received), or None when there is none to resume."""
        try:
            upload_id = json.loads(self._upload_memo(sha256).read_text())["upload_id"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        try:
            data = self._json("GET", f"/uploads/{quote(str(upload_id), safe='')}")
        except (errors.NotFound, errors.InvalidRef, errors.Conflict):
            self._forget_upload(sha256)  # expired, finished or swept: start afresh
            return None
        if not isinstance(data, dict) or data.get("status") in ("complete", "expired"):
            self._forget_upload(sha256)
            return None
        data.setdefault("upload_id", upload_id)
        return data

    def _send_parts(
        self,
        path: Path,
        upload: dict[str, Any],
        *,
        size: int,
        progress: Progress | None,
        digests: list[bytes] | None = None,
    ) -> None:
        """Send the parts the server lacks; ``digests``: each part's SHA-256, taken in the
        pass that hashed the whole (else each part is hashed here before it is sent)."""
        part_size = int(upload["part_size"])
        # An empty file is an upload of no parts.
        parts = int(upload["parts"]) if "parts" in upload else -(-size // part_size)
        received = {int(p["n"]): p for p in upload.get("received", [])}
        with path.open("rb") as source:
            for n in range(1, parts + 1):
                offset = (n - 1) * part_size
                length = min(part_size, size - offset)
                digest = (
                    digests[n - 1]
                    if digests is not None and n <= len(digests)
                    else _part_digest(source, offset, length)
                )
                have = received.get(n)
                if have and int(have["size"]) == length and have.get("sha256") == digest.hex():
                    if progress:
                        progress(length)  # the server has this part already
                    continue
                self._call(
                    "PUT",
                    f"/uploads/{upload['upload_id']}/parts/{n}",
                    content=_read_range(source, offset, length, progress),
                    headers={
                        "Content-Length": str(length),
                        "Content-Type": "application/octet-stream",
                        "Content-Digest": f"sha-256=:{base64.b64encode(digest).decode()}:",
                    },
                )

    # --- download ---------------------------------------------------------------------

    def output_path(self, ref: str, output: str | None) -> tuple[Path, bool]:
        dataset = self._dataset(ref)
        with _domain_errors():
            return output_target(dataset.name, dataset.short_hash, output, force=True)

    def download(
        self,
        ref: str,
        *,
        output: str | None = None,
        force: bool = False,
        progress: Progress | None = None,
    ) -> DownloadInfo:
        dataset = self._dataset(ref)
        if not dataset.is_available:
            raise errors.NotFound(
                f"object {dataset.sha256} is missing from the registry (the dataset was deleted)"
            )
        with _domain_errors():
            target, replaces = output_target(dataset.name, dataset.short_hash, output, force=force)
        cached = self._cache_path(dataset.sha256)
        from_cache = _cached_copy_is_valid(cached, dataset.sha256)
        if not from_cache:
            self._fetch_into_cache(dataset, cached, progress)
        with _domain_errors():
            place_copy(cached, target, replace=replaces)
        return DownloadInfo(dataset=dataset, path=target, from_cache=from_cache, replaced=replaces)

    def _cache_path(self, sha256: str) -> Path:
        return self.cache / sha256[:2] / sha256[2:4] / sha256

    def _fetch_into_cache(
        self, dataset: DatasetInfo, cached: Path, progress: Progress | None
    ) -> None:
        """Stream the bytes into ``.<sha256>.remote.part`` beside the cache entry, hashing
        as they come, then rename it. A killed download leaves the part: the next one
        hashes what it holds and asks only for the rest (``Range``)."""
        part = cached.with_name(f".{cached.name}.remote.part")
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise errors.InvalidRef(
                f"cannot write to the download cache {self.cache}: {exc.strerror or exc} "
                "(set DATATRAC_CACHE_DIR to a writable directory)"
            ) from None
        with os.fdopen(fd, "r+b") as out:
            try:
                fcntl.flock(out.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise errors.Conflict(
                    f"another download of {dataset.short_hash} is running; try again when "
                    "it is done"
                ) from None
            digest, have = _hash_part(out, dataset.size)
            if progress and have:
                progress(have)
            if have < dataset.size:
                digest, have = self._receive(dataset, out, digest, have, progress)
            if have != dataset.size or digest.hexdigest() != dataset.sha256:
                out.truncate(0)
                part.unlink(missing_ok=True)
                raise errors.IntegrityError(
                    f"hash mismatch for dataset {dataset.short_hash} ({dataset.name!r}): the "
                    f"server sent {have} bytes with sha256 {digest.hexdigest()[:12]}; "
                    "nothing was written"
                )
            out.flush()
            os.fchmod(out.fileno(), 0o444)
            os.replace(part, cached)  # still locked: no sweep takes it from under us

    def _receive(
        self,
        dataset: DatasetInfo,
        out: BinaryIO,
        digest: Any,
        have: int,
        progress: Progress | None,
    ) -> tuple[Any, int]:
        headers = {"Accept": "*/*"}
        if have:
            headers["Range"] = f"bytes={have}-"
            headers["If-Range"] = f'"{dataset.sha256}"'
        path = f"/datasets/{dataset.sha256}/content"
        with self._translated(), self._http.stream("GET", path, headers=headers) as response:
            if response.is_error:
                response.read()
                raise self._error(response)
            if response.status_code != 206 and have:
                # The whole object came back (no range support): start over.
                out.seek(0)
                out.truncate(0)
                digest, have = hashlib.sha256(), 0
            out.seek(have)
            for chunk in response.iter_bytes(CHUNK_SIZE):
                have += len(chunk)
                if have > dataset.size:
                    break  # more than the dataset holds: fails the check below
                out.write(chunk)
                digest.update(chunk)
                if progress:
                    progress(len(chunk))
        return digest, have

    def delete_local(self, ref: str) -> tuple[DatasetInfo, bool]:
        dataset = self._dataset(ref)
        try:
            self._cache_path(dataset.sha256).unlink()
        except FileNotFoundError:
            return dataset, False
        return dataset, True

    # --- administration ---------------------------------------------------------------

    def delete(self, ref: str, *, force: bool = False) -> DeleteInfo:
        data = self._json(
            "DELETE", f"/datasets/{self._ref(ref)}", params={"force": str(force).lower()}
        )
        dataset = data.get("dataset", data)
        return DeleteInfo(
            dataset=DatasetInfo.from_dict(dataset),
            object_was_missing=bool(data.get("object_was_missing", False)),
        )

    def purge(self, ref: str) -> PurgeInfo:
        data = self._json("POST", f"/datasets/{self._ref(ref)}/purge")
        dataset = data.get("dataset", data)
        return PurgeInfo(
            sha256=dataset.get("sha256", data.get("sha256", "")),
            name=dataset.get("name", data.get("name", "")),
            edges_removed=int(data.get("edges_removed", 0)),
            downloads_removed=int(data.get("downloads_removed", 0)),
        )

    def restore(self, ref: str) -> DatasetInfo:
        data = self._json("POST", f"/datasets/{self._ref(ref)}/restore")
        return DatasetInfo.from_dict(data.get("dataset", data))

    # --- tokens -----------------------------------------------------------------------

    def create_token(self, name: str, *, scope: str = "read", days: int = 90) -> TokenInfo:
        data = self._json(
            "POST", "/tokens", json={"name": name, "scope": scope, "expires_days": days}
        )
        return _token(data)

    def list_tokens(self) -> list[TokenInfo]:
        return [_token(item) for item in self._json("GET", "/tokens")]

    def revoke_token(self, token_id: int) -> bool:
        before = {t.id: t for t in self.list_tokens()}.get(token_id)
        data = self._json("DELETE", f"/tokens/{int(token_id)}")
        return before is None or (before.revoked_at is None and data.get("revoked_at") is not None)


def _token(data: dict[str, Any]) -> TokenInfo:
    return TokenInfo(
        id=int(data["id"]),
        name=data["name"],
        scope=data["scope"],
        created_at=data["created_at"],
        expires_at=data["expires_at"],
        last_used_at=data.get("last_used_at"),
        revoked_at=data.get("revoked_at"),
        secret=data.get("secret"),
    )


@contextlib.contextmanager
def _domain_errors() -> Iterator[None]:
    """registry.localfiles' errors (a bad --output, an existing file) as client errors."""
    try:
        yield
    except domain.ConfirmationRequired as exc:
        raise errors.Conflict(str(exc)) from None
    except domain.DataTracError as exc:
        raise errors.InvalidRef(str(exc)) from None


def _readable_file(path: Path) -> os.stat_result:
    try:
        info = path.stat()
    except OSError as exc:
        raise errors.InvalidRef(f"cannot read {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise errors.InvalidRef(f"{path} is not a regular file")
    if not os.access(path, os.R_OK):
        raise errors.InvalidRef(f"cannot read {path}: permission denied")
    return info


def _hash_with_parts(
    path: Path, part_size: int, progress: Progress | None
) -> tuple[str, int, list[bytes]]:
    """The file's SHA-256 and size, and the SHA-256 of each ``part_size`` part, in one
    read of the file: the part digests (each part's Content-Digest) then cost no second
    read when the server's part size is the one guessed.

    The part digests are taken on a second thread while this one takes the whole
    (hashlib lets go of the GIL for large updates), so on two cores the pass costs about
    one hash of the file rather than two.
    """
    whole = hashlib.sha256()
    parts: list[bytes] = []
    part = hashlib.sha256()
    in_part = 0

    def update_parts(chunk: memoryview) -> None:
        nonlocal part, in_part
        while chunk:
            take = min(len(chunk), part_size - in_part)
            part.update(chunk[:take])
            in_part += take
            chunk = chunk[take:]
            if in_part == part_size:
                parts.append(part.digest())
                part, in_part = hashlib.sha256(), 0

    size = 0
    buffer = bytearray(READ_SIZE)
    view = memoryview(buffer)
    with (
        path.open("rb", buffering=0) as stream,
        ThreadPoolExecutor(max_workers=1) as helper,
    ):
        while n := stream.readinto(view):
            chunk = view[:n]
            pending = helper.submit(update_parts, chunk)
            whole.update(chunk)
            pending.result()  # the buffer is read into again only once both are done
            size += n
            if progress:
                progress(n)
    if in_part:
        parts.append(part.digest())
    return whole.hexdigest(), size, parts


def _part_digest(source: BinaryIO, offset: int, length: int) -> bytes:
    digest = hashlib.sha256()
    for chunk in _chunks(source, offset, length):
        digest.update(chunk)
    return digest.digest()


def _chunks(source: BinaryIO, offset: int, length: int) -> Iterator[bytes]:
    source.seek(offset)
    left = length
    while left > 0:
        chunk = source.read(min(READ_SIZE, left))
        if not chunk:
            raise errors.Conflict(f"{source.name} shrank while it was pushed: push it again")
        left -= len(chunk)
        yield chunk


def _read_range(
    source: BinaryIO, offset: int, length: int, progress: Progress | None
) -> Iterator[bytes]:
    for chunk in _chunks(source, offset, length):
        if progress:
            progress(len(chunk))
        yield chunk


def _hash_part(out: BinaryIO, size: int) -> tuple[Any, int]:
    """The SHA-256 state and length of what a partial download holds (nothing if it is
    longer than the dataset: then it is no prefix of it)."""
    digest = hashlib.sha256()
    out.seek(0)
    have = 0
    while chunk := out.read(CHUNK_SIZE):
        digest.update(chunk)
        have += len(chunk)
    if have > size:
        out.seek(0)
        out.truncate(0)
        return hashlib.sha256(), 0
    return digest, have


def _cached_copy_is_valid(cached: Path, sha256: str) -> bool:
    try:
        if not cached.is_file():
            return False
        if hash_file(cached)[0] == sha256:
            return True
        cached.unlink(missing_ok=True)  # a corrupted cache entry is refetched, never served
    except OSError as exc:
        raise errors.InvalidRef(f"cannot use the download cache: {exc.strerror or exc}") from None
    return False


def _root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return exc


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
