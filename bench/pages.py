"""Server time and SQL queries per page over a seeded registry (issues 4 and 7).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/datatrac_bench \
        uv run python bench/pages.py --datasets 10000 100000 1000000

For each registry size it seeds the database (bench/seed.py), then times every page
in-process through Django's test client (server time: URL routing, views, queries and
templates; no network), as the median of --runs requests after a warm-up, and reports
each beside the app's trivial page (/healthz) measured in the same run. The ratio is the
figure; absolute times depend on the machine. It also times `datatrac lineage --depth 10`
in the middle of the 10,000-generation chain.
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

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from bench.seed import CHAIN_LENGTH, FANOUT_CHILDREN, seed, sha_for  # noqa: E402


def measure(fn: Callable[[], object], runs: int) -> tuple[float, int]:
    """(median milliseconds, SQL queries of one run)."""
    fn()  # warm caches, templates, the connection
    executed: list[str] = []

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        executed.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), len(executed)


def page_urls(n: int) -> dict[str, str]:
    chain_start = 2 + min(FANOUT_CHILDREN, n - 1)
    chain_mid = chain_start + min(CHAIN_LENGTH, n - chain_start) // 2
    typical = max(n - 1000, 1)  # a dataset in the random DAG
    per_page = 25
    deep = max(n // per_page - 10, 1)
    return {
        "trivial page (sign-in form)": "/accounts/login/",
        "health check (/healthz, no database)": "/healthz",
        "browser, first page": "/",
        "browser, deep page": f"/?page={deep}",
        "search (name or source part)": "/?q=weather_clean",
        "dataset page": f"/datasets/{sha_for(typical)[:12]}/",
        "lineage explorer, depth 1": f"/datasets/{sha_for(chain_mid)[:12]}/lineage?depth=1",
        "lineage explorer, depth 5": f"/datasets/{sha_for(chain_mid)[:12]}/lineage?depth=5",
        "lineage explorer, fan-out node": f"/datasets/{sha_for(1)[:12]}/lineage?depth=1",
    }


def run_size(n: int, runs: int) -> list[dict[str, object]]:
    datasets, edges = seed(n, 7)
    print(f"\n## {datasets:,} datasets, {edges:,} edges ({connection.vendor})", flush=True)
    client = Client()
    rows: list[dict[str, object]] = []
    trivial = None
    for label, url in page_urls(n).items():

        def get(url: str = url) -> None:
            response = client.get(url)
            if response.status_code != 200:
                raise SystemExit(f"{url} answered {response.status_code}")
            if hasattr(response, "streaming_content"):
                b"".join(response.streaming_content)

        ms, queries = measure(get, runs)
        trivial = trivial or ms
        rows.append({"size": n, "page": label, "url": url, "ms": ms, "ratio": ms / trivial,
                     "queries": queries})
        print(f"| {label} | {ms:.1f} ms | {ms / trivial:.1f}x | {queries} |", flush=True)
    chain_start = 2 + min(FANOUT_CHILDREN, n - 1)
    chain_mid = chain_start + min(CHAIN_LENGTH, n - chain_start) // 2

    def lineage_cli() -> None:
        call_command("lineage", sha_for(chain_mid), "--depth", "10", stdout=io.StringIO())

    ms, queries = measure(lineage_cli, runs)
    rows.append({"size": n, "page": "`lineage --depth 10` (chain)", "ms": ms,
                 "ratio": ms / (trivial or 1), "queries": queries})
    print(f"| `lineage --depth 10` on the chain | {ms:.1f} ms | {ms / (trivial or 1):.1f}x "
          f"| {queries} |", flush=True)
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
