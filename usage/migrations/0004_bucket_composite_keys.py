"""Bucket tables keyed by (org_id, start, series_id) instead of a surrogate id.

Before, each bucket table had five indexes: the id primary key, unique (series, start) for
the rollup upserts, (org, start) for the pages, and one per foreign key. Rollups write about
as many bucket rows as they read raw rows, and every index costs on each row, so one composite
primary key now does the needed work: it is the upsert's conflict target (a series belongs to
one organisation, so it is as unique as (series, start)) and serves the pages' range reads by
organisation and time.

Neither database can turn an id primary key into a composite one in place, so each table is
rebuilt: renamed aside, created anew from the model, refilled, the old one dropped. The
buckets hold totals whose raw rows may already be purged, so they are copied, never dropped.
"""

import django.db.models.deletion
from django.db import migrations, models

# Table name -> fillfactor on PostgreSQL, as 0002 set them: rollups keep adding to recent
# buckets, and free room on the page makes those updates HOT (no index write).
BUCKETS = {"minutebucket": 85, "hourbucket": 70, "daybucket": 70}
COLUMNS = [
    "org_id",
    "series_id",
    "start",
    "requests",
    "rate_limited_requests",
    "rate_limited_by_requests",
    "rate_limited_by_input_tokens",
    "rate_limited_by_output_tokens",
    "uncached_input_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "output_tokens",
    "web_search_requests",
    "code_execution_ms",
]


def _rebuild(schema_editor, apps) -> None:
    """Re-create each bucket table from the model in ``apps`` and copy its rows over."""
    quote = schema_editor.quote_name
    postgres = schema_editor.connection.vendor == "postgresql"
    columns = ", ".join(quote(c) for c in COLUMNS)
    for name, fillfactor in BUCKETS.items():
        model = apps.get_model("usage", name)
        table = model._meta.db_table
        old = f"{table}__old"
        schema_editor.execute(f"ALTER TABLE {quote(table)} RENAME TO {quote(old)}")
        if postgres:
            # Index names are per schema: free the primary key's for the new table.
            schema_editor.execute(
                f"ALTER TABLE {quote(old)} RENAME CONSTRAINT {quote(table + '_pkey')} "
                f"TO {quote(old + '_pkey')}"
            )
        schema_editor.create_model(model)
        if postgres:
            schema_editor.execute(f"ALTER TABLE {quote(table)} SET (fillfactor = {fillfactor})")
        schema_editor.execute(
            f"INSERT INTO {quote(table)} ({columns}) SELECT {columns} FROM {quote(old)} "
            f"ORDER BY org_id, start, series_id"
        )
        schema_editor.execute(f"DROP TABLE {quote(old)}")


def rebuild_with_composite_keys(apps, schema_editor):
    _rebuild(schema_editor, apps)


def rebuild_with_surrogate_ids(apps, schema_editor):
    """The way back: the tables as 0003 left them (``apps`` here is this migration's state,
    so the models come from the state after 0003)."""
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True)
    _rebuild(schema_editor, loader.project_state(("usage", "0003_ingest_indexes")).apps)


def _state_operations(name: str) -> list:
    """What the model state of one bucket table loses and gains."""
    level = name.removesuffix("bucket")
    no_index = {"db_constraint": False, "db_index": False, "related_name": "+"}
    cascade = django.db.models.deletion.CASCADE
    return [
        migrations.RemoveConstraint(model_name=name, name=f"{level}_series_start"),
        migrations.RemoveIndex(model_name=name, name=f"{level}_org_start"),
        migrations.RemoveField(model_name=name, name="id"),
        migrations.AlterField(
            model_name=name,
            name="org",
            field=models.ForeignKey(on_delete=cascade, to="console.organization", **no_index),
        ),
        migrations.AlterField(
            model_name=name,
            name="series",
            field=models.ForeignKey(on_delete=cascade, to="usage.series", **no_index),
        ),
        migrations.AddField(
            model_name=name,
            name="pk",
            field=models.CompositePrimaryKey(
                "org_id",
                "start",
                "series_id",
                blank=True,
                editable=False,
                primary_key=True,
                serialize=False,
            ),
        ),
    ]


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0003_ingest_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[op for name in BUCKETS for op in _state_operations(name)],
        ),
        migrations.RunPython(rebuild_with_composite_keys, rebuild_with_surrogate_ids),
    ]
