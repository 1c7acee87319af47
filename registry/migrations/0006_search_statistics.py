"""Statistics on the searched expressions, so PostgreSQL picks the right search plan.

A search is ``UPPER(col) LIKE '%text%'`` on name, source and description, ordered by a
sort key. Without statistics on ``UPPER(col)`` the planner guesses 100 matching rows
whatever the text, so for a common word it chose the trigram indexes and sorted all
~7,000 matches (about 90 ms at 1M datasets) where walking the sort key's index until 26
rows matched takes a few milliseconds. Expression statistics (PostgreSQL 14+) give it
the real frequency from ANALYZE's sample: common words walk the index, rare ones use
the trigram indexes (docs/benchmarks.md).
"""

from django.db import migrations

from registry.migrations._postgresql import PostgreSQLOnly

SEARCHED_COLUMNS = ("name", "source", "description")


def _statistics(column: str) -> PostgreSQLOnly:
    name = f"dataset_{column}_upper_stats"
    create = f"CREATE STATISTICS IF NOT EXISTS {name} ON (UPPER({column})) FROM registry_dataset"
    return PostgreSQLOnly(
        # Expression statistics need PostgreSQL 14; older servers keep the guess.
        sql=(
            "DO $$ BEGIN IF current_setting('server_version_num')::int >= 140000 THEN "
            f"EXECUTE '{create}'; END IF; END $$"
        ),
        reverse_sql=f"DROP STATISTICS IF EXISTS {name}",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0005_audit_gc_remove"),
    ]

    operations = [
        *(_statistics(column) for column in SEARCHED_COLUMNS),
        PostgreSQLOnly(sql="ANALYZE registry_dataset", reverse_sql=migrations.RunSQL.noop),
    ]
