"""The `datatrac` console script, run for real in subprocesses."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from django.db import connection

from registry.models import Dataset
from tests.conftest import CLI, DATATRAC_SCRIPT
from tests.factories import UserFactory


def assert_one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]


def test_newcomer_walk_through(cli: CLI, tmp_path: Path) -> None:
    raw = cli.cwd / "sales.csv"
    raw.write_text("region,amount\nnorth,10\nsouth,20\n")
    derived = cli.cwd / "totals.csv"
    derived.write_text("amount\n30\n")

    pushed = cli("push", "sales.csv", "--source", "https://example.org/sales.csv")
    assert pushed.returncode == 0, pushed.stderr
    sha = pushed.stdout.strip()
    assert sha == hashlib.sha256(raw.read_bytes()).hexdigest()

    listing = cli("fetch", "--all")
    assert sha[:12] in listing.stdout and "sales.csv" in listing.stdout

    shown = json.loads(cli("fetch", sha[:8], "--json").stdout)
    assert shown["source"] == "https://example.org/sales.csv"

    out_dir = cli.cwd / "back"
    out_dir.mkdir()
    got = cli("fetch", sha[:8], "--download", "--output", "back")
    assert got.returncode == 0, got.stderr
    assert (out_dir / "sales.csv").read_bytes() == raw.read_bytes()

    child = cli("push", "totals.csv", "--source", "sum of sales.csv", "--parent", sha[:8])
    assert child.returncode == 0, child.stderr
    tree = cli("lineage", sha[:8])
    assert "totals.csv" in tree.stdout.split("descendants of")[1]

    assert cli("delete", sha[:8], "--local").returncode == 0
    UserFactory(username="admin1", is_superuser=True)
    deleted = cli(
        "delete",
        sha[:8],
        "--user",
        "admin1",
        "--yes",
        "--force",
        env={"DATATRAC_PASSWORD": "correct horse battery"},
    )
    assert deleted.returncode == 0, deleted.stderr
    assert Dataset.objects.get(sha256=sha).state == Dataset.State.DELETED


def test_manage_py_and_the_script_are_the_same_program(cli: CLI) -> None:
    manage = Path(__file__).resolve().parents[1] / "manage.py"
    import sys

    result = subprocess.run(
        [sys.executable, str(manage), "fetch", "--all", "--json"],
        capture_output=True,
        text=True,
        env=cli.env,
        cwd=cli.cwd,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(cli("fetch", "--all", "--json").stdout)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["push", "missing.csv", "--source", "s"], "no such file"),
        (["push", ".", "--source", "s"], "is a directory"),
        (["fetch", "not-hex"], "not a hash"),
        (["fetch", "abc"], "too short"),
        (["fetch", "abcdef"], "no dataset"),
        (["lineage", "--parent", "abcdef", "--child", "abcdef"], "no dataset"),
        (["delete", "abcdef", "--password", "hunter2"], "--password is not accepted"),
        (["delete", "abcdef", "--password=hunter2"], "--password is not accepted"),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(cli: CLI, args: list[str], fragment: str):
    assert_one_line_error(cli(*args), fragment)


def test_a_fifo_is_refused(cli: CLI) -> None:
    os.mkfifo(cli.cwd / "pipe")
    assert_one_line_error(cli("push", "pipe", "--source", "s"), "not a regular file")


def test_help_lists_the_commands_and_each_has_examples(cli: CLI) -> None:
    overview = cli("--help")
    for command in ("push", "fetch", "lineage", "delete", "up"):
        assert command in overview.stdout
        text = cli(command, "--help").stdout
        assert "examples:" in text
        # Django's own management options are hidden: help shows DataTrac alone.
        assert "--settings" not in text and "--pythonpath" not in text, command


def test_several_first_commands_at_once_on_a_fresh_embedded_home_all_succeed(
    tmp_path: Path,
) -> None:
    home = tmp_path / "fresh-home"
    # No SECRET_KEY either: the first commands also make the home's key between them.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATATRAC_", "DATABASE_URL", "SECRET_KEY"))
    }
    env.update({"DATATRAC_HOME": str(home), "DATATRAC_CACHE_DIR": str(tmp_path / "cache")})
    commands = [["fetch", "--all"] for _ in range(3)]
    for n in range(3):
        data = tmp_path / f"data-{n}.csv"
        data.write_text(f"n\n{n}\n")
        commands.append(["push", str(data), "--source", "test"])
    processes = [
        subprocess.Popen(
            [DATATRAC_SCRIPT, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for args in commands
    ]
    # A ceiling for a loaded machine, not an expectation.
    results = [(p.args, *p.communicate(timeout=600), p.returncode) for p in processes]
    for args, _, stderr, returncode in results:
        assert returncode == 0, (args, stderr)
        assert "Traceback" not in stderr
    listing = subprocess.run(
        [DATATRAC_SCRIPT, "fetch", "--all"], capture_output=True, text=True, env=env, check=True
    )
    assert all(f"data-{n}.csv" in listing.stdout for n in range(3))


def test_first_command_on_the_embedded_default_prepares_the_home(tmp_path: Path) -> None:
    home = tmp_path / "fresh-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATATRAC_", "DATABASE_URL"))}
    env.update(
        {
            "DATATRAC_HOME": str(home),
            "DATATRAC_CACHE_DIR": str(tmp_path / "cache"),
            # With a key from the environment nothing else creates the home first.
            "SECRET_KEY": "test-only-" + "k" * 50,
        }
    )
    result = subprocess.run(
        [DATATRAC_SCRIPT, "fetch", "--all"], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Preparing the DataTrac home" in result.stderr
    assert (home / "datatrac.sqlite3").exists()


def test_up_prepares_the_home_and_creates_an_administrator(tmp_path: Path) -> None:
    home = tmp_path / "up-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATATRAC_", "DATABASE_URL"))}
    env.update({"DATATRAC_HOME": str(home), "DATATRAC_USER": "newcomer"})
    result = subprocess.run(
        [DATATRAC_SCRIPT, "up", "--no-server"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Created administrator 'newcomer'" in result.stdout
    saved = (home / "admin-password.txt").read_text()
    assert oct((home / "admin-password.txt").stat().st_mode & 0o777) == "0o600"
    assert "user: newcomer" in saved
    again = subprocess.run(
        [DATATRAC_SCRIPT, "up", "--no-server"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert "Created administrator" not in again.stdout


def _admin_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "command",
    [
        ["fetch", "--all"],  # reads: diagnosed when the query fails
        ["lineage", "0123456789ab"],
        ["fetch", "0123456789ab", "--download"],  # moves bytes: checked before it starts
        ["push", "data.csv", "--source", "s"],
    ],
)
def test_an_unmigrated_postgresql_database_names_the_migrate_command(
    tmp_path: Path, command: list[str]
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("this run is on SQLite, where the home is prepared automatically")
    name = f"datatrac_empty_{uuid.uuid4().hex[:8]}"
    import psycopg

    with psycopg.connect(f"{_admin_url()}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        (tmp_path / "data.csv").write_text("a\n")
        env = {
            **os.environ,
            "DATABASE_URL": f"{_admin_url()}/{name}",
            "DATATRAC_HOME": str(tmp_path),
        }
        result = subprocess.run(
            [DATATRAC_SCRIPT, *command],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            check=False,
        )
        assert_one_line_error(result, "datatrac migrate")
    finally:
        with psycopg.connect(f"{_admin_url()}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.mark.django_db(transaction=True)
def test_a_query_the_database_refuses_is_one_line_naming_the_cause(tmp_path: Path) -> None:
    """A migrated registry that fails a query for another reason (here: a role with no
    right to read it) says so, instead of blaming missing migrations or a traceback."""
    if connection.vendor != "postgresql":
        pytest.skip("roles and grants are PostgreSQL's")
    role = f"datatrac_noread_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{role}@{connection.settings_dict['HOST'] or '127.0.0.1'}:"
            f"{connection.settings_dict['PORT'] or 5432}/{connection.settings_dict['NAME']}",
            "DATATRAC_HOME": str(tmp_path),
        }
        result = subprocess.run(
            [DATATRAC_SCRIPT, "fetch", "--all"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        # The first table read: the acting account's (for the view permission).
        assert_one_line_error(result, "permission denied for table auth_user")
        assert "migrate" not in result.stderr
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP ROLE "{role}"')
