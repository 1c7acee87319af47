"""Wall time and peak memory of `datatrac fetch --all` over a seeded registry (issue 12).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/datatrac_bench \
        uv run python bench/listing.py --datasets 10000 100000 1000000

For each registry size it seeds the database (bench/seed.py: COPY, then VACUUM ANALYZE;
1M takes a minute or two), then runs the real `datatrac` script, its output to
/dev/null, as a user would:

- `fetch -a`: the default page (the newest 50, and the count of the rest)
- `fetch -a --limit 0`: every dataset as a table
- `fetch -a --limit 0 --json`: every dataset as one JSON array
- `fetch -a --limit 0 --jsonl`: every dataset as JSON Lines

each beside a baseline that lists the same rows with no DataTrac at all: `psql -c "COPY
(SELECT ... ORDER BY pushed_at DESC, id DESC LIMIT n) TO STDOUT"`, the database's own
export. The two alternate run by run (every other run DataTrac first), so load from
elsewhere on the machine hits both alike. For the page, whose time is mostly starting
Python and Django, `python -c pass` is timed too. Peak RSS is each process's own
peak RSS (GNU time's %M), so the page cache and the database server are not counted.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datatrac_site.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from bench.seed import seed  # noqa: E402
from registry.models import Dataset  # noqa: E402

DATATRAC = str(Path(sys.executable).with_name("datatrac"))
PAGE = 50  # fetch.DEFAULT_LIMIT, the rows of the default page
GNU_TIME = "/usr/bin/time"


@dataclass
class Timed:
    seconds: float
    max_rss_mib: float


def run(command: list[str], env: dict[str, str] | None = None) -> Timed:
    """Run ``command`` with its output to /dev/null; wall time and its own peak RSS.

    The RSS comes from GNU time, not from os.wait4 here: a child forked from this
    process (Django loaded, 64 MiB) reports that much as its peak even when what it
    then executes (psql) needs a tenth of it.
    """
    with tempfile.NamedTemporaryFile("r") as report, open(os.devnull, "wb") as sink:
        started = time.perf_counter()
        process = subprocess.run(
            [GNU_TIME, "-o", report.name, "-f", "%M", *command],
            env=env,
            stdout=sink,
            stderr=subprocess.PIPE,
            check=False,
        )
        elapsed = time.perf_counter() - started
        if process.returncode != 0:
            raise SystemExit(
                f"{' '.join(command)} failed ({process.returncode}): "
                f"{process.stderr.decode().strip()}"
            )
        max_rss_kib = int(report.read().split()[-1])
    return Timed(elapsed, max_rss_kib / 1024)


@dataclass
class Series:
    times: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)

    def add(self, timed: Timed) -> None:
        self.times.append(timed.seconds)
        self.rss.append(timed.max_rss_mib)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def psql_command() -> list[str]:
    """psql connected to the benchmark's database (the same settings Django uses)."""
    db = connection.settings_dict
    psql = shutil.which("psql")
    if psql is None:
        raise SystemExit("psql is needed for the baseline (apt-get install postgresql-client)")
    return [
        psql,
        "-X",
        "-q",
        "-h",
        str(db.get("HOST") or "127.0.0.1"),
        "-p",
        str(db.get("PORT") or 5432),
        "-U",
        str(db.get("USER") or "postgres"),
        "-d",
        str(db["NAME"]),
    ]


def copy_baseline(rows: int | None) -> list[str]:
    table = Dataset._meta.db_table
    limit = f" LIMIT {rows}" if rows is not None else ""
    query = (
        f"SELECT * FROM {table} WHERE state = 'available' ORDER BY pushed_at DESC, id DESC{limit}"
    )
    return [*psql_command(), "-c", f"COPY ({query}) TO STDOUT"]


def bench_size(n: int, runs: int, env: dict[str, str]) -> list[dict[str, object]]:
    datasets, _edges = seed(n, 7)
    print(f"\n## {datasets:,} datasets ({connection.vendor})", flush=True)
    operations: list[tuple[str, list[str], list[str]]] = [
        ("`fetch -a` (the newest 50)", ["fetch", "-a"], copy_baseline(PAGE)),
        ("`fetch -a --limit 0` (table)", ["fetch", "-a", "--limit", "0"], copy_baseline(None)),
        (
            "`fetch -a --limit 0 --json`",
            ["fetch", "-a", "--limit", "0", "--json"],
            copy_baseline(None),
        ),
        (
            "`fetch -a --limit 0 --jsonl`",
            ["fetch", "-a", "--limit", "0", "--jsonl"],
            copy_baseline(None),
        ),
    ]
    rows: list[dict[str, object]] = []
    print(
        "| listing | median | baseline (psql COPY) | ratio | peak RSS | baseline RSS |",
        flush=True,
    )
    startup = Series()
    for label, args, baseline in operations:
        ours, theirs = Series(), Series()
        run([DATATRAC, *args], env)  # warm the caches (and the database's buffers)
        for i in range(runs):
            pair = [("ours", [DATATRAC, *args]), ("theirs", baseline)]
            for side, command in pair if i % 2 == 0 else pair[::-1]:
                (ours if side == "ours" else theirs).add(run(command, env))
            if label.startswith("`fetch -a` "):
                startup.add(run([sys.executable, "-c", "pass"], env))
        row = {
            "size": n,
            "listing": label,
            "seconds": ours.median,
            "runs": ours.times,
            "baseline_seconds": theirs.median,
            "ratio": ours.median / theirs.median,
            "max_rss_mib": max(ours.rss),
            "baseline_max_rss_mib": max(theirs.rss),
        }
        rows.append(row)
        print(
            f"| {label} | {ours.median:.2f} s | {theirs.median:.2f} s | "
            f"{ours.median / theirs.median:.1f}x | {max(ours.rss):.0f} MiB | "
            f"{max(theirs.rss):.0f} MiB |",
            flush=True,
        )
    print(
        f"\n`python -c pass`: {startup.median:.3f} s, {max(startup.rss):.0f} MiB "
        "(what any Python command pays to start)",
        flush=True,
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", type=int, nargs="+", default=[10_000])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (5)")
    args = parser.parse_args()
    if not Path(GNU_TIME).exists():
        raise SystemExit(f"{GNU_TIME} (GNU time) is needed for peak RSS: apt-get install time")
    if connection.vendor != "postgresql":
        raise SystemExit("bench/listing.py needs a PostgreSQL DATABASE_URL (see its --help)")
    # An installed DataTrac has its bytecode compiled; so should the one measured here
    # (under PYTHONDONTWRITEBYTECODE every start would compile the project anew).
    for package in ("datatrac_site", "registry", "lineage"):
        compileall.compile_dir(REPO / package, quiet=1)
    call_command("migrate", interactive=False, verbosity=0)
    env = {**os.environ, "DATATRAC_USER": "bench", "PAGER": "cat"}
    for n in args.datasets:
        bench_size(n, args.runs, env)
        connection.close()  # nothing held open across the next size's TRUNCATE


if __name__ == "__main__":
    main()
