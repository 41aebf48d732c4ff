"""Migrations that rewrite tables keep the totals in them."""

import datetime as dt
from collections import Counter

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from console.models import Account, Workspace
from tests import factories

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


@pytest.mark.django_db(transaction=True)
def test_model_buckets_are_filled_from_the_series_buckets_rolled_up_before():
    """0008 adds the model buckets: the hours and days already rolled up must be in them,
    added up over API key, or every report would lose that usage."""
    org = factories.make_org("before-model-buckets")
    other = factories.make_workspace(org, "Other")
    key = factories.make_api_key(org)
    sonnet, haiku = factories.make_model(), factories.make_model("claude-haiku-4-5-20251001")
    default = Workspace.objects.get(org=org, is_default=True)
    _migrate([("usage", "0007_split_account_series")])
    try:
        # (workspace, key, model, tier, account): base series, as 0007 leaves the buckets;
        # the first two differ only by key.
        dims = [
            (default.id, key.id, sonnet.id, "standard", None),
            (default.id, None, sonnet.id, "standard", None),
            (default.id, None, haiku.id, "batch", None),
            (other.id, None, sonnet.id, "standard", None),
        ]
        start = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)
        expected = {"hour": {}, "day": {}}
        with connection.cursor() as cursor:
            ids = []
            for workspace, api_key, model, tier, account in dims:
                cursor.execute(
                    "INSERT INTO usage_series (org_id, workspace_id, api_key_id, model_id, "
                    "service_tier, context_window, account_id) "
                    "VALUES (%s, %s, %s, %s, %s, '0-200k', %s)",
                    [org.id, workspace, api_key, model, tier, account],
                )
                cursor.execute("SELECT MAX(id) FROM usage_series")
                ids.append(cursor.fetchone()[0])
            for unit, step in (("hour", dt.timedelta(hours=1)), ("day", dt.timedelta(days=1))):
                for n, (series_id, (workspace, _k, model, tier, _a)) in enumerate(
                    zip(ids, dims, strict=True)
                ):
                    for m in range(2):
                        when = start.replace(hour=0) if unit == "day" else start
                        when += m * step
                        cursor.execute(
                            f"INSERT INTO usage_{unit}bucket (org_id, series_id, start, "
                            "requests, output_tokens, code_execution_ms, rate_limited_requests, "
                            "rate_limited_by_requests, rate_limited_by_input_tokens, "
                            "rate_limited_by_output_tokens, uncached_input_tokens, "
                            "cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, "
                            "web_search_requests) "
                            "VALUES (%s, %s, %s, %s, %s, %s, 0, 0, 0, 0, 0, 0, 0, 0, 0)",
                            [org.id, series_id, when, 1 + n, 10 * (n + 1) + m, 7],
                        )
                        got = expected[unit].setdefault((workspace, model, tier, when), [0, 0, 0])
                        got[0] += 1 + n
                        got[1] += 10 * (n + 1) + m
                        got[2] += 7

        _migrate([("usage", "0008_model_buckets")])

        for unit in ("hour", "day"):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT workspace_id, model_id, service_tier, start, requests, "
                    f"output_tokens, code_execution_ms FROM usage_model{unit}bucket "
                    "WHERE org_id = %s",
                    [org.id],
                )
                got = {tuple(r[:4]): list(r[4:]) for r in cursor.fetchall()}
            assert got == expected[unit], unit
            # The first two series share workspace, model and tier: one model bucket each.
            assert len(got) == 3 * 2, unit
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_account_series_fold_into_base_series_and_account_days_keep_them(org, other_org):
    """0007 on buckets stored the 0005 way (account series in every level, no base): totals
    per level, start and account-free dimensions are unchanged, the base family holds
    account-free series only, and the account day buckets are the old day buckets."""
    from importlib import import_module

    from console.models import LlmModel
    from tests import factories
    from usage.models import AccountDayBucket, DayBucket, HourBucket, MinuteBucket, Series

    migration = import_module("usage.migrations.0007_split_account_series")
    research = factories.make_workspace(org, "Research")
    key = factories.make_api_key(org, research, "prod", "apikey_prod")
    sonnet = LlmModel.objects.get_or_create(model_id="claude-sonnet-4-5-20250929")[0]
    haiku = LlmModel.objects.get_or_create(model_id="claude-haiku-4-5-20251001")[0]
    ada = Account.objects.create(org=org, external_id="u_ada", name="Ada")
    bob = Account.objects.create(org=org, external_id="u_bob", name="Bob")
    eve = Account.objects.create(org=other_org, external_id="u_ada", name="Eve")

    def series(o, workspace, api_key, model, account):
        return Series.objects.create(
            org=o, workspace=workspace, api_key=api_key, model=model,
            service_tier="standard", context_window="0-200k", account=account,
        )  # fmt: skip

    default = org.workspaces.get(is_default=True)
    all_series = [
        series(org, default, None, sonnet, None),  # a base that exists already
        series(org, default, None, sonnet, ada),
        series(org, default, None, sonnet, bob),
        series(org, research, key, haiku, ada),  # its base does not exist yet
        series(org, research, key, haiku, bob),
        series(other_org, other_org.workspaces.get(is_default=True), None, sonnet, eve),
    ]
    start = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)
    levels = {"minute": MinuteBucket, "hour": HourBucket, "day": DayBucket}
    steps = {"minute": dt.timedelta(minutes=1), "hour": dt.timedelta(hours=1)}
    steps["day"] = dt.timedelta(days=1)
    old_days = []
    for unit, model in levels.items():
        rows = [
            model(
                org_id=s.org_id,
                series=s,
                start=start + n * steps[unit],
                requests=1 + n + 10 * i,
                output_tokens=100 * i + n,
                code_execution_ms=7 * i,
                rate_limited_requests=i % 2,
            )  # fmt: skip
            for i, s in enumerate(all_series)
            for n in range(3)
        ]
        model.objects.bulk_create(rows)
        if unit == "day":
            old_days = rows

    def dims(s):
        return (s.org_id, s.workspace_id, s.api_key_id, s.model_id)

    def totals(model):
        out = Counter()
        for b in model.objects.select_related("series"):
            for column in ("requests", "output_tokens", "code_execution_ms"):
                out[(dims(b.series), b.start, column)] += getattr(b, column)
            out[(dims(b.series), b.start, "rl")] += b.rate_limited_requests
        return out

    before = {unit: totals(model) for unit, model in levels.items()}
    with connection.cursor() as cursor:
        migration.split_account_series(cursor)

    for unit, model in levels.items():
        assert totals(model) == before[unit], unit
        assert not model.objects.filter(series__account__isnull=False).exists(), unit
    for s in Series.objects.filter(account__isnull=False).select_related("base"):
        assert s.base.account_id is None and dims(s.base) == dims(s)
        assert (s.base.service_tier, s.base.context_window) == (s.service_tier, s.context_window)
    assert Series.objects.filter(account__isnull=True).count() == 3  # one per org and dims
    got_days = {
        (b.series_id, b.start): (b.requests, b.output_tokens, b.code_execution_ms)
        for b in AccountDayBucket.objects.all()
    }
    assert got_days == {
        (b.series_id, b.start): (b.requests, b.output_tokens, b.code_execution_ms) for b in old_days
    }


@pytest.mark.django_db(transaction=True)
def test_quarter_hours_are_filled_from_minutes_and_minutes_partitioned_by_day():
    """0012: the quarter hours of buckets rolled up before are the sums of their minutes, so
    upgrading loses nothing; on PostgreSQL the minutes move, unchanged, into daily
    partitions, and the way back restores a plain table with every row. The model quarter
    hours are the quarter hours added up over the key."""
    from tests.usage.rawrows import series_for

    org = factories.make_org("before-quarter-hours")
    key = factories.make_api_key(org)
    a, b = series_for(org), series_for(org, api_key=key)  # one model, tier and window
    _migrate([("usage", "0011_quarter_hour_buckets")])
    try:
        start = dt.datetime(2026, 3, 1, 23, 40, tzinfo=dt.UTC)
        expected: dict = {}
        by_model: dict = {}
        with connection.cursor() as cursor:
            for series, m, out in [
                (a.id, 0, 1),
                (a.id, 4, 2),
                (b.id, 10, 32),
                (a.id, 19, 4),
                (a.id, 20, 8),
                (b.id, 35, 16),
            ]:
                when = start + dt.timedelta(minutes=m)  # 23:40 to 00:15, across midnight
                cursor.execute(
                    "INSERT INTO usage_minutebucket (org_id, series_id, start, requests, "
                    "output_tokens, code_execution_ms, rate_limited_requests, "
                    "rate_limited_by_requests, rate_limited_by_input_tokens, "
                    "rate_limited_by_output_tokens, uncached_input_tokens, "
                    "cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, "
                    "web_search_requests, client_cost_nanos) "
                    "VALUES (%s, %s, %s, 1, %s, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)",
                    [org.id, series, when, out],
                )
                quarter = when.replace(minute=when.minute // 15 * 15)
                for sums, keyed in ((expected, series), (by_model, a.model_id)):
                    got = sums.setdefault((org.id, keyed, quarter), [0, 0, 0])
                    got[0], got[1], got[2] = got[0] + 1, got[1] + out, got[2] + 3
        minutes = _rows("usage_minutebucket")

        _migrate([("usage", "0012_quarter_fill_minute_partitions")])

        quarters = {  # SQLite's raw cursor gives naive UTC datetimes
            (o, s, st if st.tzinfo else st.replace(tzinfo=dt.UTC)): [r, out, ms]
            for o, s, st, r, out, ms in _rows("usage_quarterhourbucket")
        }
        assert quarters == expected
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT org_id, model_id, start, requests, output_tokens, code_execution_ms "
                "FROM usage_modelquarterhourbucket WHERE org_id = %s",
                [org.id],
            )
            model_quarters = {
                (o, m, st if st.tzinfo else st.replace(tzinfo=dt.UTC)): [r, out, ms]
                for o, m, st, r, out, ms in cursor.fetchall()
            }
        assert model_quarters == by_model
        assert _rows("usage_minutebucket") == minutes
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT tableoid::regclass::text FROM usage_minutebucket ORDER BY start"
                )
                tables = [t for (t,) in cursor.fetchall()]
            assert (
                tables
                == ["usage_minutebucket_p2026_03_01"] * 4 + ["usage_minutebucket_p2026_03_02"] * 2
            )
        _migrate([("usage", "0011_quarter_hour_buckets")])
        assert _rows("usage_minutebucket") == minutes
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
