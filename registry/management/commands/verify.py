from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from registry.actors import Actor
from registry.cli import DataTracCommand, duration_argument, terminal_safe
from registry.integrity import (
    DatasetCheck,
    VerifyReport,
    format_duration,
    verify_datasets,
)
from registry.storage import get_storage

HINTS = {
    "corrupt": "its stored bytes no longer hash to it",
    "missing": "the registry says available, the store has no object",
    "deleted": "a tombstone: no bytes to verify",
}


class Command(DataTracCommand):
    help = (
        "Re-read stored objects and recompute their SHA-256 (on the server for an SSH "
        "store): report datasets that are corrupt or missing, and stored bytes that no "
        "dataset references. Exits non-zero on any problem."
    )
    epilog = """examples:
  datatrac verify --all                     # every dataset, plus orphaned objects
  datatrac verify 3fa2c1 9be04d             # just these (hashes or unique prefixes)
  datatrac verify --all --json              # a report for scripts and monitoring
  datatrac verify --all --restart           # start over instead of continuing
  datatrac verify --all --resume-within 7d  # continue a run interrupted this week

An interrupted `verify --all` continues where it stopped the next time it runs, if it
started less than --resume-within ago (default DATATRAC_VERIFY_RESUME_WITHIN, 24h): the
datasets it already found ok are not read again. An older one is started over. Either
way one line on stderr says which. Each dataset records when it was last
verified ok (shown by `datatrac fetch HASH` and on its page).
Exit status: 0 all ok, 1 a corrupt or missing dataset or an orphaned object.
Administrators only.
"""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("hash", nargs="*", help="datasets to verify (hash or unique prefix)")
        parser.add_argument(
            "-a", "--all", action="store_true", help="verify every dataset and look for orphans"
        )
        parser.add_argument(
            "--restart",
            action="store_true",
            help="do not continue an interrupted run; verify everything again",
        )
        parser.add_argument(
            "--resume-within",
            type=duration_argument,
            metavar="DURATION",
            help="continue an interrupted run only if it started less than this ago "
            "(30m, 24h, 7d; default DATATRAC_VERIFY_RESUME_WITHIN, 24h)",
        )
        parser.add_argument("--json", action="store_true", help="print JSON only on stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        refs: list[str] = options["hash"]
        if options["all"] == bool(refs):
            raise CommandError("give the HASHes to verify, or --all (see --help)")
        printing = not options["json"]
        with get_storage() as storage, self.count_bar("verifying") as advance:

            def progress(check: DatasetCheck, done: int, total: int) -> None:
                if printing and (check.status != "ok" or refs):
                    self.print_check(check)
                if advance:
                    advance(done, total)

            report = verify_datasets(
                actor=Actor.for_cli(),
                storage=storage,
                hashes=refs or None,
                resume=not options["restart"],
                resume_within=options["resume_within"],  # None: the configured age
                progress=progress,
                on_start=lambda report: self.say_how_it_starts(report, restart=options["restart"]),
            )
        if options["json"]:
            self.print_json(report_as_dict(report))
        else:
            for sha256 in report.orphans or []:
                self.stdout.write(
                    f"orphan   {sha256}  stored bytes that no dataset references "
                    "(`datatrac gc` removes them after its grace period)"
                )
            self.stderr.write(summary(report))
        if not report.clean:
            raise CommandError(problem_line(report))

    def say_how_it_starts(self, report: VerifyReport, *, restart: bool) -> None:
        """One line on stderr when an interrupted run exists: continued, or started over."""
        if report.resumed:
            self.stderr.write(
                f"continuing the interrupted run started {_when(report.run.started_at)}"
            )
        elif report.abandoned is not None:
            within = format_duration(report.resume_within or timedelta(0))
            why = "--restart" if restart else f"it started more than {within} ago"
            self.stderr.write(
                "starting over: not continuing the interrupted run started "
                f"{_when(report.abandoned.started_at)} ({why})"
            )

    def print_check(self, check: DatasetCheck) -> None:
        hint = HINTS.get(check.status)
        self.stdout.write(
            f"{check.status:<8} {check.sha256}  {terminal_safe(check.name)!r}"
            + (f"  ({hint})" if hint else "")
        )

    @contextmanager
    def count_bar(self, description: str) -> Iterator[Callable[[int, int], None] | None]:
        """A datasets-done bar on stderr when it is a terminal; otherwise nothing."""
        if not sys.stderr.isatty():
            yield None
            return
        columns = (
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task(description, total=None)
            yield lambda done, total: bar.update(task, completed=done, total=total)


def _when(moment: datetime) -> str:
    return timezone.localtime(moment).isoformat(timespec="seconds")


def summary(report: VerifyReport) -> str:
    counts = ", ".join(
        f"{n} {status}"
        for status in ("ok", "corrupt", "missing", "deleted")
        if (n := report.count(status)) or status == "ok"
    )
    line = f"verified {len(report.checks)} dataset{'s' if len(report.checks) != 1 else ''}: "
    line += counts
    if report.orphans is not None:
        line += f"; {len(report.orphans)} orphaned object{'s' if len(report.orphans) != 1 else ''}"
    if report.resumed:
        started = _when(report.run.started_at)
        line += (
            f" (continued the run started {started}: {report.skipped} dataset"
            f"{'s' if report.skipped != 1 else ''} it had verified were skipped)"
        )
    return line


def problem_line(report: VerifyReport) -> str:
    parts = [f"{n} {status}" for status in ("corrupt", "missing") if (n := report.count(status))]
    if report.orphans:
        parts.append(f"{len(report.orphans)} orphaned")
    return "verify found problems: " + ", ".join(parts)


def report_as_dict(report: VerifyReport) -> dict[str, Any]:
    return {
        "run": {
            "id": report.run.pk,
            "started_at": report.run.started_at.isoformat(),
            "resumed": report.resumed,
            "skipped": report.skipped,
        },
        "datasets": [
            {"sha256": c.sha256, "name": c.name, "status": c.status} for c in report.checks
        ],
        "orphans": report.orphans,
        "summary": {
            "ok": report.count("ok"),
            "corrupt": report.count("corrupt"),
            "missing": report.count("missing"),
            "deleted": report.count("deleted"),
            "orphans": None if report.orphans is None else len(report.orphans),
        },
        "clean": report.clean,
    }
