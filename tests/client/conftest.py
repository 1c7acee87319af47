"""A real team server (gunicorn on 127.0.0.1, this test's database and store) and the
real `datatrac` script talking to it with nothing but DATATRAC_URL/DATATRAC_TOKEN."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from registry.actors import Actor
from tests.conftest import CLI, DATATRAC_SCRIPT
from tests.factories import member_of
from tests.fixtures.gunicorn import Gunicorn
from tokens.services import create_token


def make_token(user: Any, scope: str, *, days: int = 90, name: str = "cli test") -> str:
    return create_token(
        actor=Actor.for_user(user), name=name, scope=scope, lifetime=timedelta(days=days)
    ).secret


@dataclass
class RemoteCLI:
    """The `datatrac` script with ONLY a server URL, a token, HOME, PATH and a cache dir
    in its environment: no DATABASE_URL, no store, no Django settings."""

    url: str
    home: Path
    cwd: Path
    token: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def cache(self) -> Path:
        return self.home / "cache"

    def env(self, **overrides: str | None) -> dict[str, str]:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "DATATRAC_CACHE_DIR": str(self.cache),
            "DATATRAC_URL": self.url,
            **({"DATATRAC_TOKEN": self.token} if self.token else {}),
            **self.extra,
        }
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def __call__(
        self, *args: str, input: str | None = None, **overrides: str | None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [DATATRAC_SCRIPT, *args],
            input=input,
            capture_output=True,
            text=True,
            cwd=self.cwd,
            env=self.env(**overrides),
            timeout=600,  # a ceiling for a loaded machine, not an expectation
        )

    def popen(self, *args: str, **overrides: str | None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [DATATRAC_SCRIPT, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.cwd,
            env=self.env(**overrides),
        )


# Small parts, so a test file of a few hundred KiB goes up in several.
PART_SIZE = 64 * 1024


@pytest.fixture
def access_log(tmp_path: Path) -> Path:
    """gunicorn's access log: method, path, status, the Range asked, the Content-Range
    answered."""
    return tmp_path / "access.log"


@pytest.fixture
def server(gunicorn_factory: Callable[..., Gunicorn], access_log: Path) -> Gunicorn:
    return gunicorn_factory(
        {
            "DATATRAC_UPLOAD_PART_SIZE": str(PART_SIZE),
            "GUNICORN_CMD_ARGS": f"--access-logfile {access_log} "
            "--access-logformat '%(m)s %(U)s %(s)s range=%({range}i)s sent=%({content-range}o)s'",
        }
    )


def logged_requests(access_log: Path) -> list[list[str]]:
    """The access log's lines, split: [method, path, status, range=..., sent=...]."""
    if not access_log.exists():
        return []
    return [line.split() for line in access_log.read_text().splitlines()]


@pytest.fixture
def people(cli: CLI) -> dict[str, Any]:
    """A viewer, a contributor and an administrator (committed: the server sees them)."""
    return {
        "viewer": member_of("viewers", "vera"),
        "contributor": member_of("contributors", "carl"),
        "administrator": member_of("administrators", "ada"),
    }


@pytest.fixture
def remote(server: Gunicorn, people: dict[str, Any], tmp_path: Path) -> RemoteCLI:
    """The CLI as the contributor, with a write token."""
    home = tmp_path / "remote-home"
    work = tmp_path / "remote-work"
    home.mkdir()
    work.mkdir()
    return RemoteCLI(
        url=server.url, home=home, cwd=work, token=make_token(people["contributor"], "write")
    )
