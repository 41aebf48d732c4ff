"""Fill the quarter-hour buckets from the minute buckets, then partition the minute buckets.

Upgrading loses nothing: until now minute buckets were kept forever, so every rolled-up
request is in one, and the quarter hours are their sums (one GROUP BY, on either database);
the model quarter hours are those added up by workspace, model, tier and window.
Batches still pending are added to both levels by their rollup, as to every other level.
To rebuild the quarter hours later from raw logs, ``manage.py rebuild_rollups`` recomputes
every level of a range (quarter hours included) while its raw logs are kept.

Then, on PostgreSQL only, ``usage_minutebucket`` becomes ``PARTITION BY RANGE (start)``
with one partition per UTC day (``usage_minutebucket_pYYYY_MM_DD``, for every day holding
minute buckets and the days around now) and a default partition, so that
``MINUTE_RETENTION_DAYS`` drops a day at a time (usage.partitions.MINUTES). The primary key
(org_id, start, series_id) already holds the partition key, so no model state changes.
SQLite keeps the plain table and the retention deletes rows there.
"""

from django.db import migrations

TABLE = "usage_minutebucket"
OLD = "usage_minutebucket_unpartitioned"
QUARTER = "usage_quarterhourbucket"
MODEL_QUARTER = "usage_modelquarterhourbucket"
DIMENSIONS = ["workspace_id", "model_id", "service_tier", "context_window"]
COLUMNS = [
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
    "client_cost_nanos",
]

PARTITION = f"""
ALTER TABLE {TABLE} RENAME TO {OLD};
ALTER TABLE {OLD} RENAME CONSTRAINT {TABLE}_pkey TO {OLD}_pkey;
CREATE TABLE {TABLE} (
    LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    CONSTRAINT {TABLE}_pkey PRIMARY KEY (org_id, start, series_id)
) PARTITION BY RANGE (start);
CREATE TABLE {TABLE}_default PARTITION OF {TABLE} DEFAULT WITH (fillfactor = 85);
DO $$
DECLARE
    day timestamptz;
BEGIN
    FOR day IN
        SELECT DISTINCT date_trunc('day', start, 'UTC') FROM {OLD}
        UNION
        SELECT date_trunc('day', now(), 'UTC') + make_interval(days => n)
        FROM generate_series(-1, 7) AS n
    LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF {TABLE} FOR VALUES FROM (%L) TO (%L) '
            'WITH (fillfactor = 85)',
            '{TABLE}_p' || to_char(day AT TIME ZONE 'UTC', 'YYYY_MM_DD'),
            day,
            day + interval '1 day'
        );
    END LOOP;
END $$;
INSERT INTO {TABLE} SELECT * FROM {OLD};
DROP TABLE {OLD};
ALTER TABLE {QUARTER} SET (fillfactor = 70);
ALTER TABLE {MODEL_QUARTER} SET (fillfactor = 70);
"""

UNPARTITION = f"""
ALTER TABLE {TABLE} RENAME TO {OLD};
ALTER TABLE {OLD} RENAME CONSTRAINT {TABLE}_pkey TO {OLD}_pkey;
CREATE TABLE {TABLE} (
    LIKE {OLD} INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
    CONSTRAINT {TABLE}_pkey PRIMARY KEY (org_id, start, series_id)
) WITH (fillfactor = 85);
INSERT INTO {TABLE} SELECT * FROM {OLD};
DROP TABLE {OLD};
ALTER TABLE {QUARTER} RESET (fillfactor);
ALTER TABLE {MODEL_QUARTER} RESET (fillfactor);
"""


def fill_quarters(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        quarter = "date_bin('15 minutes', start, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
    else:  # Django's SQLite datetimes are UTC text 'YYYY-MM-DD HH:MM:SS'
        quarter = (
            "strftime('%Y-%m-%d %H:', start) || "
            "printf('%02d', CAST(strftime('%M', start) AS INTEGER) / 15 * 15) || ':00'"
        )
    columns = ", ".join(COLUMNS)
    sums = ", ".join(f"CAST(SUM({c}) AS BIGINT)" for c in COLUMNS)
    schema_editor.execute(
        f"INSERT INTO {QUARTER} (org_id, series_id, start, {columns}) "
        f"SELECT org_id, series_id, {quarter}, {sums} FROM {TABLE} "
        f"GROUP BY org_id, series_id, {quarter}",
        params=None,
    )
    dims = ", ".join(DIMENSIONS)
    qualified = ", ".join(f"s.{d}" for d in DIMENSIONS)
    sums = ", ".join(f"CAST(SUM(q.{c}) AS BIGINT)" for c in COLUMNS)
    schema_editor.execute(
        f"INSERT INTO {MODEL_QUARTER} (org_id, start, {dims}, {columns}) "
        f"SELECT q.org_id, q.start, {qualified}, {sums} FROM {QUARTER} q "
        f"JOIN usage_series s ON s.id = q.series_id GROUP BY q.org_id, q.start, {qualified}",
        params=None,
    )


def empty_quarters(apps, schema_editor):
    # The way back: the next forward run fills them again from the minutes, whole.
    schema_editor.execute(f"DELETE FROM {QUARTER}", params=None)
    schema_editor.execute(f"DELETE FROM {MODEL_QUARTER}", params=None)


def _postgres_only(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("usage", "0011_quarter_hour_buckets")]

    operations = [
        migrations.RunPython(fill_quarters, empty_quarters),
        migrations.RunPython(_postgres_only(PARTITION), _postgres_only(UNPARTITION)),
    ]
