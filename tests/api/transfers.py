"""Helpers for the transfer tests: the upload protocol spoken with httpx."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest_header(data: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


def start(
    client: httpx.Client, data: bytes, name: str = "data.csv", **extra: Any
) -> httpx.Response:
    body = {"sha256": sha256_of(data), "size": len(data), "name": name, **extra}
    return client.post("/uploads", json=body)


def put_part(
    client: httpx.Client, upload_id: str, n: int, data: bytes, *, digest: str | None = None
) -> httpx.Response:
    return client.put(
        f"/uploads/{upload_id}/parts/{n}",
        content=data,
        headers={"Content-Digest": digest if digest is not None else digest_header(data)},
    )


def parts_of(data: bytes, part_size: int) -> list[bytes]:
    return [data[i : i + part_size] for i in range(0, len(data), part_size)]


def upload_all(
    client: httpx.Client, data: bytes, name: str = "data.csv", **extra: Any
) -> httpx.Response:
    """Start, send every part, complete: the complete's response (or the start's, on
    dedup)."""
    started = start(client, data, name, **extra)
    if started.status_code != 201:
        return started
    body = started.json()
    for n, part in enumerate(parts_of(data, body["part_size"]), start=1):
        sent = put_part(client, body["upload_id"], n, part)
        assert sent.status_code == 200, sent.text
    return client.post(f"/uploads/{body['upload_id']}/complete")
