"""The customer meters projection equals a recomputation from the ledger: under random
interleavings of purchases, renewals, revocations, usage and meter changes, after a crash in the
middle of a batch, and after a rebuild."""

from __future__ import annotations

import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from commands.benefits import CreateBenefit, create_benefit
from commands.customers import CreateCustomer, create_customer
from commands.ingest import IngestEvents, ingest_events
from commands.meters import CreateMeter, UpdateMeter, create_meter, update_meter
from commands.orders import CreateOrder, RefundOrder, create_order, refund_order
from commands.products import (
    CreateProduct,
    SetProductBenefits,
    create_product,
    set_product_benefits,
)
from commands.subscriptions import (
    CancelSubscription,
    CycleSubscription,
    RevokeSubscription,
    StartSubscription,
    cancel_subscription,
    cycle_subscription,
    revoke_subscription,
    start_subscription,
)
from domain import ids
from domain.credits import Entry
from domain.errors import Forbidden
from projections.credit_tables import (
    customer_meter_entries,
    customer_meter_pending,
    customer_meters,
)
from projections.customer_meters import ProjectionCrashError
from projections.reconcile import reconcile
from queries.customer_meters import balances_of
from tests.conftest import new_token
from web import cli
from web.bootstrap import Services, bootstrap
from web.config import Settings

AI = {"conjunction": "and", "clauses": [{"property": "name", "operator": "eq", "value": "ai"}]}
ANY = {"conjunction": "or", "clauses": []}
SUM = {"func": "sum", "property": "tokens"}
COUNT = {"func": "count"}
PEOPLE = 3


@dataclass
class Org:
    """One organization's catalogue: two meters, a one-time and a monthly product."""

    services: Services
    id: UUID = field(init=False)
    meters: list[UUID] = field(default_factory=list)
    customers: dict[int, UUID] = field(default_factory=dict)
    orders: list[UUID] = field(default_factory=list)
    subscriptions: list[tuple[UUID, UUID]] = field(default_factory=list)
    """(subscription, customer)"""

    def __post_init__(self) -> None:
        name = f"org-{uuid.uuid4()}"
        new_token(self.services, name)
        self.id = ids.organization_id(name)
        ledger = self.services.ledger
        self.meters = [create_meter(CreateMeter(self.id, "Tokens", AI, SUM), ledger)[0],
                       create_meter(CreateMeter(self.id, "Calls", AI, COUNT), ledger)[0]]
        pack = self._product([(0, 100, False), (1, 40, True)], None)
        plan = self._product([(0, 200, True), (1, 5, False)], "month")
        self.products = {"pack": pack, "plan": plan}

    def _product(self, grants: list[tuple[int, int, bool]], interval: str | None) -> UUID:
        ledger = self.services.ledger
        product_id, _ = create_product(CreateProduct(
            self.id, "Product", [{"amount_type": "fixed", "price_amount": 100}],
            recurring_interval=interval), ledger)
        benefits = [create_benefit(CreateBenefit(self.id, "Credits", self.meters[m], units,
                                                 rollover), ledger)[0]
                    for m, units, rollover in grants]
        set_product_benefits(SetProductBenefits(self.id, product_id, benefits), ledger)
        return product_id

    def subscribe(self, who: int) -> None:
        customer = self.customer(who)
        self.subscriptions.append((start_subscription(StartSubscription(
            self.id, self.products["plan"], customer), self.services.ledger)[0], customer))

    def subscription(self, n: int) -> UUID:
        return self.subscriptions[n % len(self.subscriptions)][0]

    def customer(self, who: int) -> UUID:
        if who not in self.customers:
            self.customers[who] = create_customer(CreateCustomer(
                self.id, f"c{who}@example.com", external_id=f"c{who}"), self.services.ledger)[0]
        return self.customers[who]

    def use(self, who: int, tokens: Decimal, name: str, by_id: bool, late: bool) -> None:
        event: dict[str, Any] = {"name": name, "metadata": {"tokens": tokens}}
        if by_id and who in self.customers:
            event["customer_id"] = str(self.customers[who])
        else:
            event["external_customer_id"] = f"c{who}"
        now = datetime.now(UTC)
        if late:
            event["timestamp"] = (now - timedelta(days=40)).isoformat()
        ingest_events(IngestEvents(self.id, [event, dict(event)], now), self.services.ledger)

    def cycle(self, n: int) -> None:
        subscription, customer = self.subscriptions[n % len(self.subscriptions)]
        self.services.runner.run_until_idle()
        with self.services.store.engine.connect() as conn:
            balances = balances_of(conn, self.id, customer)
        cycle_subscription(CycleSubscription(self.id, subscription, balances),
                           self.services.ledger)


@dataclass(frozen=True)
class Op:
    kind: str
    who: int = 0
    n: int = 0
    tokens: Decimal = Decimal(0)
    flag: bool = False


OPS = st.lists(st.one_of(
    st.builds(Op, st.just("customer"), st.integers(0, PEOPLE - 1)),
    st.builds(Op, st.sampled_from(["use", "late"]), st.integers(0, PEOPLE - 1), st.just(0),
              st.decimals(min_value=0, max_value=500, places=3), st.booleans()),
    st.builds(Op, st.sampled_from(["order", "subscribe"]), st.integers(0, PEOPLE - 1)),
    st.builds(Op, st.sampled_from(["refund", "cycle", "cancel", "revoke", "redefine"]),
              st.just(0), st.integers(0, 5), st.just(Decimal(0)), st.booleans()),
    st.just(Op("catch_up")),
), min_size=1, max_size=25)


def _apply(org: Org, op: Op) -> None:
    ledger = org.services.ledger
    if op.kind == "customer":
        org.customer(op.who)
    elif op.kind in ("use", "late"):
        org.use(op.who, op.tokens, "ai" if op.tokens % 2 < 1 else "other", op.flag,
                op.kind == "late")
    elif op.kind == "order":
        org.orders.append(create_order(CreateOrder(
            org.id, org.customer(op.who), org.products["pack"]), ledger)[0])
    elif op.kind == "subscribe":
        org.subscribe(op.who)
    elif op.kind == "refund" and org.orders:
        refund_order(RefundOrder(org.id, org.orders[op.n % len(org.orders)]), ledger)
    elif op.kind == "cycle" and org.subscriptions:
        org.cycle(op.n)
    elif op.kind == "cancel" and org.subscriptions:
        cancel_subscription(CancelSubscription(org.id, org.subscription(op.n)), ledger)
    elif op.kind == "revoke" and org.subscriptions:
        revoke_subscription(RevokeSubscription(org.id, org.subscription(op.n)), ledger)
    elif op.kind == "redefine":
        meter = org.meters[op.n % 2]
        update_meter(UpdateMeter(org.id, meter, {"filter": ANY if op.flag else AI,
                                                 "aggregation": SUM if op.n % 3 else COUNT}),
                     ledger)
    elif op.kind == "catch_up":
        org.services.runner.run_until_idle()


def _assert_exact(services: Services, organization_id: UUID) -> None:
    services.runner.run_until_idle()
    report = reconcile(services.ledger, services.store, organization_id)
    assert report.drifts == []
    with services.store.engine.connect() as conn:
        rows = conn.execute(select(customer_meters).where(
            customer_meters.c.organization_id == organization_id)).mappings().all()
        for row in rows:
            history = conn.execute(select(customer_meter_entries).where(
                customer_meter_entries.c.customer_meter_id == row["id"])
                .order_by(customer_meter_entries.c.seq)).mappings().all()
            assert [h["seq"] for h in history] == list(range(1, row["last_seq"] + 1))
            assert sum((h["change"] for h in history), Decimal(0)) == row["balance"]
            assert (history[-1]["consumed_units"], history[-1]["credited_units"]) == (
                row["consumed_units"], row["credited_units"])


@settings(max_examples=12, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(script=OPS, batch=st.sampled_from([1, 3, 7, 1000]))
def test_projection_equals_recomputation_from_the_ledger(services: Services, script: list[Op],
                                                         batch: int) -> None:
    services.runner.batch_size = services.runner.max_batch_size = batch
    org = Org(services)
    for op in script:
        with suppress(Forbidden):  # refunding twice, renewing an ended subscription, ...
            _apply(org, op)
    _assert_exact(services, org.id)


def test_a_crash_in_the_middle_of_a_batch_leaves_balances_exact(
        settings: Settings, services: Services) -> None:
    org = Org(services)
    for who in range(PEOPLE):
        create_order(CreateOrder(org.id, org.customer(who), org.products["pack"]),
                     services.ledger)
    services.runner.run_until_idle()
    for who in range(PEOPLE):
        org.use(who, Decimal("1.25"), "ai", who % 2 == 0, False)
    org.use(0, Decimal(5), "ai", False, False)
    projection = services.runner.projections["customer_meters"]
    before = services.runner.positions()["customer_meters"]
    projection.fail_after = 4  # type: ignore[attr-defined]
    with pytest.raises(ProjectionCrashError):
        services.runner.catch_up(projection)
    assert services.runner.positions()["customer_meters"] == before

    restarted = bootstrap(settings)  # a new process: the hook is gone
    try:
        restarted.runner.run_until_idle()
        with restarted.store.engine.connect() as conn:
            balances = balances_of(conn, org.id, org.customers[0])
        assert balances[org.meters[0]].balance == Decimal("87.5")  # 100 - 2 x 1.25 - 2 x 5
        _assert_exact(restarted, org.id)
    finally:
        restarted.close()


def test_workers_taking_turns_keep_balances_exact(settings: Settings,
                                                 services: Services) -> None:
    """A worker keeps its book between its batches only while no other worker applied one."""
    org = Org(services)
    org.customer(0)
    services.runner.run_until_idle()
    other = bootstrap(settings)   # another `metering project` process
    try:
        for turn in range(6):
            org.use(0, Decimal(turn + 1), "ai", True, False)
            runner = (services if turn % 3 else other).runner
            while runner.catch_up(runner.projections["customer_meters"]):
                pass
            with services.store.engine.connect() as conn:
                consumed = balances_of(conn, org.id, org.customers[0])[org.meters[0]].consumed
            assert consumed == sum(2 * (t + 1) for t in range(turn + 1))
        _assert_exact(services, org.id)
    finally:
        other.close()


def test_a_rebuild_gives_identical_tables(services: Services) -> None:
    org = Org(services)
    org.use(1, Decimal("3.5"), "ai", False, False)   # pending until c1 exists
    create_order(CreateOrder(org.id, org.customer(0), org.products["pack"]), services.ledger)
    org.subscribe(2)
    org.use(2, Decimal("7.25"), "ai", True, False)
    org.cycle(0)
    update_meter(UpdateMeter(org.id, org.meters[1], {"aggregation": SUM}), services.ledger)
    org.use(1, Decimal(1), "ai", False, False)
    services.runner.run_until_idle()

    def tables() -> list[Any]:
        with services.store.engine.connect() as conn:
            return [sorted(map(dict, conn.execute(select(t)).mappings()), key=str)
                    for t in (customer_meters, customer_meter_entries, customer_meter_pending)]

    before = tables()
    assert before[2]  # c1's usage is still pending
    services.runner.rebuild(["customer_meters"])
    assert tables() == before
    _assert_exact(services, org.id)


def test_an_ingestion_split_across_batches_stays_one_pending_row(services: Services) -> None:
    org = Org(services)
    services.runner.run_until_idle()
    services.runner.batch_size = 1
    org.use(1, Decimal("2.5"), "ai", False, False)  # two events, one ingestion, c1 unknown
    services.runner.run_until_idle()
    with services.store.engine.connect() as conn:
        pending = conn.execute(select(customer_meter_pending).where(
            customer_meter_pending.c.organization_id == org.id)).mappings().all()
    assert sorted((r["meter_id"], r["events"]) for r in pending) == sorted(
        (m, 2) for m in org.meters)
    org.customer(1)
    services.runner.run_until_idle()
    with services.store.engine.connect() as conn:
        balances = balances_of(conn, org.id, org.customers[1])
    assert [balances[m].consumed for m in org.meters] == [Decimal(5), Decimal(2)]
    _assert_exact(services, org.id)


def test_usage_before_the_first_meter_leaves_no_row_and_counts_for_nothing(
        services: Services) -> None:
    name = f"org-{uuid.uuid4()}"
    new_token(services, name)
    org_id = ids.organization_id(name)
    ledger = services.ledger

    def use(external_id: str, tokens: int) -> None:
        ingest_events(IngestEvents(org_id, [{"name": "ai", "external_customer_id": external_id,
                                             "metadata": {"tokens": tokens}}],
                                   datetime.now(UTC)), ledger)

    c0 = create_customer(CreateCustomer(org_id, "c0@example.com", external_id="c0"), ledger)[0]
    use("c0", 100)
    use("c1", 200)  # nobody holds c1 yet
    services.runner.run_until_idle()
    with services.store.engine.connect() as conn:
        for table in (customer_meters, customer_meter_pending):
            assert conn.execute(select(table).where(
                table.c.organization_id == org_id)).all() == []
    meter = create_meter(CreateMeter(org_id, "Tokens", AI, SUM), ledger)[0]
    use("c0", 3)
    use("c1", 4)
    services.runner.run_until_idle()
    c1 = create_customer(CreateCustomer(org_id, "c1@example.com", external_id="c1"), ledger)[0]
    services.runner.run_until_idle()
    with services.store.engine.connect() as conn:
        consumed = [balances_of(conn, org_id, c)[meter].consumed for c in (c0, c1)]
    assert consumed == [Decimal(3), Decimal(4)]
    _assert_exact(services, org_id)


def test_reconcile_command_prints_drifts_and_exits_1(
        settings: Settings, services: Services, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    org = Org(services)
    create_order(CreateOrder(org.id, org.customer(0), org.products["pack"]), services.ledger)
    services.runner.run_until_idle()
    if settings.database_schema:
        monkeypatch.setenv("METERING_DATABASE_SCHEMA", settings.database_schema)
    command = ["--database-url", settings.database_url, "reconcile"]
    assert cli.main(command) == 0
    assert "no drift" in capsys.readouterr().out

    with services.store.writer.begin() as conn:
        conn.execute(update(customer_meters).where(
            customer_meters.c.meter_id == org.meters[0]).values(credited_units=99))
    assert cli.main(command) == 1
    out = capsys.readouterr().out
    assert "credited_units" in out and "99" in out and "100" in out


def test_history_lines_are_written_in_the_entries_table_column_order() -> None:
    """`_entry_row` writes an `Entry` as it is, after the customer meter's id and the line's
    number: its fields must follow the table's columns."""
    stored = {"consumed": "consumed_units", "credited": "credited_units"}
    assert [c.name for c in customer_meter_entries.columns] == [
        "customer_meter_id", "seq", *(stored.get(f, f) for f in Entry._fields)]


def test_a_meter_redefined_between_two_uses_in_one_page(services: Services) -> None:
    """The page is written twice in one transaction (before the redefined meter is rebuilt, and
    at its end): the same customer meter's row both times."""
    org = Org(services)
    org.customer(0)
    services.runner.run_until_idle()
    services.runner.stop()
    org.use(0, Decimal(3), "ai", False, False)
    update_meter(UpdateMeter(org.id, org.meters[1], {"aggregation": SUM}), services.ledger)
    org.use(0, Decimal(4), "ai", True, False)
    services.runner.run_until_idle()
    with services.store.engine.connect() as conn:
        balances = balances_of(conn, org.id, org.customers[0])
    assert [balances[m].consumed for m in org.meters] == [14, 14]
    _assert_exact(services, org.id)
