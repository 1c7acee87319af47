"""What every DataTrac management command shares: one-line errors, a ready database,
terminal-safe text, progress bars and JSON output."""

from __future__ import annotations

import argparse
import fcntl
import getpass
import json
import os
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, cast

from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import (
    BaseCommand,
    CommandError,
    CommandParser,
    DjangoHelpFormatter,
)
from django.db import DatabaseError, connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

from datatrac import errors as client_errors
from datatrac.direct import DirectClient
from registry.actors import Actor, authenticate_actor
from registry.errors import DataTracError, NotMigrated
from registry.integrity import parse_duration
from registry.naming import escape_control_chars

if TYPE_CHECKING:
    # rich is imported where output is drawn, not by every command that starts: its
    # console, text and progress modules were 15-25 ms of each run (`datatrac lineage`
    # and listings draw nothing with it).
    from rich.console import Console
    from rich.text import Text


def terminal_safe(text: str) -> str:
    """``text`` with control and format characters shown as escapes, never interpreted.

    Names and sources are data: a newline or an ANSI escape in one must not move the
    cursor, recolour the terminal or forge another line of output.
    """
    return escape_control_chars(text)


def uses_embedded_database() -> bool:
    """True on the embedded default (SQLite under DATATRAC_HOME, no DATABASE_URL set)."""
    return not os.environ.get("DATABASE_URL") and connection.vendor == "sqlite"


def _unapplied_migrations() -> set[tuple[str, str]]:
    """The newest migration of each app, where the database has not recorded it.

    One query of Django's record of what was applied; when it holds every migration
    file there is (the usual case), that is the answer. Only otherwise are the
    migration files imported to find each app's newest (MigrationLoader: 15-20 ms of
    every command on the embedded registry, which is always checked). MigrationExecutor
    would also list every table in the database, a catalog query that was a tenth of a
    `datatrac lineage` at 1M datasets.
    """
    try:
        applied = set(MigrationRecorder(connection).migration_qs.values_list("app", "name"))
    except DatabaseError as exc:
        # Connected, so most likely a new database with no record yet; anything else
        # (a permission, a lock) must not be mistaken for it.
        if MigrationRecorder(connection).has_table():
            raise DataTracError(f"cannot read the registry database: {exc}".strip()) from exc
        applied = set()
    files = _migration_files()
    if files is not None and files <= applied:
        return set()
    leaves = set(MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes())
    return leaves - applied


def _migration_files() -> set[tuple[str, str]] | None:
    """(app label, name) of every migration module in the installed apps, from their
    directories' listings (nothing imported), as MigrationLoader names them; None when
    MIGRATION_MODULES puts some elsewhere."""
    if settings.MIGRATION_MODULES:
        return None
    found: set[tuple[str, str]] = set()
    for app in apps.get_app_configs():
        try:
            entries = os.scandir(os.path.join(app.path, "migrations"))
        except OSError:  # an app without migrations
            continue
        with entries:
            for entry in entries:
                # Sources, or compiled modules where they ship without sources.
                name, dot, suffix = entry.name.partition(".")
                if dot and suffix in ("py", "pyc") and name[:1] not in ("", "_", "~"):
                    found.add((app.label, name))
    return found


def _not_migrated() -> NotMigrated:
    return NotMigrated(
        "the registry database is not migrated: run `datatrac migrate` "
        "(or `python manage.py migrate`) first"
    )


def ensure_database_ready(stderr: Callable[[str], Any], *, check_migrations: bool = True) -> None:
    """Connect; migrate the embedded SQLite registry on first use; elsewhere (with
    ``check_migrations``) say what to run when the database is behind the code."""
    embedded = uses_embedded_database()
    if embedded:
        # SQLite creates the file, not the directory it lives in.
        Path(settings.DATATRAC_HOME).mkdir(parents=True, exist_ok=True)
    try:
        connection.ensure_connection()
    except DatabaseError as exc:
        raise DataTracError(f"cannot reach the registry database: {exc}".strip()) from exc
    if not (embedded or check_migrations) or not _unapplied_migrations():
        return
    if embedded:
        _prepare_embedded_home(stderr)
        return
    raise _not_migrated()


def _prepare_embedded_home(stderr: Callable[[str], Any]) -> None:
    """Migrate the embedded registry, one process at a time.

    Several commands started at once on a fresh home would each find it unmigrated
    and each create the same tables ("table ... already exists"): the first to take
    the home's lock migrates; the others wait, then find nothing left to do.
    """
    home = Path(settings.DATATRAC_HOME)
    with open(home / ".setup.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not _unapplied_migrations():
            return
        stderr(f"Preparing the DataTrac home at {home} ...")
        call_command("migrate", interactive=False, verbosity=0)


def explain_database_error(exc: DatabaseError) -> DataTracError:
    """A one-line error for a query that failed: "not migrated" when that is why."""
    try:
        behind = bool(_unapplied_migrations())
    except (DataTracError, DatabaseError):
        behind = False  # the database cannot say; the original error is the one to show
    if behind:
        return _not_migrated()
    text = str(exc).strip()
    first_line = text.splitlines()[0] if text else type(exc).__name__
    return DataTracError(f"the registry database failed: {first_line}")


class DataTracCommand(BaseCommand):
    """Base of DataTrac's commands: errors are one line on stderr and a non-zero exit."""

    requires_system_checks: list[str] = []  # keep every command fast; `check` runs them
    #: Options that must never be accepted, with the reason shown to whoever tries.
    refused_options: dict[str, str] = {}
    # Django's own management options mean nothing to a DataTrac user: hidden from
    # --help, still accepted (scripts and tests may pass --traceback or -v).
    suppressed_base_arguments = {
        "--version",
        "--verbosity",
        "--settings",
        "--pythonpath",
        "--traceback",
        "--no-color",
        "--force-color",
        "--skip-checks",
    }

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.epilog = getattr(self, "epilog", None)
        parser.formatter_class = _RawHelpFormatter
        return parser

    def run_from_argv(self, argv: list[str]) -> None:
        for arg in argv[2:]:
            for option, why in self.refused_options.items():
                if arg == option or arg.startswith(option + "="):
                    self.fail(f"{option} is not accepted: {why}", 2)
        super().run_from_argv(argv)

    def fail(self, message: str, code: int = 1) -> NoReturn:
        sys.stderr.write(f"error: {terminal_safe(message)}\n")
        sys.exit(code)

    def execute(self, *args: Any, **options: Any) -> str | None:
        try:
            try:
                ensure_database_ready(
                    lambda line: self.stderr.write(line),
                    check_migrations=self.checks_migrations_first(options),
                )
                return super().execute(*args, **options)
            except DatabaseError as exc:
                raise explain_database_error(exc) from exc
        except (
            CommandError,
            DataTracError,
            client_errors.DataTracError,
            KeyboardInterrupt,
        ) as exc:
            code = getattr(exc, "returncode", getattr(exc, "exit_code", 130))
            message = str(exc) or "interrupted; nothing was left half-done"
            if getattr(self, "_called_from_command_line", False) and not options.get("traceback"):
                self.fail(message, code)
            if isinstance(exc, DataTracError | client_errors.DataTracError):
                # call_command() callers (tests, other commands) get a CommandError.
                raise CommandError(message, returncode=code) from exc
            raise

    def checks_migrations_first(self, options: dict[str, Any]) -> bool:
        """Whether the registry must be proven migrated before this run starts.

        Runs that only read (or make one small transaction) say no: a missing table or
        column is then diagnosed when a query fails instead of before every run, where
        reading the migration files cost 13-16 ms of a fresh process. Runs that move
        bytes say yes, so they never transfer a file and then fail. (The embedded SQLite
        registry is always checked: it migrates itself on first use.)
        """
        return True

    def client(self, actor: Actor | None = None) -> DirectClient:
        """The client interface on this process's registry (the database is ready:
        execute() checked it), acting as ``actor`` (default: the CLI identity)."""
        return DirectClient(actor=actor, prepare=False)

    # --- output helpers ---------------------------------------------------------------

    def console(self) -> Console:
        from rich.console import Console

        stream = cast(TextIO, self.stdout._out)
        # Piped output keeps one row per line (for grep and friends), whatever its width.
        width = None if stream.isatty() else 100_000
        return Console(file=stream, highlight=False, width=width)

    def print_json(self, data: object) -> None:
        self.stdout.write(json.dumps(data, indent=2, ensure_ascii=False))

    def text(self, value: str) -> Text:
        """User text for rich output: escaped, and never parsed as markup."""
        from rich.text import Text

        return Text(terminal_safe(value))

    def progress(
        self, total: int, description: str
    ) -> AbstractContextManager[Callable[[int], None] | None]:
        """A byte progress bar on stderr when it is a terminal; otherwise nothing."""
        # The remote CLI's own bar: one look for both modes.
        from datatrac.cli.main import progress_bar

        return progress_bar(total, description)


class PrivilegedCommand(DataTracCommand):
    """A command acting as a Django user proven by a password: remote delete, purge, restore.

    The password comes from a prompt, or DATATRAC_PASSWORD for scripts; never from the
    command line, where other users and shell history could see it.
    """

    refused_options = {
        "--password": (
            "a password on the command line is visible to other users and kept in shell "
            "history; type it at the prompt or set DATATRAC_PASSWORD"
        )
    }

    def add_user_argument(self, parser: CommandParser) -> None:
        parser.add_argument("--user", help="Django user to act as (default: DATATRAC_USER)")

    def authenticate(self, username: str | None) -> Actor:
        """The Actor of ``username`` (default DATATRAC_USER) once its password checks out."""
        username = username or settings.DATATRAC_USER
        return authenticate_actor(
            username=username,
            password=self.password_for(username),
            origin=Actor.for_cli(username).origin,
        )

    def password_for(self, username: str) -> str:
        if password := os.environ.get("DATATRAC_PASSWORD"):
            return password
        if not sys.stdin.isatty():
            raise CommandError(
                "a password is needed: run in a terminal to be prompted, or set DATATRAC_PASSWORD"
            )
        return getpass.getpass(f"Password for {username}: ")

    def confirm(self, question: str, *, verb: str) -> None:
        """Ask ``question`` on the terminal; a CommandError unless the answer is yes.

        ``verb`` names the action in the refusal: "delete" -> "not deleted".
        """
        if not sys.stdin.isatty():
            raise CommandError(f"refusing to {verb} without confirmation: pass --yes")
        if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
            raise CommandError(f"not {verb}d")


class _RawHelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Django's option order, with the examples in help text laid out as written."""


def duration_argument(text: str) -> timedelta:
    """An argparse ``type`` for a duration option (``gc --grace``, ``verify
    --resume-within``): a bad one is argparse's one-line usage error."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
