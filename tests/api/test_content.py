"""GET /api/v1/datasets/<ref>/content: whole, ranged, verified where it streams, counted once.

Against pytest-django's live server and gunicorn (the production server, sendfile and a
real worker), with real tokens; the file:// store is served as a file (FileResponse), an
SSH store streams through the verifying reader.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.http import FileResponse
from django.test import Client
from django.utils import timezone

from registry.models import AuditEvent, Dataset, DownloadRecord
from registry.storage import get_storage
from registry.storage.base import object_key
from registry.storage.local import LocalStorage
from tests.api.conftest import assert_error, make_token
from tests.fixtures.gunicorn import Gunicorn
from tests.fixtures.sshd import SSHStoreConfig
from tests.integrity.conftest import ssh_env
from tests.webhelpers import stored_dataset

SIZE = 3 * 1024 * 1024 + 12_345  # several chunks and a short last one


def repr_digest(data: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


@pytest.fixture
def data() -> bytes:
    return os.urandom(SIZE)


@pytest.fixture
def dataset(local_store: LocalStorage, tmp_path: Path, data: bytes) -> Dataset:
    return stored_dataset(local_store, tmp_path, data, name="rain fall.bin")


@pytest.fixture
def viewer_token(users: dict[str, Any]) -> str:
    return make_token(users["viewer"], "read")


@pytest.fixture(params=["live_server", "gunicorn"])
def base_url(request: pytest.FixtureRequest, users: dict[str, Any]) -> str:
    """The API of pytest-django's live server, or of gunicorn (sendfile) on this store."""
    if request.param == "live_server":
        return str(request.getfixturevalue("api_url"))
    start: Callable[..., Gunicorn] = request.getfixturevalue("gunicorn_factory")
    return f"{start().url}/api/v1"


def client_of(base_url: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=120
    )


def count_of(dataset: Dataset) -> int:
    dataset.refresh_from_db()
    assert DownloadRecord.objects.filter(dataset=dataset).count() == dataset.download_count
    return dataset.download_count


def test_a_whole_download_sends_the_bytes_with_etag_and_repr_digest_and_counts_once(
    base_url: str, viewer_token: str, dataset: Dataset, data: bytes
) -> None:
    with client_of(base_url, viewer_token) as client:
        response = client.get(f"/datasets/{dataset.sha256[:10]}/content")

    assert response.status_code == 200, response.text
    assert response.content == data
    headers = response.headers
    assert headers["Content-Length"] == str(SIZE)
    assert headers["ETag"] == f'"{dataset.sha256}"'
    assert headers["Repr-Digest"] == repr_digest(data)
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Disposition"] == 'attachment; filename="rain_fall.bin"'  # as the web's
    assert count_of(dataset) == 1
    events = AuditEvent.objects.filter(action=AuditEvent.Action.DOWNLOAD, sha256=dataset.sha256)
    assert [(e.actor, e.outcome, e.detail) for e in events] == [("viewer", "ok", "via api")]


def test_an_interrupted_download_resumes_with_range_and_counts_once(
    base_url: str, viewer_token: str, dataset: Dataset, data: bytes
) -> None:
    received = b""
    with (
        client_of(base_url, viewer_token) as client,
        client.stream("GET", f"/datasets/{dataset.sha256}/content") as response,
    ):
        for chunk in response.iter_bytes():
            received += chunk
            if len(received) >= 1024 * 1024:
                break  # the client dies half-way
    with client_of(base_url, viewer_token) as client:
        resumed = client.get(
            f"/datasets/{dataset.sha256}/content",
            headers={"Range": f"bytes={len(received)}-", "If-Range": f'"{dataset.sha256}"'},
        )

    assert resumed.status_code == 206, resumed.text
    assert resumed.headers["Content-Range"] == f"bytes {len(received)}-{SIZE - 1}/{SIZE}"
    assert resumed.headers["Content-Length"] == str(SIZE - len(received))
    assert received + resumed.content == data
    assert resumed.headers["Repr-Digest"] == repr_digest(data)  # of the whole, to verify it
    assert count_of(dataset) == 1


def test_ranges_in_the_middle_suffixes_and_if_range_with_another_etag(
    base_url: str, viewer_token: str, dataset: Dataset, data: bytes
) -> None:
    url = f"/datasets/{dataset.sha256}/content"
    with client_of(base_url, viewer_token) as client:
        middle = client.get(url, headers={"Range": "bytes=100-1048675"})
        suffix = client.get(url, headers={"Range": "bytes=-10"})
        overlong = client.get(url, headers={"Range": f"bytes=5-{SIZE * 2}"})
        stale = client.get(url, headers={"Range": "bytes=100-199", "If-Range": '"other"'})

    assert middle.status_code == 206
    assert middle.headers["Content-Range"] == f"bytes 100-1048675/{SIZE}"
    assert middle.content == data[100:1048676]
    assert (suffix.status_code, suffix.content) == (206, data[-10:])
    assert (overlong.status_code, overlong.content) == (206, data[5:])
    assert (stale.status_code, stale.content) == (200, data)


def test_an_unsatisfiable_range_is_416_with_the_size(
    base_url: str, viewer_token: str, dataset: Dataset
) -> None:
    with client_of(base_url, viewer_token) as client:
        response = client.get(
            f"/datasets/{dataset.sha256}/content", headers={"Range": f"bytes={SIZE}-"}
        )
    assert_error(response, 416, "range_not_satisfiable")
    assert response.headers["Content-Range"] == f"bytes */{SIZE}"
    assert count_of(dataset) == 0


def test_a_file_store_is_served_as_a_file_response_for_sendfile(
    users: dict[str, Any], dataset: Dataset, data: bytes
) -> None:
    client = Client(headers={"Authorization": f"Bearer {make_token(users['viewer'], 'read')}"})
    whole = client.get(f"/api/v1/datasets/{dataset.sha256}/content")
    tail = client.get(f"/api/v1/datasets/{dataset.sha256}/content", headers={"Range": "bytes=7-"})

    assert isinstance(whole, FileResponse)
    assert b"".join(whole.streaming_content) == data  # type: ignore[arg-type]
    assert isinstance(tail, FileResponse) and tail.status_code == 206
    assert b"".join(tail.streaming_content) == data[7:]  # type: ignore[arg-type]


def test_deleted_corrupt_flagged_and_wrong_sized_objects_are_refused_before_any_byte(
    api: Callable[..., httpx.Client],
    viewer_token: str,
    dataset: Dataset,
    local_store: LocalStorage,
) -> None:
    client = api(viewer_token)
    url = f"/datasets/{dataset.sha256}/content"
    Dataset.objects.filter(pk=dataset.pk).update(corrupt_since=timezone.now())
    assert "corrupt" in assert_error(client.get(url), 502, "integrity_failure")["detail"]
    Dataset.objects.filter(pk=dataset.pk).update(corrupt_since=None)
    stored = local_store.root / object_key(dataset.sha256)
    stored.chmod(0o644)
    with stored.open("ab") as extra:
        extra.write(b"tail")
    assert_error(client.get(url), 502, "integrity_failure")
    Dataset.objects.filter(pk=dataset.pk).update(state=Dataset.State.DELETED)
    assert_error(client.get(url), 410, "dataset_deleted")
    assert count_of(dataset) == 0


def test_downloading_needs_a_token_or_session(
    api: Callable[..., httpx.Client], dataset: Dataset
) -> None:
    assert_error(api().get(f"/datasets/{dataset.sha256}/content"), 401, "not_authenticated")


@pytest.fixture
def ssh_dataset(ssh_settings: SSHStoreConfig, tmp_path: Path, data: bytes) -> Dataset:
    return _stored_in_ssh(tmp_path, data)


def _stored_in_ssh(tmp_path: Path, data: bytes) -> Dataset:
    """A dataset whose bytes are in the configured (SSH) store."""
    source = tmp_path / "rain.bin"
    source.write_bytes(data)
    sha256 = hashlib.sha256(data).hexdigest()
    with get_storage() as storage:
        storage.put(sha256, source)
        location = storage.location(sha256)
    return Dataset.objects.create(
        sha256=sha256, name="rain.bin", size=len(data), storage_location=location, pushed_by="x"
    )


@pytest.mark.ssh
def test_an_ssh_store_streams_verified_bytes_and_ranges(
    api: Callable[..., httpx.Client], viewer_token: str, ssh_dataset: Dataset, data: bytes
) -> None:
    client = api(viewer_token)
    url = f"/datasets/{ssh_dataset.sha256}/content"

    whole = client.get(url)
    middle = client.get(url, headers={"Range": "bytes=1000-2999999"})
    tail = client.get(url, headers={"Range": f"bytes={SIZE - 100}-"})

    assert (whole.status_code, whole.content) == (200, data)
    assert whole.headers["Repr-Digest"] == repr_digest(data)
    assert (middle.status_code, middle.content) == (206, data[1000:3000000])
    assert (tail.status_code, tail.content) == (206, data[-100:])
    # The whole download and the range that reached the end; not the middle range.
    assert count_of(ssh_dataset) == 2


@pytest.mark.ssh
@pytest.mark.parametrize("size", [SIZE, 1000], ids=["several chunks", "one chunk"])
def test_a_corrupt_object_in_an_ssh_store_never_completes_through_gunicorn(
    ssh_settings: SSHStoreConfig,
    gunicorn_factory: Callable[..., Gunicorn],
    users: dict[str, Any],
    tmp_path: Path,
    size: int,
) -> None:
    data = os.urandom(size)
    dataset = _stored_in_ssh(tmp_path, data)
    stored = ssh_settings.base / object_key(dataset.sha256)
    stored.chmod(0o644)
    stored.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # the last byte flipped
    server = gunicorn_factory(ssh_env(ssh_settings))

    received = b""
    with (
        client_of(f"{server.url}/api/v1", make_token(users["viewer"], "read")) as client,
        client.stream("GET", f"/datasets/{dataset.sha256}/content") as response,
    ):
        if response.status_code == 200:
            with pytest.raises(httpx.RemoteProtocolError):
                for chunk in response.iter_bytes():
                    received += chunk
        else:  # found before the response started: an error, no bytes
            response.read()
            assert_error(response, 502, "integrity_failure")

    assert len(received) < size
    assert count_of(dataset) == 0
    events = AuditEvent.objects.filter(sha256=dataset.sha256, action=AuditEvent.Action.DOWNLOAD)
    assert [e.outcome for e in events] == [AuditEvent.Outcome.FAILED]
