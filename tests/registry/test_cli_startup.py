"""What a command imports when it starts (issue 13: "a command is also a process start").

No clock: the real `datatrac` script runs, and the modules it imported are listed when
it exits; what a local read must not load is checked by name.
Its time is measured in bench/cli_startup.py and reported in docs/benchmarks.md.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from registry.cli import _migration_files, _unapplied_migrations
from tests.conftest import CLI, DATATRAC_SCRIPT
from tests.factories import DatasetFactory, LineageEdgeFactory

# Never needed to read the registry and print: the SSH store's libraries, the web's
# table and API libraries, PostgreSQL's contrib package, every app's admin module.
NEVER_FOR_A_LOCAL_READ = (
    "paramiko",
    "fabric",
    "django_tables2",
    "ninja",
    "pydantic",
    "django.contrib.postgres",
    "registry.admin",
    "lineage.admin",
    "tokens.admin",
    "registry.tables",
    "registry.views",
)


def imported_modules(cli: CLI, *args: str) -> set[str]:
    """Every module in sys.modules when the `datatrac` script, run for ``args``, exits
    (it must succeed). (`-X importtime` would miss what importlib.import_module loads:
    the installed apps, the settings.)"""
    dump = cli.cwd / "modules.txt"
    wrapper = (
        "import atexit, runpy, sys\n"
        f"atexit.register(lambda: open({str(dump)!r}, 'w').write('\\n'.join(sys.modules)))\n"
        f"sys.argv = [{DATATRAC_SCRIPT!r}, *sys.argv[1:]]\n"
        f"runpy.run_path({DATATRAC_SCRIPT!r}, run_name='__main__')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", wrapper, *args],
        capture_output=True,
        text=True,
        cwd=cli.cwd,
        env={**cli.env, "PAGER": "cat"},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return set(dump.read_text().split("\n"))


def loaded(modules: set[str], package: str) -> list[str]:
    return sorted(m for m in modules if m == package or m.startswith(package + "."))


@pytest.mark.parametrize(
    "command",
    [["fetch", "{hash}"], ["lineage", "{hash}"], ["fetch", "-a", "--limit", "1000"]],
    ids=["fetch-hash", "lineage", "fetch-all"],
)
def test_a_local_read_imports_no_ssh_web_table_api_or_admin_modules(
    cli: CLI, command: list[str]
) -> None:
    parent = DatasetFactory()
    child = DatasetFactory()
    LineageEdgeFactory(parent=parent, child=child)
    modules = imported_modules(cli, *(arg.format(hash=child.sha256) for arg in command))
    assert "registry.models" in modules
    for package in NEVER_FOR_A_LOCAL_READ:
        assert not loaded(modules, package), f"{' '.join(command)} imported {package}"
    if connection.vendor == "sqlite":
        # On SQLite nothing needs the PostgreSQL driver (django-tables2 used to pull it in).
        assert not loaded(modules, "psycopg")


@pytest.mark.parametrize(
    "command", [["lineage", "{hash}"], ["fetch", "-a"]], ids=["lineage", "fetch-all"]
)
def test_commands_that_draw_no_rich_output_do_not_import_rich(cli: CLI, command: list[str]) -> None:
    dataset = DatasetFactory()
    modules = imported_modules(cli, *(arg.format(hash=dataset.sha256) for arg in command))
    assert not loaded(modules, "rich")


def test_check_still_checks_every_model_admin(cli: CLI) -> None:
    """The admin modules load with the URLconf, not at start-up; `check` loads them."""
    modules = imported_modules(cli, "check")
    assert {"registry.admin", "lineage.admin", "tokens.admin"} <= modules


def test_the_migration_check_lists_the_same_migrations_as_django_s_loader(db: None) -> None:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    assert _migration_files() == set(loader.disk_migrations)


def test_a_migration_the_database_has_not_recorded_is_reported(db: None) -> None:
    assert _unapplied_migrations() == set()
    app, name = max(
        (key for key in _migration_files() if key[0] == "registry"), key=lambda key: key[1]
    )
    MigrationRecorder(connection).migration_qs.filter(app=app, name=name).delete()
    assert _unapplied_migrations() == {(app, name)}
