from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from registry.cli import DataTracCommand, terminal_safe
from registry.services import check_readable_file
from registry.units import human_size


class Command(DataTracCommand):
    help = "Hash a file, upload it to the central store once, and register it."
    epilog = """examples:
  datatrac push sales.csv --source https://example.org/sales.csv
  datatrac push clean.parquet --source "dedup of sales.csv" --parent 3fa2c1 --name sales-clean
  datatrac push model.bin --source s3://bucket/model.bin --json
"""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="the file to push")
        parser.add_argument(
            "--source", required=True, help="where the data came from (URL or free text)"
        )
        parser.add_argument("--name", help="dataset name (default: the file's name)")
        parser.add_argument("--description", default="", help="what the data is")
        parser.add_argument(
            "--parent",
            action="append",
            default=[],
            metavar="HASH",
            help="a dataset this one was made from (repeatable; hash or unique prefix)",
        )
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        size = check_readable_file(path).st_size
        with self.progress(2 * size, "hashing + uploading") as bar:
            result = self.client().push(
                path,
                source=options["source"],
                name=options["name"],
                description=options["description"],
                parents=options["parent"],
                progress=bar,
            )
        dataset = result.dataset
        if options["json"]:
            self.print_json(
                {**dataset.as_dict(), "outcome": result.outcome, "uploaded": result.uploaded}
            )
            return
        name = terminal_safe(dataset.name)
        if result.outcome == "existing" and result.uploaded:
            # Another push of the same content registered it while this one uploaded.
            self.stderr.write(
                f"already registered as {name!r} ({dataset.short_hash}) by a push that "
                "finished first"
            )
        elif result.outcome == "existing":
            self.stderr.write(
                f"already registered as {name!r} ({dataset.short_hash}); nothing uploaded"
            )
        elif result.outcome == "repaired":
            self.stderr.write(
                f"already registered as {name!r} ({dataset.short_hash}); its stored bytes were "
                "missing or corrupt and have been uploaded again"
            )
        elif result.outcome == "restored":
            self.stderr.write(f"restored deleted dataset {name!r} ({human_size(dataset.size)})")
        else:
            self.stderr.write(f"pushed {name!r} ({human_size(dataset.size)})")
        self.stdout.write(dataset.sha256)
