"""Fill a registry with synthetic datasets and lineage, fast.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/datatrac_bench \
        uv run python bench/seed.py --datasets 1000000

Shapes, as issue 7 asks: one dataset with 10,000 children (wide fan-out), a
10,000-generation chain (deep), and a random DAG over the rest, its edges only from an
older to a newer dataset, so it stays acyclic (below 30,000 datasets the fan-out and the
chain are a third of the registry each: see shapes()). PostgreSQL is filled with COPY;
SQLite with bulk inserts. Rows only: no bytes are stored (this measures the registry, not
the store).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import random
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "datatrac_site.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from lineage.models import LineageEdge  # noqa: E402
from registry.models import Dataset  # noqa: E402

TOPICS = [
    "sales",
    "weather",
    "churn",
    "clicks",
    "inventory",
    "payroll",
    "sensor",
    "census",
    "traffic",
    "orders",
    "returns",
    "ads",
    "genome",
    "prices",
    "tickets",
    "logins",
]
STAGES = ["raw", "clean", "dedup", "joined", "features", "train", "eval", "agg", "sample"]
REGIONS = ["eu", "us", "apac", "latam", "global"]
HOSTS = ["s3://lake", "https://data.example.org", "gs://warehouse", "https://api.example.com"]
USERS = [f"user{i:03d}" for i in range(200)]
EXTS = ["csv", "parquet", "jsonl", "csv.gz", "arrow"]

FANOUT_CHILDREN = 10_000
CHAIN_LENGTH = 10_000


def shapes(n: int) -> tuple[int, int]:
    """(children of the fan-out node, generations of the chain) in a registry of ``n``.

    The issue's 10,000 and 10,000 from 30,000 datasets on. A smaller registry gets a
    third of itself for each, the last third a random DAG: at 10k the fan-out node alone
    would take every dataset, leave no chain, and give the planner statistics in which
    every edge has the same parent (it then chose a sequential scan of all edges to
    count each drawn node's children).
    """
    if n >= 3 * max(FANOUT_CHILDREN, CHAIN_LENGTH):
        return FANOUT_CHILDREN, CHAIN_LENGTH
    return max(n // 3, 1), max(n // 3, 1)


def chain_middle(n: int) -> int:
    """The id of the dataset halfway down the chain (the lineage pages' centre)."""
    fanout, chain = shapes(n)
    chain_start = 2 + min(fanout, n - 1)
    return chain_start + min(chain, n - chain_start) // 2


def sha_for(i: int) -> str:
    return hashlib.sha256(f"datatrac-bench-{i}".encode()).hexdigest()


def dataset_rows(n: int, rng: random.Random) -> Iterator[tuple[object, ...]]:
    start = datetime(2021, 1, 1, tzinfo=UTC)
    span = (datetime(2026, 11, 1, tzinfo=UTC) - start).total_seconds()
    for i in range(1, n + 1):
        topic, stage, region = rng.choice(TOPICS), rng.choice(STAGES), rng.choice(REGIONS)
        name = f"{topic}_{stage}_{region}_{i}.{rng.choice(EXTS)}"
        source = f"{rng.choice(HOSTS)}/{topic}/{region}/{stage}/part-{rng.randrange(10_000):05d}"
        sha = sha_for(i)
        pushed_at = start + timedelta(seconds=span * i / n)
        yield (
            i,
            sha,
            name,
            rng.randrange(1, 10**10),
            source,
            f"{stage} {topic} data for {region}",
            f"ssh://store/srv/datatrac/{sha[:2]}/{sha[2:4]}/{sha}",
            rng.choice(USERS),
            pushed_at,
            rng.randrange(0, 500),
            "available",
            "",
        )


def edge_rows(n: int, rng: random.Random) -> Iterator[tuple[int, int]]:
    """(parent id, child id) pairs; ids are 1..n in push order."""
    fanout, chain_length = shapes(n)
    fan_parent = 1
    fan_children = range(2, 2 + min(fanout, n - 1))
    for child in fan_children:
        yield fan_parent, child
    chain_start = 2 + len(fan_children)
    chain = range(chain_start, min(chain_start + chain_length, n + 1))
    for parent, child in itertools.pairwise(chain):
        yield parent, child
    rest_start = chain.stop
    # A random DAG over the rest: each dataset gets ~1 parent among older ones nearby.
    for child in range(rest_start + 1, n + 1):
        for _ in range(rng.choice((0, 1, 1, 1, 2))):
            parent = rng.randrange(max(rest_start, child - 5000), child)
            yield parent, child


DATASET_COLUMNS = (
    "id",
    "sha256",
    "name",
    "size",
    "source",
    "description",
    "storage_location",
    "pushed_by",
    "pushed_at",
    "download_count",
    "state",
    "deleted_by",
)


def seed(n: int, seed_value: int) -> tuple[int, int]:
    rng = random.Random(seed_value)
    ds_table = Dataset._meta.db_table
    edge_table = LineageEdge._meta.db_table
    now = datetime.now(UTC)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # TRUNCATE, not DELETE: emptying a million indexed rows row by row took minutes.
            with connection.cursor() as cursor:
                cursor.execute(f"TRUNCATE {edge_table}, {ds_table} CASCADE")
        else:
            LineageEdge.objects.all().delete()
            with connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {ds_table}")
        edges = list(dict.fromkeys(edge_rows(n, rng)))
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                raw = cursor.cursor  # psycopg 3 cursor: COPY streams rows with no SQL per row
                with raw.copy(f"COPY {ds_table} ({', '.join(DATASET_COLUMNS)}) FROM STDIN") as cp:
                    for row in dataset_rows(n, rng):
                        cp.write_row(row)
                with raw.copy(
                    f"COPY {edge_table} (parent_id, child_id, note, created_by, created_at) "
                    "FROM STDIN"
                ) as cp:
                    for parent, child in edges:
                        cp.write_row((parent, child, "", "seed", now))
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{ds_table}', 'id'), %s)", [n]
                )
        else:
            batch: list[Dataset] = []
            for row in dataset_rows(n, rng):
                batch.append(Dataset(**dict(zip(DATASET_COLUMNS, row, strict=True))))
                if len(batch) >= 5000:
                    Dataset.objects.bulk_create(batch)
                    batch = []
            Dataset.objects.bulk_create(batch)
            LineageEdge.objects.bulk_create(
                (
                    LineageEdge(parent_id=p, child_id=c, created_by="seed", created_at=now)
                    for p, c in edges
                ),
                batch_size=5000,
            )
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        # What autovacuum does to a registry soon after such a load (it is off on some
        # servers, this machine's among them): statistics for the planner, and the
        # visibility map without which an index-only scan still reads every heap row
        # (counting the 10,000-child node's edges: 10,000 heap fetches). VACUUM cannot
        # run in a transaction, so a caller's (a test's) gets ANALYZE alone.
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {ds_table}, {edge_table}")
    elif connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {ds_table}, {edge_table}")
    return n, len(edges)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", type=int, default=10_000, help="how many datasets (10000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (7)")
    args = parser.parse_args()
    call_command("migrate", interactive=False, verbosity=0)
    started = time.perf_counter()
    datasets, edges = seed(args.datasets, args.seed)
    took = time.perf_counter() - started
    print(
        f"seeded {datasets} datasets and {edges} lineage edges in {took:.1f} s "
        f"({connection.vendor})"
    )


if __name__ == "__main__":
    main()
