import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console import timeslice as ts

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
    assert ts.merge([r for d in days for r in ts.decompose(d.start, d.end)]) == {
        "minute": [],
        "quarter": [],
        "hour": [],
        "day": [(u(2026, 2, 1), u(2026, 3, 1))],
    }


def test_kolkata_day_starts_at_1830_utc_and_splits_into_quarter_hours_and_hours():
    start, end = ts.day_bounds(dt.date(2026, 3, 10), ZoneInfo("Asia/Kolkata"))
    assert (start, end) == (u(2026, 3, 9, 18, 30), u(2026, 3, 10, 18, 30))
    # No minutes: they are kept MINUTE_RETENTION_DAYS only, quarter hours as long as hours.
    assert ts.decompose(start, end) == [
        ts.Range("quarter", u(2026, 3, 9, 18, 30), u(2026, 3, 9, 19)),
        ts.Range("hour", u(2026, 3, 9, 19), u(2026, 3, 10, 18)),
        ts.Range("quarter", u(2026, 3, 10, 18), u(2026, 3, 10, 18, 30)),
    ]


def test_unaligned_edges_take_minutes_only_up_to_the_nearest_quarter_hour():
    assert ts.decompose(u(2026, 3, 9, 18, 7), u(2026, 3, 9, 20, 52)) == [
        ts.Range("minute", u(2026, 3, 9, 18, 7), u(2026, 3, 9, 18, 15)),
        ts.Range("quarter", u(2026, 3, 9, 18, 15), u(2026, 3, 9, 19)),
        ts.Range("hour", u(2026, 3, 9, 19), u(2026, 3, 9, 20)),
        ts.Range("quarter", u(2026, 3, 9, 20), u(2026, 3, 9, 20, 45)),
        ts.Range("minute", u(2026, 3, 9, 20, 45), u(2026, 3, 9, 20, 52)),
    ]
    assert ts.decompose(u(2026, 3, 9, 18, 7), u(2026, 3, 9, 18, 8)) == [
        ts.Range("minute", u(2026, 3, 9, 18, 7), u(2026, 3, 9, 18, 8))
    ]


def test_kathmandu_hours_start_at_quarter_past_utc():
    hours = ts.hours_of_day(dt.date(2026, 1, 5), ZoneInfo("Asia/Kathmandu"))
    assert len(hours) == 24
    assert hours[0].start == u(2026, 1, 4, 18, 15)
    assert all(h.start.minute == 15 and h.duration == ts.HOUR for h in hours)
    # A local hour straddles two UTC hours: read as quarter hours only.
    assert {r.unit for r in ts.decompose(hours[3].start, hours[3].end)} == {"quarter"}


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


def test_a_past_view_is_compared_with_the_whole_period_before():
    zone = ZoneInfo("Europe/London")
    later = u(2027, 1, 1)
    level, days = ts.periods_for(zone, 2026, 4)
    compared = ts.comparison(level, days, zone, later)
    # The calendar month before April: March 1st 00:00 GMT .. April 1st 00:00 BST.
    assert (compared.start, compared.end) == (u(2026, 3, 1), u(2026, 3, 31, 23))
    assert compared.label == "Mar 1–31" and not compared.to_date
    level, hours = ts.periods_for(zone, 2026, 3, dt.date(2026, 3, 30))
    compared = ts.comparison(level, hours, zone, later)
    assert (compared.start, compared.end) == ts.day_bounds(dt.date(2026, 3, 29), zone)
    assert compared.label == "Mar 29"
    level, minutes = ts.periods_for(zone, 2026, 3, hour=hours[5])
    compared = ts.comparison(level, minutes, zone, later)
    assert (compared.start, compared.end) == (hours[4].start, hours[4].end)
    assert compared.label == "04:00–05:00"


@pytest.mark.parametrize(
    ("now", "start", "end", "label"),
    [
        # The 2nd at 05:16 IST: the 1st to the 2nd of November at 05:16 IST.
        (u(2026, 12, 1, 23, 46, 59), u(2026, 10, 31, 18, 30), u(2026, 11, 1, 23, 46), "Nov 1–2"),
        (u(2026, 11, 30, 18, 31), u(2026, 10, 31, 18, 30), u(2026, 10, 31, 18, 31), "Nov 1"),
    ],
)
def test_a_running_month_is_compared_with_the_same_span_of_the_last(now, start, end, label):
    zone = ZoneInfo("Asia/Kolkata")
    level, days = ts.periods_for(zone, 2026, 12)
    compared = ts.comparison(level, days, zone, now)
    assert (compared.start, compared.end) == (start, end) and compared.to_date
    local = now.astimezone(zone)
    assert compared.label == f"{label}, to {local:%H:%M}"
    assert [ts.is_future(p, now) for p in days] == [p.start > now for p in days]
    assert sum(ts.is_future(p, now) for p in days) == 31 - local.day


def test_the_31st_is_compared_with_all_of_a_shorter_month():
    zone = ZoneInfo("UTC")
    level, days = ts.periods_for(zone, 2026, 3)
    compared = ts.comparison(level, days, zone, u(2026, 3, 31, 12))
    assert (compared.start, compared.end) == (u(2026, 2, 1), u(2026, 3, 1))
    assert compared.label == "Feb 1–28" and compared.to_date


def test_a_running_day_and_hour_compare_to_the_same_minute():
    zone = ZoneInfo("UTC")
    level, hours = ts.periods_for(zone, 2026, 3, dt.date(2026, 3, 2))
    compared = ts.comparison(level, hours, zone, u(2026, 3, 2, 5, 16, 30))
    assert (compared.start, compared.end) == (u(2026, 3, 1), u(2026, 3, 1, 5, 16))
    assert compared.label == "Mar 1, to 05:16"
    level, minutes = ts.periods_for(zone, 2026, 3, hour=hours[5])
    compared = ts.comparison(level, minutes, zone, u(2026, 3, 2, 5, 16, 30))
    assert (compared.start, compared.end) == (u(2026, 3, 2, 4), u(2026, 3, 2, 4, 16))
    assert compared.label == "04:00–04:16"


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
    step = {"minute": ts.MINUTE, "quarter": ts.QUARTER, "hour": ts.HOUR, "day": ts.DAY}
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
    assert len(ranges) <= 7


def _net_weights(plan) -> dict:
    """{minute: {period: net weight}} over every minute the plan reads."""
    net: dict = {}
    for unit, pieces in plan.items():
        for p in pieces:
            assert p.unit == unit
            assert ts._floor(p.start, unit) == p.start and ts._floor(p.end, unit) == p.end
            t = p.start
            while t < p.end:
                cell = net.setdefault(t, {})
                for period, sign in p.weights:
                    cell[period] = cell.get(period, 0) + sign
                t += ts.MINUTE
    return {t: {k: v for k, v in w.items() if v} for t, w in net.items()}


def _assert_exact(periods):
    """Each minute of each period weighs one for it and nothing for any other period."""
    plan = ts.plan(periods)
    net = _net_weights(plan)
    for i, period in enumerate(periods):
        t = period.start
        while t < period.end:
            assert net.pop(t, {}) == {i: 1}, (t, i)
            t += ts.MINUTE
    assert all(not w for w in net.values())  # read outside the periods only to cancel out
    for unit, pieces in plan.items():  # disjoint and in order: a row lies in one piece
        assert all(a.end <= b.start for a, b in zip(pieces, pieces[1:], strict=False)), unit
    return plan


@pytest.mark.parametrize("zone_name", ZONES)
def test_plan_counts_every_minute_once_for_its_own_period(zone_name):
    zone = ZoneInfo(zone_name)
    for year, month in [(2026, 3), (2026, 4), (2026, 10)]:
        days = ts.days_of_month(year, month, zone)
        _assert_exact(days)
        for day in days[::6] + [d for d in days if d.duration != ts.DAY]:
            hours = ts.hours_of_day(day.local_start.date(), zone)
            _assert_exact(hours)
            _assert_exact(ts.minutes_of_hour(hours[len(hours) // 2], zone))


def _hours_read(plan) -> float:
    return sum((p.end - p.start) / ts.HOUR for p in plan["hour"] + plan["quarter"] + plan["minute"])


def test_kolkata_month_reads_days_and_the_stretches_around_local_midnight():
    days = ts.days_of_month(2026, 11, ZoneInfo("Asia/Kolkata"))
    plan = _assert_exact(days)
    # The 29 UTC days inside the month whole; around each of the 29 inner local midnights
    # (18:30 UTC) the 5.5 hours to the UTC midnight, read once for both days; 5.5 + 18.5
    # hours at the month's two outer edges. Reading each local day by hour: 720 hours.
    assert [(p.start, p.end) for p in plan["day"]] == [
        (d.start + 5 * ts.HOUR + 30 * ts.MINUTE, d.end + 5 * ts.HOUR + 30 * ts.MINUTE)
        for d in days[:-1]
    ]
    assert _hours_read(plan) == 29 * 5.5 + 5.5 + 18.5
    inner = [p for p in plan["hour"] if len(p.weights) == 2]
    assert len(inner) == 29 and all(p.end - p.start == 5 * ts.HOUR for p in inner)
    # Each is added to the later local day and taken from the earlier one.
    assert all(w == ((i, -1), (i + 1, 1)) for i, w in enumerate(p.weights for p in inner))


def test_kathmandu_day_reads_whole_hours_and_a_quarter_hour_around_each():
    zone = ZoneInfo("Asia/Kathmandu")
    hours = ts.hours_of_day(dt.date(2026, 11, 20), zone)
    plan = _assert_exact(hours)
    # Local hours start at :15 past UTC hours: each UTC hour is read whole and its first
    # quarter hour moved to the local hour before; by quarter hours alone it is 96 of them.
    assert len(plan["hour"]) == 23
    assert sum((p.end - p.start) / ts.MINUTE for p in plan["quarter"]) == 15 * 24 + 45
    assert plan["minute"] == []


@settings(max_examples=150, deadline=None)
@given(
    start=st.integers(min_value=0, max_value=60 * 24 * 60),
    lengths=st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=60 * 24 * 3),
            st.sampled_from([0, 0, 0, 1, 45, 60 * 7]),  # mostly touching, sometimes a gap
        ),
        min_size=1,
        max_size=12,
    ),
)
def test_plan_is_exact_for_any_spans_in_order(start, lengths):
    a = u(2026, 1, 1) + start * ts.MINUTE
    spans = []
    for n, gap in lengths:
        b = a + n * ts.MINUTE
        spans.append(ts.Range("minute", a, b))
        a = b + gap * ts.MINUTE
    _assert_exact(spans)
