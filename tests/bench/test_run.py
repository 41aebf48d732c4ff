"""The benchmark's choice of month: whole, finished before the run, the same kind on any date."""

import datetime as dt

import pytest

from bench.run import bench_month

# Every hour of two years, leap day included: each date of the month and each time of day.
RUNS = [
    dt.datetime(2027, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=h) for h in range(0, 2 * 8784, 5)
]


@pytest.mark.parametrize("now", RUNS[::97] + [dt.datetime(2026, 12, 2, 4, 30, tzinfo=dt.UTC)])
def test_the_month_is_whole_and_the_latest_that_ended_a_day_before_the_run(now):
    month = bench_month(now)
    assert (month.start.day, month.start.time(), month.end.day, month.end.time()) == (
        1,
        dt.time(0),
        1,
        dt.time(0),
    )
    assert month.start.tzinfo == month.end.tzinfo == dt.UTC
    assert 28 <= month.days <= 31 and month.value == f"{month.start:%Y-%m}"
    assert month.end <= now - dt.timedelta(days=1)
    # the month after it has not ended a day before the run
    following_end = (month.end + dt.timedelta(days=32)).replace(day=1)
    assert following_end > now - dt.timedelta(days=1)


def test_on_the_2nd_it_is_the_month_before_and_on_the_1st_the_one_before_that():
    assert bench_month(dt.datetime(2026, 12, 2, 4, 30, tzinfo=dt.UTC)).value == "2026-11"
    assert bench_month(dt.datetime(2026, 12, 1, 23, 59, tzinfo=dt.UTC)).value == "2026-10"
    assert bench_month(dt.datetime(2028, 3, 2, tzinfo=dt.UTC)).value == "2028-02"


def test_the_drill_day_is_the_last_wednesday_clear_of_the_late_week():
    for now in RUNS:
        month = bench_month(now)
        day = month.drill_day
        assert day.weekday() == 2
        # in the last week, after the late logs (the week ending 14 days before the month ends)
        assert (month.end - dt.timedelta(days=7)).date() <= day < month.end.date()


def test_live_ingest_lands_on_the_last_day_at_the_run_time_of_day():
    month = bench_month(dt.datetime(2026, 12, 2, 4, 30, 15, tzinfo=dt.UTC))
    when = month.on_last_day(dt.datetime(2026, 12, 2, 23, 59, 59, 999000, tzinfo=dt.UTC))
    assert when == dt.datetime(2026, 11, 30, 23, 59, 59, 999000, tzinfo=dt.UTC)
    assert month.start <= when < month.end
