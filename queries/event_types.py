"""Event types with their statistics."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import Connection, func, literal, null, select, union_all

from domain.errors import NotFound
from projections.tables import event_names, event_types
from queries.common import order_by, paginate
from queries.events import SYSTEM_LABELS
from queries.schemas import EventType, EventTypeWithStats, ListResource, Pagination


def get_event_type(conn: Connection, organization_id: UUID, event_type_id: UUID) -> EventType:
    row = conn.execute(select(event_types).where(
        event_types.c.organization_id == organization_id,
        event_types.c.id == event_type_id)).mappings().first()
    if row is None:
        raise NotFound("Event type not found")
    return EventType(**{k: row[k] for k in EventType.model_fields})


def list_event_types(conn: Connection, organization_id: UUID, *, query: str | None,
                     source: str | None, sorting: Sequence[str], page: int,
                     limit: int) -> ListResource[EventTypeWithStats]:
    user = select(
        event_types.c.id, event_types.c.created_at, event_types.c.modified_at,
        event_types.c.name, event_types.c.label, event_types.c.label_property_selector,
        literal("user").label("source"), event_names.c.occurrences, event_names.c.first_seen,
        event_names.c.last_seen,
    ).join(event_names, (event_names.c.organization_id == event_types.c.organization_id)
           & (event_names.c.name == event_types.c.name) & (event_names.c.source == "user")
           ).where(event_types.c.organization_id == organization_id)
    system = select(
        null().label("id"), null().label("created_at"), null().label("modified_at"),
        event_names.c.name, event_names.c.name.label("label"),
        null().label("label_property_selector"), literal("system").label("source"),
        event_names.c.occurrences, event_names.c.first_seen, event_names.c.last_seen,
    ).where(event_names.c.organization_id == organization_id, event_names.c.source == "system")
    both = union_all(user, system).subquery()
    stmt = select(both)
    if source:
        stmt = stmt.where(both.c.source == source)
    if query:
        pattern = f"%{query.lower()}%"
        stmt = stmt.where(func.lower(both.c.name).like(pattern)
                          | func.lower(both.c.label).like(pattern))
    columns = {k: both.c[k] for k in ("name", "label", "occurrences", "first_seen", "last_seen")}
    stmt = stmt.order_by(*order_by(sorting, columns, both.c.name))
    rows, total = paginate(conn, stmt, page, limit)
    items = [EventTypeWithStats(
        id=r["id"], created_at=r["created_at"], modified_at=r["modified_at"], name=r["name"],
        label=SYSTEM_LABELS.get(r["name"], r["label"]) if r["source"] == "system" else r["label"],
        label_property_selector=r["label_property_selector"], organization_id=organization_id,
        source=r["source"], occurrences=r["occurrences"], first_seen=r["first_seen"],
        last_seen=r["last_seen"]) for r in rows]
    return ListResource[EventTypeWithStats](items=items, pagination=Pagination.of(total, limit))
