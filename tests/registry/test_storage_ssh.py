"""The ``ssh://`` store against a real OpenSSH sshd on loopback (tests/fixtures/sshd.py).

Every fault here is caused for real: a killed or stopped sshd, a listener that never
speaks, a read-only directory, a full tmpfs, a server whose PATH has no hash tool, a
client killed with SIGKILL. Nothing is mocked.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import LazySettings

from registry.errors import IntegrityFailure, ObjectMissing, StoreError
from registry.storage import get_storage
from registry.storage.base import TEMP_SUFFIX, object_key
from registry.storage.ssh import SSHStorage
from tests.fixtures.sshd import (
    PATIENT_SSH_TIMEOUT,
    WAIT_CEILING,
    SSHServer,
    SSHStoreConfig,
    apply_ssh_settings,
    free_port,
    make_keys,
    store_config,
)

pytestmark = pytest.mark.ssh

MiB = 1024 * 1024


# What sshd logs (LogLevel DEBUG1) once a connection is over and its child is gone.
CONNECTION_ENDED = "Killing privsep child"


def wait_for_connection_end(server: SSHServer, ended_before: int) -> None:
    """Wait until sshd has logged the end of one more connection than ``ended_before``.

    Its log is written asynchronously: what a connection did is all in the log once
    its end is. A ceiling only stops a broken test from hanging.
    """
    deadline = time.monotonic() + WAIT_CEILING
    while server.count_in_log(CONNECTION_ENDED) <= ended_before:
        assert time.monotonic() < deadline, "sshd never logged the end of the connection"
        time.sleep(0.01)


def sha_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[..., tuple[Path, str]]:
    """Write random bytes to a local file; return (path, sha256)."""
    counter = iter(range(10**6))

    def write(size: int = 64 * 1024, data: bytes | None = None) -> tuple[Path, str]:
        data = os.urandom(size) if data is None else data
        path = tmp_path / "src" / f"file-{next(counter)}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        return path, sha_of(data)

    return write


@pytest.fixture
def store(ssh_settings: SSHStoreConfig) -> Iterator[SSHStorage]:
    with get_storage() as storage:
        assert isinstance(storage, SSHStorage)
        yield storage


def final_path(config: SSHStoreConfig, sha256: str) -> Path:
    return config.base / object_key(sha256)


def temporaries(base: Path) -> list[Path]:
    return sorted(base.glob(f"*/*/.*{TEMP_SUFFIX}"))


def read_all(storage: SSHStorage, sha256: str) -> bytes:
    with storage.open(sha256) as reader:
        return reader.read()


# --- round trips -------------------------------------------------------------------


def test_put_then_open_streams_back_the_same_bytes(
    store: SSHStorage, ssh_settings: SSHStoreConfig, write_file: Callable[..., tuple[Path, str]]
) -> None:
    path, sha = write_file(5 * MiB + 123)

    store.put(sha, path)

    assert read_all(store, sha) == path.read_bytes()
    stored = final_path(ssh_settings, sha)
    assert stored.read_bytes() == path.read_bytes()
    assert stored.stat().st_mode & 0o777 == 0o444
    assert temporaries(ssh_settings.base) == []
    assert store.location(sha) == f"{ssh_settings.url}/{object_key(sha)}"


def test_open_reads_in_chunks_with_read_and_readinto(
    store: SSHStorage, write_file: Callable[..., tuple[Path, str]]
) -> None:
    path, sha = write_file(3 * MiB)
    store.put(sha, path)

    digest = hashlib.sha256()
    with store.open(sha) as reader:
        buffer = bytearray(100_000)
        while n := reader.readinto(buffer):
            digest.update(buffer[:n])

    assert digest.hexdigest() == sha


def test_a_download_starts_one_session_on_the_server(
    store: SSHStorage, ssh_settings: SSHStoreConfig, write_file: Callable[..., tuple[Path, str]]
) -> None:
    path, sha = write_file(2 * MiB)
    store.put(sha, path)
    store.close()  # a fresh connection, with no SFTP session open yet
    sessions_before = ssh_settings.server.count_in_log("Starting session:")

    assert read_all(store, sha) == path.read_bytes()

    # The remote cat alone: each session costs the server a fork and the client a
    # round trip, so a download does not open SFTP just to stat the object first.
    assert ssh_settings.server.count_in_log("Starting session:") == sessions_before + 1


@pytest.mark.parametrize("size", [1, 100_000, 4 * MiB])
def test_reads_of_any_size_return_every_byte_in_order_and_never_more_than_asked(
    store: SSHStorage, write_file: Callable[..., tuple[Path, str]], size: int
) -> None:
    path, sha = write_file(MiB + 17 if size > 1 else 70_000)
    store.put(sha, path)

    with store.open(sha) as reader:
        chunks = []
        while chunk := reader.read(size):
            assert 0 < len(chunk) <= size
            chunks.append(chunk)

    assert b"".join(chunks) == path.read_bytes()


def test_put_of_an_existing_object_leaves_one_object(
    store: SSHStorage, ssh_settings: SSHStoreConfig, write_file: Callable[..., tuple[Path, str]]
) -> None:
    path, sha = write_file()

    store.put(sha, path)
    store.put(sha, path)

    assert list(store.iter_objects()) == [sha]
    assert temporaries(ssh_settings.base) == []


def test_empty_file_round_trips(
    store: SSHStorage, write_file: Callable[..., tuple[Path, str]]
) -> None:
    path, sha = write_file(data=b"")

    store.put(sha, path)

    assert store.stat(sha) == 0
    assert read_all(store, sha) == b""
    assert store.verify(sha)


def test_exists_stat_and_delete(
    store: SSHStorage, ssh_settings: SSHStoreConfig, write_file: Callable[..., tuple[Path, str]]
) -> None:
    path, sha = write_file(1000)
    assert not store.exists(sha)

    store.put(sha, path)
    assert store.exists(sha)
    assert store.stat(sha) == 1000

    store.delete(sha)
    assert not store.exists(sha)
    assert not final_path(ssh_settings, sha).exists()


def test_missing_object_is_reported_by_delete_stat_open_verify_and_age(store: SSHStorage) -> None:
    sha = sha_of(b"never stored")

    for call in (store.delete, store.stat, store.open, store.verify, store.age):
        with pytest.raises(ObjectMissing, match=sha):
            call(sha)


def test_verify_hashes_on_the_server_and_catches_a_flipped_byte(
    store: SSHStorage, ssh_settings: SSHStoreConfig, write_file: Callable[..., tuple[Path, str]]
) -> None:
    path, sha = write_file(200_000)
    store.put(sha, path)
    assert store.verify(sha)

    stored = final_path(ssh_settings, sha)
    stored.chmod(0o644)
    data = bytearray(stored.read_bytes())
    data[1234] ^= 0x01
    stored.write_bytes(bytes(data))

    assert not store.verify(sha)


def test_put_of_a_file_that_changed_after_hashing_stores_nothing(
    store: SSHStorage, ssh_settings: SSHStoreConfig, write_file: Callable[..., tuple[Path, str]]
) -> None:
    path, _sha = write_file(100_000)
    hashed_before_the_change = sha_of(b"what the file held when it was hashed")

    with pytest.raises(IntegrityFailure, match="changed while it was being pushed") as failure:
        store.put(hashed_before_the_change, path)

    assert "\n" not in str(failure.value)

    assert not store.exists(hashed_before_the_change)
    assert temporaries(ssh_settings.base) == []


def test_iter_objects_lists_final_names_only(
    store: SSHStorage, ssh_settings: SSHStoreConfig, write_file: Callable[..., tuple[Path, str]]
) -> None:
    shas = set()
    for _ in range(3):
        path, sha = write_file(100)
        store.put(sha, path)
        shas.add(sha)
    some = next(iter(shas))
    (final_path(ssh_settings, some).parent / f".{some}.abc123{TEMP_SUFFIX}").write_bytes(b"x")
    (ssh_settings.base / "README").write_text("not an object")

    assert set(store.iter_objects()) == shas


def test_iter_objects_of_a_store_not_yet_created_is_empty(
    settings: LazySettings, ssh_settings: SSHStoreConfig
) -> None:
    with get_storage(f"{ssh_settings.url}/not-yet") as storage:
        assert list(storage.iter_objects()) == []


def test_sweep_temporaries_removes_only_stale_temporaries(
    store: SSHStorage, ssh_settings: SSHStoreConfig, write_file: Callable[..., tuple[Path, str]]
) -> None:
    path, sha = write_file(100)
    store.put(sha, path)
    directory = final_path(ssh_settings, sha).parent
    stale = directory / f".{sha}.0123456789ab{TEMP_SUFFIX}"
    fresh = directory / f".{sha}.ba9876543210{TEMP_SUFFIX}"
    stale.write_bytes(b"half an upload")
    fresh.write_bytes(b"an upload in progress")
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))

    would = store.sweep_temporaries(older_than=timedelta(minutes=10), dry_run=True)
    assert would == [str(stale.relative_to(ssh_settings.base))]
    assert stale.exists()

    removed = store.sweep_temporaries(older_than=timedelta(minutes=10))

    assert removed == would
    assert not stale.exists()
    assert fresh.exists()
    assert store.exists(sha)


def test_age_is_measured_by_the_server_clock(
    store: SSHStorage, ssh_settings: SSHStoreConfig, write_file: Callable[..., tuple[Path, str]]
) -> None:
    path, sha = write_file(100)
    store.put(sha, path)
    two_days_ago = time.time() - 2 * 86400
    os.utime(final_path(ssh_settings, sha), (two_days_ago, two_days_ago))

    age = store.age(sha)

    assert timedelta(days=2) - timedelta(seconds=5) < age < timedelta(days=2, seconds=5)


def test_a_store_path_with_shell_characters_is_used_literally(
    settings: LazySettings,
    monkeypatch: pytest.MonkeyPatch,
    sshd_server: SSHServer,
    tmp_path: Path,
    write_file: Callable[..., tuple[Path, str]],
) -> None:
    base = tmp_path / "st ore;touch PWNED;$(touch PWNED2)'`touch PWNED3`"
    base.mkdir()
    apply_ssh_settings(settings, monkeypatch, store_config(sshd_server, base))
    path, sha = write_file(1000)

    with get_storage() as storage:
        storage.put(sha, path)
        assert storage.verify(sha)
        assert list(storage.iter_objects()) == [sha]

    assert (base / object_key(sha)).exists()
    home = Path("~").expanduser()
    for marker in ("PWNED", "PWNED2", "PWNED3"):
        assert not (home / marker).exists()
        assert not (tmp_path / marker).exists()


def test_a_host_alias_from_ssh_config_is_resolved(
    settings: LazySettings,
    monkeypatch: pytest.MonkeyPatch,
    ssh_store_config: SSHStoreConfig,
    tmp_path: Path,
    write_file: Callable[..., tuple[Path, str]],
) -> None:
    apply_ssh_settings(settings, monkeypatch, ssh_store_config)
    server = ssh_store_config.server
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host datatrac-store\n"
        "    HostName 127.0.0.1\n"
        f"    Port {server.port}\n"
        f"    User {server.user}\n"
        f"    IdentityFile {server.keys.client_key}\n"
    )
    settings.DATATRAC_SSH_CONFIG = str(config)
    settings.DATATRAC_SSH_KEY = ""
    path, sha = write_file(1000)

    with get_storage(f"ssh://datatrac-store{ssh_store_config.base}") as storage:
        storage.put(sha, path)
        assert storage.destination == f"{server.user}@127.0.0.1:{server.port}"

    assert final_path(ssh_store_config, sha).exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ssh://dt:secret@127.0.0.1/srv/dt", "must not hold a password"),
        ("ssh://dt@127.0.0.1", "needs a store directory"),
        ("ssh://dt@127.0.0.1/", "needs a store directory"),
        ("ssh://dt@127.0.0.1:99999/srv", "invalid port"),
    ],
)
def test_bad_urls_are_refused_before_connecting(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        SSHStorage.from_url(url)


# --- one connection ----------------------------------------------------------------


def test_one_connection_serves_every_call(
    store: SSHStorage, ssh_settings: SSHStoreConfig, write_file: Callable[..., tuple[Path, str]]
) -> None:
    logins_before = ssh_settings.server.count_in_log("Accepted publickey")
    files = [write_file(10_000 + i) for i in range(5)]

    for path, sha in files:
        store.put(sha, path)
        transport = store.transport
        assert store.exists(sha)
        assert store.stat(sha) == path.stat().st_size
        assert store.verify(sha)
        assert read_all(store, sha) == path.read_bytes()
        assert store.transport is transport
    assert len(list(store.iter_objects())) == 5
    store.sweep_temporaries(older_than=timedelta(hours=1))
    for _path, sha in files:
        store.delete(sha)

    assert ssh_settings.server.count_in_log("Accepted publickey") == logins_before + 1


def test_a_closed_store_reconnects_on_next_use(
    store: SSHStorage, ssh_settings: SSHStoreConfig, write_file: Callable[..., tuple[Path, str]]
) -> None:
    path, sha = write_file()
    store.put(sha, path)
    store.close()
    assert store.transport is None

    assert store.exists(sha)


# --- host keys and authentication --------------------------------------------------


def fingerprint(public_key: Path) -> str:
    """The SHA256 fingerprint as OpenSSH prints it (an independent oracle)."""
    out = subprocess.run(["ssh-keygen", "-lf", str(public_key)], capture_output=True, text=True)
    return out.stdout.split()[1]


def test_unknown_host_key_is_refused_before_any_credential_is_sent(
    settings: LazySettings, ssh_settings: SSHStoreConfig, tmp_path: Path
) -> None:
    server = ssh_settings.server
    empty_known_hosts = tmp_path / "known_hosts"
    empty_known_hosts.write_text("")
    settings.DATATRAC_SSH_KNOWN_HOSTS = str(empty_known_hosts)
    auth_requests_before = server.count_in_log("userauth-request")
    ended_before = server.count_in_log(CONNECTION_ENDED)

    with pytest.raises(StoreError) as failure, get_storage() as storage:
        storage.exists(sha_of(b"x"))

    message = str(failure.value)
    assert f"host key for [127.0.0.1]:{server.port} is not in {empty_known_hosts}" in message
    assert fingerprint(server.keys.host_key.with_suffix(".pub")) in message
    assert f"ssh-keyscan -p {server.port} 127.0.0.1 >> {empty_known_hosts}" in message
    assert "\n" not in message
    assert empty_known_hosts.read_text() == ""  # never added behind the user's back
    wait_for_connection_end(server, ended_before)
    assert server.count_in_log("userauth-request") == auth_requests_before


def test_missing_known_hosts_file_refuses_the_host(
    settings: LazySettings, ssh_settings: SSHStoreConfig, tmp_path: Path
) -> None:
    settings.DATATRAC_SSH_KNOWN_HOSTS = str(tmp_path / "no" / "known_hosts")

    with pytest.raises(StoreError, match="is not in"), get_storage() as storage:
        storage.exists(sha_of(b"x"))

    assert not (tmp_path / "no").exists()


def test_changed_host_key_is_refused_naming_both_fingerprints(
    settings: LazySettings, ssh_settings: SSHStoreConfig, tmp_path: Path
) -> None:
    server = ssh_settings.server
    impostor = make_keys(tmp_path / "other")
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{server.port} {impostor.host_public}\n")
    settings.DATATRAC_SSH_KNOWN_HOSTS = str(known_hosts)
    auth_requests_before = server.count_in_log("userauth-request")
    ended_before = server.count_in_log(CONNECTION_ENDED)

    with pytest.raises(StoreError) as failure, get_storage() as storage:
        storage.exists(sha_of(b"x"))

    message = str(failure.value)
    assert "has CHANGED" in message
    assert fingerprint(server.keys.host_key.with_suffix(".pub")) in message
    assert fingerprint(impostor.host_key.with_suffix(".pub")) in message
    assert "\n" not in message
    wait_for_connection_end(server, ended_before)
    assert server.count_in_log("userauth-request") == auth_requests_before


def test_authentication_failure_is_one_clear_line(
    settings: LazySettings, ssh_settings: SSHStoreConfig, tmp_path: Path
) -> None:
    stranger = make_keys(tmp_path / "stranger")
    settings.DATATRAC_SSH_KEY = str(stranger.client_key)

    with pytest.raises(StoreError) as failure, get_storage() as storage:
        storage.exists(sha_of(b"x"))

    server = ssh_settings.server
    assert str(failure.value).startswith(
        f"authentication to {server.user}@127.0.0.1:{server.port} failed"
    )
    assert "\n" not in str(failure.value)


def test_connection_refused_is_one_clear_line(
    settings: LazySettings, ssh_settings: SSHStoreConfig
) -> None:
    port = free_port()
    settings.DATATRAC_STORAGE_URL = f"ssh://dt@127.0.0.1:{port}/srv/datatrac"

    with pytest.raises(StoreError) as failure, get_storage() as storage:
        storage.exists(sha_of(b"x"))

    assert str(failure.value) == f"cannot connect to dt@127.0.0.1:{port}: connection refused"


def test_a_server_that_accepts_but_never_answers_times_out(
    settings: LazySettings, ssh_settings: SSHStoreConfig, silent_listener: int
) -> None:
    settings.DATATRAC_STORAGE_URL = f"ssh://dt@127.0.0.1:{silent_listener}/srv/datatrac"
    settings.DATATRAC_SSH_TIMEOUT = 1.5

    with pytest.raises(StoreError) as failure, get_storage() as storage:
        storage.exists(sha_of(b"x"))

    assert str(failure.value).startswith(f"cannot connect to dt@127.0.0.1:{silent_listener}")
    # The configured timeout is what ended the wait (the message says which).
    assert "1.5s" in str(failure.value)


# --- faults mid-transfer -----------------------------------------------------------


@pytest.fixture
def own_sshd(
    sshd_factory: Callable[..., SSHServer],
    settings: LazySettings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> SSHStoreConfig:
    """A store on an sshd of this test's own, which the test may kill or stop."""
    server = sshd_factory()
    base = tmp_path / "own-store"
    base.mkdir()
    config = store_config(server, base)
    apply_ssh_settings(settings, monkeypatch, config)
    return config


def test_sshd_killed_mid_upload_fails_cleanly_and_stores_nothing(
    own_sshd: SSHStoreConfig, write_file: Callable[..., tuple[Path, str]]
) -> None:
    path, sha = write_file(24 * MiB)

    def kill_server(_n: int) -> None:
        own_sshd.server.kill()

    # A dead server ends the upload at once (the connection drops); the patient SSH
    # timeout is only the ceiling of a broken test.
    with pytest.raises(StoreError) as failure, get_storage() as storage:
        storage.put(sha, path, progress=kill_server)

    assert "\n" not in str(failure.value)
    assert "127.0.0.1" in str(failure.value)
    assert not final_path(own_sshd, sha).exists()


def test_sshd_killed_mid_download_is_an_error_not_a_short_file(
    own_sshd: SSHStoreConfig, write_file: Callable[..., tuple[Path, str]]
) -> None:
    path, sha = write_file(32 * MiB)
    with get_storage() as storage:
        storage.put(sha, path)
        received = 0
        with pytest.raises(StoreError) as failure, storage.open(sha) as reader:
            received += len(reader.read(MiB))
            own_sshd.server.kill()
            while chunk := reader.read(MiB):
                received += len(chunk)

    assert received < 32 * MiB
    assert "\n" not in str(failure.value)


def test_sshd_that_stops_answering_mid_upload_times_out(
    own_sshd: SSHStoreConfig,
    write_file: Callable[..., tuple[Path, str]],
    settings: LazySettings,
) -> None:
    path, sha = write_file(24 * MiB)
    # The timeout is what this test is about: a frozen server never answers, so a short
    # one ends the wait (and, should it fire before the freeze, fails the same way).
    settings.DATATRAC_SSH_TIMEOUT = 2.0

    def freeze_server(_n: int) -> None:
        own_sshd.server.signal_sessions(signal.SIGSTOP)

    try:
        with pytest.raises(StoreError, match="timed out after 2s"), get_storage() as storage:
            storage.put(sha, path, progress=freeze_server)
    finally:
        own_sshd.server.signal_sessions(signal.SIGCONT)

    assert not final_path(own_sshd, sha).exists()


CLIENT_SCRIPT = """
import sys, time
import django
django.setup()
from pathlib import Path
from registry.storage import get_storage

def stall(_n):
    print("uploading", flush=True)
    time.sleep(120)

with get_storage() as storage:
    storage.put(sys.argv[2], Path(sys.argv[1]), progress=stall)
"""


def test_client_killed_mid_upload_leaves_no_object_and_a_repush_succeeds(
    store: SSHStorage, ssh_settings: SSHStoreConfig, write_file: Callable[..., tuple[Path, str]]
) -> None:
    path, sha = write_file(12 * MiB)
    home = ssh_settings.base.parent / "client-home"
    home.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATATRAC_", "SSH_AUTH_SOCK"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="datatrac_site.settings",
        DATATRAC_HOME=str(home),
        DATATRAC_STORAGE_URL=ssh_settings.url,
        DATATRAC_SSH_KEY=str(ssh_settings.key),
        DATATRAC_SSH_KNOWN_HOSTS=str(ssh_settings.known_hosts),
        DATATRAC_SSH_CONFIG=str(ssh_settings.server.workdir / "ssh_config"),
        DATATRAC_SSH_TIMEOUT=str(PATIENT_SSH_TIMEOUT),
        SECRET_KEY="test-only-" + "x" * 40,
    )
    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT_SCRIPT, str(path), sha],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert client.stdout is not None
        # Blocks until the client has sent its first bytes (or has died: then "").
        assert client.stdout.readline().strip() == "uploading", client.stderr
        # The server writes a temporary once the upload reaches it: wait for that event.
        deadline = time.monotonic() + WAIT_CEILING
        while not temporaries(ssh_settings.base) and time.monotonic() < deadline:
            time.sleep(0.01)
        client.send_signal(signal.SIGKILL)
    finally:
        client.kill()
        client.wait(WAIT_CEILING)

    assert not final_path(ssh_settings, sha).exists()
    [leftover] = temporaries(ssh_settings.base)

    store.put(sha, path)
    assert store.verify(sha)
    assert read_all(store, sha) == path.read_bytes()

    an_hour_ago = time.time() - 3600  # the killed upload's temporary has gone stale
    os.utime(leftover, (an_hour_ago, an_hour_ago))
    swept = store.sweep_temporaries(older_than=timedelta(minutes=10))
    assert swept == [str(leftover.relative_to(ssh_settings.base))]
    assert temporaries(ssh_settings.base) == []
    assert store.exists(sha)


# --- server-side failures ----------------------------------------------------------


def test_read_only_base_path_is_permission_denied(
    store: SSHStorage, ssh_settings: SSHStoreConfig, write_file: Callable[..., tuple[Path, str]]
) -> None:
    if os.geteuid() == 0 and not _sshd_is_confined(ssh_settings.server):
        pytest.skip("sshd runs as root with CAP_DAC_OVERRIDE (no setpriv): modes do not bind it")
    path, sha = write_file(1000)
    ssh_settings.base.chmod(0o555)
    try:
        with pytest.raises(StoreError) as failure:
            store.put(sha, path)
    finally:
        ssh_settings.base.chmod(0o755)

    assert str(failure.value).startswith(f"permission denied on {ssh_settings.base}")
    assert "\n" not in str(failure.value)
    assert list(ssh_settings.base.iterdir()) == []


def _sshd_is_confined(server: SSHServer) -> bool:
    """Whether sshd lacks CAP_DAC_OVERRIDE (bit 1), so file modes apply to it."""
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    bounding = next(line for line in status.splitlines() if line.startswith("CapBnd:"))
    return not int(bounding.split()[1], 16) & (1 << 1)


def test_a_full_disk_is_reported_as_no_space_and_other_objects_survive(
    settings: LazySettings,
    monkeypatch: pytest.MonkeyPatch,
    sshd_server: SSHServer,
    tiny_tmpfs: Path,
    write_file: Callable[..., tuple[Path, str]],
) -> None:
    config = store_config(sshd_server, tiny_tmpfs)
    apply_ssh_settings(settings, monkeypatch, config)
    small, small_sha = write_file(100_000)
    big, big_sha = write_file(3 * MiB)

    with get_storage() as storage:
        storage.put(small_sha, small)
        with pytest.raises(StoreError) as failure:
            storage.put(big_sha, big)
        assert storage.verify(small_sha)
        assert not storage.exists(big_sha)

    assert str(failure.value).startswith("no space left on the store")
    assert "\n" not in str(failure.value)
    assert temporaries(tiny_tmpfs) == []


@pytest.fixture
def store_with_tools(
    sshd_factory: Callable[..., SSHServer],
    settings: LazySettings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Callable[..., SSHStoreConfig]:
    """Use a store on an sshd whose sessions' PATH holds only the given tools (sshd's own
    SetEnv): real ones ``linked`` from this machine, and ``scripts`` of our own."""

    def make(
        *, linked: tuple[str, ...] = (), scripts: dict[str, str] | None = None
    ) -> SSHStoreConfig:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        for tool in linked:
            (bin_dir / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
        for tool, body in (scripts or {}).items():
            script = bin_dir / tool
            script.write_text(f"#!/bin/sh\n{body}\n")
            script.chmod(0o755)
        server = sshd_factory(extra_config=[f"SetEnv PATH={bin_dir}"])
        base = tmp_path / "store"
        base.mkdir()
        config = store_config(server, base)
        apply_ssh_settings(settings, monkeypatch, config)
        return config

    return make


def test_a_server_with_neither_openssl_nor_sha256sum_is_refused_and_stores_nothing(
    store_with_tools: Callable[..., SSHStoreConfig],
    write_file: Callable[..., tuple[Path, str]],
) -> None:
    config = store_with_tools(linked=("flock",))  # nothing else on the PATH
    path, sha = write_file(1000)

    with pytest.raises(StoreError) as failure, get_storage() as storage:
        storage.put(sha, path)

    assert "has neither openssl nor sha256sum" in str(failure.value)
    assert "\n" not in str(failure.value)
    assert not final_path(config, sha).exists()
    assert temporaries(config.base) == []


def test_a_server_without_flock_is_refused_and_stores_nothing(
    store_with_tools: Callable[..., SSHStoreConfig],
    write_file: Callable[..., tuple[Path, str]],
) -> None:
    """Without flock an upload could not be told from a stale temporary by gc."""
    config = store_with_tools(linked=("openssl",))
    path, sha = write_file(1000)

    with pytest.raises(StoreError) as failure, get_storage() as storage:
        storage.put(sha, path)

    assert "has no flock command" in str(failure.value)
    assert "\n" not in str(failure.value)
    assert not final_path(config, sha).exists()
    assert temporaries(config.base) == []


def test_a_push_is_stored_only_once_the_server_flushed_it_and_its_name_to_disk(
    store_with_tools: Callable[..., SSHStoreConfig],
    tmp_path: Path,
    write_file: Callable[..., tuple[Path, str]],
) -> None:
    log = tmp_path / "sync.log"
    real_sync = shutil.which("sync") or "/bin/sync"
    config = store_with_tools(
        linked=("openssl", "flock"), scripts={"sync": f'echo "$@" >> {log}; exec {real_sync} "$@"'}
    )
    path, sha = write_file(1000)

    with get_storage() as storage:
        storage.put(sha, path)

    final = final_path(config, sha)
    assert final.read_bytes() == path.read_bytes()
    flushed = log.read_text().splitlines()
    # The bytes (under their temporary name, while the server hashed them), then the
    # directory holding the new name and the fan-out directories above it.
    assert len(flushed) == 2
    assert flushed[0].startswith(f"-- {final.parent}/.{sha}.")
    assert flushed[1] == f"-- {final.parent} {final.parent.parent} {config.base}"


def test_a_push_whose_name_cannot_be_flushed_is_reported_and_pushing_again_works(
    store_with_tools: Callable[..., SSHStoreConfig],
    tmp_path: Path,
    write_file: Callable[..., tuple[Path, str]],
) -> None:
    real_sync = shutil.which("sync") or "/bin/sync"
    switch = tmp_path / "directories-fail"
    switch.touch()
    # Files (the temporary) flush; directories fail while the switch file exists.
    body = f'if [ -d "$2" ] && [ -e {switch} ]; then exit 1; fi; exec {real_sync} "$@"'
    config = store_with_tools(linked=("openssl", "flock"), scripts={"sync": body})
    path, sha = write_file(1000)

    with pytest.raises(StoreError) as failure, get_storage() as storage:
        storage.put(sha, path)

    message = str(failure.value)
    assert "could not flush the name of" in message and "push again" in message
    assert "\n" not in message
    switch.unlink()
    with get_storage() as storage:
        storage.put(sha, path)
        assert storage.verify(sha)
    assert temporaries(config.base) == []


def test_a_server_that_cannot_flush_to_disk_stores_nothing(
    store_with_tools: Callable[..., SSHStoreConfig],
    write_file: Callable[..., tuple[Path, str]],
) -> None:
    config = store_with_tools(
        linked=("openssl", "flock"), scripts={"sync": "exit 1"}
    )  # an I/O error
    path, sha = write_file(1000)

    with pytest.raises(StoreError) as failure, get_storage() as storage:
        storage.put(sha, path)

    assert "could not write" in str(failure.value) and "\n" not in str(failure.value)
    assert not final_path(config, sha).exists()
    assert temporaries(config.base) == []


def test_the_connection_does_not_rekey_in_the_middle_of_a_large_transfer(
    store: SSHStorage, write_file: Callable[..., tuple[Path, str]]
) -> None:
    # paramiko's default re-key every 512 MiB stalled 1 GiB downloads for 30 s and then
    # dropped them (bench/ssh_transfer.py); the store re-keys where OpenSSH does.
    path, sha = write_file(1024)
    store.put(sha, path)
    transport = store._connect().client.get_transport()
    assert transport is not None
    packetizer = transport.packetizer
    assert packetizer.REKEY_BYTES >= 2**36
    assert packetizer.REKEY_BYTES_OVERFLOW_MAX >= 2**36
    assert packetizer.REKEY_PACKETS >= 2**31
    assert not packetizer.need_rekey()
