"""Runs of usage for customer meters, aggregated by PostgreSQL from the events read table.

Customer meters consume usage in runs (`domain.credit_book`): the matching events of one customer
meter in one 15-minute ingestion bucket, with nothing else of that customer meter in between.
Folding a page event by event means decoding every ledger entry and matching it against every
meter in Python: two thirds of the projection's time. Once the events read table holds the page,
the database can work the runs out instead: per meter, one GROUP BY over the page's rows, by
customer (id or external id) and ingestion bucket, gives each group's events, its exact partial
(the values `projections.meter_backfill` aggregates for meter usage), and the ledger positions and
ingestion times of its first and last events. The caller resolves the customers and applies the
groups as runs (`Book.take_run`), when that is exactly what the fold would do (see
`projections.customer_meters`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Connection,
    Numeric,
    and_,
    case,
    func,
    literal,
    literal_column,
    select,
    text,
)

from domain.aggregation import EMPTY, Aggregation, AggregationFunction, Partial, canonical_value
from domain.credit_book import MeterDefinition
from domain.meter_filter import metadata_path
from domain.usage import SYSTEM
from domain.values import loads
from projections.tables import events
from queries.filter_sql import filter_condition
from queries.jsonsql import json_kind, json_number, json_value

_SCALARS = ("string", "number", "boolean", "null")
_BUCKET = literal_column("date_bin('15 minutes', events.ingested_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')")
"""`domain.calendar.floor_to_base` of the ingestion time."""


class UsageGroup(NamedTuple):
    """A page's matching user events of one meter, one customer reference and one bucket."""

    customer_id: UUID | None
    external_customer_id: str | None
    bucket: datetime
    events: int
    first_position: int
    last_position: int
    first: datetime
    """Ingestion time of the first event, in ledger order."""
    last: datetime
    """Ingestion time of the last event, in ledger order."""
    latest: datetime
    partial: Partial


def aggregable(meter: MeterDefinition) -> bool:
    """Whether SQL reproduces the meter's contributions: a valid definition counting events, or
    aggregating a metadata value (never an event field)."""
    parsed = meter.parsed()
    if parsed is None:
        return False
    aggregation = parsed[1]
    return aggregation.func is AggregationFunction.count or (
        aggregation.property is not None and metadata_path(aggregation.property) is not None)


def present_organizations(conn: Connection, organizations: Collection[UUID], after: int,
                          upto: int) -> list[UUID]:
    """Which of these organizations have events at positions in (`after`, `upto`] (an index
    probe each)."""
    if not organizations:
        return []
    return list(conn.execute(text(
        "SELECT o FROM unnest(CAST(:organizations AS uuid[])) AS o WHERE EXISTS (SELECT FROM "
        "events WHERE organization_id = o AND position > :after AND position <= :upto)"),
        {"organizations": list(organizations), "after": after, "upto": upto}).scalars())


_VALUES: dict[AggregationFunction, tuple[str, ...]] = {
    AggregationFunction.count: (), AggregationFunction.sum: ("count", "sum"),
    AggregationFunction.avg: ("count", "sum"), AggregationFunction.min: ("count", "min"),
    AggregationFunction.max: ("count", "max"), AggregationFunction.unique: ("count", "array_agg")}
"""The aggregates of its values each function needs: the fields of its partial that its value
reads (see `projections.customer_meters._stored_usage`)."""


def usage_groups(conn: Connection, organization_id: UUID, meters: Sequence[MeterDefinition],
                 after: int, upto: int) -> list[tuple[MeterDefinition, UsageGroup]] | None:
    """The user events of the organization's meters at positions in (`after`, `upto`], grouped
    (`aggregable` meters only; the events read table must hold the range); None if some of its
    events there are system events (credits, resets: those are folded one by one).

    One statement reads the page once for every meter, each meter's aggregates taking the rows
    its filter matches, and only those its partial's value reads; the positions where the
    ingestion time changes come from one more."""
    in_page = and_(events.c.organization_id == organization_id, events.c.position > after,
                   events.c.position <= upto)
    user = events.c.source != SYSTEM
    columns: list[ColumnElement[Any]] = []
    for n, meter in enumerate(meters):
        parsed = meter.parsed()
        assert parsed is not None
        columns += [and_(user, filter_condition(parsed[0].to_json(), "postgresql")).label(f"f{n}"),
                    _value(parsed[1]).label(f"v{n}")]
    rows = select(events.c.position, events.c.customer_id, events.c.external_customer_id,
                  events.c.source, _BUCKET.label("bucket"), events.c.ingested_at.label("at"),
                  *columns).where(in_page).subquery()
    key = (rows.c.customer_id, rows.c.external_customer_id, rows.c.bucket)
    aggregates: list[ColumnElement[Any]] = [func.bool_or(rows.c.source == SYSTEM)]
    for n, meter in enumerate(meters):
        matches, v = rows.c[f"f{n}"], rows.c[f"v{n}"]
        aggregates += [func.count().filter(matches), func.min(rows.c.position).filter(matches),
                       func.max(rows.c.position).filter(matches),
                       func.max(rows.c.at).filter(matches)]
        aggregates += [getattr(func, name)(v).filter(matches)
                       for name in _VALUES[_function(meter)]]
    grouped = conn.execute(select(*key, *aggregates).group_by(*key)).all()
    if any(row[3] for row in grouped):
        return None
    canonical: dict[str, str] = {}
    at = _ingestion_times(conn, in_page)
    found = []
    for customer_id, external_id, bucket, _, *figures in grouped:
        for meter in meters:
            count, first, last, latest = figures[:4]
            names = _VALUES[_function(meter)]
            values = dict(zip(names, figures[4:4 + len(names)], strict=True))
            figures = figures[4 + len(names):]
            if not count:
                continue
            if not names:
                partial = Partial(count=count)
            elif not values["count"]:
                partial = EMPTY
            elif "array_agg" in values:
                partial = Partial(values["count"], distinct=frozenset(
                    canonical.get(t) or canonical.setdefault(t, str(canonical_value(loads(t))))
                    for t in values["array_agg"] if t is not None))
            else:
                partial = Partial(values["count"], values.get("sum", Decimal(0)),
                                  values.get("min"), values.get("max"))
            found.append((meter, UsageGroup(customer_id, external_id, bucket.astimezone(UTC),
                                            count, first, last, at(first), at(last),
                                            latest.astimezone(UTC), partial)))
    return found


def _function(meter: MeterDefinition) -> AggregationFunction:
    parsed = meter.parsed()
    assert parsed is not None
    return parsed[1].func


def _value(aggregation: Aggregation) -> ColumnElement[Any]:
    """What an event contributes, as `domain.aggregation.contribution` (NULL: nothing): a
    metadata number, or for `unique` the JSON text of a metadata scalar; nothing for count."""
    path = metadata_path(aggregation.property or "") or ()
    if aggregation.func is AggregationFunction.unique:
        return case((json_kind(events.c.metadata, path).in_(_SCALARS),
                     json_value(events.c.metadata, path)))
    if aggregation.func is AggregationFunction.count:
        return literal(None, Numeric())
    return json_number(events.c.metadata, path)


def _ingestion_times(conn: Connection, in_page: ColumnElement[bool]) -> Callable[[int], datetime]:
    """The ingestion time of each position of the page, from the positions where it changes (a
    batch of events shares one)."""
    previous = func.lag(events.c.ingested_at).over(order_by=events.c.position)
    times = select(events.c.position, events.c.ingested_at, previous.label("previous")) \
        .where(in_page).subquery()
    changes = conn.execute(select(times.c.position, times.c.ingested_at)
                           .where(times.c.previous.is_distinct_from(times.c.ingested_at))
                           .order_by(times.c.position)).all()
    positions = [position for position, _ in changes]
    return lambda position: changes[bisect_right(positions, position) - 1][1].astimezone(UTC)
