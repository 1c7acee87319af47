"""Finding 1 of the hardening issue: the web download never completes corrupt bytes.

Against gunicorn (the production server) with a real HTTP client and a real Chromium:
the last chunk is held back until the hash is verified, so a corrupt object ends the
response short of its Content-Length; the client sees a failed transfer, the download
is not counted and the audit trail records the failure.
"""

from __future__ import annotations

import hashlib
import http.client
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from django.urls import reverse

from registry.models import AuditEvent, Dataset, DownloadRecord
from registry.storage.local import LocalStorage
from tests.conftest import CLI
from tests.fixtures.gunicorn import Gunicorn
from tests.fixtures.sshd import SSHStoreConfig
from tests.integrity.conftest import ssh_env
from tests.webhelpers import stored_dataset

SIZE = 3 * 1024 * 1024 + 12_345  # several chunks and a short last one


def _rewrite(path: Path, change: Callable[[bytes], bytes]) -> None:
    path.chmod(0o644)
    path.write_bytes(change(path.read_bytes()))


def _flip(offset: int) -> Callable[[bytes], bytes]:
    def flip(data: bytes) -> bytes:
        return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1 :]

    return flip


# Every way stored bytes can differ from the registered ones.
CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "a flipped byte in the first chunk": _flip(100),
    "a flipped last byte": _flip(SIZE - 1),
    "bytes missing at the end": lambda data: data[:-1],
    "bytes missing from a whole chunk": lambda data: data[: 2 * 1024 * 1024],
    "extra bytes at the end": lambda data: data + b"tail",
    "a whole extra chunk": lambda data: data + os.urandom(1024 * 1024),
}


@pytest.fixture
def served(
    gunicorn_factory: Callable[..., Gunicorn], local_store: LocalStorage, tmp_path: Path
) -> tuple[Gunicorn, Dataset, Path]:
    """gunicorn with public read, and a dataset whose bytes are in the store."""
    dataset = stored_dataset(local_store, tmp_path, os.urandom(SIZE), name="rain.bin")
    server = gunicorn_factory({"DATATRAC_PUBLIC_READ": "true"})
    stored = local_store.root / dataset.sha256[:2] / dataset.sha256[2:4] / dataset.sha256
    return server, dataset, stored


def _get(server: Gunicorn, path: str) -> tuple[http.client.HTTPResponse, bytes]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=120)
    connection.request("GET", path)
    response = connection.getresponse()
    try:
        return response, response.read()
    finally:
        connection.close()


def _download_path(dataset: Dataset) -> str:
    return reverse("registry:dataset-download", args=[dataset.sha256])


@pytest.mark.parametrize("corruption", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_a_corrupt_object_fails_the_http_transfer_short_of_its_length(
    served: tuple[Gunicorn, Dataset, Path], corruption: Callable[[bytes], bytes]
) -> None:
    server, dataset, stored = served
    _rewrite(stored, corruption)
    _assert_the_transfer_fails_uncounted(server, dataset)


@pytest.mark.ssh
@pytest.mark.parametrize(
    "corruption",
    [CORRUPTIONS["a flipped last byte"], CORRUPTIONS["a whole extra chunk"]],
    ids=["a flipped last byte", "a whole extra chunk"],
)
def test_a_corrupt_object_in_an_ssh_store_fails_the_http_transfer_too(
    ssh_settings: SSHStoreConfig,
    gunicorn_factory: Callable[..., Gunicorn],
    cli: CLI,
    make_file: Callable[..., Path],
    corruption: Callable[[bytes], bytes],
) -> None:
    env = ssh_env(ssh_settings)
    pushed = cli("push", str(make_file(size=SIZE, name="rain.bin")), "--source", "s", env=env)
    assert pushed.returncode == 0, pushed.stderr
    dataset = Dataset.objects.get()
    sha256 = dataset.sha256
    _rewrite(ssh_settings.base / sha256[:2] / sha256[2:4] / sha256, corruption)
    server = gunicorn_factory({**env, "DATATRAC_PUBLIC_READ": "true"})
    _assert_the_transfer_fails_uncounted(server, dataset)


def _assert_the_transfer_fails_uncounted(server: Gunicorn, dataset: Dataset) -> None:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=120)
    connection.request("GET", _download_path(dataset))
    response = connection.getresponse()
    received = b""
    if response.status == 200:
        assert response.getheader("Content-Length") == str(SIZE)
        with pytest.raises(http.client.IncompleteRead) as failed:
            response.read()
        received = failed.value.partial
    else:  # corruption found before anything was sent: an error status, no bytes
        assert response.status >= 500
    connection.close()
    assert len(received) < SIZE
    dataset.refresh_from_db()
    assert dataset.download_count == 0
    assert not DownloadRecord.objects.filter(dataset=dataset).exists()
    events = AuditEvent.objects.filter(sha256=dataset.sha256, action=AuditEvent.Action.DOWNLOAD)
    assert [(e.outcome, "hash mismatch" in e.detail) for e in events] == [
        (AuditEvent.Outcome.FAILED, True)
    ]


def test_a_good_http_download_is_complete_counted_once_and_audited_ok(
    served: tuple[Gunicorn, Dataset, Path],
) -> None:
    server, dataset, _ = served
    response, body = _get(server, _download_path(dataset))
    assert response.status == 200
    assert len(body) == SIZE
    assert hashlib.sha256(body).hexdigest() == dataset.sha256
    dataset.refresh_from_db()
    assert dataset.download_count == 1
    assert DownloadRecord.objects.filter(dataset=dataset, via="web").count() == 1
    events = AuditEvent.objects.filter(sha256=dataset.sha256, action=AuditEvent.Action.DOWNLOAD)
    assert [e.outcome for e in events] == [AuditEvent.Outcome.OK]


@pytest.mark.browser
def test_chromium_reports_a_failed_download_of_a_corrupt_object(
    browser: object, served: tuple[Gunicorn, Dataset, Path], tmp_path: Path
) -> None:
    server, dataset, stored = served
    _rewrite(stored, _flip(SIZE - 1))
    context = browser.new_context(accept_downloads=True)  # type: ignore[attr-defined]
    context.set_default_timeout(60_000)
    page = context.new_page()
    try:
        page.goto(server.url + dataset.get_absolute_url())
        with page.expect_download() as info:
            page.click("text=Download")
        download = info.value
        assert download.failure() is not None
    finally:
        context.close()
    dataset.refresh_from_db()
    assert dataset.download_count == 0
    assert AuditEvent.objects.filter(
        sha256=dataset.sha256, action="download", outcome=AuditEvent.Outcome.FAILED
    ).exists()


@pytest.mark.browser
def test_chromium_completes_a_good_download_and_it_is_counted_once(
    browser: object, served: tuple[Gunicorn, Dataset, Path], tmp_path: Path
) -> None:
    server, dataset, _ = served
    context = browser.new_context(accept_downloads=True)  # type: ignore[attr-defined]
    context.set_default_timeout(60_000)
    page = context.new_page()
    try:
        page.goto(server.url + dataset.get_absolute_url())
        with page.expect_download() as info:
            page.click("text=Download")
        download = info.value
        assert download.failure() is None
        saved = tmp_path / "saved.bin"
        download.save_as(saved)
    finally:
        context.close()
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == dataset.sha256
    dataset.refresh_from_db()
    assert dataset.download_count == 1


@pytest.mark.browser
def test_chromium_reports_a_failed_download_of_a_small_corrupt_object(
    browser: object,
    gunicorn_factory: Callable[..., Gunicorn],
    local_store: LocalStorage,
    tmp_path: Path,
) -> None:
    content = b"station,mm\nLHR,3.2\n"  # one chunk: held back, so nothing is ever sent
    dataset = stored_dataset(local_store, tmp_path, content, name="small.csv")
    stored = local_store.root / dataset.sha256[:2] / dataset.sha256[2:4] / dataset.sha256
    _rewrite(stored, _flip(len(content) - 2))
    server = gunicorn_factory({"DATATRAC_PUBLIC_READ": "true"})
    context = browser.new_context(accept_downloads=True)  # type: ignore[attr-defined]
    context.set_default_timeout(60_000)
    page = context.new_page()
    try:
        page.goto(server.url + dataset.get_absolute_url())
        # The link is a download link: the error status (502) fails the download.
        with page.expect_download() as info:
            page.click("text=Download")
        assert info.value.failure() is not None
    finally:
        context.close()
    dataset.refresh_from_db()
    assert dataset.download_count == 0
