"""Calendar buckets: DST examples, a brute-force oracle, and the 15-minute base-bucket claim."""

from __future__ import annotations

import importlib.resources
import itertools
import os
import re
import struct
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.calendar import (
    BASE_BUCKET,
    MAX_BUCKETS,
    CalendarError,
    TimeInterval,
    bucket_count,
    bucket_end,
    bucket_ranges,
    bucket_start,
    bucket_starts,
    floor_to_base,
    is_base_aligned,
    parse_interval,
    parse_timezone,
)

PARIS = ZoneInfo("Europe/Paris")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
KATHMANDU = ZoneInfo("Asia/Kathmandu")
ZONES = sorted(zoneinfo.available_timezones())
MINUTE = timedelta(minutes=1)


def iso(values: list[datetime]) -> list[str]:
    return [v.isoformat() for v in values]


def same(a: datetime, b: datetime) -> bool:
    """Same instant and same offset (same-zone `==` compares wall clocks and ignores fold)."""
    return a.isoformat() == b.isoformat() and a.astimezone(UTC) == b.astimezone(UTC)


def elapsed(a: datetime, b: datetime) -> timedelta:
    """Real time from a to b (same-zone aware subtraction in Python is wall-clock time!)."""
    return b.astimezone(UTC) - a.astimezone(UTC)


# --------------------------------------------------------------------------- examples


def test_paris_spring_forward_day_is_23_hours() -> None:
    days = bucket_starts(datetime(2026, 3, 29, 12, tzinfo=PARIS),
                         datetime(2026, 3, 30, 12, tzinfo=PARIS), TimeInterval.day, PARIS)
    assert iso(days) == ["2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00"]
    assert elapsed(days[0], days[1]) == timedelta(hours=23)
    assert same(bucket_end(days[0], TimeInterval.day, PARIS), days[1])
    hours = bucket_starts(days[0], days[1], TimeInterval.hour, PARIS)
    assert len(hours) == 23
    assert iso(hours[1:3]) == ["2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00"]


def test_paris_fall_back_day_is_25_hours() -> None:
    days = bucket_starts(datetime(2026, 10, 25, tzinfo=PARIS),
                         datetime(2026, 10, 26, 1, tzinfo=PARIS), TimeInterval.day, PARIS)
    assert iso(days) == ["2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00"]
    assert elapsed(days[0], days[1]) == timedelta(hours=25)
    hours = bucket_starts(days[0], days[1], TimeInterval.hour, PARIS)
    assert len(hours) == 25
    assert iso(hours[2:4]) == ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00"]
    assert all(elapsed(a, b) == timedelta(hours=1) for a, b in itertools.pairwise(hours))
    # The second 02:30 is in the second 02:00 bucket.
    second = datetime(2026, 10, 25, 2, 30, tzinfo=PARIS, fold=1)
    assert same(bucket_start(second, TimeInterval.hour, PARIS), hours[3])
    first = datetime(2026, 10, 25, 2, 30, tzinfo=PARIS, fold=0)
    assert same(bucket_start(first, TimeInterval.hour, PARIS), hours[2])


def test_weeks_start_on_monday() -> None:
    # 2026-01-01 is a Thursday; its week started Monday 2025-12-29.
    weeks = bucket_starts(datetime(2026, 1, 1, 15, tzinfo=PARIS),
                          datetime(2026, 1, 20, tzinfo=PARIS), TimeInterval.week, PARIS)
    assert iso(weeks) == [
        "2025-12-29T00:00:00+01:00", "2026-01-05T00:00:00+01:00",
        "2026-01-12T00:00:00+01:00", "2026-01-19T00:00:00+01:00",
    ]
    assert all(w.weekday() == 0 for w in weeks)


def test_week_across_dst_is_167_hours() -> None:
    weeks = bucket_starts(datetime(2026, 3, 25, tzinfo=PARIS), datetime(2026, 3, 31, tzinfo=PARIS),
                          TimeInterval.week, PARIS)
    assert iso(weeks) == ["2026-03-23T00:00:00+01:00", "2026-03-30T00:00:00+02:00"]
    assert elapsed(weeks[0], weeks[1]) == timedelta(hours=167)


def test_months_do_not_drift_from_jan_31() -> None:
    months = bucket_starts(datetime(2026, 1, 31, 23, tzinfo=PARIS),
                           datetime(2026, 5, 1, tzinfo=PARIS), TimeInterval.month, PARIS)
    assert iso(months) == [
        "2026-01-01T00:00:00+01:00", "2026-02-01T00:00:00+01:00", "2026-03-01T00:00:00+01:00",
        "2026-04-01T00:00:00+02:00",
    ]
    # End is exclusive: 2026-05-01T00:00 itself opens no bucket.
    assert same(bucket_end(months[-1], TimeInterval.month, PARIS),
                datetime(2026, 5, 1, tzinfo=PARIS))


def test_month_and_year_edges_in_utc() -> None:
    months = bucket_starts(datetime(2024, 11, 15, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC),
                           TimeInterval.month, UTC_ZONE)
    assert iso(months) == [
        "2024-11-01T00:00:00+00:00", "2024-12-01T00:00:00+00:00", "2025-01-01T00:00:00+00:00",
        "2025-02-01T00:00:00+00:00",
    ]
    years = bucket_starts(datetime(2023, 6, 1, tzinfo=UTC), datetime(2025, 1, 1, 0, 0, 1,
                                                                     tzinfo=UTC),
                          TimeInterval.year, UTC_ZONE)
    assert iso(years) == ["2023-01-01T00:00:00+00:00", "2024-01-01T00:00:00+00:00",
                          "2025-01-01T00:00:00+00:00"]


UTC_ZONE = ZoneInfo("UTC")


def test_start_in_another_zone_uses_the_local_calendar() -> None:
    # 2026-03-31T23:30Z is already April 1st in Paris.
    months = bucket_starts(datetime(2026, 3, 31, 23, 30, tzinfo=UTC),
                           datetime(2026, 4, 2, tzinfo=UTC), TimeInterval.month, PARIS)
    assert iso(months) == ["2026-04-01T00:00:00+02:00"]
    assert months[0].tzinfo is PARIS


def test_lord_howe_half_hour_dst() -> None:
    # Clocks go back from 02:00 (+11) to 01:30 (+10:30) on 2026-04-05...
    hours = bucket_starts(datetime(2026, 4, 5, tzinfo=LORD_HOWE),
                          datetime(2026, 4, 5, 4, tzinfo=LORD_HOWE), TimeInterval.hour, LORD_HOWE)
    assert iso(hours) == [
        "2026-04-05T00:00:00+11:00", "2026-04-05T01:00:00+11:00", "2026-04-05T01:30:00+10:30",
        "2026-04-05T02:00:00+10:30", "2026-04-05T03:00:00+10:30",
    ]
    assert elapsed(hours[2], hours[3]) == timedelta(minutes=30)
    # ...and forward from 02:00 (+10:30) to 02:30 (+11) on 2026-10-04.
    hours = bucket_starts(datetime(2026, 10, 4, tzinfo=LORD_HOWE),
                          datetime(2026, 10, 4, 4, tzinfo=LORD_HOWE), TimeInterval.hour, LORD_HOWE)
    assert iso(hours) == [
        "2026-10-04T00:00:00+10:30", "2026-10-04T01:00:00+10:30", "2026-10-04T02:30:00+11:00",
        "2026-10-04T03:00:00+11:00",
    ]
    days = bucket_starts(datetime(2026, 10, 4, tzinfo=LORD_HOWE),
                         datetime(2026, 10, 5, 1, tzinfo=LORD_HOWE), TimeInterval.day, LORD_HOWE)
    assert elapsed(days[0], days[1]) == timedelta(hours=23, minutes=30)


def test_kathmandu_quarter_hour_offset() -> None:
    hours = bucket_starts(datetime(2026, 5, 1, 4, 20, tzinfo=UTC),
                          datetime(2026, 5, 1, 6, 15, tzinfo=UTC), TimeInterval.hour, KATHMANDU)
    # 04:20Z is 10:05 in Kathmandu (+05:45): its hour started at 04:15Z.
    assert iso(hours) == ["2026-05-01T10:00:00+05:45", "2026-05-01T11:00:00+05:45"]
    assert hours[0].astimezone(UTC) == datetime(2026, 5, 1, 4, 15, tzinfo=UTC)
    days = bucket_starts(datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 5, 2, tzinfo=UTC),
                         TimeInterval.day, KATHMANDU)
    assert [d.astimezone(UTC).isoformat() for d in days] == [
        "2026-04-30T18:15:00+00:00", "2026-05-01T18:15:00+00:00"]


def test_midnight_in_a_dst_gap_starts_at_first_existing_instant() -> None:
    # Sao Paulo skipped 2018-11-04T00:00 -> 01:00.
    tz = ZoneInfo("America/Sao_Paulo")
    days = bucket_starts(datetime(2018, 11, 3, 12, tzinfo=tz), datetime(2018, 11, 5, tzinfo=tz),
                         TimeInterval.day, tz)
    assert iso(days) == ["2018-11-03T00:00:00-03:00", "2018-11-04T01:00:00-02:00"]
    assert elapsed(days[0], days[1]) == timedelta(hours=24)  # 03:00Z to 03:00Z
    weeks = bucket_starts(datetime(2018, 11, 5, tzinfo=tz), datetime(2018, 11, 6, tzinfo=tz),
                          TimeInterval.week, tz)
    assert iso(weeks) == ["2018-11-05T00:00:00-02:00"]


def test_midnight_strictly_inside_a_gap() -> None:
    tz = ZoneInfo("America/Toronto")  # 1919-03-30 23:30 (-05:00) -> 1919-03-31 00:30 (-04:00)
    days = bucket_starts(datetime(1919, 3, 30, 12, tzinfo=UTC),
                         datetime(1919, 3, 31, 12, tzinfo=UTC), TimeInterval.day, tz)
    assert iso(days) == ["1919-03-30T00:00:00-05:00", "1919-03-31T00:30:00-04:00"]
    assert elapsed(days[0], days[1]) == timedelta(hours=23, minutes=30)


def test_skipped_day_has_no_bucket() -> None:
    tz = ZoneInfo("Pacific/Apia")  # 2011-12-30 never happened there
    days = bucket_starts(datetime(2011, 12, 29, tzinfo=tz), datetime(2012, 1, 1, tzinfo=tz),
                         TimeInterval.day, tz)
    assert iso(days) == ["2011-12-29T00:00:00-10:00", "2011-12-31T00:00:00+14:00"]


def test_fall_back_across_midnight_keeps_the_repeated_hour_in_the_new_day() -> None:
    # St. John's fell back at 00:01 (-02:30) to 23:01 (-03:30) the previous day.
    tz = ZoneInfo("America/St_Johns")
    days = bucket_starts(datetime(2010, 11, 6, 12, tzinfo=tz), datetime(2010, 11, 8, tzinfo=tz),
                         TimeInterval.day, tz)
    assert iso(days) == ["2010-11-06T00:00:00-02:30", "2010-11-07T00:00:00-02:30"]
    repeated = datetime(2010, 11, 6, 23, 30, tzinfo=tz, fold=1)
    assert repeated.utcoffset() == timedelta(hours=-3, minutes=-30)
    assert same(bucket_start(repeated, TimeInterval.day, tz), days[1])
    hours = bucket_starts(datetime(2010, 11, 7, tzinfo=tz), datetime(2010, 11, 7, 1, tzinfo=tz),
                          TimeInterval.hour, tz)
    assert iso(hours) == ["2010-11-07T00:00:00-02:30", "2010-11-06T23:01:00-03:30",
                          "2010-11-07T00:00:00-03:30"]
    assert not is_base_aligned(hours[1])


def test_end_is_exclusive_and_inclusive_end_matches_generate_series() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = datetime(2026, 1, 3, tzinfo=UTC)
    assert len(bucket_starts(start, end, TimeInterval.day, UTC_ZONE)) == 2
    assert len(bucket_starts(start, end, TimeInterval.day, UTC_ZONE, inclusive_end=True)) == 3
    assert bucket_starts(start, start, TimeInterval.day, UTC_ZONE) == []
    assert iso(bucket_starts(start, start, TimeInterval.day, UTC_ZONE, inclusive_end=True)) == [
        "2026-01-01T00:00:00+00:00"]
    # A range inside a single bucket gives that bucket.
    assert iso(bucket_starts(start + timedelta(hours=1), start + timedelta(hours=2),
                             TimeInterval.day, UTC_ZONE)) == ["2026-01-01T00:00:00+00:00"]


def test_bucket_ranges_are_consecutive() -> None:
    ranges = bucket_ranges(datetime(2026, 3, 28, tzinfo=PARIS), datetime(2026, 3, 31, tzinfo=PARIS),
                           TimeInterval.day, PARIS)
    assert [(a.isoformat(), b.isoformat()) for a, b in ranges] == [
        ("2026-03-28T00:00:00+01:00", "2026-03-29T00:00:00+01:00"),
        ("2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00"),
        ("2026-03-30T00:00:00+02:00", "2026-03-31T00:00:00+02:00"),
    ]
    assert bucket_ranges(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC),
                         TimeInterval.day, PARIS) == []


# --------------------------------------------------------------------------- errors / limits


def test_limits_and_errors() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert bucket_count(start, start + timedelta(hours=MAX_BUCKETS), TimeInterval.hour,
                        UTC_ZONE) == MAX_BUCKETS
    with pytest.raises(CalendarError) as too_many:
        bucket_count(start, start + timedelta(hours=MAX_BUCKETS, seconds=1), TimeInterval.hour,
                     UTC_ZONE)
    assert too_many.value.loc == ("query", "interval")
    with pytest.raises(CalendarError) as backwards:
        bucket_starts(start, start - timedelta(seconds=1), TimeInterval.day, UTC_ZONE)
    assert backwards.value.loc == ("query", "start_timestamp")
    with pytest.raises(CalendarError) as naive:
        bucket_starts(start, datetime(2026, 2, 1), TimeInterval.day, UTC_ZONE)
    assert naive.value.loc == ("query", "end_timestamp")
    assert naive.value.type == "timezone_aware"
    # A huge range with a large interval is fine and fast.
    assert bucket_count(datetime(1900, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC),
                        TimeInterval.year, PARIS) == 201


def test_parse_timezone_and_interval() -> None:
    assert parse_timezone("Europe/Paris") is PARIS
    assert parse_timezone("UTC") == UTC_ZONE
    for bad in ("Europe/Nowhere", "", "europe/paris", "../etc/passwd", "/etc/localtime",
                "Europe", 42, None):
        with pytest.raises(CalendarError) as exc:
            parse_timezone(bad)
        assert exc.value.loc == ("query", "timezone")
        assert exc.value.input == bad
    assert parse_interval("week") is TimeInterval.week
    with pytest.raises(CalendarError) as exc:
        parse_interval("fortnight")
    assert exc.value.loc == ("query", "interval")
    assert exc.value.type == "enum"


def test_floor_to_base() -> None:
    assert BASE_BUCKET == timedelta(minutes=15)
    ts = datetime(2026, 3, 29, 3, 44, 59, 999999, tzinfo=PARIS)  # 01:44:59.999999Z
    assert floor_to_base(ts) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert floor_to_base(ts).tzinfo is UTC
    assert floor_to_base(datetime(2026, 1, 1, 0, 45, tzinfo=UTC)) == datetime(
        2026, 1, 1, 0, 45, tzinfo=UTC)
    assert is_base_aligned(datetime(2026, 1, 1, 10, 0, tzinfo=KATHMANDU))  # 04:15Z
    assert not is_base_aligned(datetime(2026, 1, 1, 0, 1, tzinfo=UTC))
    with pytest.raises(CalendarError):
        floor_to_base(datetime(2026, 1, 1))


# --------------------------------------------------------------------------- brute-force oracle


def _wall(u: datetime, tz: ZoneInfo) -> datetime:
    return u.astimezone(tz).replace(tzinfo=None)


def _period(d: date, interval: TimeInterval) -> date:
    if interval is TimeInterval.week:
        return d - timedelta(days=d.weekday())
    if interval is TimeInterval.month:
        return d.replace(day=1)
    if interval is TimeInterval.year:
        return d.replace(month=1, day=1)
    return d


def _shift(p: date, interval: TimeInterval, n: int) -> date:
    if interval is TimeInterval.day:
        return p + timedelta(days=n)
    if interval is TimeInterval.week:
        return p + timedelta(days=7 * n)
    if interval is TimeInterval.month:
        months = p.year * 12 + p.month - 1 + n
        return date(months // 12, months % 12 + 1, 1)
    return date(p.year + n, 1, 1)


def _floor_minute(u: datetime) -> datetime:
    return u.replace(second=0, microsecond=0)


def oracle_bucket_starts(start: datetime, end: datetime, interval: TimeInterval,
                         tz: ZoneInfo) -> list[datetime]:
    """Minute-by-minute reference (valid when all zone transitions are on whole minutes, i.e.
    from 1973 on): a period's bucket starts at the first minute whose local period reaches it;
    an hour bucket is a run of minutes sharing local (date, hour) and UTC offset."""
    s, e = start.astimezone(UTC), end.astimezone(UTC)
    boundaries: list[datetime] = []
    if interval is TimeInterval.hour:
        u = _floor_minute(s - timedelta(hours=2))
        previous = None
        while u < e:
            local = u.astimezone(tz)
            key = (local.date(), local.hour, local.utcoffset())
            if key != previous:
                boundaries.append(u)
            previous = key
            u += MINUTE
    else:
        first = _period(_wall(s, tz).date(), interval)
        last = _period(_wall(e, tz).date(), interval)
        p = _shift(first, interval, -1)
        while p <= _shift(last, interval, 1):
            target = datetime(p.year, p.month, p.day)
            # Offsets stay within +-26 h, so the first local time reaching `target` is in here.
            u = target.replace(tzinfo=UTC) - timedelta(hours=26)
            while _period(_wall(u, tz).date(), interval) < p:
                u += MINUTE
            if not boundaries or boundaries[-1] != u:
                boundaries.append(u)
            p = _shift(p, interval, 1)
    if s == e:
        return []
    out = []
    for i, b in enumerate(boundaries):
        nxt = boundaries[i + 1] if i + 1 < len(boundaries) else None
        if b < e and (nxt is None or nxt > s):
            out.append(b.astimezone(tz))
    return out


RANGES = {
    TimeInterval.hour: timedelta(hours=30),
    TimeInterval.day: timedelta(days=6),
    TimeInterval.week: timedelta(days=20),
    TimeInterval.month: timedelta(days=70),
    TimeInterval.year: timedelta(days=500),
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    zone=st.sampled_from(ZONES),
    interval=st.sampled_from(list(TimeInterval)),
    start_s=st.integers(int(datetime(1973, 1, 1, tzinfo=UTC).timestamp()),
                        int(datetime(2060, 1, 1, tzinfo=UTC).timestamp())),
    length_s=st.integers(0, 10**9),
)
def test_bucket_starts_match_brute_force(zone: str, interval: TimeInterval, start_s: int,
                                         length_s: int) -> None:
    tz = ZoneInfo(zone)
    start = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=start_s)
    max_length = int(RANGES[interval].total_seconds())
    end = start + timedelta(seconds=length_s % (max_length + 1))
    expected = oracle_bucket_starts(start, end, interval, tz)
    actual = bucket_starts(start, end, interval, tz)
    assert iso(actual) == iso(expected)
    assert [a.utcoffset() for a in actual] == [x.utcoffset() for x in expected]


TRICKY = [
    # (zone, interval, start (UTC), end (UTC))
    ("America/St_Johns", TimeInterval.hour, datetime(2010, 11, 7, 1), datetime(2010, 11, 7, 6)),
    ("America/St_Johns", TimeInterval.hour, datetime(2010, 3, 14, 1), datetime(2010, 3, 14, 6)),
    ("America/St_Johns", TimeInterval.day, datetime(2010, 11, 5), datetime(2010, 11, 9)),
    ("America/Sao_Paulo", TimeInterval.day, datetime(2018, 11, 2), datetime(2018, 11, 6)),
    ("America/Sao_Paulo", TimeInterval.hour, datetime(2018, 11, 4), datetime(2018, 11, 4, 6)),
    ("America/Sao_Paulo", TimeInterval.day, datetime(2019, 2, 15), datetime(2019, 2, 19)),
    ("Pacific/Apia", TimeInterval.day, datetime(2011, 12, 28), datetime(2012, 1, 2)),
    ("Pacific/Apia", TimeInterval.week, datetime(2011, 12, 20), datetime(2012, 1, 10)),
    ("Pacific/Kwajalein", TimeInterval.day, datetime(1993, 8, 18), datetime(1993, 8, 23)),
    ("Australia/Lord_Howe", TimeInterval.hour, datetime(2026, 4, 4, 12), datetime(2026, 4, 5)),
    ("Australia/Lord_Howe", TimeInterval.hour, datetime(2026, 10, 3, 12), datetime(2026, 10, 4)),
    ("Antarctica/Casey", TimeInterval.hour, datetime(2020, 10, 3, 14), datetime(2020, 10, 3, 19)),
    ("Asia/Gaza", TimeInterval.hour, datetime(2010, 3, 26, 20), datetime(2010, 3, 27, 1)),
    ("Asia/Gaza", TimeInterval.day, datetime(2010, 3, 24), datetime(2010, 3, 29)),
    ("Africa/Casablanca", TimeInterval.day, datetime(2026, 2, 10), datetime(2026, 2, 20)),
    ("Africa/Casablanca", TimeInterval.hour, datetime(2026, 2, 15), datetime(2026, 2, 15, 6)),
    ("America/Havana", TimeInterval.day, datetime(2026, 3, 6), datetime(2026, 3, 10)),
    ("America/Havana", TimeInterval.hour, datetime(2026, 11, 1, 2), datetime(2026, 11, 1, 8)),
    ("Asia/Beirut", TimeInterval.day, datetime(2026, 3, 27), datetime(2026, 3, 31)),
    ("America/Santiago", TimeInterval.day, datetime(2026, 4, 3), datetime(2026, 4, 7)),
    ("America/Santiago", TimeInterval.month, datetime(2026, 8, 15), datetime(2026, 10, 15)),
    ("Pacific/Chatham", TimeInterval.hour, datetime(2026, 4, 4, 12), datetime(2026, 4, 4, 16)),
    ("Pacific/Kiritimati", TimeInterval.day, datetime(1994, 12, 29), datetime(1995, 1, 3)),
    # 1919: clocks jumped from 23:30 to 00:30, so midnight lay strictly inside the gap.
    ("America/Toronto", TimeInterval.day, datetime(1919, 3, 29), datetime(1919, 4, 2)),
    ("America/Toronto", TimeInterval.hour, datetime(1919, 3, 31, 2), datetime(1919, 3, 31, 7)),
    ("America/Toronto", TimeInterval.month, datetime(1919, 3, 15), datetime(1919, 4, 15)),
    ("Europe/Dublin", TimeInterval.day, datetime(2026, 10, 24), datetime(2026, 10, 27)),
    ("Asia/Tehran", TimeInterval.year, datetime(2021, 6, 1), datetime(2024, 2, 1)),
]


@pytest.mark.parametrize(("zone", "interval", "start", "end"), TRICKY)
def test_tricky_transitions_match_brute_force(zone: str, interval: TimeInterval, start: datetime,
                                              end: datetime) -> None:
    tz = ZoneInfo(zone)
    s, e = start.replace(tzinfo=UTC), end.replace(tzinfo=UTC)
    actual = bucket_starts(s, e, interval, tz)
    assert iso(actual) == iso(oracle_bucket_starts(s, e, interval, tz))
    for a, b in itertools.pairwise(actual):
        assert same(bucket_end(a, interval, tz), b)
        assert same(bucket_start(b.astimezone(UTC) - timedelta(microseconds=1), interval, tz), a)
        assert same(bucket_start(b, interval, tz), b)


def test_hour_buckets_pre_1970_odd_offsets_do_not_use_base_buckets() -> None:
    # Paris used LMT +00:09:21 until 1891-03-16: hours started at hh:50:39 UTC.
    hours = bucket_starts(datetime(1891, 3, 14, 0, 5, tzinfo=UTC),
                          datetime(1891, 3, 14, 2, tzinfo=UTC), TimeInterval.hour, PARIS)
    assert [h.astimezone(UTC).time().isoformat() for h in hours] == [
        "23:50:39", "00:50:39", "01:50:39"]
    # Monrovia left -00:44:30 on 1972-01-07 at 00:44:30 UTC (00:00 local -> 00:44:30 local).
    tz = ZoneInfo("Africa/Monrovia")
    days = bucket_starts(datetime(1972, 1, 6, tzinfo=UTC), datetime(1972, 1, 9, tzinfo=UTC),
                         TimeInterval.day, tz)
    assert iso(days) == ["1972-01-05T00:00:00-00:44:30", "1972-01-06T00:00:00-00:44:30",
                         "1972-01-07T00:44:30+00:00", "1972-01-08T00:00:00+00:00"]


# --------------------------------------------------------------------------- the 15-minute claim


@dataclass(frozen=True)
class ZoneData:
    transitions: list[tuple[int, int, int]]  # (utc seconds, offset before, offset after)
    footer_offsets: list[int]
    footer_times: list[int]  # local times of day (seconds) of the footer's DST rules


def _tzif_bytes(name: str) -> bytes:
    """The file zoneinfo itself loads for `name` (TZPATH first, then the tzdata package)."""
    for root in zoneinfo.TZPATH:
        path = os.path.join(root, name)
        if os.path.isfile(path):
            with open(path, "rb") as fh:
                return fh.read()
    return importlib.resources.files("tzdata.zoneinfo").joinpath(*name.split("/")).read_bytes()


_POSIX_OFFSET = r"[+-]?\d{1,3}(?::\d{2}(?::\d{2})?)?"
_POSIX_NAME = r"(?:<[^>]+>|[A-Za-z]{3,})"
_POSIX_TZ = re.compile(
    rf"^(?P<std>{_POSIX_NAME})(?P<stdoff>{_POSIX_OFFSET})"
    rf"(?:(?P<dst>{_POSIX_NAME})(?P<dstoff>{_POSIX_OFFSET})?"
    rf"(?:,(?P<r1>[^,/]+)(?:/(?P<t1>{_POSIX_OFFSET}))?,(?P<r2>[^,/]+)(?:/(?P<t2>{_POSIX_OFFSET}))?)?)?$"
)


def _hms(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    parts = [int(p) for p in text.lstrip("+-").split(":")]
    parts += [0] * (3 - len(parts))
    return sign * (parts[0] * 3600 + parts[1] * 60 + parts[2])


@cache
def zone_data(name: str) -> ZoneData:
    data = _tzif_bytes(name)

    def header(offset: int) -> tuple[int, ...]:
        assert data[offset:offset + 4] == b"TZif", name
        return struct.unpack(">6l", data[offset + 20:offset + 44])

    isut, isstd, leap, timecnt, typecnt, charcnt = header(0)
    assert data[4:5] >= b"2", f"{name}: TZif v1 only"
    pos = 44 + timecnt * 5 + typecnt * 6 + charcnt + leap * 8 + isstd + isut
    isut, isstd, leap, timecnt, typecnt, charcnt = header(pos)
    pos += 44
    times = struct.unpack(f">{timecnt}q", data[pos:pos + 8 * timecnt])
    pos += 8 * timecnt
    indices = data[pos:pos + timecnt]
    pos += timecnt
    offsets = [struct.unpack(">l", data[pos + 6 * i:pos + 6 * i + 4])[0] for i in range(typecnt)]
    pos += 6 * typecnt + charcnt + leap * 12 + isstd + isut
    footer = data[pos:].strip(b"\n").decode()
    transitions = []
    before = offsets[0]
    for t, i in zip(times, indices, strict=True):
        if offsets[i] != before:
            transitions.append((t, before, offsets[i]))
        before = offsets[i]
    footer_offsets: list[int] = []
    footer_times: list[int] = []
    if footer:
        m = _POSIX_TZ.match(footer)
        assert m, f"{name}: unparsed TZ string {footer!r}"
        std = -_hms(m["stdoff"])
        footer_offsets.append(std)
        if m["dst"]:
            footer_offsets.append(-_hms(m["dstoff"]) if m["dstoff"] else std + 3600)
            footer_times += [_hms(m[t]) if m[t] else 7200 for t in ("t1", "t2") if m["r1"]]
    return ZoneData(transitions, footer_offsets, footer_times)


def _iso(seconds: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)).isoformat()


QUARTER = 900
ODD_OFFSETS_UNTIL = "1979-10-01T10:40:00+00:00"  # Pacific/Kiritimati -10:40 -> -10:00
ODD_TRANSITIONS_UNTIL = "2022-10-01T16:01:00+00:00"  # Antarctica/Casey 00:01 +08 -> 03:01 +11


def test_tzif_reader_agrees_with_zoneinfo() -> None:
    """Guards the reader used below: its transitions are the ones zoneinfo applies."""
    for name in ZONES:
        tz = ZoneInfo(name)
        for t, before, after in zone_data(name).transitions:
            if not 0 <= t < 2**31 - 1:
                continue
            u = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=t)
            assert u.astimezone(tz).utcoffset() == timedelta(seconds=after), (name, _iso(t))
            assert (u - timedelta(seconds=1)).astimezone(tz).utcoffset() == timedelta(
                seconds=before), (name, _iso(t))


def _offset_changes_since(cutoff: int) -> Iterator[tuple[str, int, int, int]]:
    for name in ZONES:
        for t, before, after in zone_data(name).transitions:
            if t >= cutoff:
                yield name, t, before, after


def test_every_offset_since_1979_is_a_multiple_of_15_minutes() -> None:
    cutoff = int(datetime.fromisoformat(ODD_OFFSETS_UNTIL).timestamp())
    odd = [(name, _iso(t), after) for name, t, _, after in _offset_changes_since(cutoff)
           if after % QUARTER]
    assert odd == []
    assert [n for n in ZONES if any(o % QUARTER for o in zone_data(n).footer_offsets)] == []
    # The cut-off is tight: the last odd offset ended exactly then.
    last_odd = max(((t, name) for name in ZONES for t, before, _ in zone_data(name).transitions
                    if before % QUARTER), default=None)
    assert last_odd is not None and _iso(last_odd[0]) == ODD_OFFSETS_UNTIL
    assert last_odd[1] == "Pacific/Kiritimati"


def test_clock_changes_off_a_quarter_hour_and_their_effect() -> None:
    """Which offset changes since 1979 are not on a 15-minute UTC edge, and what they touch.

    Found (tzdata 2025/2026): America/St_Johns, America/Goose_Bay (-> 2011-03-13),
    America/Moncton (-> 2006-10-29), Asia/Gaza (2010, 2011), Asia/Hebron (2011),
    Antarctica/Casey (2020-2022), Pacific/Guam and Pacific/Saipan (1976, before the cut-off):
    all at hh:01. Every offset change starts an hour bucket, so those hour buckets are one minute
    off a base edge; none of them puts a local midnight inside a gap, so day / week / month /
    year buckets stay aligned.
    """
    cutoff = int(datetime.fromisoformat(ODD_OFFSETS_UNTIL).timestamp())
    misaligned = [(name, t) for name, t, _, _ in _offset_changes_since(cutoff) if t % QUARTER]
    zones = {name.split("/")[-1] for name, _ in misaligned}
    # (Kiritimati: the 10:40 change at the cut-off itself, leaving -10:40.)
    assert zones <= {"St_Johns", "Newfoundland", "Goose_Bay", "Moncton", "Gaza", "Hebron", "Casey",
                     "Kiritimati"}
    assert max(t for _, t in misaligned) == int(
        datetime.fromisoformat(ODD_TRANSITIONS_UNTIL).timestamp())
    # The tz database's rules for the future (TZ footers) change clocks on quarter hours too.
    assert [n for n in ZONES if any(t % QUARTER for t in zone_data(n).footer_times)] == []
    # Day-level boundaries: a change only starts a day bucket when a local midnight falls in the
    # gap it opens; every such change since the cut-off is on a quarter hour.
    day = 86400
    for name, t, before, after in _offset_changes_since(cutoff):
        if after > before and (t + before) // day != (t + after - 1) // day:
            assert t % QUARTER == 0, (name, _iso(t))


@pytest.mark.parametrize("interval", [TimeInterval.month, TimeInterval.week])
def test_recent_calendar_buckets_are_base_aligned_in_every_zone(interval: TimeInterval) -> None:
    start = datetime(2019, 1, 1, tzinfo=UTC)
    end = datetime(2027, 1, 1, tzinfo=UTC) if interval is TimeInterval.month else datetime(
        2021, 1, 1, tzinfo=UTC)
    for name in ZONES:
        tz = ZoneInfo(name)
        for b in bucket_starts(start, end, interval, tz):
            assert is_base_aligned(b), (name, b.isoformat())
