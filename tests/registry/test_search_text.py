"""The one upper-cased column searches read (migration 0007)."""

from __future__ import annotations

import pytest
from django.db import connection

from registry.models import Dataset
from tests.factories import DatasetFactory

pytestmark = pytest.mark.django_db

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="pg_trgm and pg_stats are PostgreSQL's"
)


def test_search_text_follows_every_write_of_name_source_and_description() -> None:
    dataset = DatasetFactory(name="Weather.csv", source="https://x.example/a", description="daily")
    dataset.refresh_from_db()
    assert dataset.search_text == "WEATHER.CSV\nHTTPS://X.EXAMPLE/A\nDAILY"

    Dataset.objects.filter(pk=dataset.pk).update(name="rain.csv", description="")
    dataset.refresh_from_db()

    assert dataset.search_text == "RAIN.CSV\nHTTPS://X.EXAMPLE/A\n"
    assert list(Dataset.objects.search("rain")) == [dataset]
    assert list(Dataset.objects.search("weather")) == []


def test_a_search_does_not_match_across_the_joins_between_columns() -> None:
    DatasetFactory(name="alpha", source="beta", description="")

    assert not Dataset.objects.search("alphabeta").exists()
    assert not Dataset.objects.search("alpha beta").exists()


@on_postgresql
def test_one_trigram_index_serves_searches_and_analyze_describes_the_column() -> None:
    DatasetFactory.create_batch(50)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE registry_dataset")
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE tablename = 'registry_dataset' AND indexdef LIKE '%gin_trgm_ops%'"
        )
        trigram = dict(cursor.fetchall())
        cursor.execute(
            "SELECT count(*) FROM pg_stats "
            "WHERE tablename = 'registry_dataset' AND attname = 'search_text'"
        )
        (described,) = cursor.fetchone()

    assert list(trigram) == ["dataset_search_trgm"]
    assert "(search_text gin_trgm_ops)" in trigram["dataset_search_trgm"]
    # Column statistics tell the planner a common word from a rare one: it walks the sort
    # key's index for the first, and reads the trigram index for the second.
    assert described == 1
