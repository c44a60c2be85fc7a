"""Meter quantities over calendar buckets in any time zone.

Buckets are the calendar periods of the requested zone (`domain.calendar`) from the one holding
`start_timestamp` to the one holding `end_timestamp` (inclusive, as Polar's series), each counting
all its events. Two ways to answer, with identical results:

- from the meter's live usage build (`projections.meter_usage`): its 15-minute partials are summed
  into the requested buckets by one GROUP BY (PostgreSQL: `width_bucket` and NUMERIC sums; SQLite,
  whose decimals are text: the exact functions of `projections.exact_sqlite`). The all-customers
  case reads the roll-up table.
- from the events read table, when the build cannot answer: a `metadata[k]=v` filter (event
  metadata is not kept in the buckets), no live build yet (a new meter's first build is still
  running), or a bucket edge that is not on a 15-minute boundary (a few historical zone changes).
  The meter's filter and aggregation are then applied in Python with the same domain functions.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import ARRAY, Connection, DateTime, bindparam, func, select

from domain.aggregation import (
    Aggregation,
    AggregationFunction,
    Partial,
    merge,
    parse_aggregation,
    partial_of,
)
from domain.calendar import TimeInterval, bucket_ranges, is_base_aligned
from domain.meter_filter import parse_filter
from domain.quantities import EXTERNAL, Metered, Partials, answer, customer_key, identity
from projections import exact_sqlite
from projections.meter_tables import (
    LIVE,
    meter_builds,
    meter_usage,
    meter_usage_rollup,
    meter_usage_values,
)
from projections.tables import customers, events
from queries.common import chunks, streamed
from queries.events import customer_condition, customer_references
from queries.jsonsql import json_text
from queries.meters import meter_row
from queries.schemas import MeterQuantities, MeterQuantity

PROJECTION, EVENTS = "projection", "events"
_ALL = "*"
"""The customer key used when customers are not told apart."""


@dataclass(frozen=True)
class QuantitiesQuery:
    start: datetime
    end: datetime
    interval: TimeInterval
    timezone: ZoneInfo
    customer_id: list[UUID] = field(default_factory=list)
    external_customer_id: list[str] = field(default_factory=list)
    customer_aggregation: AggregationFunction | None = None
    metadata: dict[str, list[str]] = field(default_factory=dict)

    @property
    def by_customer(self) -> bool:
        return bool(self.customer_id or self.external_customer_id)


@dataclass(frozen=True)
class Buckets:
    starts: list[datetime]
    """Bucket starts, in the requested zone."""
    edges: list[datetime]
    """The starts and the end of the last bucket, in UTC."""

    @classmethod
    def of(cls, q: QuantitiesQuery) -> Buckets:
        """Raises `domain.calendar.CalendarError` (reversed range, too many buckets)."""
        ranges = bucket_ranges(q.start, q.end, q.interval, q.timezone, inclusive_end=True)
        return cls([s for s, _ in ranges],
                   [s.astimezone(UTC) for s, _ in ranges] + [ranges[-1][1].astimezone(UTC)])

    def index(self, at: datetime) -> int:
        return bisect_right(self.edges, at) - 1


def live_build(conn: Connection, organization_id: UUID, meter_id: UUID) -> Any:
    return conn.execute(select(meter_builds).where(
        meter_builds.c.meter_id == meter_id, meter_builds.c.organization_id == organization_id,
        meter_builds.c.state == LIVE)).mappings().first()


def from_projection(conn: Connection, organization_id: UUID, meter_id: UUID,
                    q: QuantitiesQuery, buckets: Buckets) -> MeterQuantities | None:
    """The answer from the live build, or None when it cannot give one (see the module)."""
    build = live_build(conn, organization_id, meter_id)
    if build is None or q.metadata or not all(is_base_aligned(e) for e in buckets.edges):
        return None
    aggregation = parse_aggregation(build["aggregation"])
    per_customer = q.by_customer or q.customer_aggregation is not None
    ids: list[UUID] = []
    external_ids: list[str] = []
    if q.by_customer:
        ids, external_ids = customer_references(conn, organization_id, q.customer_id,
                                                q.external_customer_id)

    def where(table: Any) -> list[Any]:
        conditions = [table.c.meter_id == meter_id, table.c.generation == build["generation"],
                      table.c.bucket >= buckets.edges[0], table.c.bucket < buckets.edges[-1]]
        if q.by_customer:
            conditions.append(_customers(table, ids, external_ids))
        return conditions

    table = meter_usage if per_customer else meter_usage_rollup
    partials = _sums(conn, table, where(table), per_customer, buckets)
    if aggregation.func is AggregationFunction.unique:
        _add_values(conn, where(meter_usage_values), per_customer, buckets, partials)
    return _answer(conn, organization_id, aggregation, q, buckets, partials)


def from_events(conn: Connection, organization_id: UUID, meter_id: UUID, q: QuantitiesQuery,
                buckets: Buckets) -> MeterQuantities:
    """The answer computed from the events read table (always possible, and exact)."""
    meter = meter_row(conn, organization_id, meter_id)
    definition = live_build(conn, organization_id, meter_id) or meter
    flt = parse_filter(definition["filter"])
    aggregation = parse_aggregation(definition["aggregation"])
    stmt = select(events.c.name, events.c.source, events.c.timestamp, events.c.metadata,
                  events.c.customer_id, events.c.external_customer_id).where(
        events.c.organization_id == organization_id,
        events.c.timestamp >= buckets.edges[0], events.c.timestamp < buckets.edges[-1])
    if q.by_customer:
        stmt = stmt.where(customer_condition(conn, organization_id, q.customer_id,
                                             q.external_customer_id))
    for name, wanted in q.metadata.items():
        stmt = stmt.where(json_text(events.c.metadata, tuple(
            name.removeprefix("metadata.").split("."))).in_(wanted))
    per_customer = q.by_customer or q.customer_aggregation is not None
    partials: dict[int, dict[str, Partial]] = {}
    for row in streamed(conn, stmt):
        view = Metered(row.name, row.source, row.timestamp, row.metadata)
        if not flt.matches(view):
            continue
        partial = partial_of(aggregation, view)
        if partial is None:
            continue
        key = customer_key(row.customer_id, row.external_customer_id) if per_customer else _ALL
        _merge_into(partials, buckets.index(row.timestamp), key, partial)
    return _answer(conn, organization_id, aggregation, q, buckets, partials)


# --------------------------------------------------------------------------- projection reads


def _customers(table: Any, ids: Sequence[UUID], external_ids: Sequence[str]) -> Any:
    """Rows of these customers (usage is keyed by customer id, else by external id)."""
    return table.c.customer.in_([customer_key(i, None) for i in ids]
                                + [customer_key(None, e) for e in external_ids])


def _index(conn: Connection, column: Any, buckets: Buckets) -> Any:
    """SQL for the requested bucket a 15-minute bucket falls in (None outside them all)."""
    if conn.dialect.name == "postgresql":
        edges = bindparam("edges", buckets.edges, type_=ARRAY(DateTime(timezone=True)))
        return func.width_bucket(column, edges) - 1
    stored = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    texts = [stored(e) for e in buckets.edges]   # the text SQLite holds: compares in order
    raw = conn.connection.driver_connection
    assert raw is not None
    raw.create_function("bucket_index", 1, lambda at: bisect_right(texts, at) - 1,
                        deterministic=True)
    exact_sqlite.register(conn)
    return func.bucket_index(column)


def _sums(conn: Connection, table: Any, where: Sequence[Any], per_customer: bool,
          buckets: Buckets) -> dict[int, dict[str, Partial]]:
    """The partials of the requested buckets (per customer key, or all customers)."""
    keys = [table.c.customer] if per_customer else []
    index = _index(conn, table.c.bucket, buckets).label("i")
    exact = conn.dialect.name == "postgresql"
    decimal = table.c.total.type
    total = func.sum(table.c.total) if exact else func.exact_sum(table.c.total, type_=decimal)
    low = func.min(table.c.minimum) if exact else func.exact_min(table.c.minimum, type_=decimal)
    high = func.max(table.c.maximum) if exact else func.exact_max(table.c.maximum, type_=decimal)
    stmt = select(index, *keys, func.sum(table.c.event_count).label("event_count"),
                  total.label("total"), low.label("minimum"), high.label("maximum")
                  ).where(*where).group_by(index, *keys)
    partials: dict[int, dict[str, Partial]] = {}
    for row in conn.execute(stmt).mappings():
        key = row["customer"] if per_customer else _ALL
        _merge_into(partials, row["i"], key, Partial(
            count=int(row["event_count"]), sum=row["total"], min=row["minimum"],
            max=row["maximum"]))
    return partials


def _add_values(conn: Connection, where: Sequence[Any], per_customer: bool, buckets: Buckets,
                partials: dict[int, dict[str, Partial]]) -> None:
    """The distinct values of a unique meter, added to the partials of their buckets."""
    values = meter_usage_values
    keys = [values.c.customer] if per_customer else []
    stmt = select(_index(conn, values.c.bucket, buckets).label("i"), *keys,
                  values.c.value).where(*where).distinct()
    for row in conn.execute(stmt).mappings():
        key = row["customer"] if per_customer else _ALL
        _merge_into(partials, row["i"], key, Partial(distinct=frozenset({row["value"]})))


def _merge_into(partials: dict[int, dict[str, Partial]], index: int, key: Any,
                partial: Partial) -> None:
    by_customer = partials.setdefault(index, {})
    existing = by_customer.get(key)
    by_customer[key] = partial if existing is None else merge(existing, partial)


# --------------------------------------------------------------------------- answer


def _answer(conn: Connection, organization_id: UUID, aggregation: Aggregation,
            q: QuantitiesQuery, buckets: Buckets,
            partials: Mapping[int, Mapping[str, Partial]]) -> MeterQuantities:
    by_identity: Partials = partials if q.customer_aggregation is None else _by_identity(
        conn, organization_id, partials)
    result = answer(aggregation, q.customer_aggregation, len(buckets.starts), by_identity)
    return MeterQuantities(
        quantities=[MeterQuantity(timestamp=s, quantity=v)
                    for s, v in zip(buckets.starts, result.quantities, strict=True)],
        total=result.total)


def _by_identity(conn: Connection, organization_id: UUID,
                 partials: Mapping[int, Mapping[str, Partial]]) -> Partials:
    """Re-key per-customer partials by customer (an external id of a known customer is that
    customer)."""
    external_ids = {key.removeprefix(EXTERNAL) for by in partials.values() for key in by
                    if key.startswith(EXTERNAL)}
    known = _customers_by_external_id(conn, organization_id, external_ids)
    result: dict[int, dict[str, Partial]] = {}
    for index, by_key in partials.items():
        for key, partial in by_key.items():
            _merge_into(result, index, identity(key, known), partial)
    return result


def _customers_by_external_id(conn: Connection, organization_id: UUID,
                              external_ids: Iterable[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in chunks(external_ids, 500):
        rows = conn.execute(select(customers.c.external_id, customers.c.id).where(
            customers.c.organization_id == organization_id,
            customers.c.external_id.in_(chunk)))
        found.update({external_id: str(customer_id) for external_id, customer_id in rows})
    return found
