"""The faults DataTrac must survive, caused for real against the local (file://) store.

Processes are the real `datatrac` script (the `cli` fixture) and are killed with
SIGKILL; the disk that fills up is a real tmpfs. The SSH side is in test_ssh_faults.py.
Numbers refer to the list in the integrity issue.
"""

from __future__ import annotations

import os
import signal
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection

from lineage.models import LineageEdge
from lineage.services import link_datasets
from registry.actors import Actor
from registry.errors import IntegrityFailure, LineageError
from registry.integrity import collect_garbage
from registry.models import AuditEvent, Dataset
from registry.services import delete_dataset, push_dataset
from registry.storage.local import LocalStorage
from tests.conftest import CLI
from tests.integrity.conftest import (
    BigFile,
    change_once_hashed,
    flip_one_byte,
    temporaries_in,
    wait_for,
)

# --- 1. kill -9 of push during upload ------------------------------------------------


def test_push_killed_during_upload_leaves_no_object_no_row_and_gc_sweeps_it(
    cli: CLI, big_file: BigFile, local_store: LocalStorage, operator: Actor
) -> None:
    push = cli.popen("push", str(big_file.path), "--source", "https://example.org/big")
    object_dir = local_store.root / big_file.object_dir
    temp = wait_for(lambda: temporaries_in(object_dir, ".tmp"), push, "the upload started")[0]
    push.send_signal(signal.SIGKILL)
    push.wait()

    assert push.returncode == -signal.SIGKILL
    assert not local_store.exists(big_file.sha256)
    assert list(local_store.iter_objects()) == []
    assert not Dataset.objects.exists()

    # A fresh temporary may be an upload still running: gc keeps it until the grace ends.
    assert temp.exists()
    kept = cli("gc")
    assert kept.returncode == 0, kept.stderr
    assert temp.exists()
    old = temp.stat().st_mtime - 2 * 86400
    os.utime(temp, (old, old))
    swept = cli("gc")
    assert swept.returncode == 0, swept.stderr
    assert f"removed temporary upload {big_file.object_dir}/{temp.name}" in swept.stdout
    assert not temp.exists()

    again = cli("push", str(big_file.path), "--source", "https://example.org/big")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == big_file.sha256
    assert Dataset.objects.get().sha256 == big_file.sha256
    assert local_store.verify(big_file.sha256)
    assert temporaries_in(object_dir, ".tmp") == []


# --- 2. kill -9 of fetch --download mid-stream ----------------------------------------


def test_download_killed_mid_stream_leaves_the_output_and_cache_untouched(
    cli: CLI, big_file: BigFile, local_store: LocalStorage, datatrac_dirs: Path
) -> None:
    push_dataset(path=big_file.path, source="s", actor=Actor.for_cli(), storage=local_store)
    output = cli.cwd / "big.bin"
    output.write_bytes(b"an existing file the user cares about")
    cache_dir = datatrac_dirs / "cache" / big_file.object_dir

    fetch = cli.popen(
        "fetch", big_file.sha256[:10], "--download", "--output", str(output), "--force"
    )
    wait_for(lambda: temporaries_in(cache_dir, ".part"), fetch, "the download started")
    fetch.send_signal(signal.SIGKILL)
    fetch.wait()

    assert output.read_bytes() == b"an existing file the user cares about"
    assert not (cache_dir / big_file.sha256).exists()
    assert sorted(p.name for p in cli.cwd.iterdir()) == ["big.bin"]
    assert Dataset.objects.get().download_count == 0

    # The next download starts over and delivers the verified bytes.
    done = cli("fetch", big_file.sha256[:10], "--download", "--output", str(output), "--force")
    assert done.returncode == 0, done.stderr
    assert output.stat().st_size == big_file.size
    assert verify_file(output) == big_file.sha256


def cache_parts(directory: Path) -> list[Path]:
    return sorted(temporaries_in(directory, ".part"))


def killed_download(cli: CLI, big_file: BigFile, cache_dir: Path, output: str) -> Path:
    """Start a download, SIGKILL it mid-stream; its partial cache entry stays behind."""
    before = set(cache_parts(cache_dir))
    fetch = cli.popen("fetch", big_file.sha256[:10], "--download", "--output", output)
    parts = wait_for(
        lambda: [p for p in cache_parts(cache_dir) if p not in before], fetch, "the download"
    )
    fetch.send_signal(signal.SIGKILL)
    fetch.wait()
    assert parts[0].exists()
    return parts[0]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def make_old(path: Path) -> None:
    old = path.stat().st_mtime - 2 * 3600
    os.utime(path, (old, old))


def test_the_next_download_sweeps_stale_partial_downloads_from_the_cache(
    cli: CLI, big_file: BigFile, local_store: LocalStorage, datatrac_dirs: Path
) -> None:
    push_dataset(path=big_file.path, source="s", actor=Actor.for_cli(), storage=local_store)
    cache_dir = datatrac_dirs / "cache" / big_file.object_dir
    stale = killed_download(cli, big_file, cache_dir, "a.bin")
    recent = killed_download(cli, big_file, cache_dir, "b.bin")
    make_old(stale)

    done = cli("fetch", big_file.sha256[:10], "--download", "--output", "c.bin")

    assert done.returncode == 0, done.stderr
    # The stale part is gone; one killed within the hour may be a slow download: kept.
    assert cache_parts(cache_dir) == [recent]
    assert verify_file(cli.cwd / "c.bin") == big_file.sha256


def test_gc_sweeps_partial_downloads_but_never_one_still_being_written(
    admin_actor: Actor,  # first: the `cli` fixture acts as this administrator
    cli: CLI,
    big_file: BigFile,
    local_store: LocalStorage,
    datatrac_dirs: Path,
) -> None:
    push_dataset(path=big_file.path, source="s", actor=Actor.for_cli(), storage=local_store)
    cache_dir = datatrac_dirs / "cache" / big_file.object_dir
    abandoned = killed_download(cli, big_file, cache_dir, "a.bin")
    running = cli.popen("fetch", big_file.sha256[:10], "--download", "--output", "b.bin")
    # Bytes in the part: the download has locked it (it locks before it writes).
    live = wait_for(
        lambda: [p for p in cache_parts(cache_dir) if p != abandoned and _size(p)],
        running,
        "the download",
    )[0]
    running.send_signal(signal.SIGSTOP)  # mid-stream, holding its part's lock
    try:
        # Aged only now: the running download would have swept an old one as it started.
        make_old(abandoned)
        make_old(live)  # however old it looks, and even with no grace at all
        dry = collect_garbage(
            storage=local_store, grace=timedelta(0), dry_run=True, actor=admin_actor
        )
        assert dry.cache_parts == [abandoned]
        assert abandoned.exists()
        report = collect_garbage(
            storage=local_store, grace=timedelta(0), dry_run=False, actor=admin_actor
        )
        assert report.cache_parts == [abandoned]
        assert cache_parts(cache_dir) == [live]
    finally:
        running.send_signal(signal.SIGCONT)
    _, err = running.communicate(timeout=120)
    assert running.returncode == 0, err
    assert verify_file(cli.cwd / "b.bin") == big_file.sha256
    assert cache_parts(cache_dir) == []


def verify_file(path: Path) -> str:
    from registry.hashing import hash_file

    return hash_file(path)[0]


# --- 3. the file changes between hashing and uploading ---------------------------------


def test_file_changed_after_hashing_is_refused_and_nothing_registered(
    db: None, make_file, local_store: LocalStorage
) -> None:
    path = make_file(size=3 * 1024 * 1024)

    with pytest.raises(IntegrityFailure, match="changed while it was being pushed"):
        push_dataset(
            path=path,
            source="s",
            actor=Actor.for_cli(),
            storage=local_store,
            progress=change_once_hashed(path),
        )
    assert not Dataset.objects.exists()
    assert list(local_store.iter_objects()) == []
    assert local_store.sweep_temporaries(older_than=timedelta(0)) == []


# --- 4. one byte of a stored object flipped --------------------------------------------


def test_flipped_byte_is_refused_by_download_and_reported_by_verify(
    cli: CLI, make_file, push, local_store: LocalStorage, operator: Actor
) -> None:
    dataset = push(make_file(size=200_000, name="flipped.csv"))
    flip_one_byte(local_store.root / dataset.sha256[:2] / dataset.sha256[2:4] / dataset.sha256)
    existing = cli.cwd / "flipped.csv"
    existing.write_text("keep me")

    fetch = cli("fetch", dataset.sha256, "--download", "--force")
    assert fetch.returncode == 1
    assert fetch.stderr.startswith("error: hash mismatch for dataset " + dataset.short_hash)
    assert "'flipped.csv'" in fetch.stderr
    assert existing.read_text() == "keep me"
    dataset.refresh_from_db()
    assert dataset.download_count == 0
    failed = AuditEvent.objects.get(sha256=dataset.sha256, action="download")
    assert (failed.outcome, failed.detail.startswith("via cli: hash mismatch")) == ("failed", True)
    assert sorted(p.name for p in cli.cwd.iterdir()) == ["flipped.csv"]
    cached = Path(cli.env["DATATRAC_CACHE_DIR"]) / dataset.sha256[:2] / dataset.sha256[2:4]
    assert list(cached.iterdir()) == []

    verify = cli("verify", "--all")
    assert verify.returncode == 1
    assert f"corrupt  {dataset.sha256}  'flipped.csv'" in verify.stdout
    assert "error: verify found problems: 1 corrupt" in verify.stderr


# --- 5. a stored object deleted behind DataTrac's back ---------------------------------


def test_object_deleted_behind_our_back_is_reported_and_a_push_restores_it(
    cli: CLI, make_file, push, local_store: LocalStorage, operator: Actor
) -> None:
    path = make_file(size=50_000, name="gone.csv")
    dataset = push(path)
    (local_store.root / dataset.sha256[:2] / dataset.sha256[2:4] / dataset.sha256).unlink()

    fetch = cli("fetch", dataset.short_hash, "--download")
    assert fetch.returncode == 1
    assert f"object {dataset.sha256} is missing from" in fetch.stderr
    assert list(cli.cwd.iterdir()) == []

    verify = cli("verify", "--all", "--json")
    assert verify.returncode == 1
    assert '"status": "missing"' in verify.stdout

    again = cli("push", str(path), "--source", "anything")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == dataset.sha256
    assert "its stored bytes were missing or corrupt and have been uploaded again" in again.stderr
    assert local_store.verify(dataset.sha256)
    assert Dataset.objects.count() == 1
    assert cli("verify", dataset.short_hash).returncode == 0


def test_push_after_verify_found_the_stored_copy_corrupt_stores_the_good_bytes_again(
    admin_actor: Actor, cli: CLI, make_file, local_store: LocalStorage
) -> None:
    path = make_file(size=50_000, name="flipped.csv")
    pushed = cli("push", str(path), "--source", "s")
    assert pushed.returncode == 0, pushed.stderr
    sha256 = pushed.stdout.strip()
    stored = local_store.root / sha256[:2] / sha256[2:4] / sha256
    # Flipped, not overwritten: a random file's byte may already be the one written.
    flip_one_byte(stored)

    verify = cli("verify", "--all", "--json")
    assert verify.returncode == 1
    assert '"status": "corrupt"' in verify.stdout

    again = cli("push", str(path), "--source", "s")
    assert again.returncode == 0, again.stderr
    assert "its stored bytes were missing or corrupt and have been uploaded again" in again.stderr
    assert "nothing uploaded" not in again.stderr
    repair = AuditEvent.objects.get(action=AuditEvent.Action.RESTORE, sha256=sha256)
    assert "uploaded again" in repair.detail
    assert local_store.verify(sha256)
    assert cli("verify", "--all").returncode == 0
    assert Dataset.objects.get(sha256=sha256).corrupt_since is None
    out = cli.cwd / "back.csv"
    fetched = cli("fetch", sha256[:12], "--download", "--output", str(out))
    assert fetched.returncode == 0, fetched.stderr
    assert out.read_bytes() == path.read_bytes()
    # Once repaired, known content uploads nothing again.
    assert "nothing uploaded" in cli("push", str(path), "--source", "s").stderr


# --- 6. eight processes push the same new file at once ---------------------------------


def test_eight_concurrent_pushes_of_one_file_make_one_row_and_one_object(
    cli: CLI, make_file, local_store: LocalStorage
) -> None:
    path = make_file(size=8 * 1024 * 1024, name="same.csv")
    pushes = [cli.popen("push", str(path), "--source", f"pusher {i}") for i in range(8)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in pushes]

    assert [code for code, _, _ in results] == [0] * 8, [err for _, _, err in results]
    hashes = {out.strip() for _, out, _ in results}
    assert len(hashes) == 1
    (sha256,) = hashes
    assert Dataset.objects.count() == 1
    assert Dataset.objects.get().sha256 == sha256
    assert list(local_store.iter_objects()) == [sha256]
    assert temporaries_in(local_store.root / sha256[:2] / sha256[2:4], ".tmp") == []
    assert local_store.verify(sha256)


# --- 7. two processes add opposite lineage edges at once -------------------------------


def test_opposite_links_from_concurrent_processes_never_make_a_cycle(
    cli: CLI, make_file, push
) -> None:
    pairs = [(push(make_file()), push(make_file())) for _ in range(2)]
    runs = []
    for a, b in pairs:
        runs.append(cli.popen("lineage", "--parent", a.sha256, "--child", b.sha256))
        runs.append(cli.popen("lineage", "--parent", b.sha256, "--child", a.sha256))
    outcomes = [(p.wait(timeout=300), *p.communicate()) for p in runs]

    for i in range(len(pairs)):
        pair = outcomes[2 * i : 2 * i + 2]
        assert sorted(code for code, _, _ in pair) == [0, 1], pair
        loser = next(err for code, _, err in pair if code == 1)
        assert "would close a cycle" in loser
    assert LineageEdge.objects.count() == len(pairs)
    assert_acyclic()


def test_opposite_links_racing_in_threads_never_make_a_cycle(
    transactional_db: None, make_file, push
) -> None:
    """Both threads pass a barrier and link at the same instant, ten times over; only a
    lock (PostgreSQL advisory lock, SQLite's immediate transactions) keeps it acyclic."""
    actor = Actor.for_cli()  # no account exists yet: the bootstrap CLI identity
    for _ in range(10):
        a, b = push(make_file()), push(make_file())
        created, errors = race_opposite_links(a, b, actor)
        assert (created, len(errors)) == ([True], 1), errors
    assert LineageEdge.objects.count() == 10
    assert_acyclic()


def race_opposite_links(
    a: Dataset, b: Dataset, actor: Actor
) -> tuple[list[bool], list[LineageError]]:
    """Link a -> b and b -> a from two threads released by one barrier."""
    barrier = threading.Barrier(2)
    errors: list[LineageError] = []
    created: list[bool] = []

    def link(parent: Dataset, child: Dataset) -> None:
        try:
            barrier.wait()
            created.append(link_datasets(parent=parent, child=child, actor=actor).created)
        except LineageError as exc:
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection

    threads = [
        threading.Thread(target=link, args=(a, b)),
        threading.Thread(target=link, args=(b, a)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return created, errors


def assert_acyclic() -> None:
    children: dict[int, list[int]] = {}
    for parent, child in LineageEdge.objects.values_list("parent_id", "child_id"):
        children.setdefault(parent, []).append(child)
    state: dict[int, int] = {}

    def visit(node: int) -> None:
        state[node] = 1
        for nxt in children.get(node, []):
            assert state.get(nxt) != 1, f"cycle through {nxt}"
            if nxt not in state:
                visit(nxt)
        state[node] = 2

    for node in list(children):
        if node not in state:
            visit(node)


# --- 9. the store's disk fills up -----------------------------------------------------


def test_full_disk_gives_a_clear_error_and_leaves_other_objects_intact(
    cli: CLI, make_file, tiny_tmpfs: Path
) -> None:
    env = {"DATATRAC_STORAGE_URL": tiny_tmpfs.as_uri()}
    small = cli("push", str(make_file(size=100_000, name="small.csv")), "--source", "s", env=env)
    assert small.returncode == 0, small.stderr
    small_sha = small.stdout.strip()

    big = make_file(size=3 * 1024 * 1024, name="big.csv")
    full = cli("push", str(big), "--source", "s", env=env)
    assert full.returncode == 1
    assert full.stderr.startswith("error: no space left on the store while storing ")
    assert len(full.stderr.strip().splitlines()) == 1

    store = LocalStorage(tiny_tmpfs)
    assert list(store.iter_objects()) == [small_sha]
    assert store.verify(small_sha)
    assert [p for p in tiny_tmpfs.rglob("*") if p.is_file()] == [
        tiny_tmpfs / small_sha[:2] / small_sha[2:4] / small_sha
    ]
    assert list(Dataset.objects.values_list("sha256", flat=True)) == [small_sha]


# --- 10. a remote delete while another process downloads the same dataset --------------


def test_remote_delete_during_a_download_ends_verified_or_cleanly(
    cli: CLI, big_file: BigFile, local_store: LocalStorage, admin_actor: Actor, datatrac_dirs: Path
) -> None:
    dataset = push_dataset(
        path=big_file.path, source="s", actor=admin_actor, storage=local_store
    ).dataset
    output = cli.cwd / "out.bin"
    cache_dir = datatrac_dirs / "cache" / big_file.object_dir
    as_admin = {"DATATRAC_USER": admin_actor.name}
    fetch = cli.popen("fetch", dataset.sha256, "--download", "--output", str(output), env=as_admin)
    wait_for(lambda: temporaries_in(cache_dir, ".part"), fetch, "the download started")

    delete_dataset(dataset=dataset, actor=admin_actor, storage=local_store)
    _, err = fetch.communicate(timeout=300)

    assert not local_store.exists(dataset.sha256)
    if fetch.returncode == 0:
        # The reader held the object open: POSIX keeps its bytes until it is done.
        assert verify_file(output) == big_file.sha256
    else:
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
        assert not output.exists()
    assert temporaries_in(cli.cwd, ".part") == []
    # And once the delete is committed, a new download is refused cleanly.
    again = cli(
        "fetch", dataset.sha256, "--download", "--output", str(cli.cwd / "again.bin"), env=as_admin
    )
    assert again.returncode == 1
    assert "deleted" in again.stderr
    assert not (cli.cwd / "again.bin").exists()


def test_download_of_a_corrupt_object_never_leaves_a_partial_output(
    cli: CLI, make_file, push, local_store: LocalStorage
) -> None:
    """The output is written only from a verified cache entry: no half file ever."""
    dataset = push(make_file(size=3 * 1024 * 1024, name="x.csv"))
    flip_one_byte(local_store.root / dataset.sha256[:2] / dataset.sha256[2:4] / dataset.sha256)
    result = cli("fetch", dataset.sha256, "--download", "--output", "x.csv")
    assert result.returncode == 1
    assert list(cli.cwd.iterdir()) == []
