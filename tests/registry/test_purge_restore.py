"""purge_dataset and restore_dataset: what they refuse, and that a failure changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from lineage.models import LineageEdge
from registry.errors import (
    ConfirmationRequired,
    IntegrityFailure,
    ObjectMissing,
    StoreError,
    UnknownDataset,
)
from registry.models import AuditEvent, Dataset, DownloadRecord
from registry.services import purge_dataset, restore_dataset
from registry.storage.local import LocalStorage
from tests.factories import DownloadRecordFactory, LineageEdgeFactory
from tests.roles import Scene, root

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(local_store: LocalStorage, tmp_path: Path) -> Scene:
    return Scene.build(local_store, tmp_path / "files")


def test_purge_removes_the_row_its_links_and_downloads_and_keeps_the_history(
    scene: Scene, local_store: LocalStorage
) -> None:
    LineageEdgeFactory(parent=scene.tombstone, child=scene.child)
    DownloadRecordFactory(dataset=scene.tombstone)
    result = purge_dataset(dataset=scene.tombstone, actor=root(), storage=local_store)
    assert (result.edges_removed, result.downloads_removed, result.bytes_removed) == (1, 1, False)
    assert not Dataset.objects.filter(pk=scene.tombstone.pk).exists()
    assert not LineageEdge.objects.filter(child=scene.child).exists()
    assert not DownloadRecord.objects.exists()
    assert Dataset.objects.get(pk=scene.child.pk).is_available
    history = AuditEvent.objects.for_dataset(scene.tombstone.sha256)
    assert set(history.values_list("action", flat=True)) == {"push", "remote_delete", "purge"}


def test_purge_of_a_tombstone_whose_bytes_are_stored_removes_them_too(
    scene: Scene, local_store: LocalStorage
) -> None:
    result = purge_dataset(dataset=scene.stored_tombstone, actor=root(), storage=local_store)
    assert result.bytes_removed
    assert not local_store.exists(scene.stored_tombstone.sha256)
    assert "stored object was removed too" in AuditEvent.objects.get(action="purge").detail


def test_purge_refuses_an_available_dataset(scene: Scene, local_store: LocalStorage) -> None:
    with pytest.raises(ConfirmationRequired, match="remote delete it first"):
        purge_dataset(dataset=scene.parent, actor=root(), storage=local_store)
    assert local_store.exists(scene.parent.sha256)
    assert Dataset.objects.filter(pk=scene.parent.pk).exists()


def test_purge_twice_says_it_is_gone(scene: Scene, local_store: LocalStorage) -> None:
    admin = root()
    purge_dataset(dataset=scene.tombstone, actor=admin, storage=local_store)
    with pytest.raises(UnknownDataset, match="already purged"):
        purge_dataset(dataset=scene.tombstone, actor=admin, storage=local_store)


def test_a_purge_the_store_fails_to_finish_changes_nothing(
    scene: Scene, local_store: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A store refusing a delete (a permission error on a server) cannot be caused as root.
    def refuse(sha256: str) -> None:
        raise StoreError("permission denied while deleting")

    monkeypatch.setattr(local_store, "delete", refuse)
    with pytest.raises(StoreError):
        purge_dataset(dataset=scene.stored_tombstone, actor=root(), storage=local_store)
    assert Dataset.objects.filter(pk=scene.stored_tombstone.pk).exists()
    assert local_store.exists(scene.stored_tombstone.sha256)
    assert not AuditEvent.objects.filter(action="purge").exists()


def test_restore_verifies_the_stored_bytes_first(scene: Scene, local_store: LocalStorage) -> None:
    target = scene.stored_tombstone
    stored = local_store.root / target.sha256[:2] / target.sha256[2:4] / target.sha256
    stored.chmod(0o644)
    stored.write_bytes(b"not the same bytes\n")  # bit rot, for real
    with pytest.raises(IntegrityFailure, match="do not match its hash"):
        restore_dataset(dataset=target, actor=root(), storage=local_store)
    assert Dataset.objects.get(pk=target.pk).state == Dataset.State.DELETED
    assert not AuditEvent.objects.filter(action="restore").exists()


def test_restore_needs_the_bytes_and_a_tombstone(scene: Scene, local_store: LocalStorage) -> None:
    admin = root()
    with pytest.raises(ObjectMissing, match="push the file again"):
        restore_dataset(dataset=scene.tombstone, actor=admin, storage=local_store)
    with pytest.raises(ConfirmationRequired, match="not deleted"):
        restore_dataset(dataset=scene.parent, actor=admin, storage=local_store)
    restored = restore_dataset(dataset=scene.stored_tombstone, actor=admin, storage=local_store)
    assert restored.is_available and restored.deleted_by == "" and restored.deleted_at is None
