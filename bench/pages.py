"""Server time and SQL queries per page over a seeded registry (issues 4 and 7).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/datatrac_bench \
        uv run python bench/pages.py --datasets 10000 100000 1000000

For each registry size it seeds the database (bench/seed.py), then times every page
in-process through Django's test client (server time: URL routing, views, queries and
templates; no network), as the median of --runs requests after a warm-up, beside the
app's trivial page (the sign-in form: a rendered template, no query). The trivial page
is timed right before each run of each page, so load from elsewhere on the machine hits
both alike: the ratio is the figure, absolute times depend on the machine. It also
times `datatrac lineage --depth 10` in the middle of the 10,000-generation chain (below
30,000 datasets the seed's shapes are a third of the registry each: bench/seed.py).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datatrac_site.settings")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("DATATRAC_PUBLIC_READ", "true")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from bench.seed import chain_middle, seed, sha_for  # noqa: E402


def measure(
    fn: Callable[[], object], runs: int, baseline: Callable[[], object]
) -> tuple[float, int, float]:
    """(median ms of ``fn``, SQL queries of one run, median ms of ``baseline``).

    The baseline (the trivial page) is timed right before every run of ``fn``, so load
    from elsewhere on the machine hits both alike: the ratio is the robust figure.
    """
    fn()  # warm caches, templates, the connection
    executed: list[str] = []

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        executed.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        fn()
    times: list[float] = []
    base: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        baseline()
        base.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), len(executed), statistics.median(base)


# The most SQL queries each page may make, whatever the registry's size: the smoke test
# (tests/bench/test_smoke.py) holds every page to it. Anonymous requests (public read),
# so no session or user queries.
QUERY_BUDGET = {
    "trivial page (sign-in form)": 0,
    "health check (/healthz, no database)": 0,
    "browser, first page": 3,  # the page (one seek), the estimate or a small count
    "browser, deep page": 3,
    "browser, sorted by name, deep page": 3,
    "search (name or source part)": 2,
    "search (hash prefix)": 2,
    "dataset page": 6,  # resolve, both sides' counts, a page of each, chart, history
    # resolve; the graph: both walks, their rows, the edges, both counts, the degrees
    "lineage explorer, depth 1": 2,
    "lineage explorer, depth 5": 2,
    "lineage explorer, fan-out node": 2,
    # who acts (the CLI identity's account, for the view permission), resolve, the
    # graph (a read: the migrations are checked only if a query fails)
    "`lineage --depth 10` (chain)": 3,
}


def page_urls(n: int) -> dict[str, str]:
    chain_mid = chain_middle(n)
    typical = max(n - 1000, 1)  # a dataset in the random DAG
    # Keyset pages: "after" names the last row of the previous page. Newest first, so
    # the row with id 251 is 250 rows from the end of the list: as deep as it gets.
    deep_after = min(251, n)
    by_name_after = n // 2  # wherever that row sorts by name: any cursor is one seek
    return {
        "trivial page (sign-in form)": "/accounts/login/",
        "health check (/healthz, no database)": "/healthz",
        "browser, first page": "/",
        "browser, deep page": f"/?after={deep_after}",
        "browser, sorted by name, deep page": f"/?sort=name&after={by_name_after}",
        "search (name or source part)": "/?q=weather_clean",
        "search (hash prefix)": f"/?q={sha_for(typical)[:10]}",
        "dataset page": f"/datasets/{sha_for(typical)[:12]}/",
        "lineage explorer, depth 1": f"/datasets/{sha_for(chain_mid)[:12]}/lineage?depth=1",
        "lineage explorer, depth 5": f"/datasets/{sha_for(chain_mid)[:12]}/lineage?depth=5",
        "lineage explorer, fan-out node": f"/datasets/{sha_for(1)[:12]}/lineage?depth=1",
    }


def run_size(n: int, runs: int, client: Client | None = None) -> list[dict[str, object]]:
    """Seed ``n`` datasets, then time every page: one row per page (ms, ratio, queries)."""
    datasets, edges = seed(n, 7)
    print(f"\n## {datasets:,} datasets, {edges:,} edges ({connection.vendor})", flush=True)
    client = client or Client()
    rows: list[dict[str, object]] = []

    def getter(url: str) -> Callable[[], None]:
        def get() -> None:
            response = client.get(url)
            if response.status_code != 200:
                raise SystemExit(f"{url} answered {response.status_code}")
            if hasattr(response, "streaming_content"):
                b"".join(response.streaming_content)

        return get

    urls = page_urls(n)
    trivial = getter(urls["trivial page (sign-in form)"])
    chain_mid = chain_middle(n)

    def lineage_cli() -> None:
        call_command("lineage", sha_for(chain_mid), "--depth", "10", stdout=io.StringIO())

    pages: dict[str, tuple[str, Callable[[], None]]] = {
        label: (url, getter(url)) for label, url in urls.items()
    }
    pages["`lineage --depth 10` (chain)"] = ("", lineage_cli)
    print("| page | ms | trivial ms | ratio | queries |", flush=True)
    for label, (url, fn) in pages.items():
        ms, queries, trivial_ms = measure(fn, runs, trivial)
        rows.append(
            {
                "size": n,
                "page": label,
                "url": url,
                "ms": ms,
                "trivial_ms": trivial_ms,
                "ratio": ms / trivial_ms,
                "queries": queries,
            }
        )
        print(
            f"| {label} | {ms:.1f} | {trivial_ms:.1f} | {ms / trivial_ms:.1f}x | {queries} |",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", type=int, nargs="+", default=[10_000])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    call_command("migrate", interactive=False, verbosity=0)
    rows = []
    for n in args.datasets:
        rows += run_size(n, args.runs)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
