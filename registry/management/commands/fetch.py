from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone
from rich.table import Table

from lineage.models import LineageEdge
from registry.cli import DataTracCommand, terminal_safe
from registry.models import Dataset
from registry.presenters import dataset_as_dict
from registry.services import (
    Actor,
    download_dataset,
    require_view_permission,
    resolve_output_path,
)
from registry.storage import get_storage
from registry.units import human_size


class Command(DataTracCommand):
    help = "List datasets, show one, or download one (verified against its SHA-256)."
    epilog = """examples:
  datatrac fetch --all                      # every dataset, newest first
  datatrac fetch --all --search sales       # name, source, description or hash prefix
  datatrac fetch 3fa2c1                     # everything about one dataset
  datatrac fetch 3fa2c1 --download          # into ./<name>, verified
  datatrac fetch 3fa2c1 --download --output data/raw.csv
  datatrac fetch 3fa2c1 --download --output data/new/   # makes data/new/, writes <name> in it
  datatrac fetch 3fa2c1 --download --force  # overwrite ./<name> without asking

An existing output file is overwritten only with --force, or after asking on a terminal.
"""

    def checks_migrations_first(self, options: dict[str, Any]) -> bool:
        return bool(options.get("download"))  # listing and showing only read

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("hash", nargs="?", help="a dataset's hash or unique prefix (>= 6)")
        parser.add_argument("-a", "--all", action="store_true", help="list datasets")
        parser.add_argument("--search", metavar="TEXT", help="with --all: only matching ones")
        parser.add_argument(
            "--deleted", action="store_true", help="with --all: include deleted datasets"
        )
        parser.add_argument("--download", action="store_true", help="download the dataset")
        parser.add_argument(
            "-o",
            "--output",
            help="with --download: file or directory to write (a trailing / makes the directory)",
        )
        parser.add_argument(
            "-f",
            "--force",
            action="store_true",
            help="with --download: overwrite an existing file without asking",
        )
        parser.add_argument("--json", action="store_true", help="print JSON only on stdout")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["download"]:
            require_view_permission(actor=Actor.for_cli())
        if options["all"] or (options["search"] is not None and not options["hash"]):
            if options["hash"] or options["download"]:
                raise CommandError("--all lists datasets; give either --all or a HASH")
            self.list_datasets(options)
            return
        if not options["hash"]:
            raise CommandError("give a dataset HASH, or --all to list datasets (see --help)")
        dataset = Dataset.objects.resolve(options["hash"])
        if options["download"]:
            self.download(dataset, options)
        else:
            if options["output"] or options["force"]:
                raise CommandError("--output and --force go with --download")
            self.show(dataset, as_json=options["json"])

    def list_datasets(self, options: dict[str, Any]) -> None:
        datasets = Dataset.objects.all() if options["deleted"] else Dataset.objects.available()
        datasets = datasets.search(options["search"] or "").order_by("-pushed_at", "-id")
        if options["json"]:
            self.print_json([dataset_as_dict(d) for d in datasets.iterator()])
            return
        table = Table(box=None, header_style="bold", pad_edge=False)
        for column in ("hash", "name", "size", "source", "pushed by", "pushed at", "downloads"):
            wrap = column in ("name", "source", "pushed by")
            table.add_column(
                column,
                justify="right" if column in ("size", "downloads") else "left",
                no_wrap=not wrap,
                overflow="fold",
            )
        count = 0
        for d in datasets.iterator():
            count += 1
            name = self.text(d.name)
            if not d.is_available:
                name.append(" (deleted)", style="dim")
            table.add_row(
                d.short_hash,
                name,
                human_size(d.size),
                self.text(d.source),
                self.text(d.pushed_by),
                timezone.localtime(d.pushed_at).strftime("%Y-%m-%d %H:%M"),
                str(d.download_count),
            )
        if not count:
            self.stderr.write(
                "no datasets match"
                if options["search"]
                else "no datasets yet: push one with `datatrac push FILE --source URL`"
            )
            return
        self.console().print(table)

    def show(self, dataset: Dataset, *, as_json: bool) -> None:
        parents = list(
            LineageEdge.objects.filter(child=dataset).select_related("parent").order_by("id")
        )
        children = list(
            LineageEdge.objects.filter(parent=dataset).select_related("child").order_by("id")
        )
        if as_json:
            self.print_json(
                {
                    **dataset_as_dict(dataset),
                    "parents": [_edge_dict(e.parent, e) for e in parents],
                    "children": [_edge_dict(e.child, e) for e in children],
                }
            )
            return
        table = Table(box=None, show_header=False, pad_edge=False)
        table.add_column(style="bold")
        table.add_column()
        rows = [
            ("sha256", dataset.sha256),
            ("name", dataset.name),
            ("size", f"{dataset.size} bytes ({human_size(dataset.size)})"),
            ("source", dataset.source),
            ("description", dataset.description),
            ("registry path", dataset.storage_location),
            ("pushed by", dataset.pushed_by),
            ("pushed at", timezone.localtime(dataset.pushed_at).isoformat(timespec="seconds")),
            ("downloads", str(dataset.download_count)),
            ("state", dataset.state),
        ]
        if dataset.last_verified_at:
            rows.append(("last verified", dataset.last_verified_at.isoformat(timespec="seconds")))
        for label, value in rows:
            table.add_row(label, self.text(value))
        for label, edges, attr in (("parents", parents, "parent"), ("children", children, "child")):
            shown = [str(getattr(e, attr)) for e in edges]
            table.add_row(label, self.text(", ".join(shown) if shown else "-"))
        self.console().print(table)

    def download(self, dataset: Dataset, options: dict[str, Any]) -> None:
        force = options["force"] or self.overwrite_agreed(dataset, options["output"])
        with get_storage() as storage, self.progress(dataset.size, "downloading") as bar:
            result = download_dataset(
                dataset=dataset,
                actor=Actor.for_cli(),
                storage=storage,
                output=options["output"],
                force=force,
                progress=bar,
            )
        if options["json"]:
            self.print_json(
                {
                    "sha256": dataset.sha256,
                    "path": str(result.path.resolve()),
                    "size": dataset.size,
                    "from_cache": result.from_cache,
                    "replaced": result.replaced,
                }
            )
            return
        self.stderr.write(
            f"verified {human_size(dataset.size)}"
            + (" (from the local cache)" if result.from_cache else "")
            + (
                f"; overwrote the existing {terminal_safe(str(result.path))}"
                if result.replaced
                else ""
            )
        )
        self.stdout.write(terminal_safe(str(result.path)))

    def overwrite_agreed(self, dataset: Dataset, output: str | None) -> bool:
        """On a terminal, ask (before any progress bar) whether to replace an existing file.

        Without a terminal the service refuses instead, saying to pass --force.
        """
        if not sys.stdin.isatty():
            return False
        target, exists = resolve_output_path(dataset, output, force=True)
        if not exists:
            return False
        # On stderr: stdout carries only the downloaded file's path, for scripts.
        sys.stderr.write(f"{terminal_safe(str(target))} already exists; overwrite it? [y/N] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            raise CommandError(f"not overwritten: {target} already exists")
        return True


def _edge_dict(dataset: Dataset, edge: LineageEdge) -> dict[str, Any]:
    return {"sha256": dataset.sha256, "name": dataset.name, "note": edge.note}
