"""Customers and members, read from their tables."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, and_, func, or_, select

from domain.errors import NotFound
from projections.tables import customers, events, members
from queries.common import order_by, paginate
from queries.jsonsql import json_text
from queries.schemas import Customer, ListResource, Member, Pagination

_CUSTOMER_SORT = {"created_at": customers.c.created_at, "email": customers.c.email,
                  "name": customers.c.name}


def _first_event_at(conn: Connection, rows: Sequence[Any]) -> dict[UUID, datetime | None]:
    """Two grouped look-ups (by id, by external id), each on its own index: with an OR per
    customer, SQLite walks the whole timestamp index."""
    result: dict[UUID, datetime | None] = {row["id"]: None for row in rows}
    for organization_id in {row["organization_id"] for row in rows}:
        mine = [row for row in rows if row["organization_id"] == organization_id]
        by_external = {row["external_id"]: row["id"] for row in mine if row["external_id"]}
        lookups = [(events.c.customer_id, {row["id"]: row["id"] for row in mine}),
                   (events.c.external_customer_id, by_external)]
        for column, owners in lookups:
            if not owners:
                continue
            for key, first in conn.execute(select(column, func.min(events.c.timestamp)).where(
                    events.c.organization_id == organization_id, events.c.source == "user",
                    column.in_(list(owners))).group_by(column)):
                current = result[owners[key]]
                result[owners[key]] = first if current is None else min(current, first)
    return result


def to_customer(row: Any, first_event_at: datetime | None = None) -> Customer:
    return Customer(
        id=row["id"], created_at=row["created_at"], modified_at=row["modified_at"],
        metadata=row["metadata"] or {}, external_id=row["external_id"], email=row["email"],
        type=row["type"], name=row["name"], billing_name=row["name"],
        billing_address=row["billing_address"],
        tax_id=[row["tax_id"], None] if row["tax_id"] else None, locale=row["locale"],
        organization_id=row["organization_id"], deleted_at=row["deleted_at"],
        first_user_event_at=first_event_at)


def customers_by_reference(conn: Connection, organization_id: UUID, ids: Iterable[UUID],
                           external_ids: Iterable[str]) -> tuple[dict[UUID, Customer],
                                                                 dict[str, Customer]]:
    """Customers named by id or by external id (events carry either)."""
    ids, external_ids = list(set(ids)), list(set(external_ids))
    if not ids and not external_ids:
        return {}, {}
    condition = customers.c.id.in_(ids)
    if external_ids:
        condition = or_(condition, and_(customers.c.external_id.in_(external_ids),
                                        customers.c.deleted_at.is_(None)))
    rows = conn.execute(select(customers).where(
        customers.c.organization_id == organization_id, condition)).mappings().all()
    first = _first_event_at(conn, rows)
    by_id = {r["id"]: to_customer(r, first[r["id"]]) for r in rows}
    by_external = {r["external_id"]: by_id[r["id"]] for r in rows if r["external_id"]}
    return by_id, by_external


def get_customer(conn: Connection, organization_id: UUID, customer_id: UUID | None = None,
                 external_id: str | None = None, include_deleted: bool = True) -> Customer:
    condition = customers.c.id == customer_id if customer_id is not None else and_(
        customers.c.external_id == external_id, customers.c.deleted_at.is_(None))
    row = conn.execute(select(customers).where(
        customers.c.organization_id == organization_id, condition)).mappings().first()
    if row is None or (not include_deleted and row["deleted_at"] is not None):
        raise NotFound("Customer not found")
    return to_customer(row, _first_event_at(conn, [row])[row["id"]])


def list_customers(conn: Connection, organization_id: UUID, *, email: str | None,
                   query: str | None, metadata: dict[str, list[str]], sorting: Sequence[str],
                   page: int, limit: int) -> ListResource[Customer]:
    stmt = select(customers).where(customers.c.organization_id == organization_id,
                                   customers.c.deleted_at.is_(None))
    if email:
        stmt = stmt.where(func.lower(customers.c.email) == email.lower())
    if query:
        pattern = f"%{query.lower()}%"
        stmt = stmt.where(or_(func.lower(customers.c.email).like(pattern),
                              func.lower(customers.c.name).like(pattern),
                              func.lower(customers.c.external_id).like(pattern)))
    for key, values in metadata.items():
        stmt = stmt.where(json_text(customers.c.metadata, (key,)).in_(values))
    stmt = stmt.order_by(*order_by(sorting, _CUSTOMER_SORT, customers.c.id))
    rows, total = paginate(conn, stmt, page, limit)
    first = _first_event_at(conn, rows)
    return ListResource[Customer](items=[to_customer(r, first[r["id"]]) for r in rows],
                                  pagination=Pagination.of(total, limit))


def _to_member(row: Any) -> Member:
    return Member(id=row["id"], created_at=row["created_at"], modified_at=row["modified_at"],
                  customer_id=row["customer_id"], email=row["email"], name=row["name"],
                  external_id=row["external_id"], role=row["role"])


def list_members(conn: Connection, customer_id: UUID, *, role: str | None,
                 sorting: Sequence[str], page: int, limit: int) -> ListResource[Member]:
    stmt = select(members).where(members.c.customer_id == customer_id,
                                 members.c.deleted.is_(False))
    if role:
        stmt = stmt.where(members.c.role == role)
    stmt = stmt.order_by(*order_by(sorting, {"created_at": members.c.created_at}, members.c.id))
    rows, total = paginate(conn, stmt, page, limit)
    return ListResource[Member](items=[_to_member(r) for r in rows],
                                pagination=Pagination.of(total, limit))


def get_member(conn: Connection, customer_id: UUID, member_id: UUID | None = None,
               external_id: str | None = None) -> Member:
    condition = members.c.id == member_id if member_id is not None \
        else members.c.external_id == external_id
    row = conn.execute(select(members).where(members.c.customer_id == customer_id,
                                             members.c.deleted.is_(False),
                                             condition)).mappings().first()
    if row is None:
        raise NotFound("Member not found")
    return _to_member(row)
