"""The page benchmark, small: every page answers and stays within its query budget.

CI runs this on both databases instead of the full 10k/100k/1M benchmark (bench/pages.py,
results in docs/benchmarks.md). It checks what must not regress with size (status and
SQL queries per page), never how long anything took: speed is measured, not asserted.
"""

from __future__ import annotations

import pytest
from django.conf import LazySettings
from django.test import Client

from bench.pages import QUERY_BUDGET, run_size
from registry.cli import uses_embedded_database

pytestmark = pytest.mark.django_db(transaction=False)

SMOKE_DATASETS = 10_000


def test_every_benchmarked_page_answers_within_its_query_budget(
    settings: LazySettings,
) -> None:
    settings.DATATRAC_PUBLIC_READ = True  # the benchmark browses anonymously
    rows = run_size(SMOKE_DATASETS, runs=1, client=Client())
    assert {row["page"] for row in rows} == set(QUERY_BUDGET)
    for row in rows:
        # run_size stops on any answer but 200; here the query count per page.
        budget = QUERY_BUDGET[str(row["page"])]
        if str(row["page"]).startswith("`") and uses_embedded_database():
            budget += 1  # the embedded registry migrates itself, so every command checks
        assert int(str(row["queries"])) <= budget, row
