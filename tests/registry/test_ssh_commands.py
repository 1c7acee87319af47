"""push, fetch --download and delete end to end, with the store on a real loopback sshd."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import LazySettings
from django.core.management import CommandError, call_command

from registry.models import Dataset
from registry.storage.base import TEMP_SUFFIX, object_key
from tests.factories import UserFactory, member_of
from tests.fixtures.sshd import SSHStoreConfig, free_port

pytestmark = [pytest.mark.django_db, pytest.mark.ssh]


def run(*args: str, **options: object) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def test_push_fetch_and_delete_round_trip_through_the_ssh_store(
    ssh_settings: SSHStoreConfig,
    make_file: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)
    path = make_file(data, name="sales.csv")

    out, err = run("push", str(path), "--source", "https://example.org/sales.csv")

    sha = out.strip()
    stored = ssh_settings.base / object_key(sha)
    assert stored.read_bytes() == data
    dataset = Dataset.objects.get(sha256=sha)
    assert dataset.storage_location == f"{ssh_settings.url}/{object_key(sha)}"
    assert "pushed 'sales.csv'" in err

    target = tmp_path / "downloaded.csv"
    out, err = run("fetch", sha[:10], "--download", "--output", str(target))
    assert target.read_bytes() == data
    assert "verified" in err

    UserFactory(username="store-admin", is_superuser=True)
    member_of("contributors", "tester")
    monkeypatch.setenv("DATATRAC_PASSWORD", "correct horse battery")
    out, _ = run("delete", sha, "--user", "store-admin", "--yes")
    assert "tombstone" in out
    assert not stored.exists()
    assert Dataset.objects.get(sha256=sha).state == Dataset.State.DELETED


def test_push_of_known_content_uploads_nothing_over_ssh(
    ssh_settings: SSHStoreConfig, make_file: Callable[..., Path]
) -> None:
    path = make_file(b"once")
    sha = run("push", str(path), "--source", "s")[0].strip()
    logins = ssh_settings.server.count_in_log("Accepted publickey")
    stored = ssh_settings.base / object_key(sha)
    mtime = stored.stat().st_mtime_ns

    _out, err = run("push", str(path), "--source", "s")

    assert "nothing uploaded" in err
    assert stored.stat().st_mtime_ns == mtime
    # One connection per command.
    assert ssh_settings.server.count_in_log("Accepted publickey") == logins + 1


def test_fetch_download_of_a_corrupted_object_writes_nothing(
    ssh_settings: SSHStoreConfig, make_file: Callable[..., Path], tmp_path: Path
) -> None:
    sha = run("push", str(make_file(b"x" * 100_000)), "--source", "s")[0].strip()
    stored = ssh_settings.base / object_key(sha)
    stored.chmod(0o644)
    stored.write_bytes(b"y" + b"x" * 99_999)
    target = tmp_path / "out.bin"

    with pytest.raises(CommandError, match="hash mismatch"):
        run("fetch", sha, "--download", "--output", str(target))

    assert not target.exists()


def test_push_to_an_unreachable_store_fails_in_one_line_and_registers_nothing(
    settings: LazySettings, ssh_settings: SSHStoreConfig, make_file: Callable[..., Path]
) -> None:
    port = free_port()
    settings.DATATRAC_STORAGE_URL = f"ssh://dt@127.0.0.1:{port}/srv/datatrac"

    with pytest.raises(CommandError) as failure:
        run("push", str(make_file(b"lonely")), "--source", "s")

    assert str(failure.value) == f"cannot connect to dt@127.0.0.1:{port}: connection refused"
    assert not Dataset.objects.exists()


def test_push_to_a_store_that_cannot_hash_registers_nothing(
    sshd_factory: Callable[..., object],
    settings: LazySettings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    make_file: Callable[..., Path],
) -> None:
    from tests.fixtures.sshd import apply_ssh_settings, store_config

    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    # flock alone: what keeps an upload safe from gc, needed before any byte moves.
    (empty_bin / "flock").symlink_to(shutil.which("flock") or "/usr/bin/flock")
    server = sshd_factory(extra_config=[f"SetEnv PATH={empty_bin}"])
    base = tmp_path / "bare"
    base.mkdir()
    apply_ssh_settings(settings, monkeypatch, store_config(server, base))  # type: ignore[arg-type]

    with pytest.raises(CommandError, match="neither openssl nor sha256sum"):
        run("push", str(make_file(b"unverifiable")), "--source", "s")

    assert not Dataset.objects.exists()
    assert not list(base.glob(f"*/*/*{TEMP_SUFFIX}"))
    assert not [p for p in base.glob("*/*/*") if not p.name.startswith(".")]
