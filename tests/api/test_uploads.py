"""Uploads through the API in parts, against a live server with real tokens."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import LazySettings
from django.utils import timezone

from lineage.models import LineageEdge
from registry.models import AuditEvent, Dataset, Upload
from registry.storage.base import object_key
from tests.api.conftest import assert_error, make_token
from tests.api.transfers import (
    digest_header,
    parts_of,
    put_part,
    sha256_of,
    start,
    upload_all,
)
from tests.factories import member_of
from tests.fixtures.sshd import SSHStoreConfig

Api = Callable[..., httpx.Client]
PART = 1000


@pytest.fixture(autouse=True)
def small_parts(settings: LazySettings) -> None:
    settings.DATATRAC_UPLOAD_PART_SIZE = PART


@pytest.fixture
def contributor(api: Api, users: dict[str, Any]) -> httpx.Client:
    return api(make_token(users["contributor"], "write"))


def stored_objects(settings: LazySettings) -> list[Path]:
    root = Path(settings.DATATRAC_HOME) / "store"
    return [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")]


def test_a_full_upload_in_parts_registers_the_dataset_and_stores_one_object(
    contributor: httpx.Client, settings: LazySettings
) -> None:
    data = os.urandom(3 * PART + 17)
    started = start(contributor, data, name="table.csv", source="https://example.org/t")
    assert started.status_code == 201, started.text
    body = started.json()
    assert body["status"] == "upload"
    assert (body["part_size"], body["parts"]) == (PART, 4)
    for n, part in enumerate(parts_of(data, PART), start=1):
        sent = put_part(contributor, body["upload_id"], n, part)
        assert sent.status_code == 200, sent.text
        assert sent.json() == {"n": n, "size": len(part), "sha256": sha256_of(part)}
    done = contributor.post(f"/uploads/{body['upload_id']}/complete")
    assert done.status_code == 201, done.text
    assert done.json()["outcome"] == "created"
    assert done.json()["dataset"]["sha256"] == sha256_of(data)
    dataset = Dataset.objects.get(sha256=sha256_of(data))
    assert (dataset.name, dataset.size, dataset.pushed_by) == (
        "table.csv",
        len(data),
        "contributor",
    )
    assert [p.read_bytes() for p in stored_objects(settings)] == [data]
    assert not Upload.objects.exists()
    assert not any((Path(settings.DATATRAC_UPLOAD_DIR)).iterdir())


def test_known_content_answers_exists_links_the_parents_and_opens_no_upload(
    contributor: httpx.Client, settings: LazySettings
) -> None:
    parent_data, data = os.urandom(500), os.urandom(2500)
    assert upload_all(contributor, parent_data, name="raw.csv").status_code == 201
    assert upload_all(contributor, data, name="clean.csv").status_code == 201

    again = start(contributor, data, name="other-name.csv", parents=[sha256_of(parent_data)[:10]])

    assert again.status_code == 200, again.text
    body = again.json()
    assert (body["status"], body["outcome"]) == ("exists", "existing")
    assert body["dataset"]["sha256"] == sha256_of(data)
    assert body["dataset"]["name"] == "clean.csv"
    assert not Upload.objects.exists()
    child = Dataset.objects.get(sha256=sha256_of(data))
    assert list(
        LineageEdge.objects.filter(child=child).values_list("parent__sha256", flat=True)
    ) == [sha256_of(parent_data)]
    assert len(stored_objects(settings)) == 2


def test_content_flagged_corrupt_or_missing_from_the_store_must_be_sent_again(
    contributor: httpx.Client, settings: LazySettings
) -> None:
    data = os.urandom(1500)
    assert upload_all(contributor, data).status_code == 201
    Dataset.objects.filter(sha256=sha256_of(data)).update(corrupt_since="2026-01-01T00:00Z")
    assert start(contributor, data).status_code == 201

    done = upload_all(contributor, data)

    assert done.status_code == 201, done.text
    assert done.json()["outcome"] == "repaired"
    assert Dataset.objects.get(sha256=sha256_of(data)).corrupt_since is None


def test_an_upload_killed_half_way_resumes_from_the_parts_the_server_lists(
    api: Api, users: dict[str, Any], settings: LazySettings
) -> None:
    token = make_token(users["contributor"], "write")
    data = os.urandom(5 * PART + 1)
    parts = parts_of(data, PART)
    first = api(token)
    upload_id = start(first, data).json()["upload_id"]
    for n in (1, 2, 4):  # then the client dies
        assert put_part(first, upload_id, n, parts[n - 1]).status_code == 200
    first.close()

    resumed = api(token)
    state = resumed.get(f"/uploads/{upload_id}")
    assert state.status_code == 200, state.text
    body = state.json()
    assert (body["sha256"], body["size"], body["parts"]) == (sha256_of(data), len(data), 6)
    assert body["received"] == [
        {"n": n, "size": PART, "sha256": sha256_of(parts[n - 1])} for n in (1, 2, 4)
    ]
    early = resumed.post(f"/uploads/{upload_id}/complete")
    assert "3, 5, 6" in assert_error(early, 409, "upload_incomplete")["detail"]
    received = {part["n"] for part in body["received"]}
    for n in range(1, body["parts"] + 1):
        if n not in received:
            assert put_part(resumed, upload_id, n, parts[n - 1]).status_code == 200
    done = resumed.post(f"/uploads/{upload_id}/complete")
    assert done.status_code == 201, done.text
    assert [p.read_bytes() for p in stored_objects(settings)] == [data]


def test_a_part_with_a_wrong_digest_is_refused_and_nothing_of_it_kept(
    contributor: httpx.Client,
) -> None:
    data = os.urandom(2 * PART)
    upload_id = start(contributor, data).json()["upload_id"]

    wrong = put_part(contributor, upload_id, 1, data[:PART], digest=digest_header(b"other"))

    assert "Content-Digest" in assert_error(wrong, 422, "digest_mismatch")["detail"]
    assert contributor.get(f"/uploads/{upload_id}").json()["received"] == []
    missing = contributor.put(f"/uploads/{upload_id}/parts/1", content=data[:PART])
    assert_error(missing, 400, "digest_required")
    garbled = put_part(contributor, upload_id, 1, data[:PART], digest="sha-256=:not base64!:")
    assert_error(garbled, 400, "digest_required")


def test_a_part_sent_again_replaces_the_one_received(contributor: httpx.Client) -> None:
    data = os.urandom(2 * PART)
    upload_id = start(contributor, data).json()["upload_id"]
    assert put_part(contributor, upload_id, 1, os.urandom(PART)).status_code == 200
    assert put_part(contributor, upload_id, 1, data[:PART]).status_code == 200
    assert put_part(contributor, upload_id, 2, data[PART:]).status_code == 200

    state = contributor.get(f"/uploads/{upload_id}").json()

    assert [p["sha256"] for p in state["received"]] == [
        sha256_of(data[:PART]),
        sha256_of(data[PART:]),
    ]
    assert contributor.post(f"/uploads/{upload_id}/complete").status_code == 201


def test_a_short_part_a_part_past_the_size_and_a_part_out_of_range_are_refused(
    contributor: httpx.Client,
) -> None:
    data = os.urandom(PART + 300)
    upload_id = start(contributor, data).json()["upload_id"]

    short = put_part(contributor, upload_id, 1, data[: PART - 1])
    past = put_part(contributor, upload_id, 2, data[PART:] + b"extra")
    beyond = put_part(contributor, upload_id, 3, b"x")
    zero = put_part(contributor, upload_id, 0, b"x")

    assert "short" in assert_error(short, 422, "bad_part")["detail"]
    assert "past the declared size" in assert_error(past, 422, "bad_part")["detail"]
    assert "out of range" in assert_error(beyond, 422, "bad_part")["detail"]
    assert zero.status_code == 422
    assert contributor.get(f"/uploads/{upload_id}").json()["received"] == []
    assert not Dataset.objects.exists()


def test_a_part_without_content_length_is_411(contributor: httpx.Client) -> None:
    data = os.urandom(PART)
    upload_id = start(contributor, data).json()["upload_id"]

    def chunked() -> Iterator[bytes]:
        yield data[:500]
        yield data[500:]

    response = contributor.put(
        f"/uploads/{upload_id}/parts/1",
        content=chunked(),
        headers={"Content-Digest": digest_header(data)},
    )

    assert "Content-Length" in assert_error(response, 411, "length_required")["detail"]


def test_a_size_over_the_limit_is_413_before_anything(
    contributor: httpx.Client, settings: LazySettings
) -> None:
    settings.DATATRAC_MAX_UPLOAD_SIZE = 10_000
    response = contributor.post(
        "/uploads", json={"sha256": "ab" * 32, "size": 10_001, "name": "big.bin"}
    )
    assert "DATATRAC_MAX_UPLOAD_SIZE" in assert_error(response, 413, "too_large")["detail"]
    assert not Upload.objects.exists()


def test_unknown_parents_are_refused_before_an_upload_opens(contributor: httpx.Client) -> None:
    data = os.urandom(100)
    response = start(contributor, data, parents=["ee" * 32])
    assert_error(response, 404, "unknown_dataset")
    assert not Upload.objects.exists()


@pytest.mark.parametrize("parts", [1, 2])
def test_a_whole_that_does_not_hash_to_the_announced_hash_is_422_and_registers_nothing(
    contributor: httpx.Client, settings: LazySettings, parts: int
) -> None:
    announced, sent = os.urandom(parts * PART), os.urandom(parts * PART)
    upload_id = start(contributor, announced).json()["upload_id"]
    for n, part in enumerate(parts_of(sent, PART), start=1):
        assert put_part(contributor, upload_id, n, part).status_code == 200  # each part is whole

    done = contributor.post(f"/uploads/{upload_id}/complete")

    assert "nothing was registered" in assert_error(done, 422, "digest_mismatch")["detail"]
    assert not Dataset.objects.exists()
    assert stored_objects(settings) == []
    assert not Upload.objects.exists()
    assert not any(Path(settings.DATATRAC_UPLOAD_DIR).iterdir())


def test_concurrent_completes_of_the_same_content_leave_one_row_and_one_object(
    api: Api, users: dict[str, Any], settings: LazySettings
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    data = os.urandom(4 * PART)
    clients = [api(make_token(users["contributor"], "write")) for _ in range(2)]
    clients.append(api(make_token(users["administrator"], "write")))
    upload_ids = [start(client, data).json()["upload_id"] for client in clients]
    for client, upload_id in zip(clients, upload_ids, strict=True):
        for n, part in enumerate(parts_of(data, PART), start=1):
            assert put_part(client, upload_id, n, part).status_code == 200

    with ThreadPoolExecutor(len(clients)) as pool:
        done = list(
            pool.map(
                lambda pair: pair[0].post(f"/uploads/{pair[1]}/complete"),
                zip(clients, upload_ids, strict=True),
            )
        )

    assert [r.status_code for r in done] == [201, 201, 201], [r.text for r in done]
    assert sorted(r.json()["outcome"] for r in done) == ["created", "existing", "existing"]
    assert Dataset.objects.count() == 1
    assert [p.read_bytes() for p in stored_objects(settings)] == [data]
    assert AuditEvent.objects.filter(action=AuditEvent.Action.PUSH).count() == 1


def test_an_upload_is_its_uploaders_and_an_administrators_only(
    api: Api, users: dict[str, Any]
) -> None:
    data = os.urandom(PART)
    owner = api(make_token(users["contributor"], "write"))
    upload_id = start(owner, data).json()["upload_id"]
    stranger = api(make_token(member_of("contributors", "stranger"), "write"))
    administrator = api(make_token(users["administrator"], "admin"))

    assert_error(stranger.get(f"/uploads/{upload_id}"), 404, "unknown_upload")
    assert_error(put_part(stranger, upload_id, 1, data), 404, "unknown_upload")
    assert_error(stranger.delete(f"/uploads/{upload_id}"), 404, "unknown_upload")
    assert administrator.get(f"/uploads/{upload_id}").status_code == 200
    assert owner.delete(f"/uploads/{upload_id}").status_code == 204
    assert_error(owner.get(f"/uploads/{upload_id}"), 404, "unknown_upload")


def test_a_viewer_may_not_upload_and_the_refusal_is_audited(
    api: Api, users: dict[str, Any]
) -> None:
    viewer = api(make_token(users["viewer"], "read"))
    read_scope = api(make_token(users["contributor"], "read"))

    for client, who in ((viewer, "viewer"), (read_scope, "contributor")):
        assert_error(start(client, b"data"), 403, "permission_denied")
        assert AuditEvent.objects.filter(
            action=AuditEvent.Action.PERMISSION_DENIED, actor=who
        ).exists()
    assert not Upload.objects.exists()


def test_aborting_an_upload_removes_its_row_and_parts(
    contributor: httpx.Client, settings: LazySettings
) -> None:
    data = os.urandom(2 * PART)
    upload_id = start(contributor, data).json()["upload_id"]
    assert put_part(contributor, upload_id, 1, data[:PART]).status_code == 200

    assert contributor.delete(f"/uploads/{upload_id}").status_code == 204

    assert not Upload.objects.exists()
    assert not (Path(settings.DATATRAC_UPLOAD_DIR) / upload_id).exists()
    assert_error(contributor.post(f"/uploads/{upload_id}/complete"), 404, "unknown_upload")


def test_gc_sweeps_expired_uploads_rows_and_parts(
    contributor: httpx.Client, users: dict[str, Any], settings: LazySettings
) -> None:
    from django.core.management import call_command

    data = os.urandom(2 * PART)
    stale_id = start(contributor, data).json()["upload_id"]
    assert put_part(contributor, stale_id, 1, data[:PART]).status_code == 200
    fresh_id = start(contributor, os.urandom(PART)).json()["upload_id"]
    Upload.objects.filter(pk=stale_id).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert_error(contributor.get(f"/uploads/{stale_id}"), 404, "unknown_upload")
    settings.DATATRAC_USER = "administrator"

    out, err = io.StringIO(), io.StringIO()
    call_command("gc", stdout=out, stderr=err)

    assert f"removed expired upload {stale_id}" in out.getvalue()
    assert "1 expired API upload" in err.getvalue()
    assert list(Upload.objects.values_list("id", flat=True)) == [fresh_id]
    assert not (Path(settings.DATATRAC_UPLOAD_DIR) / stale_id).exists()
    assert (Path(settings.DATATRAC_UPLOAD_DIR) / fresh_id).exists()
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.GC_REMOVE, detail__contains="expired API upload"
    ).exists()


@pytest.mark.ssh
def test_complete_stores_through_the_ssh_store(
    ssh_settings: SSHStoreConfig, contributor: httpx.Client
) -> None:
    data = os.urandom(3 * PART + 5)

    done = upload_all(contributor, data, name="remote.csv")

    assert done.status_code == 201, done.text
    sha = sha256_of(data)
    assert (ssh_settings.base / object_key(sha)).read_bytes() == data
    assert (
        Dataset.objects.get(sha256=sha).storage_location == f"{ssh_settings.url}/{object_key(sha)}"
    )
    assert start(contributor, data).json()["status"] == "exists"


def test_an_empty_file_is_an_upload_of_no_parts(
    contributor: httpx.Client, settings: LazySettings
) -> None:
    started = start(contributor, b"", name="empty.txt")
    assert started.status_code == 201, started.text
    assert started.json()["parts"] == 0
    assert_error(put_part(contributor, started.json()["upload_id"], 1, b""), 422, "bad_part")

    done = contributor.post(f"/uploads/{started.json()['upload_id']}/complete")

    assert done.status_code == 201, done.text
    assert done.json()["dataset"]["size"] == 0
    assert [p.read_bytes() for p in stored_objects(settings)] == [b""]
