"""Uploads through the API in parts, against a live server with real tokens."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import LazySettings

from registry.models import AuditEvent, Dataset, Upload
from tests.api.conftest import assert_error, make_token
from tests.api.transfers import (
    digest_header,
    parts_of,
    put_part,
    sha256_of,
    start,
    upload_all,
)

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
