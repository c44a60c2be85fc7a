"""Customers, members and event types, as read tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.utils import get_topic
from sqlalchemy import Connection, Table, insert, update

from domain.customer import Customer, Member
from domain.event_type import EventType
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
        for event in events:
            self._apply(conn, event)

    def _apply(self, conn: Connection, event: Any) -> None:
        at = event.timestamp
        match event:
            case Customer.Created():
                conn.execute(insert(customers).values(
                    id=event.originator_id, organization_id=event.organization_id,
                    created_at=at, modified_at=None, email=event.email, name=event.name,
                    external_id=event.external_id, metadata=event.metadata, type=event.type,
                    billing_address=event.billing_address, tax_id=event.tax_id,
                    locale=event.locale, deleted_at=None))
            case Customer.Updated():
                conn.execute(update(customers).where(customers.c.id == event.originator_id)
                             .values(modified_at=at, **event.changes))
            case Customer.Deleted():
                conn.execute(update(customers).where(customers.c.id == event.originator_id)
                             .values(modified_at=at, deleted_at=event.at, external_id=None))
            case Member.Created():
                conn.execute(insert(members).values(
                    id=event.originator_id, organization_id=event.organization_id,
                    customer_id=event.customer_id, created_at=at, modified_at=None,
                    email=event.email, name=event.name, external_id=event.external_id,
                    role=event.role, deleted=False))
            case Member.Updated():
                conn.execute(update(members).where(members.c.id == event.originator_id)
                             .values(modified_at=at, **event.changes))
            case Member.Deleted():
                conn.execute(update(members).where(members.c.id == event.originator_id)
                             .values(modified_at=at, deleted=True))
            case EventType.Created():
                conn.execute(insert(event_types).values(
                    id=event.originator_id, organization_id=event.organization_id,
                    name=event.name, label=event.name, label_property_selector=None,
                    created_at=at, modified_at=None))
            case EventType.Relabelled():
                conn.execute(update(event_types).where(event_types.c.id == event.originator_id)
                             .values(modified_at=at, label=event.label,
                                     label_property_selector=event.label_property_selector))
