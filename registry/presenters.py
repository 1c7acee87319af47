"""How datasets are shown outside the web pages: JSON dicts for `--json`."""

from __future__ import annotations

from typing import Any

from registry.models import Dataset


def dataset_as_dict(dataset: Dataset) -> dict[str, Any]:
    """Every field of a dataset by name, JSON-ready."""
    return {
        "sha256": dataset.sha256,
        "name": dataset.name,
        "size": dataset.size,
        "source": dataset.source,
        "description": dataset.description,
        "registry_path": dataset.storage_location,
        "pushed_by": dataset.pushed_by,
        "pushed_at": dataset.pushed_at.isoformat(),
        "downloads": dataset.download_count,
        "state": dataset.state,
        "deleted_at": dataset.deleted_at.isoformat() if dataset.deleted_at else None,
        "deleted_by": dataset.deleted_by or None,
        "last_verified_at": (
            dataset.last_verified_at.isoformat() if dataset.last_verified_at else None
        ),
    }
