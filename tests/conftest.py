"""Shared fixtures. Every test runs with its own DataTrac home, store and cache."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import LazySettings
from django.contrib import admin

from registry.models import Dataset
from registry.storage.local import LocalStorage

# The admin registrations the web makes when its URLconf loads (the CLI skips them:
# datatrac_site.apps.AdminConfig), made here so tests may inspect admin.site at once.
admin.autodiscover()

pytest_plugins = ["tests.fixtures.browser", "tests.fixtures.gunicorn", "tests.fixtures.sshd"]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: LazySettings) -> None:
    settings.PASSWORD_HASHERS = ["tests.hashers.FastPBKDF2PasswordHasher"]


@pytest.fixture(autouse=True)
def datatrac_dirs(tmp_path: Path, settings: LazySettings) -> Iterator[Path]:
    """Point the store and the download cache at this test's own directories."""
    home = tmp_path / "home"
    home.mkdir()
    settings.DATATRAC_HOME = home
    settings.DATATRAC_STORAGE_URL = (home / "store").as_uri()
    settings.DATATRAC_CACHE_DIR = home / "cache"
    settings.DATATRAC_UPLOAD_DIR = home / "uploads"  # its default, under this home
    settings.DATATRAC_USER = "tester"
    yield home


@pytest.fixture
def local_store(datatrac_dirs: Path) -> LocalStorage:
    return LocalStorage(datatrac_dirs / "store")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Keep the SQLite test database in a file, so `datatrac` subprocesses can open it."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        db.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")


def database_url_for_subprocess() -> str:
    """A DATABASE_URL naming the test database this test session is using."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


@dataclass
class CLI:
    """Runs the real `datatrac` console script against this test's database and store."""

    env: dict[str, str]
    cwd: Path

    def __call__(
        self, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [DATATRAC_SCRIPT, *args],
            input=input,
            capture_output=True,
            text=True,
            cwd=self.cwd,
            env={**self.env, **(env or {})},
            timeout=600,  # a ceiling for a loaded machine, not an expectation
        )

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [DATATRAC_SCRIPT, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.cwd,
            env={**self.env, **(env or {})},
        )


DATATRAC_SCRIPT = str(Path(sys.executable).with_name("datatrac"))


@pytest.fixture
def cli(transactional_db: None, datatrac_dirs: Path, settings: LazySettings, tmp_path: Path) -> CLI:
    """The `datatrac` script in a subprocess, sharing this test's (committed) database."""
    work = tmp_path / "work"
    work.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATATRAC_", "DJANGO_", "DATABASE_URL"))
    }
    env.update(
        {
            "DATABASE_URL": database_url_for_subprocess(),
            "DATATRAC_HOME": str(settings.DATATRAC_HOME),
            "DATATRAC_CACHE_DIR": str(settings.DATATRAC_CACHE_DIR),
            "DATATRAC_STORAGE_URL": settings.DATATRAC_STORAGE_URL,
            "DATATRAC_USER": settings.DATATRAC_USER,
            # Never a real stored login (`datatrac login`): that would make it remote.
            "DATATRAC_CONFIG_DIR": str(tmp_path / "config"),
            "SECRET_KEY": "test-only-secret-key-for-subprocesses-" + "x" * 20,
        }
    )
    return CLI(env=env, cwd=work)


@pytest.fixture
def make_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a file with the given bytes (random by default) and return its path."""
    counter = iter(range(10**6))

    def make(content: bytes | None = None, name: str | None = None, size: int = 4096) -> Path:
        path = tmp_path / "files" / (name or f"file-{next(counter)}.csv")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size) if content is None else content)
        return path

    return make


@pytest.fixture
def push(db: None, local_store: LocalStorage) -> Callable[..., Dataset]:
    """Push a real file (bytes into the local store, row into the registry)."""
    from registry.actors import Actor
    from registry.services import push_dataset

    def do_push(path: Path, source: str = "https://example.org/data", **kwargs: object) -> Dataset:
        result = push_dataset(
            path=path, source=source, actor=Actor.for_cli(), storage=local_store, **kwargs
        )
        return result.dataset

    return do_push


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A TCP listener on 127.0.0.1 that accepts connections and never says a word."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        server.close()


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs: a store whose disk fills up. Skips where mounting is not allowed."""
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0777", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)
