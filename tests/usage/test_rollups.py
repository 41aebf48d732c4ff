import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import DataError, OperationalError
from django.test import override_settings

from tests import factories
from tests.usage.rawrows import (
    expected_buckets,
    raw,
    raw_rows_of,
    series_for,
    store_batch,
    stored_buckets,
)
from usage import rollups
from usage.models import IngestBatch, RequestLog

T0 = dt.datetime(2026, 11, 3, 14, 5, 9, 123000, tzinfo=dt.UTC)


def assert_buckets_match_raw(org, rows=None):
    rows = raw_rows_of(org) if rows is None else rows
    for unit in ("minute", "quarter", "hour", "day"):
        assert stored_buckets(org, unit) == expected_buckets(rows, unit), unit


@pytest.fixture
def two_series(org):
    key = factories.make_api_key(org)
    return (
        series_for(org),
        series_for(org, api_key=key, model="claude-haiku-4-5-20251001", service_tier="batch"),
    )


def test_rollup_sums_every_column_at_every_level(org, two_series):
    a, b = two_series
    rows = [
        raw(
            a,
            T0,
            uncached_input_tokens=1200,
            output_tokens=350,
            cache_write_5m_tokens=500,
            cache_read_tokens=3000,
            web_search_requests=1,
        ),
        raw(
            a,
            T0 + dt.timedelta(seconds=40),
            uncached_input_tokens=7,
            cache_write_1h_tokens=9,
            code_execution_ms=1500,
        ),
        raw(a, T0 + dt.timedelta(minutes=1), status_code=429, rate_limit_type="requests"),
        raw(b, T0 + dt.timedelta(hours=1), status_code=429, rate_limit_type="input_tokens"),
        raw(
            b,
            T0 + dt.timedelta(hours=1, minutes=3),
            status_code=429,
            rate_limit_type="output_tokens",
        ),
        raw(b, T0 + dt.timedelta(days=1), output_tokens=5, status_code=429),
    ]
    store_batch(org, rows)

    assert rollups.rollup_pending(org_id=org.id) == 1

    assert_buckets_match_raw(org)
    assert not IngestBatch.objects.filter(rolled_up_at__isnull=True).exists()


def test_rerun_and_later_batches_add_exactly_once(org, two_series):
    a, b = two_series
    store_batch(org, [raw(a, T0, output_tokens=10), raw(b, T0, output_tokens=1)])
    rollups.rollup_pending()
    assert rollups.rollup_pending() == 0  # nothing pending: a rerun changes nothing

    # A later batch lands in the same buckets, and a late row in an old day.
    store_batch(
        org,
        [
            raw(a, T0 + dt.timedelta(seconds=5), output_tokens=32),
            raw(a, T0 - dt.timedelta(days=300), output_tokens=4),
        ],
    )
    rollups.rollup_pending()

    assert_buckets_match_raw(org)


BIGINT_MAX = 2**63 - 1


def test_sums_up_to_the_bigint_limit_are_exact_and_past_it_fail_whole(org, two_series):
    """The rollup adds counters as bigints (bigint_sum on PostgreSQL): a sum reaching the
    largest bigint is exact, one past it raises and leaves its batch pending, never wraps."""
    a, _b = two_series
    store_batch(org, [raw(a, T0, output_tokens=2**62), raw(a, T0, output_tokens=2**62 - 1)])
    rollups.rollup_pending()
    assert_buckets_match_raw(org)
    [day] = stored_buckets(org, "day").values()
    assert day["output_tokens"] == BIGINT_MAX

    batch = store_batch(org, [raw(a, T0, output_tokens=2**62), raw(a, T0, output_tokens=2**62)])
    with pytest.raises((DataError, OperationalError), match="(?i)out of range|overflow"):
        rollups.rollup_pending()
    batch.refresh_from_db()
    assert batch.rolled_up_at is None


def test_rollup_of_one_organisation_leaves_others_pending(org, other_org):
    store_batch(org, [raw(series_for(org), T0, output_tokens=1)])
    other = store_batch(other_org, [raw(series_for(other_org), T0, output_tokens=2)])

    rollups.rollup_pending(org_id=org.id)

    other.refresh_from_db()
    assert other.rolled_up_at is None
    assert_buckets_match_raw(org)
    assert stored_buckets(other_org, "minute") == {}


def test_rebuild_recomputes_a_range_from_raw_rows(org, two_series):
    a, _ = two_series
    store_batch(org, [raw(a, T0, output_tokens=10), raw(a, T0 + dt.timedelta(days=2))])
    rollups.rollup_pending()
    # Damage the buckets of one day, as a bug or a manual edit might.
    from usage.models import HourBucket

    HourBucket.objects.filter(org=org).update(output_tokens=999)

    call_command(
        "rebuild_rollups", "--org", org.slug, "--since", "2026-11-01", "--until", "2026-11-10"
    )

    assert_buckets_match_raw(org)


def test_rebuild_counts_rows_at_exactly_midnight_of_either_end_once(org, two_series):
    a, _ = two_series
    since = T0.date() - dt.timedelta(days=1)
    midnight = dt.datetime.combine(since, dt.time.min, tzinfo=dt.UTC)
    store_batch(
        org,
        [
            raw(a, midnight, output_tokens=1),
            raw(a, midnight + dt.timedelta(hours=5), output_tokens=10),
            raw(a, midnight + dt.timedelta(days=1), output_tokens=100),  # --until, excluded
        ],
    )
    rollups.rollup_pending()

    rollups.rebuild_rollups(org.id, since, since + dt.timedelta(days=1))

    assert_buckets_match_raw(org)


@override_settings(RAW_RETENTION_DAYS=30)
def test_purge_keeps_buckets_and_refuses_rebuild_of_purged_days(org, two_series):
    a, _ = two_series
    now = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    # 60 days back: on PostgreSQL its whole month partition is past the 30-day horizon.
    old, recent = now - dt.timedelta(days=60), now - dt.timedelta(days=2)
    store_batch(org, [raw(a, old, output_tokens=3), raw(a, recent, output_tokens=4)])
    rollups.rollup_pending()
    before = {u: stored_buckets(org, u) for u in ("minute", "hour", "day")}

    assert rollups.purge_raw_logs(now) == 1

    assert list(RequestLog.objects.values_list("output_tokens", flat=True)) == [4]
    assert {u: stored_buckets(org, u) for u in ("minute", "hour", "day")} == before
    with pytest.raises(rollups.RebuildRefused, match="purged"):
        rollups.rebuild_rollups(org.id, old.date(), now.date())


def test_purge_never_drops_rows_that_are_not_rolled_up(org, two_series):
    a, _ = two_series
    store_batch(org, [raw(a, T0 - dt.timedelta(days=900), output_tokens=3)])

    assert rollups.purge_raw_logs() == 0

    rollups.rollup_pending()
    assert stored_buckets(org, "day")  # the late row reached its bucket before any purge


def test_rollup_command_runs_what_is_pending(org, other_org):
    store_batch(org, [raw(series_for(org), T0, output_tokens=1)])
    other = store_batch(other_org, [raw(series_for(other_org), T0, output_tokens=2)])
    out = io.StringIO()

    call_command("rollup", "--org", org.slug, stdout=out)

    assert "Rolled up 1 batch(es)" in out.getvalue()
    other.refresh_from_db()
    assert other.rolled_up_at is None
    call_command("rollup", stdout=out)
    assert_buckets_match_raw(org)
    assert_buckets_match_raw(other_org)
    with pytest.raises(CommandError, match="No organisation"):
        call_command("rollup", "--org", "nope")


def test_rebuild_command_refuses_bad_input(org):
    with pytest.raises(CommandError, match="not a date"):
        call_command("rebuild_rollups", "--org", org.slug, "--since", "yesterday")
    with pytest.raises(CommandError, match="before"):
        call_command(
            "rebuild_rollups", "--org", org.slug, "--since", "2026-11-05", "--until", "2026-11-01"
        )
    with pytest.raises(CommandError, match="No organisation"):
        call_command("rebuild_rollups", "--org", "nope", "--since", "2026-11-05")


def test_rows_budget_splits_work_into_transactions_but_not_totals(org, two_series):
    a, b = two_series
    for i in range(5):
        store_batch(org, [raw(a, T0 + dt.timedelta(minutes=i)), raw(b, T0, output_tokens=i)])

    assert rollups.rollup_pending(row_budget=3) == 5  # one batch (2 rows) per transaction

    assert_buckets_match_raw(org)


def test_pending_by_org_counts_rows_waiting(org, other_org):
    store_batch(org, [raw(series_for(org), T0), raw(series_for(org), T0)])
    store_batch(org, [raw(series_for(org), T0)])
    store_batch(other_org, [raw(series_for(other_org), T0)])

    assert rollups.pending_by_org() == {org.id: 3, other_org.id: 1}
    rollups.rollup_pending(org_id=org.id)
    assert rollups.pending_by_org() == {other_org.id: 1}


def test_rollup_runs_with_query_logging_on(org, two_series):
    """DEBUG (make run) logs every query by formatting it with its parameters."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    a, _ = two_series
    store_batch(org, [raw(a, T0, output_tokens=10)])

    with CaptureQueriesContext(connection) as queries:
        rollups.rollup_pending()

    assert any("INSERT INTO usage_minutebucket" in q["sql"] for q in queries.captured_queries)
    assert_buckets_match_raw(org)


def test_rows_on_both_sides_of_the_newest_bucket_are_added_once(org, two_series):
    """Within one rollup, rows at or before each level's newest bucket are upserted and
    later ones appended; a minute and hour split between batches, a late row and new rows
    in one batch all land exactly once."""
    a, b = two_series
    store_batch(org, [raw(a, T0, output_tokens=1), raw(b, T0 + dt.timedelta(hours=2))])
    rollups.rollup_pending()
    store_batch(
        org,
        [
            raw(a, T0 + dt.timedelta(seconds=20), output_tokens=2),  # same minute as before
            raw(b, T0 + dt.timedelta(hours=2, minutes=30), output_tokens=3),  # same hour
            raw(a, T0 - dt.timedelta(days=2), output_tokens=4),  # late
            raw(a, T0 + dt.timedelta(days=1), output_tokens=5),  # beyond every edge
            raw(b, T0 + dt.timedelta(days=1, seconds=1), output_tokens=6),
        ],
    )
    rollups.rollup_pending()

    assert_buckets_match_raw(org)


def test_plain_insert_that_meets_an_existing_bucket_falls_back_to_upserts(
    org, two_series, monkeypatch
):
    """A concurrent rollup may create a bucket beyond the edge this one read. Simulate a
    stale edge at every level: each plain insert fails, is undone to its savepoint and
    repeated as an upsert, within the one transaction, and everything is added once."""
    a, _ = two_series
    store_batch(org, [raw(a, T0, output_tokens=1)])
    rollups.rollup_pending()
    store_batch(org, [raw(a, T0 + dt.timedelta(seconds=1), output_tokens=2)])
    edges_read = []

    def stale_edge(cursor, table, org_id):
        edges_read.append(table)
        return [("", [], True)]  # as if no bucket existed yet

    monkeypatch.setattr(rollups, "_edge_parts", stale_edge)

    assert rollups.rollup_pending() == 1

    assert len(edges_read) == len(rollups._LEVELS)  # one attempt: nothing was repeated
    assert_buckets_match_raw(org)


@pytest.mark.django_db(transaction=True)
def test_rollup_command_with_workers_shares_batches_without_overlap(monkeypatch):
    """Several sessions split the backlog (SKIP LOCKED) and every batch counts once; SQLite,
    with one writer, says so and uses one session."""
    org = factories.make_org()
    a = series_for(org)
    for i in range(12):
        store_batch(org, [raw(a, T0 + dt.timedelta(minutes=i % 3), output_tokens=i + 1)])
    monkeypatch.setattr(rollups, "ROWS_PER_TRANSACTION", 1)  # one batch per transaction
    out = io.StringIO()

    call_command("rollup", "--workers", "3", stdout=out)

    assert "Rolled up 12 batch(es)" in out.getvalue()
    assert not IngestBatch.objects.filter(rolled_up_at__isnull=True).exists()
    assert_buckets_match_raw(org)
    with pytest.raises(CommandError, match="at least 1"):
        call_command("rollup", "--workers", "0")


def test_account_series_count_under_their_base_and_by_themselves_in_account_days(org):
    """After a rollup and after a rebuild, the minute, hour and day buckets hold base
    (account-free) series only, each the sum of its account series and itself; the account
    day buckets hold every series as logged, "no account" included."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from console.models import Account
    from usage.models import DayBucket, HourBucket, MinuteBucket, Series

    ada = Account.objects.create(org=org, external_id="u_ada", name="Ada")
    bob = Account.objects.create(org=org, external_id="u_bob", name="Bob")
    plain = series_for(org)

    def rows_of(i, s):
        return [
            raw(s, T0 + dt.timedelta(minutes=7 * n, seconds=n), output_tokens=10 * n + i,
                uncached_input_tokens=i, status_code=429 if n % 5 == 0 else 200)
            for n in range(30)
        ]  # fmt: skip

    # While the organisation has no account series, the base minutes are the minutes as
    # read: no regrouping by base, and the account days are the base days.
    store_batch(org, rows_of(0, plain))
    with CaptureQueriesContext(connection) as queries:
        rollups.rollup_pending(org_id=org.id)
    assert not any("COALESCE(s.base_id" in q["sql"] for q in queries.captured_queries)
    of_ada, of_bob = series_for(org, account=ada), series_for(org, account=bob)
    assert of_ada.base == of_bob.base == plain
    haiku_bob = series_for(org, model="claude-haiku-4-5-20251001", account=bob)
    series = [plain, of_ada, of_bob, haiku_bob]
    rows = [r for i, s in enumerate(series) if s != plain for r in rows_of(i, s)]
    store_batch(org, rows)
    with CaptureQueriesContext(connection) as queries:
        rollups.rollup_pending(org_id=org.id)
    assert any("COALESCE(s.base_id" in q["sql"] for q in queries.captured_queries)
    rows += list(RequestLog.objects.filter(org=org, series=plain))

    def check():
        rows_now = raw_rows_of(org)
        assert len(rows_now) == len(rows)
        assert_buckets_match_raw(org, rows_now)
        for model in (MinuteBucket, HourBucket, DayBucket):
            used = set(model.objects.filter(org=org).values_list("series_id", flat=True))
            assert used and not Series.objects.filter(id__in=used, account__isnull=False)
        days = stored_buckets(org, "day", family="account")
        assert days == expected_buckets(rows_now, "day", family="account")
        assert {series_id for series_id, _ in days} == {s.id for s in series}

    check()
    rollups.rebuild_rollups(org.id, T0.date(), T0.date() + dt.timedelta(days=2))
    check()
