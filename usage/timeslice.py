"""Local periods of a chosen time zone, and how to read them exactly from UTC buckets.

Buckets are stored per UTC minute, hour and day. A local period (a day in Asia/Kolkata,
an hour in America/New_York on the night clocks fall back) is a half-open UTC interval
``[start, end)`` whose ends fall on whole UTC minutes (every zone in use today has an
offset of whole minutes; historic local-mean-time offsets with seconds are rounded down
to the minute). ``decompose`` splits such an interval into whole UTC days, whole UTC
hours and the remaining minutes, so that a sum over the interval reads as few bucket
rows as possible and is exact.

Three drill levels exist, each listing the local periods of one chosen local period:

* ``month``: the local days of a month (28 to 31; each 23, 24 or 25 hours long),
* ``day``:   the local hours of a day (23, 24 or 25 of them; an hour holding a half-hour
  DST change, as on Lord Howe Island, lasts 90 minutes),
* ``hour``:  the minutes of a local hour.
"""

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

UTC = dt.UTC
MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)

LEVELS = ("month", "day", "hour")
# The bucket level each drill level's periods are drawn from, finest first.
UNITS = ("minute", "hour", "day")


@dataclass(frozen=True)
class Period:
    """One local period: ``[start, end)`` as aware UTC datetimes, with a label to show."""

    start: dt.datetime
    end: dt.datetime
    label: str  # what a person reads: "2026-03-08", "01:00 EDT", "13:05"
    key: str  # what the URL carries to drill into it: "2026-03-08", "01:00-04:00", "13:05"
    # The local wall-clock bounds, aware in the chosen zone (ISO 8601 with offset).
    local_start: dt.datetime
    local_end: dt.datetime

    @property
    def duration(self) -> dt.timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class Range:
    """A half-open UTC interval ``[start, end)`` read from one bucket level."""

    unit: str  # "minute", "hour" or "day"
    start: dt.datetime
    end: dt.datetime


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError("Expected an aware datetime.")
    return value.astimezone(UTC)


def _floor(value: dt.datetime, unit: str) -> dt.datetime:
    value = _utc(value)
    if unit == "minute":
        return value.replace(second=0, microsecond=0)
    if unit == "hour":
        return value.replace(minute=0, second=0, microsecond=0)
    return value.replace(hour=0, minute=0, second=0, microsecond=0)


def _ceil(value: dt.datetime, unit: str) -> dt.datetime:
    floor = _floor(value, unit)
    if floor == value:
        return floor
    return floor + {"minute": MINUTE, "hour": HOUR, "day": DAY}[unit]


def local_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The first instant (UTC) of a local date, even where midnight does not exist."""
    # fold=0 maps a skipped wall time with the offset before the change, which lands on
    # the change itself: the first instant whose local date is ``day``.
    instant = dt.datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
    return _floor(instant, "minute")


def month_bounds(year: int, month: int, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` in UTC of a local calendar month."""
    first = dt.date(year, month, 1)
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return local_midnight(first, zone), local_midnight(following, zone)


def day_bounds(day: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` in UTC of a local calendar day."""
    return local_midnight(day, zone), local_midnight(day + DAY, zone)


def _next_local_hour(instant: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The first instant after ``instant`` at which the local wall clock shows HH:00."""
    candidate = instant + HOUR
    if (
        candidate.astimezone(zone).utcoffset() == instant.astimezone(zone).utcoffset()
        and candidate.astimezone(zone).minute == 0
    ):
        return candidate
    # An offset change (or a non-hour-aligned start) in between: walk minute by minute.
    step = instant + MINUTE
    while step.astimezone(zone).minute != 0:
        step += MINUTE
    return step


def _period(start: dt.datetime, end: dt.datetime, zone: ZoneInfo, label: str, key: str):
    return Period(start, end, label, key, start.astimezone(zone), end.astimezone(zone))


def days_of_month(year: int, month: int, zone: ZoneInfo) -> list[Period]:
    """The local days of a month."""
    periods = []
    day = dt.date(year, month, 1)
    while day.month == month:
        start, end = day_bounds(day, zone)
        periods.append(_period(start, end, zone, day.isoformat(), day.isoformat()))
        day += DAY
    return periods


def hours_of_day(day: dt.date, zone: ZoneInfo) -> list[Period]:
    """The local hours of a day; a wall-clock hour seen twice is told apart by its offset."""
    start, end = day_bounds(day, zone)
    bounds = [start]
    while bounds[-1] < end:
        bounds.append(min(_next_local_hour(bounds[-1], zone), end))
    walls = [b.astimezone(zone).strftime("%H:%M") for b in bounds[:-1]]
    periods = []
    for a, b, wall in zip(bounds, bounds[1:], walls, strict=False):
        label, key = wall, wall
        if walls.count(wall) > 1:
            local = a.astimezone(zone)
            offset = local.isoformat()[-6:]
            label, key = f"{wall} {local.tzname()}", f"{wall}{offset}"
        periods.append(_period(a, b, zone, label, key))
    return periods


def minutes_of_hour(hour: Period, zone: ZoneInfo) -> list[Period]:
    """The minutes of one local hour (a period from ``hours_of_day``)."""
    periods = []
    minute = hour.start
    while minute < hour.end:
        wall = minute.astimezone(zone).strftime("%H:%M")
        periods.append(_period(minute, minute + MINUTE, zone, wall, wall))
        minute += MINUTE
    return periods


def parse_hour(day: dt.date, value: str, zone: ZoneInfo) -> Period | None:
    """The local hour of ``day`` named by its key ("13:00", or "01:00-04:00" when clocks
    fall back and 01:00 happens twice); "13" and an unqualified repeated hour also work."""
    hours = hours_of_day(day, zone)
    wanted = f"{value.zfill(2)}:00" if value.isdigit() else value
    for period in hours:
        if period.key == wanted:
            return period
    for period in hours:  # "01:00" on the night it happens twice: the first one
        if period.local_start.strftime("%H:%M") == wanted:
            return period
    return None


def periods_for(
    zone: ZoneInfo, year: int, month: int, day: dt.date | None = None, hour: Period | None = None
) -> tuple[str, list[Period]]:
    """(level, periods) of the chosen view: a month by day, a day by hour, an hour by minute."""
    if hour is not None:
        return "hour", minutes_of_hour(hour, zone)
    if day is not None:
        return "day", hours_of_day(day, zone)
    return "month", days_of_month(year, month, zone)


def decompose(start: dt.datetime, end: dt.datetime) -> list[Range]:
    """Split ``[start, end)`` into whole UTC days, whole UTC hours and minutes (exact)."""
    start, end = _utc(start), _utc(end)
    if _floor(start, "minute") != start or _floor(end, "minute") != end:
        raise ValueError("Period bounds must fall on whole UTC minutes.")
    if start >= end:
        return []
    ranges: list[Range] = []
    day_a, day_b = _ceil(start, "day"), _floor(end, "day")
    if day_a < day_b:
        ranges += _hours_and_minutes(start, day_a)
        ranges.append(Range("day", day_a, day_b))
        ranges += _hours_and_minutes(day_b, end)
    else:
        ranges += _hours_and_minutes(start, end)
    return ranges


def _hours_and_minutes(start: dt.datetime, end: dt.datetime) -> list[Range]:
    if start >= end:
        return []
    hour_a, hour_b = _ceil(start, "hour"), _floor(end, "hour")
    if hour_a >= hour_b:
        return [Range("minute", start, end)]
    ranges = []
    if start < hour_a:
        ranges.append(Range("minute", start, hour_a))
    ranges.append(Range("hour", hour_a, hour_b))
    if hour_b < end:
        ranges.append(Range("minute", hour_b, end))
    return ranges


def merge(ranges: list[Range]) -> dict[str, list[tuple[dt.datetime, dt.datetime]]]:
    """Per bucket level, the given ranges merged where they touch or overlap, in order."""
    merged: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {unit: [] for unit in UNITS}
    for r in sorted(ranges, key=lambda r: (r.unit, r.start)):
        spans = merged[r.unit]
        if spans and r.start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], r.end))
        else:
            spans.append((r.start, r.end))
    return merged


def decompose_periods(periods: list[Period]) -> dict[str, list[tuple[dt.datetime, dt.datetime]]]:
    """The bucket ranges to read for consecutive periods, per level, merged."""
    return merge([r for p in periods for r in decompose(p.start, p.end)])


def previous_periods(
    level: str, periods: list[Period], zone: ZoneInfo
) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` of the period just before the view, of the same length in local units.

    A month of N days is compared with the N local days before it, a day with the local
    day before, an hour with the local hour (or part-hour) before.
    """
    start = periods[0].start
    if level == "hour":
        return start - (periods[-1].end - start), start
    local_day = start.astimezone(zone).date()
    days = len(periods) if level == "month" else 1
    return local_midnight(local_day - dt.timedelta(days=days), zone), start
