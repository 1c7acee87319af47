from __future__ import annotations

import contextlib
import functools
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import tzinfo
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from datatrac.cli.main import print_detail
from datatrac.records import DatasetDetail
from registry.actors import Actor, require_view_permission
from registry.cli import DataTracCommand, terminal_safe
from registry.models import Dataset
from registry.presenters import dataset_as_dict
from registry.services import resolve_output_path
from registry.units import human_size


class Command(DataTracCommand):
    help = "List datasets, show one, or download one (verified against its SHA-256)."
    epilog = """examples:
  datatrac fetch --all                      # the newest 50 datasets
  datatrac fetch --all --after 27b4dc7ca988 # the 50 after that one (the last listed)
  datatrac fetch --all --limit 0 --jsonl    # every dataset, one JSON object a line
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
        parser.add_argument(
            "-a",
            "--all",
            action="store_true",
            help=f"list datasets, newest first, {DEFAULT_LIMIT} at a time (see --limit)",
        )
        parser.add_argument("--search", metavar="TEXT", help="with --all: only matching ones")
        parser.add_argument(
            "--deleted", action="store_true", help="with --all: include deleted datasets"
        )
        parser.add_argument(
            "--limit",
            type=int,
            metavar="N",
            help=f"with --all: list N datasets ({DEFAULT_LIMIT}); 0 lists every one",
        )
        parser.add_argument(
            "--after",
            metavar="HASH",
            help="with --all: list those after this dataset (the last one listed)",
        )
        parser.add_argument(
            "--jsonl", action="store_true", help="with --all: one JSON object a line"
        )
        parser.add_argument(
            "--no-pager", action="store_true", help="with --all: never page through $PAGER"
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
        actor = None
        if not options["download"]:
            actor = Actor.for_cli()
            require_view_permission(actor=actor)
        listing_options = ("search", "limit", "after")
        if options["all"] or (
            not options["hash"] and any(options[o] is not None for o in listing_options)
        ):
            if options["hash"] or options["download"]:
                raise CommandError("--all lists datasets; give either --all or a HASH")
            self.list_datasets(options)
            return
        if not options["hash"]:
            raise CommandError("give a dataset HASH, or --all to list datasets (see --help)")
        if options["limit"] is not None or options["after"] or options["jsonl"]:
            raise CommandError("--limit, --after and --jsonl go with --all (a listing)")
        if options["download"]:
            self.download(Dataset.objects.resolve(options["hash"]), options)
        else:
            detail = self.client(actor).get(options["hash"])
            if options["output"] or options["force"]:
                raise CommandError("--output and --force go with --download")
            self.show(detail, as_json=options["json"])

    def list_datasets(self, options: dict[str, Any]) -> None:
        limit = DEFAULT_LIMIT if options["limit"] is None else options["limit"]
        if limit < 0:
            raise CommandError("--limit must be 0 (every dataset) or more")
        if options["json"] and options["jsonl"]:
            raise CommandError("give --json or --jsonl, not both")
        datasets = Dataset.objects.all() if options["deleted"] else Dataset.objects.available()
        datasets = datasets.search(options["search"] or "")
        after = Dataset.objects.resolve(options["after"]) if options["after"] else None
        chunks = datasets.newest_first_chunks(
            chunk_size=LIST_CHUNK, after=after, limit=limit or None
        )
        write = _json_rows if options["json"] else _jsonl_rows if options["jsonl"] else _table
        try:
            with self.listing_output(page=not options["no_pager"]) as out:
                last, count = write(chunks, out)
        except BrokenPipeError:
            # The reader stopped reading (`| head`, a pager quit early): the listing ends
            # there, quietly. Python's last flush of stdout at exit would fail again.
            if self.stdout._out is sys.stdout:  # not a caller's StringIO
                _discard_stdout()
            return
        if not count:
            if options["json"]:
                return
            self.stderr.write(
                f"no datasets after {after.short_hash}"
                if after is not None
                else "no datasets match"
                if options["search"]
                else "no datasets yet: push one with `datatrac push FILE --source URL`"
            )
            return
        if last is not None and count == limit:
            more = datasets.count_older_than(last, cap=MORE_CAP)
            if more:
                counted = f"{MORE_CAP:,}+" if more > MORE_CAP else f"{more:,}"
                self.stderr.write(
                    f"{count:,} listed, {counted} more: add `--after {last.short_hash}` for "
                    f"the next {limit:,}, `--limit N` to list N, `--limit 0` for every one"
                )

    @contextmanager
    def listing_output(self, *, page: bool) -> Iterator[Callable[[str], object]]:
        """Where a listing's text goes: through a pager on a terminal, as git does
        ($PAGER, else `less` with LESS=FRX: it quits when the text fits one screen,
        keeps colours and leaves the text on the screen), else straight to stdout.

        A reader quitting the pager early makes writing raise BrokenPipeError.
        """
        direct = functools.partial(self.stdout.write, ending="")
        command = os.environ.get("PAGER", "less").strip()
        if not (page and self.stdout.isatty()) or command in ("", "cat") or not _runs(command):
            yield direct
            return
        env = {**os.environ, "LESS": os.environ.get("LESS", "FRX")}
        try:
            # Through the shell, as git and man run $PAGER: it is a command line.
            pager = subprocess.Popen(  # noqa: S602
                command, shell=True, stdin=subprocess.PIPE, env=env, text=True, encoding="utf-8"
            )
        except OSError:
            yield direct
            return
        assert pager.stdin is not None
        try:
            yield pager.stdin.write
            pager.stdin.close()
        finally:
            with contextlib.suppress(OSError):
                pager.stdin.close()
            pager.wait()

    def show(self, detail: DatasetDetail, *, as_json: bool) -> None:
        dataset = detail.dataset
        if as_json:
            self.print_json(
                {
                    **dataset.as_dict(),
                    "parents": [asdict(e) for e in detail.parents],
                    "children": [asdict(e) for e in detail.children],
                }
            )
            return
        print_detail(detail, self.console(), timezone.get_current_timezone())

    def download(self, dataset: Dataset, options: dict[str, Any]) -> None:
        force = options["force"] or self.overwrite_agreed(dataset, options["output"])
        with self.progress(dataset.size, "downloading") as bar:
            result = self.client().download(
                dataset.sha256, output=options["output"], force=force, progress=bar
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


# A listing prints the newest DEFAULT_LIMIT unless told (--limit, 0: all), reading
# LIST_CHUNK rows a query; the "more" line counts at most MORE_CAP of the rest.
DEFAULT_LIMIT = 50
LIST_CHUNK = 1000
MORE_CAP = 10_000
TABLE_COLUMNS = ("hash", "name", "size", "source", "pushed by", "pushed at", "downloads")
RIGHT_ALIGNED = frozenset({"size", "downloads"})

type Rows = Iterator[list[Dataset]]
type Written = tuple[Dataset | None, int]


def _table(chunks: Rows, out: Callable[[str], object]) -> Written:
    """Aligned columns, written a chunk at a time (never the whole listing in memory).

    Each column is as wide as the widest value so far: a later chunk with a longer
    name widens it from there on, where buffering every row to measure them first
    (rich's table) took 570 MB for 100,000 datasets.
    """
    widths = [_width(title) for title in TABLE_COLUMNS]
    zone = timezone.get_current_timezone()  # once: looking it up took 10 us a row
    last: Dataset | None = None
    count = 0
    for chunk in chunks:
        rows = [_table_row(d, zone) for d in chunk]
        if not count:
            rows.insert(0, list(TABLE_COLUMNS))
        cell_widths = [[_width(cell) for cell in row] for row in rows]
        for row_widths in cell_widths:
            widths = [max(w, c) for w, c in zip(widths, row_widths, strict=True)]
        lines = []
        for row, row_widths in zip(rows, cell_widths, strict=True):
            cells = [
                " " * (w - c) + cell if right else cell + " " * (w - c)
                for right, w, c, cell in zip(_RIGHT, widths, row_widths, row, strict=True)
            ]
            lines.append("  ".join(cells).rstrip() + "\n")
        out("".join(lines))
        count += len(chunk)
        last = chunk[-1]
    return last, count


_RIGHT = [title in RIGHT_ALIGNED for title in TABLE_COLUMNS]


def _width(text: str) -> int:
    """Terminal cells ``text`` takes (wide characters take two)."""
    if text.isascii():
        return len(text)
    from rich.cells import cell_len  # rich only for text that may have wide characters

    return cell_len(text)


def _safe(text: str) -> str:
    # isprintable() is False for every character terminal_safe escapes (and a few it
    # keeps): the common case, plain text, skips its per-character loop.
    return text if text.isprintable() else terminal_safe(text)


def _table_row(d: Dataset, zone: tzinfo) -> list[str]:
    return [
        d.short_hash,
        _safe(d.name) + ("" if d.is_available else " (deleted)"),
        human_size(d.size),
        _safe(d.source),
        _safe(d.pushed_by),
        d.pushed_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        str(d.download_count),
    ]


def _json_rows(chunks: Rows, out: Callable[[str], object]) -> Written:
    """One JSON array, written a chunk at a time: an element a line.

    Not indented: json's C encoder does only compact output, and indenting (the pure
    Python encoder) took most of a listing's time.
    """
    last: Dataset | None = None
    count = 0
    for chunk in chunks:
        out(
            "".join(
                ("[\n" if not count and not i else ",\n")
                + json.dumps(dataset_as_dict(d), ensure_ascii=False)
                for i, d in enumerate(chunk)
            )
        )
        count += len(chunk)
        last = chunk[-1]
    out("\n]\n" if count else "[]\n")
    return last, count


def _jsonl_rows(chunks: Rows, out: Callable[[str], object]) -> Written:
    """JSON Lines: one dataset's object a line."""
    last: Dataset | None = None
    count = 0
    for chunk in chunks:
        out("".join(json.dumps(dataset_as_dict(d), ensure_ascii=False) + "\n" for d in chunk))
        count += len(chunk)
        last = chunk[-1]
    return last, count


def _discard_stdout() -> None:
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _runs(command: str) -> bool:
    """Whether ``command``'s program exists: a missing `less` must not swallow the
    listing (the shell would start, fail, and close the pipe)."""
    try:
        program = shlex.split(command)[0]
    except (ValueError, IndexError):
        return False
    return shutil.which(program) is not None
