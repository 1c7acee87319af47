"""PostgreSQL knows how common a searched word is, so it picks the right search plan."""

from __future__ import annotations

import pytest
from django.db import connection

from registry.models import Dataset

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="statistics objects are PostgreSQL's"
    ),
]


def test_every_searched_expression_has_statistics_that_analyze_fills() -> None:
    Dataset.objects.bulk_create(
        Dataset(sha256=f"{i:064x}", name=f"weather_{i}.csv", size=i, storage_location="x")
        for i in range(200)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE registry_dataset")
        cursor.execute(
            "SELECT s.stxname, d.stxdexpr IS NOT NULL FROM pg_statistic_ext s "
            "LEFT JOIN pg_statistic_ext_data d ON d.stxoid = s.oid "
            "WHERE s.stxrelid = 'registry_dataset'::regclass"
        )
        found = dict(cursor.fetchall())
    assert found == {
        "dataset_name_upper_stats": True,
        "dataset_source_upper_stats": True,
        "dataset_description_upper_stats": True,
    }
