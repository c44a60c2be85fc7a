"""Calendar time buckets for meter quantities, in any IANA time zone.

A bucket is a calendar period of the requested zone: an hour, a day, an ISO week (starting
Monday), a month or a year of *local* time. Bucket starts are timezone-aware datetimes in that
zone, with the UTC offset in force at that instant, so a DST day lasts 23 or 25 hours.

Exact rules (they matter around DST changes and in zones with odd offsets):

- day, week, month, year: the bucket of a period starts at the first instant whose local date
  reaches that period: local midnight of its first day, or, when that midnight does not exist
  (a DST gap at 00:00), the first instant that does exist (the end of the gap). When clocks go
  back across midnight, the repeated local times stay in the bucket already started. A local day
  a zone skips entirely (Pacific/Apia, 2011-12-30) has no bucket.
- hour: a bucket is a run of instants sharing the same local wall-clock hour *and* UTC offset.
  Hours are real elapsed time: the repeated hour of a fall-back is two buckets, and a 30-minute
  shift (Australia/Lord_Howe) yields 30-minute buckets next to the change.

Nothing here relies on offsets being whole minutes or quarter hours; see `BASE_BUCKET` for the
alignment guarantee the projections rely on.

Python pitfall for callers: aware datetimes sharing a tzinfo subtract and compare by *wall
clock* (the two 02:00 of a fall-back day are "equal", a 23-hour day "lasts" 24 hours), and a
time in a repeated hour never equals a datetime of another zone. Convert to UTC
(`.astimezone(UTC)`) before subtracting, comparing, hashing or using bucket starts as keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from domain.meter_filter import Loc, LocatedValueError

MAX_BUCKETS: Final = 10_000

BASE_BUCKET: Final = timedelta(minutes=15)
"""Granularity of the projections' pre-aggregated partials.

Why 15 minutes: since 1979-10-01 every UTC offset of every IANA zone is a multiple of 15 minutes
(the last exceptions: Pacific/Kiritimati at -10:40 until 1979-10-01, Africa/Monrovia at -0:44:30
until 1972-01-07). A local midnight or whole hour is then always on a 15-minute UTC edge, so any
day / week / month / year bucket since then is an exact union of base buckets.

Caveat (verified in tests/domain/test_calendar.py against the whole tz database): a few zones
changed clocks at hh:01 rather than on a quarter hour (America/St_Johns and Goose_Bay until
2011-03-13, America/Moncton until 2006, Asia/Gaza and Hebron in 2010-2011, Antarctica/Casey
2020-2022, Pacific/Guam and Saipan in 1976). Those changes only start *hour* buckets (the
zone's midnights are unaffected), one minute off a base edge. Use `is_base_aligned` on the
bucket starts and end of a query to decide whether base partials can answer it exactly, and fall
back to the raw events otherwise.
"""

_MIN_UTC: Final = datetime(2, 1, 1, tzinfo=UTC)
_MAX_UTC: Final = datetime(9998, 1, 1, tzinfo=UTC)
_TICK: Final = timedelta(microseconds=1)
_HOUR: Final = timedelta(hours=1)

START_LOC: Final[Loc] = ("query", "start_timestamp")
END_LOC: Final[Loc] = ("query", "end_timestamp")
INTERVAL_LOC: Final[Loc] = ("query", "interval")
TIMEZONE_LOC: Final[Loc] = ("query", "timezone")


class CalendarError(LocatedValueError):
    """A time range, interval or time zone is invalid."""


class TimeInterval(StrEnum):
    year = "year"
    month = "month"
    week = "week"
    day = "day"
    hour = "hour"


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def parse_timezone(name: object, loc: Loc = TIMEZONE_LOC) -> ZoneInfo:
    """A `ZoneInfo` for an IANA name such as `Europe/Paris` or `UTC` (case-sensitive)."""
    if not isinstance(name, str):
        raise CalendarError(loc, "Input should be a valid string", type="string_type",
                            input=name)
    if name not in _zone_names():
        raise CalendarError(loc, "Input should be a valid IANA time zone name",
                            type="zoneinfo_unknown", input=name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # pragma: no cover - races
        raise CalendarError(loc, "Input should be a valid IANA time zone name",
                            type="zoneinfo_unknown", input=name) from exc


def parse_interval(value: object, loc: Loc = INTERVAL_LOC) -> TimeInterval:
    if isinstance(value, str) and value in TimeInterval._value2member_map_:
        return TimeInterval(value)
    raise CalendarError(loc, "Input should be 'year', 'month', 'week', 'day' or 'hour'",
                        type="enum", input=value)


# --------------------------------------------------------------------------- base buckets


def floor_to_base(ts: datetime) -> datetime:
    """The start (UTC) of the 15-minute base bucket containing `ts`."""
    u = _utc(ts, START_LOC)
    return u.replace(minute=u.minute - u.minute % 15, second=0, microsecond=0)


def is_base_aligned(ts: datetime) -> bool:
    """Whether `ts` is on a 15-minute UTC edge."""
    u = _utc(ts, START_LOC)
    return floor_to_base(u) == u


# --------------------------------------------------------------------------- zone helpers


def _utc(ts: datetime, loc: Loc) -> datetime:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise CalendarError(loc, "Input should have timezone info", type="timezone_aware",
                            input=ts.isoformat())
    u = ts.astimezone(UTC)
    if not _MIN_UTC <= u <= _MAX_UTC:
        raise CalendarError(loc, "Input should be between years 2 and 9997",
                            type="datetime_range", input=ts.isoformat())
    return u


def _wall(u: datetime, tz: ZoneInfo) -> datetime:
    """Local wall-clock time (naive) of a UTC instant."""
    return u.astimezone(tz).replace(tzinfo=None)


def _offset(u: datetime, tz: ZoneInfo) -> timedelta | None:
    return u.astimezone(tz).utcoffset()


def _first_instant_at_or_after(wall: datetime, tz: ZoneInfo) -> datetime:
    """The earliest UTC instant whose local wall time is `wall`, or, if `wall` falls in a gap,
    the first instant after the gap (the transition)."""
    early = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    late = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    if early == late:
        return early
    existing = [u for u in (early, late) if _wall(u, tz) == wall]
    if existing:
        return min(existing)
    # In a gap: wall(lo) < wall <= wall(hi); the transition is the first instant reaching it.
    lo, hi = min(early, late), max(early, late)
    while hi - lo > _TICK:
        mid = lo + (hi - lo) // 2
        if _wall(mid, tz) >= wall:
            hi = mid
        else:
            lo = mid
    return hi


def _first_change(lo: datetime, hi: datetime, tz: ZoneInfo, offset: timedelta | None
                  ) -> datetime:
    """The first instant in (lo, hi] whose UTC offset differs from `offset` (assumed to exist,
    with `lo` at `offset`)."""
    while hi - lo > _TICK:
        mid = lo + (hi - lo) // 2
        if _offset(mid, tz) != offset:
            hi = mid
        else:
            lo = mid
    return hi


# --------------------------------------------------------------------------- periods


def _period_start_wall(wall: datetime, interval: TimeInterval) -> datetime:
    day = wall.date()
    if interval is TimeInterval.week:
        day = date.fromordinal(day.toordinal() - day.weekday())
    elif interval is TimeInterval.month:
        day = day.replace(day=1)
    elif interval is TimeInterval.year:
        day = day.replace(month=1, day=1)
    return datetime(day.year, day.month, day.day)


def _next_period_wall(start: datetime, interval: TimeInterval) -> datetime:
    if interval is TimeInterval.day:
        return start + timedelta(days=1)
    if interval is TimeInterval.week:
        return start + timedelta(days=7)
    if interval is TimeInterval.month:
        if start.month == 12:
            return datetime(start.year + 1, 1, 1)
        return datetime(start.year, start.month + 1, 1)
    return datetime(start.year + 1, 1, 1)


def _hour_start(u: datetime, tz: ZoneInfo) -> datetime:
    local = u.astimezone(tz)
    offset = local.utcoffset()
    assert offset is not None
    hour_wall = local.replace(tzinfo=None, minute=0, second=0, microsecond=0)
    candidate = (hour_wall - offset).replace(tzinfo=UTC)
    if _offset(candidate, tz) == offset:
        return candidate
    # The offset changed during this wall hour: the bucket starts at that change.
    lo = candidate
    hi = u
    while hi - lo > _TICK:
        mid = lo + (hi - lo) // 2
        if _offset(mid, tz) == offset:
            hi = mid
        else:
            lo = mid
    return hi


def _hour_next(b: datetime, tz: ZoneInfo) -> datetime:
    local = b.astimezone(tz)
    offset = local.utcoffset()
    assert offset is not None
    hour_wall = local.replace(tzinfo=None, minute=0, second=0, microsecond=0)
    candidate = (hour_wall + _HOUR - offset).replace(tzinfo=UTC)
    if _offset(candidate - _TICK, tz) == offset:
        return candidate
    return _first_change(b, candidate - _TICK, tz, offset)


def _start_utc(u: datetime, interval: TimeInterval, tz: ZoneInfo) -> datetime:
    """Start (UTC) of the bucket containing the UTC instant `u`."""
    if interval is TimeInterval.hour:
        return _hour_start(u, tz)
    b = _first_instant_at_or_after(_period_start_wall(_wall(u, tz), interval), tz)
    # A fall-back across the period edge: `u` may already be in a later bucket.
    while (n := _next_utc(b, interval, tz)) <= u:
        b = n
    return b


def _next_utc(b: datetime, interval: TimeInterval, tz: ZoneInfo) -> datetime:
    """Start (UTC) of the bucket after the one starting at the UTC instant `b`."""
    if interval is TimeInterval.hour:
        n = _hour_next(b, tz)
    else:
        period = _period_start_wall(_wall(b, tz), interval)
        n = _first_instant_at_or_after(_next_period_wall(period, interval), tz)
    if n <= b:  # pragma: no cover - would mean a broken zone file
        raise AssertionError(f"bucket after {b.isoformat()} does not advance")
    return n


# --------------------------------------------------------------------------- public API


def bucket_start(ts: datetime, interval: TimeInterval, tz: ZoneInfo) -> datetime:
    """The start of the bucket containing `ts`, in `tz`."""
    return _start_utc(_utc(ts, START_LOC), TimeInterval(interval), tz).astimezone(tz)


def bucket_end(bucket_start: datetime, interval: TimeInterval, tz: ZoneInfo) -> datetime:
    """The start of the next bucket (the exclusive end of the bucket containing
    `bucket_start`), in `tz`."""
    interval = TimeInterval(interval)
    u = _utc(bucket_start, START_LOC)
    return _next_utc(_start_utc(u, interval, tz), interval, tz).astimezone(tz)


def iter_bucket_starts(start: datetime, end: datetime, interval: TimeInterval, tz: ZoneInfo,
                       *, inclusive_end: bool = False) -> Iterator[datetime]:
    """Lazily, the starts of the buckets intersecting [start, end) (or [start, end] when
    `inclusive_end`, which is what Polar's `generate_series(start, end, interval)` yields).

    No limit is applied here; `bucket_starts` enforces `MAX_BUCKETS`.
    """
    interval = TimeInterval(interval)
    s = _utc(start, START_LOC)
    e = _utc(end, END_LOC)
    if s > e:
        raise CalendarError(START_LOC, "start_timestamp must be before end_timestamp",
                            input=start.isoformat())
    if s == e and not inclusive_end:
        return
    b = _start_utc(s, interval, tz)
    while b < e or (inclusive_end and b == e):
        yield b.astimezone(tz)
        if b >= _MAX_UTC:
            break
        b = _next_utc(b, interval, tz)


def bucket_starts(start: datetime, end: datetime, interval: TimeInterval, tz: ZoneInfo,
                  *, inclusive_end: bool = False,
                  max_buckets: int = MAX_BUCKETS) -> list[datetime]:
    """The starts of the calendar periods of `tz` intersecting [start, end).

    The first bucket is the period containing `start`; `start == end` gives no bucket (unless
    `inclusive_end`). Raises `CalendarError` for naive datetimes, `start > end`, or more than
    `max_buckets` buckets (loc `("query", "interval")`).
    """
    out: list[datetime] = []
    for b in iter_bucket_starts(start, end, interval, tz, inclusive_end=inclusive_end):
        if len(out) == max_buckets:
            raise CalendarError(
                INTERVAL_LOC,
                f"The interval is too small for this time range: at most {max_buckets} "
                "buckets can be returned. Use a larger interval or a shorter range.",
                input=str(interval))
        out.append(b)
    return out


def bucket_count(start: datetime, end: datetime, interval: TimeInterval, tz: ZoneInfo,
                 *, inclusive_end: bool = False, max_buckets: int = MAX_BUCKETS) -> int:
    """How many buckets `bucket_starts` returns; raises the same errors."""
    return len(bucket_starts(start, end, interval, tz, inclusive_end=inclusive_end,
                             max_buckets=max_buckets))


def bucket_ranges(start: datetime, end: datetime, interval: TimeInterval, tz: ZoneInfo,
                  *, inclusive_end: bool = False, max_buckets: int = MAX_BUCKETS
                  ) -> list[tuple[datetime, datetime]]:
    """`(bucket_start, bucket_end)` pairs for `bucket_starts`; consecutive, non-overlapping."""
    starts = bucket_starts(start, end, interval, tz, inclusive_end=inclusive_end,
                           max_buckets=max_buckets)
    if not starts:
        return []
    last_end = _next_utc(starts[-1].astimezone(UTC), TimeInterval(interval), tz).astimezone(tz)
    return list(zip(starts, [*starts[1:], last_end], strict=True))
