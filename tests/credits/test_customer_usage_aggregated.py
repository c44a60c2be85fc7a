"""Customer meters from the database's aggregates (`projections.customer_usage_sql`) against the
fold: on PostgreSQL pages of usage alone are aggregated by the database, and a rebuild that folds
every page must give identical tables. (On SQLite every page is folded: the same assertions.)"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from commands.customers import CreateCustomer, create_customer
from commands.ingest import IngestEvents, ingest_events
from commands.meters import CreateMeter, create_meter
from domain import ids
from domain.credit_book import customer_meter_id
from projections.credit_tables import (
    customer_meter_entries,
    customer_meter_pending,
    customer_meters,
)
from queries.customer_meters import balances_of
from tests.conftest import new_token
from web.bootstrap import Services, projection_runner

AI = {"conjunction": "and", "clauses": [{"property": "name", "operator": "eq", "value": "ai"}]}
BIG = {"conjunction": "or", "clauses": [
    {"property": "tokens", "operator": "gte", "value": 100},
    {"property": "model", "operator": "like", "value": "é"}]}
ANY = {"conjunction": "and", "clauses": []}
METERS = [(AI, {"func": "sum", "property": "tokens"}), (ANY, {"func": "count"}),
          (ANY, {"func": "unique", "property": "model"}), (BIG, {"func": "max", "property": "tokens"}),
          (AI, {"func": "min", "property": "metadata.tokens"}),
          (ANY, {"func": "avg", "property": "_cost.amount"})]
T0 = datetime(2026, 12, 7, 9, 50, tzinfo=UTC)
PEOPLE = 3
TOKENS = st.one_of(st.integers(-5, 300), st.decimals(min_value=-5, max_value=300, places=2),
                   st.sampled_from([Decimal("1E+2"), Decimal("-0.0"), Decimal("7.50"), "12",
                                    True, None]))
MODELS = st.sampled_from(["small", "large", "modèle-é", 3, Decimal("3.0"), True, None, 'say "hi"'])
EVENT = st.tuples(st.integers(0, PEOPLE), st.booleans(), st.sampled_from(["ai", "other"]),
                  TOKENS, MODELS, st.booleans())
BATCH = st.tuples(st.integers(0, 50), st.lists(EVENT, min_size=1, max_size=6))
"""(minutes after T0 the ledger records it, events); batches out of time order happen, as when
several API processes record concurrently."""


class Org:
    def __init__(self, services: Services) -> None:
        self.services = services
        name = f"org-{uuid.uuid4()}"
        new_token(services, name)
        self.id = ids.organization_id(name)
        ledger = services.ledger
        self.meters = [create_meter(CreateMeter(self.id, f"meter {n}", f, a), ledger)[0]
                       for n, (f, a) in enumerate(METERS)]
        self.customers = [create_customer(CreateCustomer(
            self.id, f"c{who}@example.com", external_id=f"c{who}"), ledger)[0]
            for who in range(PEOPLE)]

    def ingest(self, minutes: int, batch: list[tuple[Any, ...]]) -> None:
        events = []
        for who, by_id, name, tokens, model, costed in batch:
            metadata: dict[str, Any] = {}
            if tokens is not None:
                metadata["tokens"] = tokens
            if model is not None:
                metadata["model"] = model
            if costed:
                metadata["_cost"] = {"amount": Decimal(who) / 4 + 1, "currency": "usd"}
            event: dict[str, Any] = {"name": name, "metadata": metadata}
            if by_id and who < PEOPLE:
                event["customer_id"] = str(self.customers[who])
            else:  # c3 is nobody's (kept pending)
                event["external_customer_id"] = f"c{who}"
            events.append(event)
        received = T0 + timedelta(minutes=minutes)
        ingest_events(IngestEvents(self.id, events, received), self.services.ledger)


def _tables(services: Services, organization_id: UUID) -> list[Any]:
    with services.store.engine.connect() as conn:
        states = conn.execute(select(customer_meters).where(
            customer_meters.c.organization_id == organization_id)).mappings().all()
        ids_ = [s["id"] for s in states]
        entries = conn.execute(select(customer_meter_entries).where(
            customer_meter_entries.c.customer_meter_id.in_(ids_))).mappings().all()
        pending = conn.execute(select(customer_meter_pending).where(
            customer_meter_pending.c.organization_id == organization_id)).mappings().all()
    return [sorted(map(dict, rows), key=str) for rows in (states, entries, pending)]


def _folded(services: Services, organization_id: UUID) -> list[Any]:
    """The tables once a rebuild has folded every page."""
    projection = services.runner.projections["customer_meters"]
    projection.aggregate_in_database = False  # type: ignore[attr-defined]
    try:
        services.runner.rebuild(["customer_meters"])
    finally:
        projection.aggregate_in_database = True  # type: ignore[attr-defined]
    return _tables(services, organization_id)


@settings(max_examples=10, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batches=st.lists(BATCH, min_size=1, max_size=8), page=st.sampled_from([2, 5, 1000]))
def test_aggregated_usage_gives_the_folds_tables(services: Services,
                                                 batches: list[tuple[int, Any]],
                                                 page: int) -> None:
    org = Org(services)
    services.runner.run_until_idle()
    services.runner.batch_size = services.runner.max_batch_size = page
    for minutes, batch in batches:
        org.ingest(minutes, batch)
    services.runner.run_until_idle()
    assert _tables(services, org.id) == _folded(services, org.id)


def test_a_page_of_usage_is_aggregated_by_postgresql(services: Services) -> None:
    org = Org(services)
    services.runner.run_until_idle()
    projection = services.runner.projections["customer_meters"]
    before = projection.aggregated_pages  # type: ignore[attr-defined]
    ai, other = "ai", "other"
    org.ingest(0, [(0, True, ai, 40, "small", True), (0, False, ai, Decimal("2.5"), "é", False),
                   (1, False, other, 500, "large", True), (2, True, ai, "12", True, False)])
    org.ingest(12, [(0, False, ai, Decimal("1E+2"), "small", False)])   # the next bucket
    org.ingest(11, [(1, True, ai, 7, None, True)])  # recorded later, earlier time, same bucket
    services.runner.run_until_idle()
    aggregated = projection.aggregated_pages - before  # type: ignore[attr-defined]
    assert aggregated == (1 if services.store.dialect == "postgresql" else 0)

    with services.store.engine.connect() as conn:
        ada, bob, cy = (balances_of(conn, org.id, c) for c in org.customers)
    tokens, count, models, biggest, least, cost = org.meters
    assert [ada[m].consumed for m in org.meters] == [
        Decimal("142.5"), 3, 2, 100, Decimal("2.5"), 1]
    assert [bob[m].consumed for m in (tokens, count, models, biggest, least, cost)] == [
        7, 2, 1, 500, 7, Decimal("1.25")]
    assert [cy[m].consumed for m in (tokens, count, models, least)] == [0, 1, 1, 0]
    with services.store.engine.connect() as conn:
        ada_history = conn.execute(select(customer_meter_entries.c.events,
                                          customer_meter_entries.c.units).where(
            customer_meter_entries.c.customer_meter_id == customer_meter_id(org.customers[0], tokens))
            .order_by(customer_meter_entries.c.seq)).all()
    assert ada_history == [(2, Decimal("42.5")), (1, 100)]  # one line per ingestion bucket
    assert _tables(services, org.id) == _folded(services, org.id)


def test_a_worker_running_customer_meters_alone_aggregates_only_what_the_events_table_holds(
        services: Services) -> None:
    """It folds a page the events projection (another worker) has not reached yet, without
    waiting for it, and aggregates a page it has (on PostgreSQL)."""
    org = Org(services)
    services.runner.run_until_idle()
    services.runner.stop()
    names = list(services.runner.projections)
    alone = projection_runner(services.ledger, services.store, ["customer_meters"])
    rest = projection_runner(services.ledger, services.store,
                             [n for n in names if n != "customer_meters"])
    projection = alone.projections["customer_meters"]

    org.ingest(0, [(0, True, "ai", 5, "small", False)])
    alone.run_until_idle()
    assert alone.positions()["customer_meters"] == services.ledger.position()
    assert projection.aggregated_pages == 0  # type: ignore[attr-defined]
    org.ingest(1, [(0, False, "ai", 7, "large", False)])
    rest.run_until_idle()
    alone.run_until_idle()
    postgres = services.store.dialect == "postgresql"
    assert projection.aggregated_pages == (1 if postgres else 0)  # type: ignore[attr-defined]
    with services.store.engine.connect() as conn:
        ada = balances_of(conn, org.id, org.customers[0])
    assert [ada[m].consumed for m in org.meters[:3]] == [12, 2, 2]
    assert _tables(services, org.id) == _folded(services, org.id)
