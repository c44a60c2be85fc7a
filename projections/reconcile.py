"""Reconciliation: every customer meter recomputed from the event store, compared with the
projection, at the same ledger position."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from sqlalchemy import Connection, select

from commands.ledger import Ledger
from projections.credit_tables import customer_meters
from projections.customer_meter_replay import replay
from projections.customer_meters import CustomerMetersProjection
from projections.store import Store
from projections.tables import projection_positions

COMPARED = ("consumed_units", "credited_units", "balance", "rollover_units")


@dataclass(frozen=True)
class Drift:
    customer_meter_id: UUID
    organization_id: UUID
    customer_id: UUID
    meter_id: UUID
    field: str
    """A compared figure, or `row` when one side has no such customer meter."""
    projected: Decimal | None
    recomputed: Decimal | None


@dataclass(frozen=True)
class Report:
    position: int
    customer_meters: int
    events: int
    seconds: float
    drifts: list[Drift]


def reconcile(ledger: Ledger, store: Store, organization_id: UUID | None = None) -> Report:
    with _snapshot(store) as conn:
        position = conn.execute(select(projection_positions.c.position).where(
            projection_positions.c.name == CustomerMetersProjection.name)).scalar() or 0
        stmt = select(customer_meters)
        if organization_id is not None:
            stmt = stmt.where(customer_meters.c.organization_id == organization_id)
        projected = {r["id"]: r for r in conn.execute(stmt).mappings()}
    started = time.perf_counter()
    result = replay(ledger, position, organization_id=organization_id)
    seconds = time.perf_counter() - started
    drifts: list[Drift] = []
    recomputed = {s.id: s for s in result.book.states.values() if s is not None}
    for cm_id, state in recomputed.items():
        figures = {"consumed_units": state.balance.consumed,
                   "credited_units": Decimal(state.balance.credited),
                   "balance": state.balance.balance,
                   "rollover_units": Decimal(state.balance.rollover_units)}
        row = projected.get(cm_id)
        key = (cm_id, state.organization_id, state.customer_id, state.meter_id)
        if row is None:
            drifts.append(Drift(*key, "row", None, state.balance.balance))
            continue
        drifts += [Drift(*key, name, Decimal(row[name]), value)
                   for name, value in figures.items() if Decimal(row[name]) != value]
    drifts += [Drift(cm_id, r["organization_id"], r["customer_id"], r["meter_id"], "row",
                     Decimal(r["balance"]), None)
               for cm_id, r in projected.items() if cm_id not in recomputed]
    return Report(position, len(set(projected) | set(recomputed)), result.events, seconds,
                  drifts)


@contextmanager
def _snapshot(store: Store) -> Iterator[Connection]:
    """A read transaction that sees one state of the read model (position and rows agree)."""
    with store.engine.connect() as conn:
        if store.dialect == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn
