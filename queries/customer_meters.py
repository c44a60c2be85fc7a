"""Customer meters and their balance history, read from the customer meter tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Float, cast, func, select

from domain.credits import Balance
from domain.errors import NotFound
from projections.credit_tables import (
    customer_meter_definitions,
    customer_meter_entries,
    customer_meters,
)
from projections.tables import customers
from queries.common import order_by, paginate
from queries.credit_schemas import BalanceEntry, BalanceHistory, CustomerMeter
from queries.customers import customers_by_reference
from queries.meters import get_meter
from queries.schemas import ListResource, Meter, Pagination

cm, defs, entries = customer_meters, customer_meter_definitions, customer_meter_entries


def _sort_columns(dialect: str) -> dict[str, Any]:
    def numeric(column: Any) -> Any:
        return cast(column, Float) if dialect == "sqlite" else column  # SQLite keeps text

    return {"created_at": cm.c.created_at, "modified_at": cm.c.modified_at,
            "customer_id": cm.c.customer_id, "customer_name": customers.c.name,
            "meter_id": cm.c.meter_id, "meter_name": defs.c.name,
            "consumed_units": numeric(cm.c.consumed_units),
            "credited_units": cm.c.credited_units, "balance": numeric(cm.c.balance)}


def list_customer_meters(conn: Connection, organization_id: UUID, *,
                         customer_ids: Sequence[UUID], external_customer_ids: Sequence[str],
                         meter_ids: Sequence[UUID], sorting: Sequence[str], page: int,
                         limit: int, ledger_position: int) -> ListResource[CustomerMeter]:
    """Archived meters are left out unless `meter_ids` names them (as Polar)."""
    source: Any = cm
    if any(key.lstrip("-") == "customer_name" for key in sorting):
        source = source.outerjoin(customers, customers.c.id == cm.c.customer_id)
    if any(key.lstrip("-") == "meter_name" for key in sorting):
        source = source.join(defs, defs.c.id == cm.c.meter_id)
    stmt = select(cm).select_from(source).where(cm.c.organization_id == organization_id)
    if external_customer_ids:
        customer_ids = [*customer_ids, *conn.execute(select(customers.c.id).where(
            customers.c.organization_id == organization_id,
            customers.c.external_id.in_(external_customer_ids))).scalars()]
    if customer_ids or external_customer_ids:
        stmt = stmt.where(cm.c.customer_id.in_(customer_ids))
    if meter_ids:
        stmt = stmt.where(cm.c.meter_id.in_(meter_ids))
    else:
        stmt = stmt.where(cm.c.meter_id.in_(select(defs.c.id).where(
            defs.c.organization_id == organization_id, defs.c.archived_at.is_(None))
            .scalar_subquery()))
    stmt = stmt.order_by(*order_by(sorting, _sort_columns(conn.dialect.name), cm.c.id))
    rows, total = paginate(conn, stmt, page, limit)
    return ListResource[CustomerMeter](
        items=_to_customer_meters(conn, organization_id, rows, ledger_position),
        pagination=Pagination.of(total, limit))


def _row(conn: Connection, organization_id: UUID, customer_meter_id: UUID) -> Any:
    row = conn.execute(select(cm).where(cm.c.organization_id == organization_id,
                                        cm.c.id == customer_meter_id)).mappings().first()
    if row is None:
        raise NotFound("Customer meter not found")
    return row


def get_customer_meter(conn: Connection, organization_id: UUID, customer_meter_id: UUID,
                       ledger_position: int, as_of: datetime | None = None) -> CustomerMeter:
    """With `as_of`, the figures after the last history entry recorded at or before it."""
    row = _row(conn, organization_id, customer_meter_id)
    item = _to_customer_meters(conn, organization_id, [row], ledger_position)[0]
    if as_of is None:
        return item
    last = conn.execute(select(entries).where(
        entries.c.customer_meter_id == customer_meter_id, entries.c.timestamp <= as_of)
        .order_by(entries.c.seq.desc()).limit(1)).mappings().first()
    period = conn.execute(select(func.max(entries.c.timestamp)).where(
        entries.c.customer_meter_id == customer_meter_id, entries.c.kind == "reset",
        entries.c.timestamp <= as_of)).scalar()
    return item.model_copy(update={
        "consumed_units": last["consumed_units"] if last else 0,
        "credited_units": last["credited_units"] if last else 0,
        "balance": last["balance"] if last else 0, "period_start": period, "as_of": as_of,
        "modified_at": last["timestamp"] if last else None})


def _to_customer_meters(conn: Connection, organization_id: UUID, rows: Sequence[Any],
                        ledger_position: int) -> list[CustomerMeter]:
    by_id, _ = customers_by_reference(conn, organization_id, [r["customer_id"] for r in rows], [])
    meters: dict[UUID, Meter] = {}
    for meter_id in {r["meter_id"] for r in rows}:
        meters[meter_id] = get_meter(conn, organization_id, meter_id, ledger_position)
    return [CustomerMeter(
        id=r["id"], created_at=r["created_at"], modified_at=r["modified_at"],
        customer_id=r["customer_id"], meter_id=r["meter_id"],
        consumed_units=r["consumed_units"], credited_units=r["credited_units"],
        balance=r["balance"], customer=by_id[r["customer_id"]], meter=meters[r["meter_id"]],
        rollover_units=r["rollover_units"], period_start=r["period_start"]) for r in rows]


def balance_history(conn: Connection, organization_id: UUID, customer_meter_id: UUID, *,
                    start: datetime | None, end: datetime | None) -> BalanceHistory:
    """Every entry that moved the balance, oldest first; `start` inclusive, `end` exclusive."""
    _row(conn, organization_id, customer_meter_id)
    stmt = select(entries).where(entries.c.customer_meter_id == customer_meter_id)
    if start is not None:
        stmt = stmt.where(entries.c.timestamp >= start)
    if end is not None:
        stmt = stmt.where(entries.c.timestamp < end)
    items = [BalanceEntry(
        seq=r["seq"], kind=r["kind"], timestamp=r["timestamp"], started_at=r["started_at"],
        event_id=r["event_id"], units=r["units"], rollover=r["rollover"], events=r["events"],
        change=r["change"], consumed_units=r["consumed_units"],
        credited_units=r["credited_units"], balance=r["balance"])
        for r in conn.execute(stmt.order_by(entries.c.seq)).mappings()]
    return BalanceHistory(customer_meter_id=customer_meter_id, items=items)


def balances_of(conn: Connection, organization_id: UUID, customer_id: UUID) -> dict[UUID, Balance]:
    """A customer's current balance on each meter (what a renewal carries over from)."""
    rows = conn.execute(select(cm).where(cm.c.organization_id == organization_id,
                                         cm.c.customer_id == customer_id)).mappings()
    return {r["meter_id"]: Balance(consumed=r["consumed_units"], credited=r["credited_units"],
                                   rollover_units=r["rollover_units"]) for r in rows}
