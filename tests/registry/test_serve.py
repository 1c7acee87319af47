"""`datatrac serve` and `datatrac up`: gunicorn, for real, in subprocesses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import make_token
from tests.conftest import CLI, DATATRAC_SCRIPT
from tests.factories import member_of

CEILING = 180  # seconds: a ceiling for a loaded machine, not an expectation


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """A `datatrac` server process; its stderr read as it comes, its stdout to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.lines: list[str] = []
        self.listening = threading.Event()
        self.process = subprocess.Popen(
            [DATATRAC_SCRIPT, *args],
            stdout=log.open("w"),
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            if "Listening at:" in line:
                self.listening.set()
        self.listening.set()  # it ended: nobody waits for a line that never comes

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def wait_listening(self) -> None:
        assert self.listening.wait(CEILING), self.stderr
        assert self.process.poll() is None, self.stderr

    def stop(self, how: signal.Signals = signal.SIGTERM) -> int:
        self.process.send_signal(how)
        code = self.process.wait(timeout=CEILING)
        self.reader.join(CEILING)
        return code


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_serve_answers_pages_static_files_and_the_api_then_stops_cleanly_on_a_signal(
    cli: CLI, servers: list[Server], tmp_path: Path, how: signal.Signals
) -> None:
    user = member_of("viewers", "reader")
    token = make_token(user, "read")
    port = free_port()
    env = {**cli.env, "DEBUG": "false", "ALLOWED_HOSTS": "127.0.0.1"}
    server = Server(
        ["serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"], env, tmp_path / "out"
    )
    servers.append(server)
    server.wait_listening()
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=CEILING) as client:
        page = client.get("/accounts/login/")
        assert page.status_code == 200 and "<form" in page.text
        css = client.get("/static/ninja/swagger-ui.css")  # WhiteNoise, no DEBUG
        assert css.status_code == 200 and css.content
        me = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["username"] == "reader"
        # A token sent where it must not be: refused, and in no log.
        leaked = client.get(f"/api/v1/whoami?token={token}&access_token={token}")
        assert leaked.status_code in (400, 401)
    assert server.stop(how) == 0, server.stderr
    access = server.log.read_text()
    assert '"GET /api/v1/whoami HTTP/1.1" 200' in access
    assert "GET /accounts/login/" in access
    secret = token.rsplit("_", 1)[-1]
    for text in (access, server.stderr):
        assert secret not in text and "token=" not in text and "Bearer" not in text
    assert "Shutting down" in server.stderr
    assert "Traceback" not in server.stderr


def test_serve_refuses_an_unmigrated_database_in_one_line(cli: CLI, tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite3"
    result = cli(
        "serve", "--bind", f"127.0.0.1:{free_port()}", env={"DATABASE_URL": f"sqlite:///{empty}"}
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "run `datatrac migrate`" in lines[0]
    assert "Listening" not in result.stderr + result.stdout


@pytest.mark.parametrize("option", ["--workers", "--threads", "--timeout"])
def test_serve_refuses_a_count_below_one_in_one_line(cli: CLI, option: str) -> None:
    result = cli("serve", option, "0")
    assert result.returncode != 0
    assert result.stderr.strip() == f"error: {option} must be 1 or more"


def test_up_serves_through_gunicorn_without_the_development_server_warning(
    servers: list[Server], tmp_path: Path
) -> None:
    home = tmp_path / "up-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATATRAC_", "DATABASE_URL"))}
    env.update({"DATATRAC_HOME": str(home), "DATATRAC_USER": "newcomer"})
    port = free_port()
    # A bare port, as runserver took it: loopback.
    server = Server(["up", "--addrport", str(port)], env, tmp_path / "out")
    servers.append(server)
    server.wait_listening()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=CEILING) as client:
        assert client.get("/accounts/login/").status_code == 200
        assert client.get("/healthz").status_code == 200
    assert server.stop() == 0, server.stderr
    output = server.log.read_text() + server.stderr
    assert "Created administrator 'newcomer'" in output
    assert f"Serving on http://127.0.0.1:{port}/" in output
    assert f"Listening at: http://127.0.0.1:{port}" in output
    assert "gunicorn" in output
    assert "development server" not in output and "production" not in output
    assert (home / "admin-password.txt").exists()
