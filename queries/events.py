"""Events, event names and their labels, read from the events table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Connection, String, cast, false, func, or_, select

from domain.errors import NotFound
from domain.hierarchy import MAX_DEPTH, rolled_up
from projections.tables import customers, event_names, event_types, events
from queries.common import order_by, paginate
from queries.customers import customers_by_reference
from queries.filter_sql import filter_condition
from queries.hierarchy import descendants, spans_by_id
from queries.jsonsql import json_text
from queries.schemas import Event, EventName, EventSpan, ListResource, Pagination


@dataclass(frozen=True)
class EventQuery:
    customer_id: list[UUID] = field(default_factory=list)
    external_customer_id: list[str] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    start_timestamp: datetime | None = None
    end_timestamp: datetime | None = None
    metadata: dict[str, list[str]] = field(default_factory=dict)
    filter: dict[str, Any] | None = None
    query: str | None = None
    parent_id: UUID | None = None
    depth: int | None = None


def customer_condition(conn: Connection, organization_id: UUID, ids: Sequence[UUID],
                       external_ids: Sequence[str]) -> ColumnElement[bool]:
    """Events of these customers, whichever identifier the events were sent with."""
    ids, external_ids = customer_references(conn, organization_id, ids, external_ids)
    parts = []
    if ids:
        parts.append(events.c.customer_id.in_(ids))
    if external_ids:
        parts.append(events.c.external_customer_id.in_(external_ids))
    return or_(*parts) if parts else false()


def customer_references(conn: Connection, organization_id: UUID, ids: Sequence[UUID],
                        external_ids: Sequence[str]) -> tuple[list[UUID], list[str]]:
    """Every id and external id naming these customers (each given id adds the other)."""
    ids, external_ids = list(ids), list(external_ids)
    if ids:
        external_ids += [e for e in conn.execute(select(customers.c.external_id).where(
            customers.c.organization_id == organization_id, customers.c.id.in_(ids),
            customers.c.external_id.is_not(None))).scalars()]
    if external_ids:
        ids += list(conn.execute(select(customers.c.id).where(
            customers.c.organization_id == organization_id,
            customers.c.external_id.in_(external_ids))).scalars())
    return ids, external_ids


def _conditions(conn: Connection, organization_id: UUID, q: EventQuery) -> list[Any]:
    dialect = conn.dialect.name
    where: list[Any] = [events.c.organization_id == organization_id]
    if q.customer_id or q.external_customer_id:
        where.append(customer_condition(conn, organization_id, q.customer_id,
                                        q.external_customer_id))
    if q.name:
        where.append(events.c.name.in_(q.name))
    if q.source:
        where.append(events.c.source.in_(q.source))
    if q.start_timestamp is not None:
        where.append(events.c.timestamp > q.start_timestamp)
    if q.end_timestamp is not None:
        where.append(events.c.timestamp < q.end_timestamp)
    for key, values in q.metadata.items():
        where.append(json_text(events.c.metadata, tuple(key.removeprefix("metadata.")
                                                        .split("."))).in_(values))
    if q.filter is not None:
        where.append(filter_condition(q.filter, dialect))
    if q.query:
        pattern = f"%{q.query.lower()}%"
        matching = select(customers.c.id).where(
            customers.c.organization_id == organization_id,
            or_(func.lower(customers.c.name).like(pattern),
                func.lower(customers.c.email).like(pattern),
                func.lower(customers.c.external_id).like(pattern)))
        matching_external = select(customers.c.external_id).where(
            customers.c.id.in_(matching.scalar_subquery()))
        where.append(or_(
            func.lower(events.c.name).like(pattern),
            func.lower(cast(events.c.metadata, String)).like(pattern),
            func.lower(events.c.external_customer_id).like(pattern),
            events.c.customer_id.in_(matching.scalar_subquery()),
            events.c.external_customer_id.in_(matching_external.scalar_subquery()),
        ))
    if q.parent_id is not None:
        levels = q.depth if q.depth is not None else 1
        where.append(descendants(conn, organization_id, q.parent_id, min(levels, MAX_DEPTH)))
    elif q.depth is not None:
        where.append(events.c.depth <= q.depth)
    return where


def list_events(conn: Connection, organization_id: UUID, q: EventQuery, *,
                sorting: Sequence[str], page: int, limit: int,
                aggregate_fields: Sequence[tuple[str, ...]] = ()) -> ListResource[Event]:
    stmt = select(events).where(*_conditions(conn, organization_id, q)).order_by(
        *order_by(sorting, {"timestamp": events.c.timestamp}, events.c.id))
    rows, total = paginate(conn, stmt, page, limit)
    return ListResource[Event](items=to_events(conn, organization_id, rows, aggregate_fields),
                               pagination=Pagination.of(total, limit))


def get_event(conn: Connection, organization_id: UUID, event_id: UUID,
              aggregate_fields: Sequence[tuple[str, ...]] = ()) -> Event:
    return to_events(conn, organization_id, [event_row(conn, organization_id, event_id)],
                     aggregate_fields)[0]


def event_row(conn: Connection, organization_id: UUID, event_id: UUID) -> Any:
    row = conn.execute(select(events).where(events.c.organization_id == organization_id,
                                            events.c.id == event_id)).mappings().first()
    if row is None:
        raise NotFound("Event not found")
    return row


SYSTEM_LABELS = {
    "meter.credited": "Meter Credited",
    "meter.reset": "Meter Reset",
}


def labels(conn: Connection, organization_id: UUID,
           names: set[str]) -> dict[str, tuple[str, str | None]]:
    """(label, label_property_selector) of each named event type."""
    rows = conn.execute(select(event_types.c.name, event_types.c.label,
                               event_types.c.label_property_selector).where(
        event_types.c.organization_id == organization_id, event_types.c.name.in_(names)))
    return {name: (label, selector) for name, label, selector in rows}


def _label(row: Any, types: dict[str, tuple[str, str | None]]) -> str:
    if row["source"] == "system":
        return SYSTEM_LABELS.get(row["name"], row["name"])
    label, selector = types.get(row["name"], (row["name"], None))
    if selector:
        value: Any = row["metadata"]
        for part in selector.removeprefix("metadata.").split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return label


def wire_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata as Polar returns it: `_cost.amount` is a decimal string in plain notation
    (`0.000000000001`, never `1E-12`), other numbers stay JSON numbers with every digit."""
    cost = metadata.get("_cost")
    if isinstance(cost, dict) and "amount" in cost:
        return {**metadata, "_cost": {**cost, "amount": format(Decimal(cost["amount"]), "f")}}
    return metadata


def to_events(conn: Connection, organization_id: UUID, rows: Sequence[Any],
              aggregate_fields: Sequence[tuple[str, ...]] = ()) -> list[Event]:
    """Events as returned by the API; each path of `aggregate_fields` (`("_cost", "amount")`)
    holds the event's own value plus the sum over its descendants."""
    return [Event(**f) for f in event_fields(conn, organization_id, rows, aggregate_fields)]


def event_fields(conn: Connection, organization_id: UUID, rows: Sequence[Any],
                 aggregate_fields: Sequence[tuple[str, ...]] = ()) -> list[dict[str, Any]]:
    """The fields of `Event` for each row (see `to_events`)."""
    marked = spans_by_id(conn, organization_id, {r["span_id"] for r in rows if r["span_id"]})
    by_id, by_external = customers_by_reference(
        conn, organization_id, [r["customer_id"] for r in rows if r["customer_id"]],
        [r["external_customer_id"] for r in rows if r["external_customer_id"]])
    types = labels(conn, organization_id, {r["name"] for r in rows})
    result = []
    for row in rows:
        customer = by_id.get(row["customer_id"]) if row["customer_id"] else \
            by_external.get(row["external_customer_id"])
        metadata = rolled_up(row["metadata"], row["subtree_totals"] or {}, aggregate_fields) \
            if aggregate_fields else row["metadata"]
        span = marked.get(row["span_id"]) if row["span_id"] else None
        result.append({
            "id": row["id"], "timestamp": row["timestamp"],
            "organization_id": row["organization_id"],
            "customer_id": customer.id if customer else row["customer_id"], "customer": customer,
            "external_customer_id": row["external_customer_id"] or (
                customer.external_id if customer else None),
            "member_id": row["member_id"], "external_member_id": row["external_member_id"],
            "child_count": row["child_count"], "parent_id": row["parent_id"],
            "label": _label(row, types), "name": row["name"], "source": row["source"],
            "metadata": wire_metadata(metadata), "external_id": row["external_id"],
            "ingested_at": row["ingested_at"], "root_id": row["root_id"], "depth": row["depth"],
            "descendant_count": row["descendant_count"],
            "span": EventSpan(**span.model_dump(), action="start" if span.start_event_id ==
                              row["id"] else "end") if span else None})
    return result


_NAME_SORT = {"name": event_names.c.name, "occurrences": event_names.c.occurrences,
              "first_seen": event_names.c.first_seen, "last_seen": event_names.c.last_seen}


def list_event_names(conn: Connection, organization_id: UUID, *, source: Sequence[str],
                     query: str | None, customer_ids: Sequence[UUID],
                     external_customer_ids: Sequence[str], sorting: Sequence[str], page: int,
                     limit: int) -> ListResource[EventName]:
    if customer_ids or external_customer_ids:
        stmt = select(events.c.name, events.c.source,
                      func.count().label("occurrences"),
                      func.min(events.c.timestamp).label("first_seen"),
                      func.max(events.c.timestamp).label("last_seen")).where(
            events.c.organization_id == organization_id,
            customer_condition(conn, organization_id, customer_ids, external_customer_ids),
        ).group_by(events.c.name, events.c.source)
        base = stmt.subquery()
        table: Any = base
    else:
        table = event_names
        base = None
    stmt = select(table).where(table.c.organization_id == organization_id) if base is None \
        else select(table)
    if source:
        stmt = stmt.where(table.c.source.in_(source))
    if query:
        stmt = stmt.where(func.lower(table.c.name).like(f"%{query.lower()}%"))
    sort_columns = {k: table.c[v.name] for k, v in _NAME_SORT.items()}
    stmt = stmt.order_by(*order_by(sorting, sort_columns, table.c.name))
    rows, total = paginate(conn, stmt, page, limit)
    types = labels(conn, organization_id, {r["name"] for r in rows})
    items = [EventName(name=r["name"], source=r["source"],
                       label=SYSTEM_LABELS.get(r["name"], r["name"]) if r["source"] == "system"
                       else types.get(r["name"], (r["name"], None))[0],
                       occurrences=r["occurrences"], first_seen=r["first_seen"],
                       last_seen=r["last_seen"]) for r in rows]
    return ListResource[EventName](items=items, pagination=Pagination.of(total, limit))


__all__ = ["EventQuery", "get_event", "list_event_names", "list_events"]
