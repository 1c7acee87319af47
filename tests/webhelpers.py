"""Helpers shared by the web view tests and the browser tests."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from registry.models import Dataset
from registry.storage.local import LocalStorage
from tests.factories import DatasetFactory, member_of

PASSWORD = "correct horse battery"


def viewer(username: str = "alice") -> Any:
    """A user in the viewers role: may browse and download."""
    return member_of("viewers", username=username)


def stored_dataset(
    store: LocalStorage, tmp_path: Path, content: bytes, *, name: str, **fields: Any
) -> Dataset:
    """A dataset whose bytes really are in ``store``, as a push leaves it."""
    sha256 = hashlib.sha256(content).hexdigest()
    source = tmp_path / f"upload-{sha256[:12]}"
    source.write_bytes(content)
    store.put(sha256, source)
    return DatasetFactory(
        sha256=sha256,
        name=name,
        size=len(content),
        storage_location=store.location(sha256),
        **fields,
    )
