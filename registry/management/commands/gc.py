from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from django.core.management.base import CommandParser

from registry.actors import Actor
from registry.cli import DataTracCommand
from registry.integrity import GCReport, collect_garbage, format_duration, parse_duration
from registry.storage import get_storage


class Command(DataTracCommand):
    help = (
        "Remove stale temporary uploads and stored objects that no dataset references, "
        "once older than a grace period. Never touches an object a dataset references."
    )
    epilog = """examples:
  datatrac gc --dry-run                     # list what would be removed
  datatrac gc                               # remove what is older than 24 hours
  datatrac gc --grace 7d                    # keep a week of unreferenced objects

Temporary uploads are left behind by a push that was killed; unreferenced objects by
a push killed between storing its bytes and registering them; partial downloads (in
this machine's cache) by a download that was killed; expired uploads (rows and parts
under DATATRAC_UPLOAD_DIR) by a remote push that never completed. Tombstones (deleted
datasets) do not reference bytes. The grace period should exceed your longest push; a
temporary whose push is still running is kept whatever the grace (its uploader holds a
lock on it). Administrators only.
"""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="list what would be removed; remove nothing"
        )
        parser.add_argument(
            "--grace",
            type=duration_argument,
            default=timedelta(hours=24),
            metavar="DURATION",
            help="only remove things older than this (30m, 24h, 7d; default 24h)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with get_storage() as storage:
            report = collect_garbage(
                storage=storage,
                grace=options["grace"],
                dry_run=options["dry_run"],
                actor=Actor.for_cli(),
            )
        self.print_report(report)

    def print_report(self, report: GCReport) -> None:
        verb = "would remove" if report.dry_run else "removed"
        for name in report.temporaries:
            self.stdout.write(f"{verb} temporary upload {name}")
        for sha256 in report.removed:
            self.stdout.write(f"{verb} unreferenced object {sha256}")
        for path in report.cache_parts:
            self.stdout.write(f"{verb} partial download {path}")
        for line in report.uploads:
            self.stdout.write(f"{verb} expired upload {line}")
        grace = format_duration(report.grace)
        for sha256 in report.kept_recent:
            self.stderr.write(f"kept unreferenced object {sha256}: younger than {grace}")
        for sha256 in report.kept_unknown_age:
            self.stderr.write(
                f"kept unreferenced object {sha256}: this store cannot tell how old it is"
            )
        temps, objects = len(report.temporaries), len(report.removed)
        uploads = len(report.uploads)
        expired = (
            f" and {uploads} expired API upload{'s' if uploads != 1 else ''}" if uploads else ""
        )
        self.stderr.write(
            f"{verb} {temps} temporary upload{'s' if temps != 1 else ''} and {objects} "
            f"unreferenced object{'s' if objects != 1 else ''} older than {grace}{expired}"
        )


def duration_argument(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
