"""The book: which ledger entries move which customer meter (pure, no database)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from hypothesis import example, given, settings
from hypothesis import strategies as st

from domain.aggregation import Partial
from domain.credit_book import Book, NullLoader, PendingUsage, Subject
from domain.credits import CREDITED, RESET, credited_metadata, reset_metadata
from domain.customer import Customer
from domain.meter import Meter
from domain.usage import SYSTEM, USER, UsageRecorded

ORG = uuid4()
T0 = datetime(2026, 3, 1, tzinfo=UTC)
LLM = {"conjunction": "and", "clauses": [{"property": "name", "operator": "eq", "value": "llm"}]}


def created(aggregate: Any) -> Any:
    return aggregate.collect_events()[0]


def meter(aggregation: dict[str, Any]) -> Any:
    return created(Meter(organization_id=ORG, name="m", unit="scalar", custom_label=None,
                         custom_multiplier=None, filter=LLM, aggregation=aggregation,
                         metadata={}))


def customer(external_id: str | None) -> Any:
    return created(Customer(organization_id=ORG, email=None, name=None, external_id=external_id,
                            metadata={}, type="individual", billing_address=None, tax_id=None,
                            locale=None))


def usage(at: datetime, tokens: int | Decimal, *, customer_id: UUID | None = None,
          external_id: str | None = None, name: str = "llm") -> UsageRecorded:
    return UsageRecorded(originator_id=uuid4(), originator_version=1, timestamp=at,
                         organization_id=ORG, name=name, occurred_at=T0 - timedelta(days=30),
                         source=USER, customer_id=customer_id, external_customer_id=external_id,
                         member_id=None, external_member_id=None, external_id=None,
                         parent_ref=None, metadata={"tokens": tokens}, fingerprint="")


def system(at: datetime, customer_id: UUID, name: str, metadata: dict[str, Any]) -> UsageRecorded:
    return UsageRecorded(originator_id=uuid4(), originator_version=1, timestamp=at,
                         organization_id=ORG, name=name, occurred_at=at, source=SYSTEM,
                         customer_id=customer_id, external_customer_id=None, member_id=None,
                         external_member_id=None, external_id=None, parent_ref=None,
                         metadata=metadata, fingerprint="")


def test_usage_under_an_external_id_counts_once_a_customer_takes_it() -> None:
    sums = meter({"func": "sum", "property": "tokens"})
    book = Book()
    book.apply(sums)
    book.apply(usage(T0, 5, external_id="ada"))
    book.apply(usage(T0 + timedelta(seconds=1), 7, external_id="ada"))
    assert not any(book.states.values())
    ada = customer("ada")
    book.apply(ada)
    state = book.state(ada.originator_id, sums.originator_id)
    assert state is not None and state.balance.consumed == 12
    assert book.pending_of(sums.originator_id, "ada") == []


class StoredPending(NullLoader):
    """A loader holding 5 tokens pending under "ada", recorded at T0."""

    def pending(self, meter_id: UUID, external_id: str) -> list[PendingUsage]:
        return [PendingUsage(T0, Partial(count=1, sum=Decimal(5)), 1)] \
            if external_id == "ada" else []


def test_usage_held_in_the_same_ingestion_adds_to_the_stored_row() -> None:
    sums = meter({"func": "sum", "property": "tokens"})
    book = Book(StoredPending())
    book.apply(sums)
    book.apply(usage(T0, 7, external_id="ada"))
    book.apply(usage(T0 + timedelta(seconds=1), 1, external_id="ada"))
    key = (sums.originator_id, "ada")
    assert [(p.ingested_at, p.partial.sum, p.events) for p in book.pending[key].values()] == [
        (T0, 7, 1), (T0 + timedelta(seconds=1), 1, 1)]  # only what is not stored yet
    assert [(p.ingested_at, p.partial.sum, p.events) for p in book.pending_of(*key)] == [
        (T0, 12, 2), (T0 + timedelta(seconds=1), 1, 1)]
    ada = customer("ada")
    book.apply(ada)
    state = book.state(ada.originator_id, sums.originator_id)
    assert state is not None and state.balance.consumed == 13
    assert book.pending_of(*key) == [] and key in book.cleared_pending


def test_usage_of_an_organization_without_meters_reads_nothing() -> None:
    class Refusing(NullLoader):
        def subject_by_external(self, organization_id: UUID, external_id: str) -> Subject | None:
            raise AssertionError("no meter: no customer to look up")

    book = Book(Refusing())
    book.apply(usage(T0, 5, external_id="ada"))
    assert not book.pending and not book.states


def test_a_late_event_counts_in_the_period_in_which_it_is_recorded() -> None:
    sums = meter({"func": "sum", "property": "tokens"})
    ada = customer(None)
    book = Book()
    for event in (sums, ada, usage(T0, 100, customer_id=ada.originator_id),
                  system(T0 + timedelta(seconds=1), ada.originator_id, RESET,
                         reset_metadata(sums.originator_id)),
                  usage(T0 + timedelta(seconds=2), 3, customer_id=ada.originator_id)):
        book.apply(event)
    book.settle()
    state = book.state(ada.originator_id, sums.originator_id)
    assert state is not None and state.balance.consumed == 3  # occurred_at is long before


def test_events_before_the_meter_existed_are_not_counted() -> None:
    ada = customer(None)
    sums = meter({"func": "sum", "property": "tokens"})
    book = Book()
    for event in (ada, usage(T0, 100, customer_id=ada.originator_id), sums):
        book.apply(event)
    assert book.state(ada.originator_id, sums.originator_id) is None


# Brute force ------------------------------------------------------------------------------

CUSTOMERS = 3


@dataclass(frozen=True)
class Op:
    kind: str
    who: int = 0
    meter: int = 0
    amount: int = 0
    rollover: bool = False


ops = st.lists(st.one_of(
    st.builds(Op, st.just("create"), st.integers(0, CUSTOMERS - 1)),
    st.builds(Op, st.sampled_from(["by_id", "by_external", "unmatched"]),
              st.integers(0, CUSTOMERS - 1), st.just(0), st.integers(0, 50)),
    st.builds(Op, st.just("credit"), st.integers(0, CUSTOMERS - 1), st.integers(0, 1),
              st.integers(-80, 100), st.booleans()),
    st.builds(Op, st.just("reset"), st.integers(0, CUSTOMERS - 1), st.integers(0, 1)),
), max_size=40)


def naive(script: list[tuple[int, Op]], kinds: list[str]) -> dict[tuple[int, int], tuple[Any, ...]]:
    """Expected (consumed, credited, rollover units) per (customer, meter), straight from the
    rules: the current period starts after the last reset; credits clamp at zero."""
    expected: dict[tuple[int, int], tuple[Any, ...]] = {}
    for who in range(CUSTOMERS):
        for m, kind in enumerate(kinds):
            touching = [(i, op) for i, op in script if op.who == who and (
                op.kind in ("by_id", "by_external") or (op.meter == m and op.kind in (
                    "credit", "reset")))]
            if not touching:
                continue
            resets = [i for i, op in touching if op.kind == "reset"]
            since = resets[-1] if resets else -1
            period = [op for i, op in touching if i > since]
            amounts = [op.amount for op in period if op.kind in ("by_id", "by_external")]
            credited = carried = 0
            for op in period:
                if op.kind == "credit":
                    credited = max(0, credited + op.amount)
                    if op.rollover:
                        carried = max(0, carried + op.amount)
            consumed = sum(amounts) if kind == "sum" else len(amounts)
            expected[(who, m)] = (Decimal(consumed), credited, carried)
    return expected


def script_events(script: list[Op], spacing: timedelta = timedelta(seconds=1),
                  ) -> tuple[list[Any], list[Any], list[Any], list[tuple[int, Op]]]:
    """The meters, customers and ledger events a script makes (one event every `spacing`),
    and the operations that count."""
    meters = [meter({"func": "sum", "property": "tokens"}), meter({"func": "count"})]
    customers = [customer(f"ext{i}") for i in range(CUSTOMERS)]
    events: list[Any] = list(meters)
    alive: set[int] = set()
    kept: list[tuple[int, Op]] = []
    for index, op in enumerate(script):
        at = T0 + index * spacing
        c = customers[op.who]
        if op.kind == "create":
            if op.who not in alive:
                alive.add(op.who)
                events.append(c)
            continue
        if op.kind == "by_external" or (op.kind == "unmatched" and op.who not in alive):
            events.append(usage(at, op.amount, external_id=c.external_id,
                                name="llm" if op.kind == "by_external" else "other"))
        elif op.who not in alive:
            continue
        elif op.kind == "by_id":
            events.append(usage(at, op.amount, customer_id=c.originator_id))
        elif op.kind == "unmatched":
            events.append(usage(at, op.amount, customer_id=c.originator_id, name="other"))
        elif op.kind == "credit":
            events.append(system(at, c.originator_id, CREDITED, credited_metadata(
                meters[op.meter].originator_id, op.amount, op.rollover)))
        else:
            events.append(system(at, c.originator_id, RESET,
                                 reset_metadata(meters[op.meter].originator_id)))
        kept.append((index, op))
    return meters, customers, events, [(i, op) for i, op in kept if op.who in alive]


@settings(max_examples=150, deadline=None)
@given(ops)
def test_book_equals_a_brute_force_recomputation(script: list[Op]) -> None:
    meters, customers, events, kept = script_events(script)
    book = Book()
    book.fold(events)
    expected = naive(kept, ["sum", "count"])
    actual = {}
    for who, c in enumerate(customers):
        for m, mt in enumerate(meters):
            state = book.states.get((c.originator_id, mt.originator_id))
            if state is None:
                continue
            actual[(who, m)] = (state.balance.consumed, state.balance.credited,
                                state.balance.rollover_units)
            history = book.entries[(c.originator_id, mt.originator_id)]
            assert sorted(history) == list(range(1, state.last_seq + 1))
            assert sum((e.change for e in history.values()), Decimal(0)) == \
                state.balance.balance
            assert history[state.last_seq].balance == state.balance.balance
    assert actual == expected


@settings(max_examples=150, deadline=None)
@given(ops, st.sampled_from([timedelta(seconds=1), timedelta(minutes=4),
                             timedelta(minutes=16)]))
@example([Op("create"), Op("by_id", amount=5), Op("by_id", amount=7)], timedelta(minutes=16))
def test_runs_of_usage_fold_exactly_as_one_event_at_a_time(script: list[Op],
                                                           spacing: timedelta) -> None:
    """Usage merged in runs (per customer meter and bucket) gives the states and the history
    entries of consuming every event on its own."""
    events = script_events(script, spacing)[2]
    in_runs, one_by_one = Book(), Book()
    in_runs.fold(events)
    for event in events:
        one_by_one.fold([event])
    assert in_runs.states == one_by_one.states
    assert in_runs.entries == one_by_one.entries
