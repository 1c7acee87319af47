"""Fixtures for the fault, hostile-input and property tests: big files, a tiny disk,
an SSH store, and a way to catch a subprocess mid-transfer."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import LazySettings
from django.db import connection

from registry.actors import Actor
from registry.services import PushResult, push_dataset
from registry.storage.base import Storage
from tests.factories import UserFactory, member_of

# The real sshd fixtures (they skip, or fail under CI=true, where sshd is missing).
from tests.fixtures.sshd import (  # noqa: F401 - fixtures used by name
    PATIENT_SSH_TIMEOUT,
    SSHStoreConfig,
    apply_ssh_settings,
    ssh_settings,
    ssh_store_config,
    sshd_factory,
    sshd_server,
)

# Big enough that a transfer lasts long enough to be caught and killed mid-stream.
BIG_SIZE = 256 * 1024 * 1024


@dataclass(frozen=True)
class BigFile:
    path: Path
    sha256: str
    size: int

    @property
    def object_dir(self) -> str:
        """The fan-out directory its object (and its temporaries) live in: ``ab/cd``."""
        return f"{self.sha256[:2]}/{self.sha256[2:4]}"


@pytest.fixture(scope="session")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> BigFile:
    """A 256 MiB file of random-looking bytes, made once per session."""
    path = tmp_path_factory.mktemp("big") / "big.bin"
    digest = hashlib.sha256()
    block = os.urandom(1024 * 1024)
    with path.open("wb") as out:
        for i in range(BIG_SIZE // len(block)):
            # A counter in every MiB so no two blocks are equal (no dedup anywhere helps).
            chunk = i.to_bytes(8, "big") + block[8:]
            digest.update(chunk)
            out.write(chunk)
    return BigFile(path=path, sha256=digest.hexdigest(), size=BIG_SIZE)


def wait_for[T](
    found: Callable[[], T | None], process: subprocess.Popen[str], what: str, timeout: float = 120
) -> T:
    """Poll ``found`` until it returns something; fail if ``process`` ends first.

    ``timeout`` only stops a broken test from hanging; nothing asserts how long it took.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"the process ended (exit {process.returncode}) before {what}: {err}")
        time.sleep(0.002)
    process.kill()
    pytest.fail(f"gave up waiting for {what}")


def temporaries_in(directory: Path, suffix: str) -> list[Path]:
    """Hidden temporaries (``.name.rand<suffix>``) in ``directory``; [] if it is missing."""
    try:
        return [directory / n for n in os.listdir(directory) if n.endswith(suffix)]
    except FileNotFoundError:
        return []


@pytest.fixture
def admin_actor(db: None, settings: LazySettings) -> Actor:
    """An administrator, for remote deletes; the CLI identity acts as them too."""
    user = UserFactory(username="admin", is_superuser=True, is_staff=True)
    settings.DATATRAC_USER = user.username
    return Actor(name=user.username, user=user, origin="test")


def ssh_env(config: SSHStoreConfig, timeout: float = PATIENT_SSH_TIMEOUT) -> dict[str, str]:
    """Environment for a `datatrac` subprocess using the SSH store ``config``."""
    empty = config.server.workdir / "ssh_config"
    empty.touch()
    return {
        "DATATRAC_STORAGE_URL": config.url,
        "DATATRAC_SSH_KEY": str(config.key),
        "DATATRAC_SSH_KNOWN_HOSTS": str(config.known_hosts),
        "DATATRAC_SSH_CONFIG": str(empty),
        "DATATRAC_SSH_TIMEOUT": str(timeout),
        "SSH_AUTH_SOCK": "",
    }


@pytest.fixture
def use_store(settings: LazySettings) -> Callable[[Path], None]:
    """Point DATATRAC_STORAGE_URL at a directory (before the `cli` fixture reads it)."""

    def use(root: Path) -> None:
        settings.DATATRAC_STORAGE_URL = root.as_uri()

    return use


def change_once_hashed(path: Path) -> Callable[[int], None]:
    """A push progress callback that rewrites one byte of ``path`` the moment it is hashed.

    push_dataset reports hashing progress first, then upload progress: when the reported
    bytes reach the file's size the hash is complete, and another program changes it.
    """
    size = path.stat().st_size
    seen = 0

    def progress(n: int) -> None:
        nonlocal seen
        seen += n
        if seen == size:
            with path.open("r+b") as f:
                f.seek(size // 2)
                byte = f.read(1)
                f.seek(size // 2)
                f.write(bytes([byte[0] ^ 0xFF]))

    return progress


@pytest.fixture
def operator(db: None, settings: LazySettings) -> Actor:
    """The CLI identity (DATATRAC_USER) in the administrators group: who may run
    `verify` and `gc`. The name is unchanged, so a `cli` fixture in any order acts as it."""
    member_of("administrators", settings.DATATRAC_USER)
    return Actor.for_cli()


class PausedPush:
    """A real push (push_dataset, any store) in a thread, stopped in the middle of its
    upload - its temporary written in part - until ``release`` is set."""

    def __init__(self, path: Path, actor: Actor, open_store: Callable[[], Storage]) -> None:
        self.size = path.stat().st_size
        self.mid_upload = threading.Event()
        self.release = threading.Event()
        self.result: PushResult | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(path, actor, open_store))

    def _run(self, path: Path, actor: Actor, open_store: Callable[[], Storage]) -> None:
        seen = 0

        def progress(n: int) -> None:
            nonlocal seen
            seen += n
            # Hashing reports the whole file first; past that, bytes are being uploaded.
            if seen > self.size and not self.mid_upload.is_set():
                self.mid_upload.set()
                self.release.wait(300)

        try:
            with open_store() as store:
                self.result = push_dataset(
                    path=path, source="s", actor=actor, storage=store, progress=progress
                )
        except BaseException as exc:
            self.error = exc
        finally:
            connection.close()

    def __enter__(self) -> PausedPush:
        self._thread.start()
        if not self.mid_upload.wait(300):
            raise AssertionError(f"the push never reached its upload: {self.error!r}")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release.set()
        self._thread.join(300)

    def finished(self) -> PushResult:
        """The push's result once released; its error re-raised if it failed."""
        self.__exit__()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def flip_one_byte(path: Path) -> None:
    """Corrupt a stored object: one byte changed (XOR), whatever it was."""
    path.chmod(0o644)
    with path.open("r+b") as f:
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0x01]))
