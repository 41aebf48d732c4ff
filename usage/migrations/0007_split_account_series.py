"""Base series and the account day buckets, the data (issue 13; the schema is 0006's).

With the account in every series, 1,000 accounts made the bucket tables about as large as
the raw logs (a 3M-request month: 215,600 series, 2.93M minute, 2.0M hour and 864k day
rows, against 1,229 series and 32k day rows without accounts), so every page read 3-7x
more. Now the minute, hour and day buckets hold account-free *base* series only, and the
new ``AccountDayBucket`` holds UTC days per series as logged (see ``usage.models``).

An existing database is converted in place (``split_account_series``): each account
series gets its base (created where missing), ``AccountDayBucket`` is filled from every
existing day bucket, then each base-family level's rows of account series are added into
their base series' rows and deleted. Totals are unchanged; only the account breakdown of
minutes and hours goes (it is read from raw logs from now on). Going back copies the
account days into the day buckets again, so the old schema's day totals by account return.
"""

from django.db import migrations

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
]
BASE_LEVELS = ["usage_minutebucket", "usage_hourbucket", "usage_daybucket"]


def _is_base_of(b: str, s: str) -> str:
    """SQL: series ``b`` is the base of series ``s`` (NULL keys compare as 0, written as the
    unique constraint on series is, so each lookup is one probe of its index)."""
    return (
        f"{b}.org_id = {s}.org_id AND {b}.workspace_id = {s}.workspace_id"
        f" AND COALESCE({b}.api_key_id, 0) = COALESCE({s}.api_key_id, 0)"
        f" AND {b}.model_id = {s}.model_id AND {b}.service_tier = {s}.service_tier"
        f" AND {b}.context_window = {s}.context_window AND COALESCE({b}.account_id, 0) = 0"
    )


def split_account_series(cursor) -> None:
    """Convert buckets written with account series in them to the two families (both
    databases; plain SQL on the tables, so a test can run it on data stored the old way)."""
    cursor.execute(
        "INSERT INTO usage_series"
        " (org_id, workspace_id, api_key_id, model_id, service_tier, context_window)"
        " SELECT DISTINCT s.org_id, s.workspace_id, s.api_key_id, s.model_id, s.service_tier,"
        " s.context_window FROM usage_series s WHERE s.account_id IS NOT NULL"
        f" AND NOT EXISTS (SELECT 1 FROM usage_series b WHERE {_is_base_of('b', 's')})"
    )
    cursor.execute(
        "UPDATE usage_series SET base_id = (SELECT b.id FROM usage_series b"
        f" WHERE {_is_base_of('b', 'usage_series')}) WHERE account_id IS NOT NULL"
    )
    columns = ", ".join(COLUMNS)
    cursor.execute(
        f"INSERT INTO usage_accountdaybucket (org_id, start, series_id, {columns})"
        f" SELECT org_id, start, series_id, {columns} FROM usage_daybucket"
        " ORDER BY org_id, start, series_id"
    )
    sums = ", ".join(f"SUM(t.{c})" for c in COLUMNS)
    for table in BASE_LEVELS:
        updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in COLUMNS)
        cursor.execute(
            f"INSERT INTO {table} (org_id, start, series_id, {columns})"
            f" SELECT t.org_id, t.start, s.base_id, {sums} FROM {table} t"
            " JOIN usage_series s ON s.id = t.series_id WHERE s.base_id IS NOT NULL"
            " GROUP BY t.org_id, t.start, s.base_id ORDER BY t.org_id, t.start, s.base_id"
            f" ON CONFLICT (org_id, start, series_id) DO UPDATE SET {updates}"
        )
        cursor.execute(
            f"DELETE FROM {table} WHERE series_id IN"
            " (SELECT id FROM usage_series WHERE base_id IS NOT NULL)"
        )


def forwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        if schema_editor.connection.vendor == "postgresql":
            # As 0002 set the day buckets': rollups keep adding to the current day's rows,
            # and free room on the page makes those updates HOT.
            cursor.execute("ALTER TABLE usage_accountdaybucket SET (fillfactor = 70)")
        split_account_series(cursor)


def backwards(apps, schema_editor):
    """Day buckets by series as logged again; minutes and hours keep their base totals."""
    columns = ", ".join(COLUMNS)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DELETE FROM usage_daybucket")
        cursor.execute(
            f"INSERT INTO usage_daybucket (org_id, start, series_id, {columns})"
            f" SELECT org_id, start, series_id, {columns} FROM usage_accountdaybucket"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0006_account_day_buckets"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
