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

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

from sqlalchemy import ColumnElement, Connection, case, distinct, func, literal, select
from sqlalchemy import literal_column as sql
from sqlalchemy.dialects.postgresql import array

from domain.aggregation import EMPTY, AggregationFunction, Partial, canonical_value
from domain.credit_book import MeterDefinition
from domain.meter_filter import metadata_path
from domain.usage import SYSTEM
from domain.values import loads
from projections.tables import events
from queries.filter_sql import filter_condition
from queries.jsonsql import json_kind, json_number, json_value

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SCALARS = ("string", "number", "boolean", "null")
_BUCKET = sql("date_bin('15 minutes', events.ingested_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')")
"""`domain.calendar.floor_to_base` of the ingestion time."""
_AT = sql("(extract(epoch FROM events.ingested_at) * 1000000)::bigint")
"""The ingestion time in whole microseconds (exact: `extract` gives a NUMERIC)."""


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


def page_organizations(conn: Connection, organizations: Collection[UUID], after: int,
                       upto: int) -> dict[UUID, bool]:
    """Which of these organizations have events at positions in (`after`, `upto`], and for
    each whether some are system events (credits, resets: those are folded one by one)."""
    if not organizations:
        return {}
    rows = conn.execute(select(events.c.organization_id, func.bool_or(events.c.source == SYSTEM))
                        .where(events.c.organization_id.in_(organizations),
                               events.c.position > after, events.c.position <= upto)
                        .group_by(events.c.organization_id))
    return {organization_id: bool(system) for organization_id, system in rows}


def usage_groups(conn: Connection, meter: MeterDefinition, after: int,
                 upto: int) -> list[UsageGroup]:
    """The meter's user events at positions in (`after`, `upto`], grouped (`aggregable` meters
    only; the events read table must hold the range)."""
    parsed = meter.parsed()
    assert parsed is not None
    aggregation = parsed[1]
    path = metadata_path(aggregation.property or "") or ()
    value: ColumnElement[Any] = literal(None)
    if aggregation.func is AggregationFunction.unique:
        value = case((json_kind(events.c.metadata, path).in_(_SCALARS),
                      json_value(events.c.metadata, path)))
    elif aggregation.func is not AggregationFunction.count:
        value = json_number(events.c.metadata, path)
    matched = select(events.c.position, events.c.customer_id, events.c.external_customer_id,
                     _BUCKET.label("bucket"), _AT.label("at"), value.label("v")).where(
        events.c.organization_id == meter.organization_id, events.c.position > after,
        events.c.position <= upto, events.c.source != SYSTEM,
        filter_condition(parsed[0].to_json(), "postgresql")).subquery()
    first_last = [func.min(array([matched.c.position, matched.c.at])),
                  func.max(array([matched.c.position, matched.c.at])), func.max(matched.c.at)]
    amounts: list[ColumnElement[Any]] = []
    if aggregation.func is AggregationFunction.unique:
        amounts = [func.count(matched.c.v),
                   func.array_agg(distinct(matched.c.v)).filter(matched.c.v.is_not(None))]
    elif aggregation.func is not AggregationFunction.count:
        amounts = [func.count(matched.c.v), func.sum(matched.c.v), func.min(matched.c.v),
                   func.max(matched.c.v)]
    rows = conn.execute(select(matched.c.customer_id, matched.c.external_customer_id,
                               matched.c.bucket, func.count(), *first_last, *amounts)
                        .group_by(matched.c.customer_id, matched.c.external_customer_id,
                                  matched.c.bucket)).all()
    return [UsageGroup(customer_id, external_id, bucket.astimezone(UTC), count, first[0],
                       last[0], _time(first[1]), _time(last[1]), _time(latest),
                       _partial(aggregation.func, count, amounts_))
            for customer_id, external_id, bucket, count, first, last, latest, *amounts_ in rows]


def _partial(function: AggregationFunction, events_: int, amounts: list[Any]) -> Partial:
    """What `domain.aggregation.Tally` makes of the group's contributions."""
    if function is AggregationFunction.count:
        return Partial(count=events_)
    count = amounts[0]
    if not count:
        return EMPTY
    if function is AggregationFunction.unique:
        return Partial(count, distinct=frozenset(
            str(canonical_value(loads(text))) for text in amounts[1]))
    return Partial(count, *amounts[1:])


def _time(microseconds: int) -> datetime:
    return _EPOCH + timedelta(microseconds=microseconds)
