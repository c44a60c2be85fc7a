"""Customers, members and event types, as read tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.utils import get_topic
from sqlalchemy import Connection, Table, update

from domain.customer import Customer, Member
from domain.event_type import EventType
from projections.bulk import insert_rows
from projections.tables import customers, event_types, members


class CatalogProjection:
    name = "catalog"
    topics = frozenset(get_topic(cls) for cls in (
        Customer.Created, Customer.Updated, Customer.Deleted,
        Member.Created, Member.Updated, Member.Deleted,
        EventType.Created, EventType.Relabelled,
    ))

    def tables(self) -> Sequence[Table]:
        return (customers, members, event_types)

    def process(self, conn: Connection, events: Sequence[Any]) -> None:
        """Creations are inserted in bulk, a statement per table for a run of them (a rebuild
        replays thousands of customers, a round trip each otherwise); every other change is
        applied in order, once the creations before it are."""
        created: dict[Table, list[tuple[Any, ...]]] = {}
        for event in events:
            new = _created(event)
            if new is not None:
                table, values = new
                created.setdefault(table, []).append(tuple(values[c.name] for c in table.columns))
                continue
            _insert(conn, created)
            self._apply(conn, event)
        _insert(conn, created)

    def _apply(self, conn: Connection, event: Any) -> None:
        at = event.timestamp
        match event:
            case Customer.Updated():
                conn.execute(update(customers).where(customers.c.id == event.originator_id)
                             .values(modified_at=at, **event.changes))
            case Customer.Deleted():
                conn.execute(update(customers).where(customers.c.id == event.originator_id)
                             .values(modified_at=at, deleted_at=event.at, external_id=None))
            case Member.Updated():
                conn.execute(update(members).where(members.c.id == event.originator_id)
                             .values(modified_at=at, **event.changes))
            case Member.Deleted():
                conn.execute(update(members).where(members.c.id == event.originator_id)
                             .values(modified_at=at, deleted=True))
            case EventType.Relabelled():
                conn.execute(update(event_types).where(event_types.c.id == event.originator_id)
                             .values(modified_at=at, label=event.label,
                                     label_property_selector=event.label_property_selector))


def _created(event: Any) -> tuple[Table, dict[str, Any]] | None:
    """The table and row a creation adds, or None for any other change."""
    at = event.timestamp
    match event:
        case Customer.Created():
            return customers, {
                "id": event.originator_id, "organization_id": event.organization_id,
                "created_at": at, "modified_at": None, "email": event.email, "name": event.name,
                "external_id": event.external_id, "metadata": event.metadata, "type": event.type,
                "billing_address": event.billing_address, "tax_id": event.tax_id,
                "locale": event.locale, "deleted_at": None}
        case Member.Created():
            return members, {
                "id": event.originator_id, "organization_id": event.organization_id,
                "customer_id": event.customer_id, "created_at": at, "modified_at": None,
                "email": event.email, "name": event.name, "external_id": event.external_id,
                "role": event.role, "deleted": False}
        case EventType.Created():
            return event_types, {
                "id": event.originator_id, "organization_id": event.organization_id,
                "name": event.name, "label": event.name, "label_property_selector": None,
                "created_at": at, "modified_at": None}
    return None


def _insert(conn: Connection, created: dict[Table, list[tuple[Any, ...]]]) -> None:
    """Insert the rows held, and forget them."""
    for table, rows in created.items():
        insert_rows(conn, table, rows)
    created.clear()
