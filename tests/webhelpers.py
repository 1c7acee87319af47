"""Helpers shared by the web view tests and the browser tests."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from django.contrib.auth.models import Permission

from registry.models import Dataset
from registry.storage.local import LocalStorage
from tests.factories import DatasetFactory, UserFactory

PASSWORD = "correct horse battery"


def viewer(username: str = "alice") -> Any:
    """A signed-in-able user who may browse and download (the viewers' permissions)."""
    user = UserFactory(username=username)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="registry", codename="download_dataset")
    )
    return user


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
