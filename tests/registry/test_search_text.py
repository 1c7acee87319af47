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
    assert dataset.search_text == "WEATHER.CSV\x1fHTTPS://X.EXAMPLE/A\x1fDAILY"

    Dataset.objects.filter(pk=dataset.pk).update(name="rain.csv", description="")
    dataset.refresh_from_db()

    assert dataset.search_text == "RAIN.CSV\x1fHTTPS://X.EXAMPLE/A\x1f"
    assert list(Dataset.objects.search("rain")) == [dataset]
    assert list(Dataset.objects.search("weather")) == []


def test_a_search_does_not_match_across_the_joins_between_columns() -> None:
    DatasetFactory(name="alpha", source="beta", description="")

    assert not Dataset.objects.search("alphabeta").exists()
    assert not Dataset.objects.search("alpha beta").exists()
    # The columns are joined by the unit separator (U+001F), not by a newline.
    assert not Dataset.objects.search("alpha\nbeta").exists()


def test_a_newline_in_a_name_is_found_by_a_search_with_that_newline() -> None:
    dataset = DatasetFactory(name="two\nlines", source="", description="")

    assert list(Dataset.objects.search("o\nl")) == [dataset]


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("100%", {"sale 100% off"}),
        ("100_", set()),  # _ is a character here, not LIKE's "any one character"
        ("a_b", {"a_b.csv"}),
        ("a\\b", {"dir\\a\\b"}),
        ("%", {"sale 100% off"}),
        ("café", {"café.csv"}),
    ],
)
def test_search_text_is_taken_literally_and_case_blind(text: str, matches: set[str]) -> None:
    for name in ("sale 100% off", "sale 1000 off", "a_b.csv", "axb.csv", "dir\\a\\b", "café.csv"):
        DatasetFactory(name=name, source="", description="")

    assert {d.name for d in Dataset.objects.search(text)} == matches


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
