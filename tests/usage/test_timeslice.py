import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usage import timeslice as ts

UTC = dt.UTC
ZONES = [
    "UTC",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Pacific/Chatham",
]


def u(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def test_utc_month_is_its_days_and_reads_one_day_range():
    days = ts.days_of_month(2026, 2, ZoneInfo("UTC"))
    assert [d.label for d in days][:2] == ["2026-02-01", "2026-02-02"]
    assert len(days) == 28
    assert days[0].start == u(2026, 2, 1) and days[-1].end == u(2026, 3, 1)
    assert ts.decompose_periods(days) == {
        "minute": [],
        "hour": [],
        "day": [(u(2026, 2, 1), u(2026, 3, 1))],
    }


def test_kolkata_day_starts_at_1830_utc_and_splits_into_minutes_and_hours():
    start, end = ts.day_bounds(dt.date(2026, 3, 10), ZoneInfo("Asia/Kolkata"))
    assert (start, end) == (u(2026, 3, 9, 18, 30), u(2026, 3, 10, 18, 30))
    assert ts.decompose(start, end) == [
        ts.Range("minute", u(2026, 3, 9, 18, 30), u(2026, 3, 9, 19)),
        ts.Range("hour", u(2026, 3, 9, 19), u(2026, 3, 10, 18)),
        ts.Range("minute", u(2026, 3, 10, 18), u(2026, 3, 10, 18, 30)),
    ]


def test_kathmandu_hours_start_at_quarter_past_utc():
    hours = ts.hours_of_day(dt.date(2026, 1, 5), ZoneInfo("Asia/Kathmandu"))
    assert len(hours) == 24
    assert hours[0].start == u(2026, 1, 4, 18, 15)
    assert all(h.start.minute == 15 and h.duration == ts.HOUR for h in hours)
    # A local hour straddles two UTC hours: read as minutes only.
    assert {r.unit for r in ts.decompose(hours[3].start, hours[3].end)} == {"minute"}


def test_new_york_fall_back_day_has_25_hours_and_tells_the_two_1am_apart():
    zone = ZoneInfo("America/New_York")
    hours = ts.hours_of_day(dt.date(2026, 11, 1), zone)
    assert len(hours) == 25
    assert [h.key for h in hours[:4]] == ["00:00", "01:00-04:00", "01:00-05:00", "02:00"]
    assert [h.label for h in hours[1:3]] == ["01:00 EDT", "01:00 EST"]
    assert hours[1].start == u(2026, 11, 1, 5) and hours[2].start == u(2026, 11, 1, 6)
    assert ts.parse_hour(dt.date(2026, 11, 1), "01:00-05:00", zone) == hours[2]
    assert ts.parse_hour(dt.date(2026, 11, 1), "01:00", zone) == hours[1]
    assert ts.parse_hour(dt.date(2026, 11, 1), "1", zone) == hours[1]
    assert ts.parse_hour(dt.date(2026, 11, 1), "24:00", zone) is None


def test_new_york_spring_forward_day_has_23_hours_and_no_2am():
    zone = ZoneInfo("America/New_York")
    hours = ts.hours_of_day(dt.date(2026, 3, 8), zone)
    assert len(hours) == 23
    assert [h.key for h in hours[:4]] == ["00:00", "01:00", "03:00", "04:00"]
    assert ts.parse_hour(dt.date(2026, 3, 8), "02:00", zone) is None


def test_london_month_with_dst_change_has_a_23_hour_day():
    days = ts.days_of_month(2026, 3, ZoneInfo("Europe/London"))
    durations = {d.label: d.duration for d in days}
    assert durations["2026-03-29"] == dt.timedelta(hours=23)
    assert durations["2026-03-28"] == ts.DAY
    assert days[-1].end == u(2026, 3, 31, 23)  # April 1st 00:00 BST


def test_santiago_day_without_midnight_starts_at_1am():
    day = ts.hours_of_day(dt.date(2026, 9, 6), ZoneInfo("America/Santiago"))
    assert day[0].local_start.hour == 1 and len(day) == 23


def test_minutes_of_hour():
    zone = ZoneInfo("Asia/Kolkata")
    hour = ts.parse_hour(dt.date(2026, 3, 10), "13", zone)
    minutes = ts.minutes_of_hour(hour, zone)
    assert len(minutes) == 60
    assert minutes[0].start == u(2026, 3, 10, 7, 30) and minutes[0].label == "13:00"
    assert minutes[-1].end == hour.end


def test_previous_period_has_the_same_number_of_local_units():
    zone = ZoneInfo("Europe/London")
    level, days = ts.periods_for(zone, 2026, 4)
    assert level == "month"
    start, end = ts.previous_periods(level, days, zone)
    # 30 local days before April: March 2nd 00:00 GMT .. April 1st 00:00 BST.
    assert (start, end) == (u(2026, 3, 2), u(2026, 3, 31, 23))
    level, hours = ts.periods_for(zone, 2026, 3, dt.date(2026, 3, 30))
    assert ts.previous_periods(level, hours, zone) == ts.day_bounds(dt.date(2026, 3, 29), zone)
    level, minutes = ts.periods_for(zone, 2026, 3, hour=hours[5])
    assert ts.previous_periods(level, minutes, zone) == (hours[4].start, hours[4].end)


def test_decompose_rejects_unaligned_bounds():
    with pytest.raises(ValueError):
        ts.decompose(u(2026, 1, 1, 0, 0, 30), u(2026, 1, 2))


@pytest.mark.parametrize("zone_name", ZONES)
def test_periods_tile_the_month_without_gaps(zone_name):
    zone = ZoneInfo(zone_name)
    for year, month in [(2026, 3), (2026, 4), (2026, 10), (2026, 11)]:
        days = ts.days_of_month(year, month, zone)
        assert all(a.end == b.start for a, b in zip(days, days[1:], strict=False))
        for day in days:
            assert day.local_start.date().isoformat() == day.label
            hours = ts.hours_of_day(day.local_start.date(), zone)
            assert hours[0].start == day.start and hours[-1].end == day.end
            assert all(a.end == b.start for a, b in zip(hours, hours[1:], strict=False))
            assert len({h.key for h in hours}) == len(hours)


def _covered_minutes(ranges) -> list[dt.datetime]:
    step = {"minute": ts.MINUTE, "hour": ts.HOUR, "day": ts.DAY}
    out = []
    for r in ranges:
        t = r.start
        while t < r.end:
            out.append((t, r.unit))
            t += step[r.unit]
    return out


@settings(max_examples=200, deadline=None)
@given(
    start=st.integers(min_value=0, max_value=60 * 24 * 70),
    length=st.integers(min_value=0, max_value=60 * 24 * 40),
)
def test_decompose_covers_exactly_once_with_whole_buckets(start, length):
    a = u(2026, 1, 1) + start * ts.MINUTE
    b = a + length * ts.MINUTE
    ranges = ts.decompose(a, b)
    # Each range starts and ends on its own unit's boundaries and ranges do not overlap.
    total = dt.timedelta(0)
    for r in ranges:
        assert ts._floor(r.start, r.unit) == r.start and ts._floor(r.end, r.unit) == r.end
        total += r.end - r.start
    assert total == b - a
    spans = sorted((r.start, r.end) for r in ranges)
    assert all(x[1] <= y[0] for x, y in zip(spans, spans[1:], strict=False))
    assert all(a <= s and e <= b for s, e in spans)
    assert len([r for r in ranges if r.unit == "day"]) <= 1
    assert len(ranges) <= 5
