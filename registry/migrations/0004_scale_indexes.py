"""Indexes for a registry of millions: keyset sorts (every database) and search (PostgreSQL).

The (sort key, id) btrees come from Dataset.Meta.indexes. The search indexes are
PostgreSQL-only and so are raw SQL run only there: pg_trgm GIN indexes on UPPER(column),
the exact expression Django's ``icontains`` compiles to on PostgreSQL
(``UPPER("col"::text) LIKE UPPER(%s)``), so a search for any part of a name, source or
description is an index scan rather than a scan of every row. SQLite keeps scanning.
"""

from typing import Any

from django.db import migrations, models
from django.db.models.functions import Left

from registry.migrations._postgresql import PostgreSQLOnly

TRIGRAM_COLUMNS = ("name", "source", "description")


def _trigram_index(column: str) -> Any:
    name = f"dataset_{column}_trgm"
    return PostgreSQLOnly(
        sql=(
            f"CREATE INDEX IF NOT EXISTS {name} ON registry_dataset "
            f"USING gin (UPPER({column}) gin_trgm_ops)"
        ),
        reverse_sql=f"DROP INDEX IF EXISTS {name}",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0003_verifyrun"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="dataset",
            index=models.Index(models.F("pushed_at"), models.F("id"), name="dataset_pushed_at_key"),
        ),
        migrations.AddIndex(
            model_name="dataset",
            index=models.Index(Left("name", 200), models.F("id"), name="dataset_name_key"),
        ),
        migrations.AddIndex(
            model_name="dataset",
            index=models.Index(models.F("size"), models.F("id"), name="dataset_size_key"),
        ),
        migrations.AddIndex(
            model_name="dataset",
            index=models.Index(Left("source", 200), models.F("id"), name="dataset_source_key"),
        ),
        migrations.AddIndex(
            model_name="dataset",
            index=models.Index(models.F("pushed_by"), models.F("id"), name="dataset_pushed_by_key"),
        ),
        migrations.AddIndex(
            model_name="dataset",
            index=models.Index(
                models.F("download_count"), models.F("id"), name="dataset_downloads_key"
            ),
        ),
        # The extension needs a superuser or a trusted-extension grant once per database
        # (pg_trgm is trusted since PostgreSQL 13, so a database owner can create it).
        PostgreSQLOnly(
            sql="CREATE EXTENSION IF NOT EXISTS pg_trgm",
            reverse_sql=migrations.RunSQL.noop,
        ),
        *(_trigram_index(column) for column in TRIGRAM_COLUMNS),
    ]
