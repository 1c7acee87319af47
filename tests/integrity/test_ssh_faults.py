"""Faults against the ssh:// store, with a real OpenSSH sshd on loopback.

The store's base directory is on this machine, so a test can watch temporaries appear
and flip bytes behind the server's back. Numbers refer to the list in the issue.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import LazySettings

from registry.actors import Actor
from registry.errors import IntegrityFailure
from registry.integrity import collect_garbage, verify_datasets
from registry.models import AuditEvent, Dataset
from registry.services import push_dataset
from registry.storage import get_storage
from registry.storage.ssh import UPLOAD_CHUNK
from tests.conftest import CLI
from tests.fixtures.sshd import SSHStoreConfig, apply_ssh_settings, store_config
from tests.integrity.conftest import (
    BigFile,
    PausedPush,
    change_once_hashed,
    flip_one_byte,
    ssh_env,
    temporaries_in,
    wait_for,
)

pytestmark = pytest.mark.ssh


def object_file(base: Path, sha256: str) -> Path:
    return base / sha256[:2] / sha256[2:4] / sha256


# --- 1. kill -9 of push during an SSH upload ------------------------------------------


def test_push_killed_during_ssh_upload_leaves_no_object_no_row_and_gc_sweeps_it(
    cli: CLI, big_file: BigFile, ssh_settings: SSHStoreConfig, operator: Actor
) -> None:
    env = ssh_env(ssh_settings)
    push = cli.popen("push", str(big_file.path), "--source", "s", env=env)
    object_dir = ssh_settings.base / big_file.object_dir
    temp = wait_for(lambda: temporaries_in(object_dir, ".tmp"), push, "the upload started")[0]
    push.send_signal(signal.SIGKILL)
    push.wait()

    assert not object_file(ssh_settings.base, big_file.sha256).exists()
    assert not Dataset.objects.exists()

    # The server ends the killed client's session, and with it the shell holding the
    # temporary's lock, once it sees the connection close.
    wait_until_unlocked(temp)
    old = temp.stat().st_mtime - 2 * 86400
    os.utime(temp, (old, old))
    swept = cli("gc", env=env)
    assert swept.returncode == 0, swept.stderr
    assert f"removed temporary upload {big_file.object_dir}/{temp.name}" in swept.stdout
    assert temporaries_in(object_dir, ".tmp") == []

    again = cli("push", str(big_file.path), "--source", "s", env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == big_file.sha256
    assert Dataset.objects.get().sha256 == big_file.sha256
    with get_storage() as store:
        assert store.verify(big_file.sha256)


def wait_until_unlocked(path: Path, timeout: float = 120) -> None:
    """Wait until no process holds an flock on ``path`` (a ceiling, never asserted)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with path.open("rb") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            return
    pytest.fail(f"{path} stayed locked")


def test_gc_without_grace_over_ssh_never_breaks_a_running_push(
    cli: CLI, make_file, ssh_settings: SSHStoreConfig, operator: Actor
) -> None:
    """A real `datatrac gc --grace 0` while an SSH push is stopped mid-upload: the
    temporary the server-side shell keeps locked stays, a stale one beside it goes, and
    the push then completes."""
    path = make_file(size=3 * UPLOAD_CHUNK)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    object_dir = object_file(ssh_settings.base, sha256).parent
    stale = object_file(ssh_settings.base, "cd" * 32).with_name(f".{'cd' * 32}.0123456789ab.tmp")
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half")

    with PausedPush(path, operator, get_storage) as push:
        running = temporaries_in(object_dir, ".tmp")
        assert len(running) == 1 and 0 < running[0].stat().st_size < path.stat().st_size
        gc = cli("gc", "--grace", "0", env=ssh_env(ssh_settings))
        assert gc.returncode == 0, gc.stderr
        assert gc.stdout.splitlines() == [
            f"removed temporary upload {stale.relative_to(ssh_settings.base)}"
        ]
        assert running[0].exists() and not stale.exists()
        result = push.finished()

    assert result.outcome == "created" and result.uploaded
    with get_storage() as store:
        assert store.verify(sha256)
    assert temporaries_in(object_dir, ".tmp") == []


# --- 3. the file changes between hashing and uploading (SSH) ------------------------------


@pytest.mark.django_db
def test_file_changed_after_hashing_is_refused_by_the_ssh_store(
    make_file, ssh_settings: SSHStoreConfig
) -> None:
    path = make_file(size=2 * 1024 * 1024)

    with get_storage() as store, pytest.raises(IntegrityFailure, match="changed while"):
        push_dataset(
            path=path,
            source="s",
            actor=Actor.for_cli(),
            storage=store,
            progress=change_once_hashed(path),
        )
    assert not Dataset.objects.exists()
    assert [p for p in ssh_settings.base.rglob("*") if p.is_file()] == []


# --- 4/5. verify hashes on the server, finds corrupt and missing objects ------------------


def bytes_read_by_this_process() -> int:
    """Bytes this process has read through any syscall (files and sockets alike)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.mark.django_db
def test_verify_over_ssh_hashes_on_the_server_and_reports_problems(
    make_file, ssh_settings: SSHStoreConfig, operator: Actor
) -> None:
    actor = Actor.for_cli()
    big = make_file(size=48 * 1024 * 1024, name="big.bin")
    with get_storage() as store:
        datasets = [
            push_dataset(path=p, source="s", actor=actor, storage=store).dataset
            for p in (big, make_file(name="corrupt.csv"), make_file(name="missing.csv"))
        ]
        big_ds, corrupt, missing = datasets

        before = bytes_read_by_this_process()
        assert store.verify(big_ds.sha256)
        # The server hashed 48 MiB; this client received a hash, not the object.
        assert bytes_read_by_this_process() - before < 1024 * 1024

        # Flipped, not overwritten: a random file's first byte may already be 0xff.
        flip_one_byte(object_file(ssh_settings.base, corrupt.sha256))
        object_file(ssh_settings.base, missing.sha256).unlink()
        orphan = hashlib.sha256(b"orphan").hexdigest()
        object_file(ssh_settings.base, orphan).parent.mkdir(parents=True, exist_ok=True)
        object_file(ssh_settings.base, orphan).write_bytes(b"orphan")

        report = verify_datasets(actor=operator, storage=store)

    statuses = {c.sha256: c.status for c in report.checks}
    assert statuses == {
        big_ds.sha256: "ok",
        corrupt.sha256: "corrupt",
        missing.sha256: "missing",
    }
    assert report.orphans == [orphan]


@pytest.mark.django_db
def test_gc_over_ssh_sweeps_old_temporaries_and_keeps_referenced_objects(
    make_file, ssh_settings: SSHStoreConfig, operator: Actor
) -> None:
    with get_storage() as store:
        dataset = push_dataset(
            path=make_file(), source="s", actor=Actor.for_cli(), storage=store
        ).dataset
        temp = object_file(ssh_settings.base, dataset.sha256).with_name(
            f".{dataset.sha256}.0123456789ab.tmp"
        )
        temp.write_bytes(b"half")
        old = temp.stat().st_mtime - 2 * 86400
        os.utime(temp, (old, old))
        for path in ssh_settings.base.rglob("*"):
            os.utime(path, (old, old))

        report = collect_garbage(
            storage=store, grace=timedelta(days=1), dry_run=False, actor=operator
        )

        assert report.temporaries == [f"{dataset.sha256[:2]}/{dataset.sha256[2:4]}/{temp.name}"]
        assert report.removed == []
        assert store.verify(dataset.sha256)
    assert not temp.exists()


# --- concurrent pushes of one new file, and a corrupt object pushed again (SSH) ----------


def test_concurrent_ssh_pushes_of_one_new_file_say_already_registered_and_repair_nothing(
    cli: CLI, make_file, ssh_settings: SSHStoreConfig
) -> None:
    path = make_file(size=8 * 1024 * 1024, name="same.csv")
    env = ssh_env(ssh_settings)
    pushes = [cli.popen("push", str(path), "--source", f"pusher {i}", env=env) for i in range(5)]
    results = [(*p.communicate(timeout=600), p.returncode) for p in pushes]

    assert [code for _, _, code in results] == [0] * 5, [err for _, err, _ in results]
    messages = sorted(err.strip() for _, err, _ in results)
    assert sum(m.startswith("pushed 'same.csv'") for m in messages) == 1, messages
    assert sum(m.startswith("already registered as 'same.csv'") for m in messages) == 4, messages
    assert not any("missing" in m or "uploaded again" in m for m in messages), messages
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.RESTORE).exists()
    assert AuditEvent.objects.filter(action=AuditEvent.Action.PUSH).count() == 1
    sha256 = Dataset.objects.get().sha256
    with get_storage() as store:
        assert store.verify(sha256)


def test_ssh_push_after_verify_found_the_stored_copy_corrupt_stores_the_good_bytes_again(
    admin_actor: Actor, cli: CLI, make_file, ssh_settings: SSHStoreConfig
) -> None:
    env = ssh_env(ssh_settings)
    path = make_file(size=300_000, name="flipped.csv")
    pushed = cli("push", str(path), "--source", "s", env=env)
    assert pushed.returncode == 0, pushed.stderr
    sha256 = pushed.stdout.strip()
    stored = object_file(ssh_settings.base, sha256)
    stored.chmod(0o644)
    with stored.open("r+b") as f:
        f.seek(1000)
        f.write(b"\xff\xff")

    verify = cli("verify", "--all", "--json", env=env)
    assert verify.returncode == 1
    assert '"status": "corrupt"' in verify.stdout

    again = cli("push", str(path), "--source", "s", env=env)
    assert again.returncode == 0, again.stderr
    assert "missing or corrupt and have been uploaded again" in again.stderr
    assert AuditEvent.objects.filter(action=AuditEvent.Action.RESTORE, sha256=sha256).count() == 1
    assert cli("verify", "--all", env=env).returncode == 0
    out = cli.cwd / "back.csv"
    fetched = cli("fetch", sha256[:12], "--download", "--output", str(out), env=env)
    assert fetched.returncode == 0, fetched.stderr
    assert out.read_bytes() == path.read_bytes()


# --- 8. the SSH server dies, or stops answering, mid-transfer ------------------------------


@pytest.fixture
def own_server(sshd_factory, tmp_path: Path) -> SSHStoreConfig:
    """A server of this test's own, to kill or freeze without harming the others."""
    server = sshd_factory()
    base = tmp_path / "own-store"
    base.mkdir()
    return store_config(server, base)


def test_sshd_killed_mid_upload_gives_a_clear_error_and_registers_nothing(
    cli: CLI, big_file: BigFile, own_server: SSHStoreConfig
) -> None:
    push = cli.popen("push", str(big_file.path), "--source", "s", env=ssh_env(own_server))
    object_dir = own_server.base / big_file.object_dir
    wait_for(lambda: temporaries_in(object_dir, ".tmp"), push, "the upload started")
    own_server.server.kill()
    _, err = push.communicate(timeout=120)

    assert push.returncode == 1
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert "lost the connection" in err or "timed out" in err, err
    assert not object_file(own_server.base, big_file.sha256).exists()
    assert not Dataset.objects.exists()


def test_sshd_frozen_mid_upload_times_out_and_registers_nothing(
    cli: CLI, big_file: BigFile, own_server: SSHStoreConfig
) -> None:
    push = cli.popen("push", str(big_file.path), "--source", "s", env=ssh_env(own_server, 2))
    object_dir = own_server.base / big_file.object_dir
    wait_for(lambda: temporaries_in(object_dir, ".tmp"), push, "the upload started")
    own_server.server.signal_sessions(signal.SIGSTOP)
    try:
        _, err = push.communicate(timeout=120)
    finally:
        own_server.server.stop()  # continues and ends the frozen sessions

    assert push.returncode == 1
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert "timed out after 2s" in err, err
    assert not object_file(own_server.base, big_file.sha256).exists()
    assert not Dataset.objects.exists()


def test_a_server_that_never_answers_fails_within_the_timeout(
    cli: CLI, make_file, silent_listener: int, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    config = tmp_path / "ssh_config"
    config.write_text("")
    env = {
        "DATATRAC_STORAGE_URL": f"ssh://nobody@127.0.0.1:{silent_listener}/srv/store",
        "DATATRAC_SSH_KNOWN_HOSTS": str(known_hosts),
        "DATATRAC_SSH_CONFIG": str(config),
        "DATATRAC_SSH_TIMEOUT": "1",
        "SSH_AUTH_SOCK": "",
    }
    result = cli("push", str(make_file()), "--source", "s", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot connect to nobody@127.0.0.1:")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not Dataset.objects.exists()


# --- 9. the server's disk fills up ------------------------------------------------------


def test_full_disk_on_the_ssh_server_gives_a_clear_error_and_keeps_other_objects(
    cli: CLI,
    make_file,
    tiny_tmpfs: Path,
    ssh_store_config: SSHStoreConfig,
    settings: LazySettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = store_config(ssh_store_config.server, tiny_tmpfs)
    env = ssh_env(config)
    small = cli("push", str(make_file(size=100_000)), "--source", "s", env=env)
    assert small.returncode == 0, small.stderr
    full = cli("push", str(make_file(size=3 * 1024 * 1024)), "--source", "s", env=env)

    assert full.returncode == 1
    assert full.stderr.startswith("error: no space left on the store"), full.stderr
    small_sha = small.stdout.strip()
    assert [p for p in tiny_tmpfs.rglob("*") if p.is_file()] == [object_file(tiny_tmpfs, small_sha)]
    assert list(Dataset.objects.values_list("sha256", flat=True)) == [small_sha]
    apply_ssh_settings(settings, monkeypatch, config)
    with get_storage() as store:
        assert store.verify(small_sha)


# --- 10. a remote delete while another process downloads over SSH --------------------------


def test_remote_delete_during_an_ssh_download_ends_verified_or_cleanly(
    cli: CLI,
    big_file: BigFile,
    ssh_settings: SSHStoreConfig,
    admin_actor: Actor,
    datatrac_dirs: Path,
) -> None:
    from registry.services import delete_dataset

    with get_storage() as store:
        dataset = push_dataset(
            path=big_file.path, source="s", actor=admin_actor, storage=store
        ).dataset
    env = {**ssh_env(ssh_settings), "DATATRAC_USER": admin_actor.name}
    output = cli.cwd / "out.bin"
    fetch = cli.popen("fetch", dataset.sha256, "--download", "--output", str(output), env=env)
    cache_dir = datatrac_dirs / "cache" / big_file.object_dir
    wait_for(lambda: temporaries_in(cache_dir, ".part"), fetch, "the download started")
    with get_storage() as store:
        delete_dataset(dataset=dataset, actor=admin_actor, storage=store)
    _, err = fetch.communicate(timeout=300)

    assert not object_file(ssh_settings.base, dataset.sha256).exists()
    if fetch.returncode == 0:
        from registry.hashing import hash_file

        assert hash_file(output)[0] == big_file.sha256
    else:
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
        assert not output.exists()
    assert temporaries_in(cli.cwd, ".part") == []
