"""`gc`: stale temporaries and unreferenced objects go; referenced objects never do."""

from __future__ import annotations

import hashlib
import io
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from registry.actors import Actor
from registry.hashing import CHUNK_SIZE
from registry.integrity import collect_garbage
from registry.models import AuditEvent, Dataset
from registry.services import delete_dataset, push_dataset
from registry.storage.base import Storage
from registry.storage.local import LocalStorage
from tests.conftest import CLI
from tests.integrity.conftest import PausedPush, temporaries_in
from tests.integrity.test_verify import object_path, plant_orphan

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def age(path: Path, by: timedelta) -> None:
    """Make ``path`` look last written ``by`` ago."""
    then = time.time() - by.total_seconds()
    os.utime(path, (then, then))


def plant_temporary(store: LocalStorage, sha256: str) -> Path:
    temp = object_path(store, sha256).with_name(f".{sha256}.0123456789ab.tmp")
    temp.parent.mkdir(parents=True, exist_ok=True)
    temp.write_bytes(b"half an upload")
    return temp


def test_gc_removes_old_temporaries_and_old_unreferenced_objects_only(
    make_file, push, local_store: LocalStorage, operator: Actor
) -> None:
    referenced = push(make_file())
    age(object_path(local_store, referenced.sha256), 30 * DAY)
    old_orphan = plant_orphan(local_store, b"old orphan")
    age(object_path(local_store, old_orphan), 2 * DAY)
    young_orphan = plant_orphan(local_store, b"young orphan")
    old_temp = plant_temporary(local_store, old_orphan)
    age(old_temp, 2 * DAY)
    young_temp = plant_temporary(local_store, referenced.sha256)

    out, err = run("gc")

    assert out.splitlines() == [
        f"removed temporary upload {old_temp.relative_to(local_store.root)}",
        f"removed unreferenced object {old_orphan}",
    ]
    assert f"kept unreferenced object {young_orphan}: younger than 1d" in err
    assert "removed 1 temporary upload and 1 unreferenced object older than 1d" in err
    assert sorted(local_store.iter_objects()) == sorted([referenced.sha256, young_orphan])
    assert young_temp.exists() and not old_temp.exists()
    assert local_store.verify(referenced.sha256)
    # Every removal is in the audit trail, by the CLI identity; nothing kept is.
    trail = AuditEvent.objects.filter(action=AuditEvent.Action.GC_REMOVE).order_by("id")
    assert [(e.sha256, e.detail, e.actor) for e in trail] == [
        ("", "1 temporary upload(s) older than 1d", settings.DATATRAC_USER),
        (old_orphan, "unreferenced object older than 1d", settings.DATATRAC_USER),
    ]


def test_gc_dry_run_lists_and_removes_nothing(
    make_file, local_store: LocalStorage, operator: Actor
) -> None:
    orphan = plant_orphan(local_store, b"orphan")
    temp = plant_temporary(local_store, orphan)
    before = sorted(p for p in local_store.root.rglob("*"))

    out, err = run("gc", "--dry-run", "--grace", "0")

    assert f"would remove unreferenced object {orphan}" in out
    assert f"would remove temporary upload {temp.relative_to(local_store.root)}" in out
    assert "would remove 1 temporary upload and 1 unreferenced object" in err
    assert sorted(p for p in local_store.root.rglob("*")) == before
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.GC_REMOVE).exists()


def test_gc_removes_partial_downloads_older_than_the_grace_from_the_cache(operator: Actor) -> None:
    folder = Path(settings.DATATRAC_CACHE_DIR) / "ab" / "cd"
    folder.mkdir(parents=True)
    old = folder / f".ab{'0' * 62}.0123456789ab.part"
    young = folder / f".ab{'1' * 62}.0123456789ab.part"
    entry = folder / f"ab{'2' * 62}"  # a finished cache entry is not gc's business
    for path in (old, young, entry):
        path.write_bytes(b"bytes")
        age(path, 2 * DAY)
    age(young, timedelta(hours=1))

    dry, _ = run("gc", "--dry-run")
    assert dry.splitlines() == [f"would remove partial download {old}"]
    assert old.exists()
    out, _ = run("gc")
    assert out.splitlines() == [f"removed partial download {old}"]
    assert sorted(folder.iterdir()) == sorted([young, entry])


def test_gc_never_touches_a_referenced_object_whatever_the_grace(
    make_file, push, local_store: LocalStorage, operator: Actor
) -> None:
    datasets = [push(make_file()) for _ in range(3)]
    for d in datasets:
        age(object_path(local_store, d.sha256), 365 * DAY)
    report = collect_garbage(storage=local_store, grace=timedelta(0), dry_run=False, actor=operator)
    assert report.removed == []
    assert sorted(local_store.iter_objects()) == sorted(d.sha256 for d in datasets)


def test_a_tombstone_does_not_keep_its_bytes(
    make_file, push, local_store: LocalStorage, admin_actor: Actor
) -> None:
    path = make_file()
    dataset = push(path)
    delete_dataset(dataset=dataset, actor=admin_actor, storage=local_store)
    local_store.put(dataset.sha256, path)  # bytes left behind (say a delete half-failed)
    age(object_path(local_store, dataset.sha256), 2 * DAY)

    report = collect_garbage(storage=local_store, grace=DAY, dry_run=False, actor=admin_actor)

    assert report.removed == [dataset.sha256]
    assert not local_store.exists(dataset.sha256)
    assert Dataset.objects.get().state == Dataset.State.DELETED


class GCAfterPut(LocalStorage):
    """The real local store, with a real `gc` run the instant an upload lands: the worst
    moment, between a push storing its bytes and registering them. (No hook in the
    push itself reaches that instant, so the store wrapper picks it.)"""

    removed: list[str] | None = None
    actor: Actor

    def put(self, sha256: str, source: Path, **kwargs: object) -> None:
        super().put(sha256, source, **kwargs)  # type: ignore[arg-type]
        if self.removed is None:
            plain = LocalStorage(self.root)
            report = collect_garbage(
                storage=plain, grace=timedelta(0), dry_run=False, actor=self.actor
            )
            self.removed = report.removed


def test_gc_racing_a_push_of_the_same_bytes_never_leaves_a_row_without_them(
    make_file, datatrac_dirs: Path, operator: Actor
) -> None:
    """The push re-checks the store under the object lock, sees the bytes gone, and
    uploads them again."""
    store = GCAfterPut(datatrac_dirs / "store")
    store.actor = operator
    path = make_file(size=64 * 1024)
    sha256 = plant_orphan(store, path.read_bytes())  # an old orphan of the same bytes
    age(object_path(store, sha256), 2 * DAY)

    result = push_dataset(path=path, source="s", actor=Actor.for_cli(), storage=store)

    assert store.removed == [sha256]  # gc did remove the bytes the push had just stored
    assert result.dataset.is_available and result.uploaded
    assert store.verify(sha256)  # ...and the push stored them again before registering
    assert (
        collect_garbage(storage=store, grace=timedelta(0), dry_run=False, actor=operator).removed
        == []
    )


def test_gc_without_grace_during_an_upload_keeps_its_temporary_and_the_push_succeeds(
    make_file, local_store: LocalStorage, operator: Actor
) -> None:
    """`--grace 0` in the middle of an upload: the uploader holds a lock on its
    temporary, so the sweep keeps it and the push completes (it used to break)."""
    path = make_file(size=256 * 1024)
    size = path.stat().st_size
    progressed = 0
    swept: list[list[str]] = []

    def gc_mid_upload(n: int) -> None:
        nonlocal progressed
        progressed += n
        if progressed == 2 * size:  # the last chunk is written, not yet renamed
            report = collect_garbage(
                storage=local_store, grace=timedelta(0), dry_run=False, actor=operator
            )
            swept.append(report.temporaries)

    result = push_dataset(
        path=path, source="s", actor=operator, storage=local_store, progress=gc_mid_upload
    )

    assert swept == [[]]
    assert result.dataset.is_available and result.uploaded
    assert local_store.verify(result.dataset.sha256)
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.GC_REMOVE).exists()


class AgelessStore(LocalStorage):
    """A store that cannot tell how old an object is (the base implementation)."""

    age = Storage.age


def test_gc_keeps_unreferenced_objects_whose_age_the_store_cannot_tell(
    datatrac_dirs: Path,
    operator: Actor,
) -> None:
    store = AgelessStore(datatrac_dirs / "store")
    orphan = plant_orphan(store, b"orphan")
    report = collect_garbage(storage=store, grace=timedelta(0), dry_run=False, actor=operator)
    assert report.kept_unknown_age == [orphan]
    assert report.removed == []
    assert store.exists(orphan)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("24h", DAY),
        ("7d", 7 * DAY),
        ("2w", 14 * DAY),
        ("1.5h", timedelta(minutes=90)),
    ],
)
def test_gc_grace_durations(text: str, expected: timedelta) -> None:
    from registry.integrity import parse_duration

    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "-1h", "1y", "h", "1 day", "24h; rm -rf ~", "99999999999999d"]
)
def test_gc_refuses_a_bad_grace(text: str, operator: Actor) -> None:
    with pytest.raises(CommandError, match="is not a duration"):
        run("gc", f"--grace={text}")


# --- a push in progress ---------------------------------------------------------------


def test_gc_without_grace_from_another_process_never_breaks_a_running_push(
    cli: CLI, make_file, local_store: LocalStorage, operator: Actor
) -> None:
    """A real `datatrac gc --grace 0` while a push is stopped mid-upload: the push's
    locked temporary is kept, a stale one beside it goes, and the push then completes."""
    path = make_file(size=3 * CHUNK_SIZE)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    stale = plant_temporary(local_store, "ab" * 32)
    age(stale, 2 * DAY)

    with PausedPush(path, operator, lambda: LocalStorage(local_store.root)) as push:
        running = temporaries_in(object_path(local_store, sha256).parent, ".tmp")
        assert len(running) == 1 and 0 < running[0].stat().st_size < path.stat().st_size
        gc = cli("gc", "--grace", "0")
        assert gc.returncode == 0, gc.stderr
        assert gc.stdout.splitlines() == [
            f"removed temporary upload {stale.relative_to(local_store.root)}"
        ]
        assert running[0].exists() and not stale.exists()
        result = push.finished()

    assert result.outcome == "created" and result.uploaded
    assert local_store.verify(sha256)
    assert temporaries_in(object_path(local_store, sha256).parent, ".tmp") == []
