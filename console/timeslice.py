"""Local periods of a chosen time zone, and how to read them exactly from UTC buckets.

Buckets are stored per UTC minute, quarter hour, hour and day. A local period (a day in
Asia/Kolkata, an hour in America/New_York on the night clocks fall back) is a half-open UTC
interval ``[start, end)`` whose ends fall on whole UTC minutes (every zone in use today has
an offset of whole minutes; historic local-mean-time offsets with seconds are rounded down
to the minute). ``decompose`` splits such an interval into whole UTC days, whole UTC hours,
whole UTC quarter hours and the remaining minutes, so that a sum over the interval reads as
few bucket rows as possible and is exact. Every UTC offset in use today is a multiple of 15
minutes, so local days, hours and months need no minutes at all: minute buckets, kept only
``MINUTE_RETENTION_DAYS``, are read for the minute drill and for a "to date" comparison
cut at the current minute (always recent).

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
QUARTER = dt.timedelta(minutes=15)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)

# The years a report may show: far enough inside datetime's 1 to 9999 that a month, the
# period before it and any zone's offset stay representable (9999-12 would overflow).
YEARS = range(2000, 3000)
# The bucket level each drill level's periods are drawn from, finest first.
UNITS = ("minute", "quarter", "hour", "day")


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

    unit: str  # "minute", "quarter", "hour" or "day"
    start: dt.datetime
    end: dt.datetime


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        raise ValueError("Expected an aware datetime.")
    return value.astimezone(UTC)


_UNIT = {"minute": MINUTE, "quarter": QUARTER, "hour": HOUR, "day": DAY}


def _floor(value: dt.datetime, unit: str) -> dt.datetime:
    value = _utc(value)
    if unit == "minute":
        return value.replace(second=0, microsecond=0)
    if unit == "quarter":
        return value.replace(minute=value.minute // 15 * 15, second=0, microsecond=0)
    if unit == "hour":
        return value.replace(minute=0, second=0, microsecond=0)
    return value.replace(hour=0, minute=0, second=0, microsecond=0)


def _ceil(value: dt.datetime, unit: str) -> dt.datetime:
    floor = _floor(value, unit)
    if floor == value:
        return floor
    return floor + _UNIT[unit]


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


def day_exists(day: dt.date, zone: ZoneInfo) -> bool:
    """Whether a local date has any instant at all (Samoa skipped 2011-12-30 when it moved
    across the date line); a filter naming a day that never was is refused."""
    start, end = day_bounds(day, zone)
    return start < end


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
    """Split ``[start, end)`` into whole UTC days, hours, quarter hours and minutes (exact)."""
    start, end = _utc(start), _utc(end)
    if _floor(start, "minute") != start or _floor(end, "minute") != end:
        raise ValueError("Period bounds must fall on whole UTC minutes.")
    if start >= end:
        return []
    if end - start < HOUR and _floor(start, "hour") == _floor(end - MINUTE, "hour"):
        return _quarters_and_minutes(start, end)  # within one hour: the common minute case
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
        return _quarters_and_minutes(start, end)
    return [
        *_quarters_and_minutes(start, hour_a),
        Range("hour", hour_a, hour_b),
        *_quarters_and_minutes(hour_b, end),
    ]


def _quarters_and_minutes(start: dt.datetime, end: dt.datetime) -> list[Range]:
    """``[start, end)`` within a few hours as whole quarter hours and the minutes left."""
    if start >= end:
        return []
    quarter_a, quarter_b = _ceil(start, "quarter"), _floor(end, "quarter")
    if quarter_a >= quarter_b:
        return [Range("minute", start, end)]
    ranges = []
    if start < quarter_a:
        ranges.append(Range("minute", start, quarter_a))
    ranges.append(Range("quarter", quarter_a, quarter_b))
    if quarter_b < end:
        ranges.append(Range("minute", quarter_b, end))
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


@dataclass(frozen=True)
class Comparison:
    """What a view's totals are compared with: ``[start, end)`` in UTC, and in words."""

    start: dt.datetime
    end: dt.datetime
    label: str  # "Nov 1–2, to 05:16", "Oct 1–31", "Nov 30", "04:00–05:00"
    to_date: bool  # the view is still running, so only its span so far is compared


def _month_day(day: dt.date) -> str:
    return f"{day:%b} {day.day}"


def comparison(level: str, periods: list[Period], zone: ZoneInfo, now: dt.datetime) -> Comparison:
    """The like-for-like comparison of a view, the same way on every report.

    A month is compared with the calendar month before it, a day with the local day before,
    an hour with the hour before. A view still running at ``now`` is compared with the same
    span of the one before, to the same local wall-clock minute (the 2nd at 05:16 against
    the 1st to the 2nd of last month at 05:16), never a part against a whole; when the
    previous month has no such day (the 31st against February), with the whole of it.
    """
    start, end = periods[0].start, periods[-1].end
    first = periods[0].local_start
    if level == "month":
        before = (first.replace(day=1) - DAY).date().replace(day=1)
        prev_start, prev_end = month_bounds(before.year, before.month, zone)
        last = (prev_end - MINUTE).astimezone(zone).date()
        words = f"{_month_day(before)}–{last.day}"
    elif level == "day":
        before = first.date() - DAY
        prev_start, prev_end = day_bounds(before, zone)
        words = _month_day(before)
    else:
        prev_start, prev_end = start - (end - start), start
        words = f"{prev_start.astimezone(zone):%H:%M}–{prev_end.astimezone(zone):%H:%M}"
    if not start <= now < end:
        return Comparison(prev_start, prev_end, words, False)
    local_now = now.astimezone(zone).replace(second=0, microsecond=0)
    if level == "hour":
        cut = prev_start + (_floor(now, "minute") - start)
        words = f"{prev_start.astimezone(zone):%H:%M}–{cut.astimezone(zone):%H:%M}"
        return Comparison(prev_start, cut, words, True)
    day = before if level == "day" else before.replace(day=min(local_now.day, last.day))
    if level == "month" and local_now.day > last.day:
        return Comparison(prev_start, prev_end, words, True)  # all of a shorter month
    wall = dt.datetime.combine(day, local_now.time(), tzinfo=zone)
    cut = min(max(wall.astimezone(UTC), prev_start), prev_end)
    span = _month_day(day) if level == "day" or day.day == 1 else f"{_month_day(before)}–{day.day}"
    return Comparison(prev_start, cut, f"{span}, to {local_now:%H:%M}", True)


def is_future(period: Period, now: dt.datetime) -> bool:
    """Whether a period has not begun at ``now`` (drawn as still to come, not as zero)."""
    return period.start > now


# What reading one bucket of each level costs, relative to an hour: about the rows read per
# series. A series rarely has a request in every minute, so minute buckets are sparse; hours
# and days of a busy series are all there, quarter hours in between. Only the choice of plan
# depends on these.
COST = {"day": 1.0, "hour": 1.0, "quarter": 0.4, "minute": 0.15}


@dataclass(frozen=True)
class Piece:
    """A range read from one bucket level, added to (+1) or taken from (-1) periods."""

    unit: str
    start: dt.datetime
    end: dt.datetime
    weights: tuple[tuple[int, int], ...]  # ((period index, +1 or -1), ...)


def _cost(ranges: list[Range]) -> float:
    return sum(COST[r.unit] * ((r.end - r.start) / _UNIT[r.unit]) for r in ranges)


def _nearest(instant: dt.datetime, unit: str) -> dt.datetime:
    floor = _floor(instant, unit)
    ceil = _ceil(instant, unit)
    return floor if instant - floor <= ceil - instant else ceil


def _edge(start: dt.datetime, end: dt.datetime) -> list[tuple[Range, int]]:
    """A short range (at most half a day) as whole hours and minutes, signed: where an edge
    falls early in an hour, that whole hour less its first minutes is cheaper than the rest
    of its minutes."""
    best = [(r, 1) for r in decompose(start, end)]
    best_cost = _cost([r for r, _ in best])
    # Widen an unaligned end outward to the whole hour; inward is what decompose does.
    a_options = {start, _floor(start, "hour")}
    b_options = {end, _ceil(end, "hour")}
    for a in a_options:
        for b in b_options:
            if (a, b) == (start, end):
                continue
            signed = [(r, 1) for r in decompose(a, b)]
            signed += [(r, -1) for r in decompose(a, start)] + [(r, -1) for r in decompose(end, b)]
            cost = _cost([r for r, _ in signed])
            if cost < best_cost:
                best, best_cost = signed, cost
    return best


def plan(periods) -> dict[str, list[Piece]]:
    """The bucket ranges to read for ``periods`` (minute-aligned ``[start, end)`` spans in
    order), per level, and which periods each range adds to or takes from.

    A boundary between two periods that falls inside a UTC day (a month in +05:30) or hour
    (a day in +05:45) is moved to the nearest whole day or hour when both periods are at
    least that long: the periods are then read from whole buckets, and the stretch between
    the true and the moved boundary, read once, is added to the period it belongs to and
    taken from its neighbour. So a month in Asia/Kolkata reads its days and a few hours
    around each local midnight, not every hour of the month. The sum over a period of its
    pieces' weights is exactly one for each minute of the period and zero elsewhere.
    """
    n = len(periods)
    # Where each period's whole-bucket read starts and ends.
    moved = [[p.start, p.end] for p in periods]
    terms: list[tuple[Range, dict[int, int]]] = []
    for k in range(1, n):
        left, right = periods[k - 1], periods[k]
        if left.end != right.start:
            continue
        t = right.start
        shortest = min(left.end - left.start, right.end - right.start)
        # Local days across a daylight-saving change last 23 or 23.5 hours.
        unit = "day" if shortest >= DAY - 2 * HOUR else "hour" if shortest >= HOUR else None
        if unit is None or _floor(t, unit) == t:
            continue
        s = _nearest(t, unit)
        if not moved[k - 1][0] <= s <= right.end:
            continue
        # Reading the bucket holding t whole plus the stretch, against the two halves of it.
        halves = _cost(decompose(_floor(t, unit), t) + decompose(t, _ceil(t, unit)))
        stretch = _edge(min(s, t), max(s, t))
        if COST[unit] + _cost([r for r, _ in stretch]) >= halves:
            continue
        moved[k - 1][1] = moved[k][0] = s
        # s > t: [t, s) belongs to the right period but is read with the left one.
        to, frm = (k, k - 1) if s > t else (k - 1, k)
        terms += [(r, {to: sign, frm: -sign}) for r, sign in stretch]
    if not terms:  # nothing moved: each range read for one period, none overlapping
        out: dict[str, list[Piece]] = {unit: [] for unit in UNITS}
        for i, (a, b) in enumerate(moved):
            for r in decompose(a, b):
                out[r.unit].append(Piece(r.unit, r.start, r.end, ((i, 1),)))
        for pieces in out.values():
            pieces.sort(key=lambda p: p.start)
        return out
    for i, (a, b) in enumerate(moved):
        terms += [(r, {i: 1}) for r in decompose(a, b)]
    return {unit: _elementary([(r, w) for r, w in terms if r.unit == unit]) for unit in UNITS}


def _elementary(terms: list[tuple[Range, dict[int, int]]]) -> list[Piece]:
    """Signed ranges of one level as disjoint pieces in order, weights summed where they
    overlap, adjacent pieces with the same weights joined, pieces weighing nothing dropped."""
    if not terms:
        return []
    unit = terms[0][0].unit
    # A sweep over the range ends: each start adds its weights, each end takes them away.
    changes: dict[dt.datetime, dict[int, int]] = {}
    for r, w in terms:
        for at, sign in ((r.start, 1), (r.end, -1)):
            change = changes.setdefault(at, {})
            for period, weight in w.items():
                change[period] = change.get(period, 0) + sign * weight
    cuts = sorted(changes)
    pieces: list[Piece] = []
    current: dict[int, int] = {}
    for a, b in zip(cuts, cuts[1:], strict=False):
        for period, delta in changes[a].items():
            weight = current.get(period, 0) + delta
            if weight:
                current[period] = weight
            else:
                current.pop(period, None)
        key = tuple(sorted(current.items()))
        if not key:
            continue
        if pieces and pieces[-1].end == a and pieces[-1].weights == key:
            pieces[-1] = Piece(unit, pieces[-1].start, b, key)
        else:
            pieces.append(Piece(unit, a, b, key))
    return pieces
