"""`verify`: ok / corrupt / missing / orphans, last-verified times, and resuming."""

from __future__ import annotations

import hashlib
import io
import json
import signal
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from registry.actors import Actor
from registry.errors import InvalidHash, StoreError
from registry.integrity import DatasetCheck, verify_datasets
from registry.models import Dataset, VerifyRun
from registry.services import delete_dataset, push_dataset
from registry.storage.local import LocalStorage
from tests.conftest import CLI
from tests.integrity.conftest import BigFile, wait_for
from tests.integrity.test_faults import flip_one_byte

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def object_path(store: LocalStorage, sha256: str) -> Path:
    return store.root / sha256[:2] / sha256[2:4] / sha256


def plant_orphan(store: LocalStorage, content: bytes) -> str:
    """Bytes in the store under their hash with no dataset row (a push killed between
    storing and registering)."""
    sha256 = hashlib.sha256(content).hexdigest()
    path = object_path(store, sha256)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return sha256


def test_verify_all_ok_records_when_each_dataset_was_verified(
    make_file, push, local_store: LocalStorage, operator: Actor
) -> None:
    datasets = [push(make_file()) for _ in range(3)]
    assert all(d.last_verified_at is None for d in datasets)

    out, err = run("verify", "--all")

    assert out == ""
    assert "verified 3 datasets: 3 ok; 0 orphaned objects" in err
    run_row = VerifyRun.objects.get()
    assert run_row.finished_at is not None and run_row.ok == 3
    for d in datasets:
        d.refresh_from_db()
        assert d.last_verified_at is not None and d.last_verified_at >= run_row.started_at
    shown, _ = run("fetch", datasets[0].sha256)
    assert "last verified" in shown


def test_verify_reports_corrupt_missing_and_orphans_and_fails(
    make_file, push, local_store: LocalStorage, operator: Actor
) -> None:
    good = push(make_file(name="good.csv"))
    corrupt = push(make_file(name="corrupt.csv"))
    missing = push(make_file(name="missing.csv"))
    flip_one_byte(object_path(local_store, corrupt.sha256))
    object_path(local_store, missing.sha256).unlink()
    orphan = plant_orphan(local_store, b"nobody registered me")

    with pytest.raises(CommandError, match=r"1 corrupt, 1 missing, 1 orphaned") as failed:
        run("verify", "--all", "--json")
    assert failed.value.returncode == 1

    report = verify_datasets(actor=operator, storage=local_store)
    statuses = {c.sha256: c.status for c in report.checks}
    assert statuses == {good.sha256: "ok", corrupt.sha256: "corrupt", missing.sha256: "missing"}
    assert report.orphans == [orphan]
    assert not report.clean
    # Only the dataset that checked out gets a new last-verified time.
    corrupt.refresh_from_db()
    missing.refresh_from_db()
    assert corrupt.last_verified_at is None and missing.last_verified_at is None


def test_verify_json_is_only_json_on_stdout(
    make_file, push, local_store: LocalStorage, operator: Actor
) -> None:
    dataset = push(make_file())
    flip_one_byte(object_path(local_store, dataset.sha256))
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("verify", "--all", "--json", stdout=out, stderr=io.StringIO())
    data = json.loads(out.getvalue())
    assert data["datasets"] == [
        {"sha256": dataset.sha256, "name": dataset.name, "status": "corrupt"}
    ]
    assert data["summary"] == {"ok": 0, "corrupt": 1, "missing": 0, "deleted": 0, "orphans": 0}
    assert data["clean"] is False


def test_verify_named_hashes_checks_only_those_and_reports_tombstones(
    make_file, push, local_store: LocalStorage, admin_actor: Actor
) -> None:
    kept = push(make_file())
    other = push(make_file())
    gone = push(make_file())
    delete_dataset(dataset=gone, actor=admin_actor, storage=local_store)
    flip_one_byte(object_path(local_store, other.sha256))

    out, err = run("verify", kept.sha256[:8], gone.sha256[:8])

    assert f"ok       {kept.sha256}" in out
    assert f"deleted  {gone.sha256}" in out
    assert other.sha256 not in out
    assert "orphaned" not in err  # orphans are only looked for by --all


def test_verify_needs_hashes_or_all(operator: Actor) -> None:
    with pytest.raises(CommandError, match="give the HASHes to verify, or --all"):
        run("verify")
    with pytest.raises(CommandError, match="give the HASHes to verify, or --all"):
        run("verify", "--all", "abcdef")


@pytest.mark.parametrize("ref", ["../../etc/passwd", "abc/def0", "..", "xyz123", "abc"])
def test_verify_rejects_a_bad_hash_before_touching_the_store(
    ref: str, datatrac_dirs: Path, django_assert_num_queries, operator: Actor
) -> None:
    store = LocalStorage(datatrac_dirs / "store")
    with django_assert_num_queries(0), pytest.raises(InvalidHash):
        verify_datasets(actor=operator, storage=store, hashes=[ref])
    assert not (datatrac_dirs / "store").exists()


# --- resuming ------------------------------------------------------------------------


def test_an_interrupted_verify_continues_where_it_stopped(
    make_file, push, local_store: LocalStorage, operator: Actor
) -> None:
    datasets = [push(make_file()) for _ in range(5)]
    flip_one_byte(object_path(local_store, sorted(d.sha256 for d in datasets)[0]))

    def interrupt_after_three(check: DatasetCheck, done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt  # Ctrl-C in the middle of a long run

    with pytest.raises(KeyboardInterrupt):
        verify_datasets(actor=operator, storage=local_store, progress=interrupt_after_three)
    interrupted = VerifyRun.objects.get()
    assert interrupted.finished_at is None

    resumed = verify_datasets(actor=operator, storage=local_store)

    assert resumed.resumed and resumed.run.pk == interrupted.pk
    # Two were found ok before the interruption; the corrupt one is looked at again.
    assert resumed.skipped == 2
    assert len(resumed.checks) == 3
    assert [c.status for c in resumed.checks].count("corrupt") == 1
    resumed.run.refresh_from_db()
    assert (resumed.run.ok, resumed.run.corrupt) == (4, 1)
    assert resumed.run.finished_at is not None

    # The run is finished: the next one starts over.
    fresh = verify_datasets(actor=operator, storage=local_store)
    assert not fresh.resumed and len(fresh.checks) == 5


def test_restart_ignores_an_interrupted_run(
    make_file, push, local_store: LocalStorage, operator: Actor
) -> None:
    for _ in range(3):
        push(make_file())

    def stop(check: DatasetCheck, done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        verify_datasets(actor=operator, storage=local_store, progress=stop)
    report = verify_datasets(actor=operator, storage=local_store, resume=False)
    assert not report.resumed and len(report.checks) == 3
    # A later resume does not pick up the older unfinished run either.
    assert not verify_datasets(actor=operator, storage=local_store).resumed


def test_a_store_failure_stops_verify_and_leaves_it_resumable(
    make_file, push, local_store: LocalStorage, operator: Actor
) -> None:
    datasets = sorted((push(make_file()) for _ in range(3)), key=lambda d: d.sha256)
    # An object the store cannot read (an I/O error, not corrupt bytes).
    broken = object_path(local_store, datasets[1].sha256)
    broken.unlink()
    broken.mkdir()

    with pytest.raises(StoreError, match=f"verifying {datasets[1].sha256}"):
        verify_datasets(actor=operator, storage=local_store)
    assert VerifyRun.objects.get().finished_at is None

    broken.rmdir()
    push_dataset(
        path=make_file(datasets[1].sha256.encode()),  # any file: unrelated content
        source="s",
        actor=Actor.for_cli(),
        storage=local_store,
    )
    report = verify_datasets(actor=operator, storage=local_store)
    assert report.resumed and report.skipped == 1


def test_verify_killed_mid_run_is_continued_by_the_next_run(
    cli: CLI, make_file, big_file: BigFile, local_store: LocalStorage, operator: Actor
) -> None:
    actor = Actor.for_cli()
    big = push_dataset(path=big_file.path, source="s", actor=actor, storage=local_store).dataset
    # A small dataset that sorts before the big one is verified first.
    while True:
        small = push_dataset(path=make_file(), source="s", actor=actor, storage=local_store).dataset
        if small.sha256 < big.sha256:
            break

    verify = cli.popen("verify", "--all")
    wait_for(
        lambda: Dataset.objects.filter(pk=small.pk, last_verified_at__isnull=False).exists(),
        verify,
        "the first dataset was verified",
    )
    verify.send_signal(signal.SIGKILL)
    verify.wait()

    again = cli("verify", "--all")
    assert again.returncode == 0, again.stderr
    assert "(continued the run started" in again.stderr
    skipped = Dataset.objects.filter(last_verified_at__lt=VerifyRun.objects.get().started_at)
    assert not skipped.exists()


def interrupt_a_run(actor: Actor, store: LocalStorage, *, started_ago: timedelta) -> VerifyRun:
    """A `verify --all` stopped after its first dataset, made to have started long ago."""

    def stop(check: DatasetCheck, done: int, total: int) -> None:
        raise KeyboardInterrupt

    VerifyRun.objects.all().delete()  # each scene on its own: this run is the latest
    with pytest.raises(KeyboardInterrupt):
        verify_datasets(actor=actor, storage=store, progress=stop, resume=False)
    run = VerifyRun.objects.get(finished_at=None)
    run.started_at = timezone.now() - started_ago
    run.save(update_fields=["started_at"])
    return run


def test_an_interrupted_run_older_than_resume_within_is_started_over(
    make_file, push, local_store: LocalStorage, operator: Actor
) -> None:
    for _ in range(3):
        push(make_file())
    old = interrupt_a_run(operator, local_store, started_ago=timedelta(days=2))

    report = verify_datasets(actor=operator, storage=local_store, resume_within=timedelta(days=1))

    assert not report.resumed and report.abandoned == old
    assert report.run.pk != old.pk and len(report.checks) == 3 and report.skipped == 0


def test_the_service_itself_continues_only_a_run_younger_than_the_configured_age(
    make_file, push, local_store: LocalStorage, operator: Actor, settings
) -> None:
    # Every caller of verify_datasets (the command, an API endpoint, the Python client)
    # gets the same rule: without resume_within, DATATRAC_VERIFY_RESUME_WITHIN decides.
    for _ in range(3):
        push(make_file())
    settings.DATATRAC_VERIFY_RESUME_WITHIN = "30m"
    old = interrupt_a_run(operator, local_store, started_ago=timedelta(hours=2))

    report = verify_datasets(actor=operator, storage=local_store)

    assert not report.resumed and report.abandoned == old
    assert report.resume_within == timedelta(minutes=30)
    assert len(report.checks) == 3 and report.skipped == 0


def test_verify_says_whether_it_continues_or_starts_over(
    make_file, push, local_store: LocalStorage, operator: Actor, settings
) -> None:
    for _ in range(3):
        push(make_file())
    interrupt_a_run(operator, local_store, started_ago=timedelta(hours=2))
    _, err = run("verify", "--all")
    assert err.splitlines()[0].startswith("continuing the interrupted run started ")

    interrupt_a_run(operator, local_store, started_ago=timedelta(hours=30))
    _, err = run("verify", "--all")  # the default: 24h
    assert err.splitlines()[0].startswith("starting over: not continuing the interrupted run")
    assert err.splitlines()[0].endswith("(it started more than 1d ago)")
    assert "(continued" not in err

    interrupt_a_run(operator, local_store, started_ago=timedelta(hours=30))
    _, err = run("verify", "--all", "--resume-within", "2d")
    assert err.splitlines()[0].startswith("continuing the interrupted run started ")

    interrupt_a_run(operator, local_store, started_ago=timedelta(hours=2))
    settings.DATATRAC_VERIFY_RESUME_WITHIN = "30m"
    _, err = run("verify", "--all")
    assert err.splitlines()[0].endswith("(it started more than 30m ago)")

    interrupt_a_run(operator, local_store, started_ago=timedelta(minutes=1))
    _, err = run("verify", "--all", "--restart")
    assert err.splitlines()[0].endswith("(--restart)")

    # Nothing interrupted: nothing to say before the summary.
    _, err = run("verify", "--all")
    assert err.splitlines()[0].startswith("verified 3 datasets")


@pytest.mark.parametrize("text", ["soon", "-1h", "1y", "99999999999999d"])
def test_verify_refuses_a_bad_resume_within(text: str, operator: Actor, settings) -> None:
    with pytest.raises(CommandError, match="is not a duration"):
        run("verify", "--all", f"--resume-within={text}")
    settings.DATATRAC_VERIFY_RESUME_WITHIN = text
    with pytest.raises(CommandError, match=r"DATATRAC_VERIFY_RESUME_WITHIN: .* is not a duration"):
        run("verify", "--all")
