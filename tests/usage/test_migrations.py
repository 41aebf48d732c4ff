"""Migrations that rewrite tables keep the totals in them."""

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("usage", "0003_ingest_indexes")]
AFTER = [("usage", "0004_bucket_composite_keys")]
TABLES = ["usage_minutebucket", "usage_hourbucket", "usage_daybucket"]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _rows(table):
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT org_id, series_id, start, requests, output_tokens, code_execution_ms "
            f"FROM {table} ORDER BY org_id, start, series_id"
        )
        return cursor.fetchall()


def _primary_key(table, constraints):
    if connection.vendor == "sqlite":
        # Django's SQLite introspection lists key columns in table order; the pragma gives
        # each column's position in the key.
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA table_info({table})")
            positions = {row[1]: row[5] for row in cursor.fetchall() if row[5]}
        return sorted(positions, key=positions.get)
    (primary,) = [c["columns"] for c in constraints.values() if c["primary_key"]]
    return primary


@pytest.mark.django_db(transaction=True)
def test_bucket_rebuild_keeps_every_row_both_ways():
    _migrate(BEFORE)
    try:
        for table in TABLES:  # the way back restored 0003's tables: a surrogate id and more
            with connection.cursor() as cursor:
                columns = [
                    c.name for c in connection.introspection.get_table_description(cursor, table)
                ]
                constraints = connection.introspection.get_constraints(cursor, table)
            assert "id" in columns
            assert any(c["unique"] and c["columns"] == ["series_id", "start"]
                       for c in constraints.values())  # fmt: skip
        start = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)
        expected = {}
        with connection.cursor() as cursor:
            for i, table in enumerate(TABLES):
                rows = [
                    (org, series, start + dt.timedelta(minutes=m), 1 + m, 10 * series + i, 7)
                    for org, series in [(1, 5), (1, 6), (2, 9)]
                    for m in range(3)
                ]
                for row in rows:
                    cursor.execute(
                        f"INSERT INTO {table} (org_id, series_id, start, requests, "
                        "output_tokens, code_execution_ms, rate_limited_requests, "
                        "rate_limited_by_requests, rate_limited_by_input_tokens, "
                        "rate_limited_by_output_tokens, uncached_input_tokens, "
                        "cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, "
                        "web_search_requests) "
                        "VALUES (%s, %s, %s, %s, %s, %s, 0, 0, 0, 0, 0, 0, 0, 0, 0)",
                        list(row),
                    )
                expected[table] = sorted(rows, key=lambda r: (r[0], r[2], r[1]))

        _migrate(AFTER)

        for table in TABLES:
            got = [(o, s, st, r, out, ms) for o, s, st, r, out, ms in _rows(table)]
            assert got == expected[table], table
            with connection.cursor() as cursor:
                columns = [
                    c.name for c in connection.introspection.get_table_description(cursor, table)
                ]
                constraints = connection.introspection.get_constraints(cursor, table)
            assert "id" not in columns
            assert _primary_key(table, constraints) == ["org_id", "start", "series_id"]
            # The primary key is the only index left: nothing else to maintain per row.
            assert sum(1 for c in constraints.values() if c["index"] or c["unique"]) <= 1
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [table])
                    (options,) = cursor.fetchone()
                assert any(o.startswith("fillfactor=") for o in options or []), table
    finally:  # back to the newest migrations, whatever comes after 0004 one day
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
