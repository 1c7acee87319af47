"""The registry services: push, download, delete, against a real local store."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission

from lineage.models import LineageEdge
from registry.actors import Actor, authenticate_actor
from registry.errors import (
    AuthenticationFailed,
    BadPath,
    ConfirmationRequired,
    IntegrityFailure,
    ObjectMissing,
    PermissionDenied,
)
from registry.models import AuditEvent, Dataset, DownloadRecord
from registry.services import (
    cache_path,
    delete_dataset,
    delete_local_copy,
    download_dataset,
    push_dataset,
)
from registry.storage.local import LocalStorage
from tests.factories import UserFactory, member_of

pytestmark = pytest.mark.django_db


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_push_stores_bytes_then_registers_the_row(make_file, local_store: LocalStorage) -> None:
    path = make_file(b"a,b\n1,2\n", name="sales.csv")
    result = push_dataset(
        path=path, source="https://example.org/s.csv", actor=Actor.for_cli(), storage=local_store
    )
    dataset = result.dataset
    assert (result.outcome, result.uploaded) == ("created", True)
    assert dataset.sha256 == sha(b"a,b\n1,2\n")
    assert (dataset.name, dataset.size, dataset.pushed_by) == ("sales.csv", 8, "tester")
    assert dataset.storage_location == local_store.location(dataset.sha256)
    assert local_store.verify(dataset.sha256)
    assert AuditEvent.objects.filter(action="push", sha256=dataset.sha256).exists()


def test_push_of_known_content_uploads_nothing(make_file, local_store, monkeypatch) -> None:
    path = make_file(b"same bytes")
    first = push_dataset(path=path, source="x", actor=Actor.for_cli(), storage=local_store)
    monkeypatch.setattr(local_store, "put", lambda *a, **k: pytest.fail("uploaded again"))
    again = push_dataset(
        path=make_file(b"same bytes", name="copy.csv"),
        source="y",
        actor=Actor.for_cli(),
        storage=local_store,
    )
    assert (again.outcome, again.uploaded) == ("existing", False)
    assert again.dataset.pk == first.dataset.pk
    assert again.dataset.name == path.name
    assert Dataset.objects.count() == 1


def test_push_of_a_tombstoned_dataset_restores_it(make_file, local_store, push) -> None:
    path = make_file(b"comes back")
    dataset = push(path)
    admin = UserFactory(is_superuser=True)
    member_of("contributors", "tester")  # DATATRAC_USER needs an account once any exists
    delete_dataset(dataset=dataset, actor=Actor.for_user(admin), storage=local_store)
    assert not local_store.exists(dataset.sha256)

    result = push_dataset(path=path, source="x", actor=Actor.for_cli(), storage=local_store)

    assert (result.outcome, result.uploaded) == ("restored", True)
    assert result.dataset.state == Dataset.State.AVAILABLE
    assert local_store.verify(dataset.sha256)


def test_push_links_parents_in_the_same_step(make_file, push) -> None:
    parent = push(make_file(b"raw"))
    child = push(make_file(b"clean"), parents=[parent.sha256[:8]])
    assert LineageEdge.objects.filter(parent=parent, child=child).exists()


def test_push_with_an_unknown_parent_stores_nothing(make_file, local_store) -> None:
    from registry.errors import UnknownDataset

    path = make_file(b"orphan")
    with pytest.raises(UnknownDataset):
        push_dataset(
            path=path, source="x", parents=["abcdef"], actor=Actor.for_cli(), storage=local_store
        )
    assert Dataset.objects.count() == 0
    assert list(local_store.iter_objects()) == []


def test_push_of_a_zero_byte_file_is_a_dataset(make_file, push) -> None:
    dataset = push(make_file(b""))
    assert dataset.size == 0
    assert dataset.sha256 == sha(b"")


def test_push_of_a_file_that_changes_during_upload_registers_nothing(
    make_file, local_store, monkeypatch
) -> None:
    path = make_file(b"original")
    real_put = local_store.put

    def put_after_change(sha256: str, source: Path, **kwargs: object) -> None:
        source.write_bytes(b"changed behind our back")
        real_put(sha256, source, **kwargs)

    monkeypatch.setattr(local_store, "put", put_after_change)
    with pytest.raises(IntegrityFailure, match="changed while it was being pushed"):
        push_dataset(path=path, source="x", actor=Actor.for_cli(), storage=local_store)
    assert Dataset.objects.count() == 0
    assert list(local_store.iter_objects()) == []
    assert local_store.sweep_temporaries(older_than=timedelta(0)) == []


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.csv", "no such file"),
        (lambda p: p, "is a directory"),
        (lambda p: (os.mkfifo(p / "fifo"), p / "fifo")[1], "not a regular file"),
    ],
    ids=["missing", "directory", "fifo"],
)
def test_push_refuses_what_is_not_a_readable_file(tmp_path, local_store, make, message) -> None:
    with pytest.raises(BadPath, match=message):
        push_dataset(path=make(tmp_path), source="x", actor=Actor.for_cli(), storage=local_store)
    assert Dataset.objects.count() == 0


def test_push_refuses_an_unreadable_file(make_file, local_store, monkeypatch) -> None:
    # Tests run as root, for whom every file is readable: fake only the access check.
    path = make_file(b"secret")
    monkeypatch.setattr("registry.services.os.access", lambda p, mode: False)
    with pytest.raises(BadPath, match="not readable"):
        push_dataset(path=path, source="x", actor=Actor.for_cli(), storage=local_store)


def test_push_links_the_pushing_user_when_one_exists(make_file, push, settings) -> None:
    user = member_of("contributors", "tester")
    assert push(make_file()).pushed_by_user == user


# --- download ------------------------------------------------------------------------


def test_download_writes_verified_bytes_and_counts_it(make_file, push, local_store, tmp_path):
    data = b"x,y\n" * 1000
    dataset = push(make_file(data, name="d.csv"))
    target = tmp_path / "out.csv"
    result = download_dataset(
        dataset=dataset, actor=Actor.for_cli(), storage=local_store, output=target
    )
    assert result.path == target
    assert target.read_bytes() == data
    assert cache_path(dataset.sha256).read_bytes() == data
    dataset.refresh_from_db()
    assert dataset.download_count == 1
    assert DownloadRecord.objects.get(dataset=dataset).downloaded_by == "tester"


def test_download_default_output_is_a_safe_name_in_the_cwd(
    make_file, push, local_store, tmp_path, monkeypatch
) -> None:
    dataset = push(make_file(b"evil"), name="../../etc/passwd; rm -rf ~")
    monkeypatch.chdir(tmp_path)
    result = download_dataset(dataset=dataset, actor=Actor.for_cli(), storage=local_store)
    assert result.path.parent == Path(".")
    assert "/" not in result.path.name and not result.path.name.startswith("-")
    assert (tmp_path / result.path.name).read_bytes() == b"evil"


def test_download_into_a_directory_uses_the_dataset_name(make_file, push, local_store, tmp_path):
    dataset = push(make_file(b"abc", name="abc.csv"))
    result = download_dataset(
        dataset=dataset, actor=Actor.for_cli(), storage=local_store, output=tmp_path
    )
    assert result.path == tmp_path / "abc.csv"


def test_download_of_corrupt_bytes_keeps_the_existing_target(
    make_file, push, local_store, tmp_path
) -> None:
    dataset = push(make_file(b"good bytes"))
    stored = Path(local_store.location(dataset.sha256).removeprefix("file://"))
    stored.chmod(0o644)
    stored.write_bytes(b"bad  bytes")
    target = tmp_path / "keep.csv"
    target.write_bytes(b"precious")
    with pytest.raises(IntegrityFailure, match=f"hash mismatch for dataset {dataset.short_hash}"):
        download_dataset(
            dataset=dataset, actor=Actor.for_cli(), storage=local_store, output=target, force=True
        )
    assert target.read_bytes() == b"precious"
    assert not cache_path(dataset.sha256).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["files", "home", "keep.csv"]
    dataset.refresh_from_db()
    assert dataset.download_count == 0


def test_download_of_a_missing_object_names_the_hash(make_file, push, local_store, tmp_path):
    dataset = push(make_file(b"vanishes"))
    local_store.delete(dataset.sha256)
    with pytest.raises(ObjectMissing, match=dataset.sha256):
        download_dataset(
            dataset=dataset, actor=Actor.for_cli(), storage=local_store, output=tmp_path / "o"
        )


def test_download_refuses_a_symlink_target(make_file, push, local_store, tmp_path) -> None:
    dataset = push(make_file(b"data"))
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(BadPath, match="symbolic link"):
        download_dataset(
            dataset=dataset, actor=Actor.for_cli(), storage=local_store, output=tmp_path / "link"
        )
    assert not (tmp_path / "elsewhere").exists()


def test_download_into_a_missing_directory_is_refused(make_file, push, local_store, tmp_path):
    dataset = push(make_file(b"data"))
    with pytest.raises(BadPath, match="does not exist"):
        download_dataset(
            dataset=dataset,
            actor=Actor.for_cli(),
            storage=local_store,
            output=tmp_path / "nope" / "x.csv",
        )


def test_download_serves_a_valid_cache_and_refetches_a_corrupt_one(
    make_file, push, local_store, tmp_path
) -> None:
    dataset = push(make_file(b"cached"))
    kw = {"dataset": dataset, "actor": Actor.for_cli(), "storage": local_store}
    assert not download_dataset(**kw, output=tmp_path / "a").from_cache
    assert download_dataset(**kw, output=tmp_path / "b").from_cache
    cached = cache_path(dataset.sha256)
    cached.chmod(0o644)
    cached.write_bytes(b"rotten")
    result = download_dataset(**kw, output=tmp_path / "c")
    assert not result.from_cache
    assert (tmp_path / "c").read_bytes() == b"cached"


# --- delete --------------------------------------------------------------------------


def test_delete_local_copy_removes_only_the_cache(make_file, push, local_store, tmp_path):
    dataset = push(make_file(b"local"))
    download_dataset(dataset=dataset, actor=Actor.for_cli(), storage=local_store, output=tmp_path)
    assert delete_local_copy(dataset=dataset) is True
    assert not cache_path(dataset.sha256).exists()
    assert local_store.exists(dataset.sha256)
    assert delete_local_copy(dataset=dataset) is False


def test_remote_delete_by_an_administrator_leaves_a_tombstone_and_an_audit_row(
    make_file, push, local_store
) -> None:
    dataset = push(make_file(b"bye"))
    admin = UserFactory(is_superuser=True)
    result = delete_dataset(dataset=dataset, actor=Actor.for_user(admin), storage=local_store)
    assert not result.object_was_missing
    dataset.refresh_from_db()
    assert dataset.state == Dataset.State.DELETED
    assert dataset.deleted_by == admin.username
    assert not local_store.exists(dataset.sha256)
    event = AuditEvent.objects.get(action="remote_delete")
    assert (event.sha256, event.actor, event.outcome) == (dataset.sha256, admin.username, "ok")


def test_remote_delete_needs_the_permission_and_audits_the_refusal(
    make_file, push, local_store
) -> None:
    dataset = push(make_file(b"stays"))
    user = UserFactory()
    with pytest.raises(PermissionDenied):
        delete_dataset(dataset=dataset, actor=Actor.for_user(user), storage=local_store)
    assert local_store.exists(dataset.sha256)
    assert Dataset.objects.get(pk=dataset.pk).is_available
    denied = AuditEvent.objects.get(action="permission_denied")
    assert (denied.actor, denied.outcome, denied.sha256) == (
        user.username,
        "denied",
        dataset.sha256,
    )


def test_remote_delete_with_the_permission_but_not_superuser_works(make_file, push, local_store):
    dataset = push(make_file(b"perm"))
    user = UserFactory()
    user.user_permissions.add(Permission.objects.get(codename="remote_delete_dataset"))
    user = type(user).objects.get(pk=user.pk)  # fresh permission cache
    delete_dataset(dataset=dataset, actor=Actor.for_user(user), storage=local_store)
    assert not local_store.exists(dataset.sha256)


def test_remote_delete_refuses_while_living_children_exist_unless_forced(
    make_file, push, local_store
) -> None:
    parent = push(make_file(b"parent"))
    push(make_file(b"child"), parents=[parent.sha256])
    admin = Actor.for_user(UserFactory(is_superuser=True))
    with pytest.raises(ConfirmationRequired, match="1 living child"):
        delete_dataset(dataset=parent, actor=admin, storage=local_store)
    assert local_store.exists(parent.sha256)
    delete_dataset(dataset=parent, actor=admin, storage=local_store, force=True)
    assert not local_store.exists(parent.sha256)


def test_remote_delete_of_a_missing_object_is_reported(make_file, push, local_store) -> None:
    dataset = push(make_file(b"gone"))
    local_store.delete(dataset.sha256)
    admin = Actor.for_user(UserFactory(is_superuser=True))
    result = delete_dataset(dataset=dataset, actor=admin, storage=local_store)
    assert result.object_was_missing
    assert "already missing" in AuditEvent.objects.get(action="remote_delete").detail


def test_remote_delete_that_fails_in_the_store_changes_nothing(
    make_file, push, local_store, monkeypatch
) -> None:
    from registry.errors import StoreError

    dataset = push(make_file(b"sticky"))

    def refuse(sha256: str) -> None:
        raise StoreError("permission denied while deleting")

    monkeypatch.setattr(local_store, "delete", refuse)
    admin = Actor.for_user(UserFactory(is_superuser=True))
    with pytest.raises(StoreError):
        delete_dataset(dataset=dataset, actor=admin, storage=local_store)
    assert Dataset.objects.get(pk=dataset.pk).is_available
    assert not AuditEvent.objects.filter(action="remote_delete").exists()


def test_authenticate_actor_checks_the_password_and_audits_failures() -> None:
    user = UserFactory(username="alice")
    assert authenticate_actor(username="alice", password="correct horse battery").user == user
    with pytest.raises(AuthenticationFailed):
        authenticate_actor(username="alice", password="wrong")
    assert AuditEvent.objects.filter(action="sign_in_failed", actor="alice").exists()
