"""Which ledger entries move which customer meter: the fold of the whole ledger, in its order.

`Book.apply` takes ledger events one by one (meters, customers, usage and system events) and keeps
every customer meter's `Balance` and history current. Rules, as Polar:

- a user event counts for its customer by `customer_id`, or by `external_customer_id` through the
  customer holding that external id. Usage sent under an external id nobody holds yet is kept
  pending per meter and ingestion; when a customer takes the external id, the pending usage
  recorded since the start of that customer meter's period (all of it if it was never reset) is
  added;
- a meter counts the events recorded after it was created; archived meters keep counting (they are
  only hidden from listings);
- `meter.credited` / `meter.reset` system events carry the customer and the meter.

The book reads what it does not hold through a `Loader` (the projection's tables; nothing for a
replay from the ledger) and records what it changed, for the caller to persist, after `settle`.
Usage is applied in runs: consecutive usage of one customer meter in one bucket is merged into one
partial and consumed once when the run ends (anything else happens, or `settle`). Merging is
associative and the arithmetic exact, so the balances and history are those of applying each
event in turn, at a fraction of the cost (one history entry per run, as before). Both the projection
and the reconciliation use this one fold, so their results can be compared exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID, uuid5

from domain.aggregation import (
    EMPTY,
    Aggregation,
    AggregationError,
    Partial,
    Tally,
    contribution,
    merge,
    merge_all,
    parse_aggregation,
    partial_of,
)
from domain.calendar import floor_to_base
from domain.credits import (
    CREDITED,
    RESET,
    ZERO,
    Balance,
    Entry,
    EntryKind,
    consume,
    credit,
    entry,
    usage_entry,
)
from domain.customer import Customer
from domain.meter import Meter
from domain.meter_filter import Filter, FilterError, parse_filter
from domain.usage import SYSTEM, UsageRecorded


def customer_meter_id(customer_id: UUID, meter_id: UUID) -> UUID:
    """A customer meter's id: derived from its customer and meter, so rebuilds keep it."""
    return uuid5(meter_id, f"customer-meter:{customer_id}")


@dataclass
class MeterDefinition:
    id: UUID
    organization_id: UUID
    name: str
    created_at: datetime
    filter: dict[str, Any]
    aggregation: dict[str, Any]
    archived_at: datetime | None = None
    _parsed: tuple[Filter, Aggregation] | None = field(default=None, repr=False, compare=False)

    def parsed(self) -> tuple[Filter, Aggregation] | None:
        """The definition, parsed once; None if the recorded JSON is not valid (counts nothing)."""
        if self._parsed is None:
            try:
                self._parsed = (parse_filter(self.filter), parse_aggregation(self.aggregation))
            except (FilterError, AggregationError):
                return None
        return self._parsed

    def redefine(self, changes: Mapping[str, Any]) -> None:
        for key in ("name", "filter", "aggregation"):
            if key in changes:
                setattr(self, key, changes[key])
        self._parsed = None


@dataclass
class Subject:
    """A customer as the book needs it: who holds which external id."""

    id: UUID
    organization_id: UUID
    external_id: str | None


@dataclass
class CustomerMeterState:
    id: UUID
    organization_id: UUID
    customer_id: UUID
    meter_id: UUID
    created_at: datetime
    modified_at: datetime
    period_start: datetime | None = None
    balance: Balance = ZERO
    last_seq: int = 0
    last_entry: Entry | None = None


@dataclass
class PendingUsage:
    """Usage recorded under an external id nobody holds, for one meter, in one ingestion."""

    ingested_at: datetime
    partial: Partial
    events: int

    def plus(self, later: PendingUsage) -> PendingUsage:
        """This usage and `later` usage of the same ingestion, together."""
        return PendingUsage(self.ingested_at, merge(self.partial, later.partial),
                            self.events + later.events)


class Loader(Protocol):
    def meters(self, organization_id: UUID) -> list[MeterDefinition]: ...

    def definition(self, meter_id: UUID) -> MeterDefinition | None: ...

    def subject(self, customer_id: UUID) -> Subject | None: ...

    def subject_by_external(self, organization_id: UUID, external_id: str) -> Subject | None: ...

    def state(self, customer_id: UUID, meter_id: UUID) -> CustomerMeterState | None: ...

    def pending(self, meter_id: UUID, external_id: str) -> list[PendingUsage]: ...


class NullLoader:
    """Nothing recorded yet: a replay from the start of the ledger."""

    def meters(self, organization_id: UUID) -> list[MeterDefinition]:
        return []

    def definition(self, meter_id: UUID) -> MeterDefinition | None:
        return None

    def subject(self, customer_id: UUID) -> Subject | None:
        return None

    def subject_by_external(self, organization_id: UUID, external_id: str) -> Subject | None:
        return None

    def state(self, customer_id: UUID, meter_id: UUID) -> CustomerMeterState | None:
        return None

    def pending(self, meter_id: UUID, external_id: str) -> list[PendingUsage]:
        return []


_UNKNOWN: Any = object()
"""A look-up's default: what the book has not read yet (None is a known absence)."""


@dataclass(slots=True)
class _Run:
    """Usage of one customer meter in one bucket, not yet consumed."""

    state: CustomerMeterState
    usage: Tally
    first: datetime
    last: datetime
    latest: datetime
    bucket: datetime
    events: int


@dataclass(slots=True)
class _UsageView:
    """A usage event as meter filters see it: `timestamp` is the event's own time. (Not frozen:
    one is made per usage event, and a frozen dataclass takes three times as long to make.)"""

    name: str
    source: str
    timestamp: datetime
    metadata: Mapping[str, Any]


class Book:
    """The customer meters of the ledger, folded entry by entry (see the module docstring).

    `definitions`, when given, replaces each meter's definition as it is created (a replay with
    today's definitions). With `history=False` no history is kept (nor `last_seq` /
    `last_entry`): a reconciliation compares figures only.
    """

    def __init__(self, loader: Loader | None = None, *, history: bool = True,
                 definitions: Mapping[UUID, MeterDefinition] | None = None) -> None:
        self.loader: Loader = loader or NullLoader()
        self.history = history
        self.definitions = definitions
        self.meters: dict[UUID, dict[UUID, MeterDefinition]] = {}
        self.subjects: dict[UUID, Subject | None] = {}
        self.by_external: dict[tuple[UUID, str], UUID | None] = {}
        self.states: dict[tuple[UUID, UUID], CustomerMeterState | None] = {}
        self.pending: dict[tuple[UUID, str], dict[datetime, PendingUsage]] = {}
        """Usage held per (meter, external id), by ingestion, that the loader does not hold yet
        (for a replay: all of it). Writing it adds it to the loader's row of the same ingestion,
        if there is one."""
        self.cleared_pending: set[tuple[UUID, str]] = set()
        """(meter, external id) whose pending usage a customer took: the loader's rows are void."""
        self.changed_meters: set[UUID] = set()
        self.changed_subjects: set[UUID] = set()
        self.changed_states: set[tuple[UUID, UUID]] = set()
        self.entries: dict[tuple[UUID, UUID], dict[int, Entry]] = {}
        """History entries written, per (customer, meter) and sequence number."""
        self.runs: dict[tuple[int, int], _Run] = {}
        """Usage applied but not consumed yet, per (customer, meter) by their ids' integers
        (hashing an int is a C call, a `UUID` a Python one, and usage looks a run up per meter
        on every event): see `settle`."""
        self._bucket: tuple[datetime, datetime] | None = None
        """The last ingestion time seen and its bucket: a batch's events share it."""

    # Reading, through the loader ------------------------------------------------------------

    def meters_of(self, organization_id: UUID) -> dict[UUID, MeterDefinition]:
        known = self.meters.get(organization_id)
        if known is None:
            known = {m.id: m for m in self.loader.meters(organization_id)}
            self.meters[organization_id] = known
        return known

    def subject(self, customer_id: UUID) -> Subject | None:
        found = self.subjects.get(customer_id, _UNKNOWN)
        if found is _UNKNOWN:
            found = self.subjects[customer_id] = self.loader.subject(customer_id)
            if found is not None and found.external_id:
                self.by_external.setdefault((found.organization_id, found.external_id), found.id)
        return found

    def subject_by_external(self, organization_id: UUID, external_id: str) -> Subject | None:
        key = (organization_id, external_id)
        customer_id = self.by_external.get(key, _UNKNOWN)
        if customer_id is _UNKNOWN:
            found = self.loader.subject_by_external(organization_id, external_id)
            customer_id = self.by_external[key] = found.id if found else None
            if found is not None:
                self.subjects.setdefault(found.id, found)
        return None if customer_id is None else self.subject(customer_id)

    def state(self, customer_id: UUID, meter_id: UUID) -> CustomerMeterState | None:
        key = (customer_id, meter_id)
        if key not in self.states:
            self.states[key] = self.loader.state(customer_id, meter_id)
        return self.states[key]

    def pending_of(self, meter_id: UUID, external_id: str) -> list[PendingUsage]:
        """All the usage pending for a meter under an external id, by ingestion."""
        key = (meter_id, external_id)
        held = self.pending.get(key, {})
        if key in self.cleared_pending:
            return list(held.values())
        rows = {p.ingested_at: p for p in self.loader.pending(meter_id, external_id)}
        for at, usage in held.items():
            stored = rows.get(at)
            rows[at] = usage if stored is None else stored.plus(usage)
        return list(rows.values())

    def prime(self, *, meters: Mapping[UUID, Iterable[MeterDefinition]] | None = None,
              subjects: Iterable[Subject] = (), absent_subjects: Iterable[UUID] = (),
              absent_externals: Iterable[tuple[UUID, str]] = (),
              states: Iterable[CustomerMeterState] = (),
              absent_states: Iterable[tuple[UUID, UUID]] = ()) -> None:
        """Hand the book what a loader read in bulk (so `apply` rarely loads one by one)."""
        for organization_id, definitions in (meters or {}).items():
            self.meters[organization_id] = {m.id: m for m in definitions}
        for subject in subjects:
            self.subjects[subject.id] = subject
            if subject.external_id:
                self.by_external[(subject.organization_id, subject.external_id)] = subject.id
        for customer_id in absent_subjects:
            self.subjects.setdefault(customer_id, None)
        for key in absent_externals:
            self.by_external.setdefault(key, None)
        for state in states:
            self.states[(state.customer_id, state.meter_id)] = state
        for state_key in absent_states:
            self.states.setdefault(state_key, None)

    def forget_meter(self, meter_id: UUID) -> None:
        """Drop what is held for one meter (its rows were just rebuilt elsewhere)."""
        for key in [k for k in self.states if k[1] == meter_id]:
            del self.states[key]
            self.changed_states.discard(key)
            self.entries.pop(key, None)
        for pending_key in [k for k in self.pending if k[0] == meter_id]:
            del self.pending[pending_key]
        for run_key in [k for k in self.runs if k[1] == meter_id.int]:
            del self.runs[run_key]
        self.cleared_pending = {k for k in self.cleared_pending if k[0] != meter_id}

    # Folding -------------------------------------------------------------------------------

    def fold(self, events: Iterable[Any]) -> None:
        """Apply events in order, then settle."""
        for event in events:
            self.apply(event)
        self.settle()

    def settle(self) -> None:
        """Consume every run of usage: call before reading states, entries or changes."""
        for key in list(self.runs):
            self._settle(key)

    def apply(self, event: Any) -> None:
        if type(event) is UsageRecorded and event.source != SYSTEM:
            self._usage(event)
            return
        self.settle()
        match event:
            case UsageRecorded() if event.source == SYSTEM:
                self._system(event)
            case UsageRecorded():
                self._usage(event)
            case Customer.Created():
                self._customer_created(event)
            case Customer.Updated() if "external_id" in event.changes:
                self._take_external(event.originator_id, event.changes["external_id"],
                                    event.timestamp)
            case Customer.Deleted():
                self._take_external(event.originator_id, None, event.timestamp)
            case Meter.Created():
                self._meter_created(event)
            case Meter.Updated():
                meter = self._meter(event.originator_id)
                if meter is not None:
                    meter.redefine(event.changes)
                    self.changed_meters.add(meter.id)
            case Meter.Archived() | Meter.Unarchived():
                meter = self._meter(event.originator_id)
                if meter is not None:
                    meter.archived_at = getattr(event, "at", None)
                    self.changed_meters.add(meter.id)

    def _meter(self, meter_id: UUID, organization_id: UUID | None = None) -> MeterDefinition | None:
        if organization_id is not None:
            return self.meters_of(organization_id).get(meter_id)
        for meters in self.meters.values():
            if meter_id in meters:
                return meters[meter_id]
        stored = self.loader.definition(meter_id)
        return None if stored is None else self.meters_of(stored.organization_id).get(meter_id)

    def _meter_created(self, event: Any) -> None:
        meter = MeterDefinition(
            id=event.originator_id, organization_id=event.organization_id, name=event.name,
            created_at=event.timestamp, filter=event.filter, aggregation=event.aggregation)
        if self.definitions is not None and event.originator_id in self.definitions:
            final = self.definitions[event.originator_id]
            meter.filter, meter.aggregation = final.filter, final.aggregation
        self.meters_of(event.organization_id)[meter.id] = meter
        self.changed_meters.add(meter.id)

    def _customer_created(self, event: Any) -> None:
        subject = Subject(event.originator_id, event.organization_id, None)
        self.subjects[subject.id] = subject
        self.changed_subjects.add(subject.id)
        if event.external_id:
            self._take_external(subject.id, event.external_id, event.timestamp)

    def _take_external(self, customer_id: UUID, external_id: str | None, at: datetime) -> None:
        subject = self.subject(customer_id)
        if subject is None or subject.external_id == external_id:
            return
        if subject.external_id:
            self.by_external[(subject.organization_id, subject.external_id)] = None
        subject.external_id = external_id
        self.changed_subjects.add(subject.id)
        if external_id:
            self.by_external[(subject.organization_id, external_id)] = subject.id
            self._link(subject, external_id, at)

    def _link(self, subject: Subject, external_id: str, at: datetime) -> None:
        for meter in self.meters_of(subject.organization_id).values():
            waiting = self.pending_of(meter.id, external_id)
            if not waiting:
                continue
            parsed = meter.parsed()
            state = self.state(subject.id, meter.id)
            start = state.period_start if state is not None else None
            counted = [p for p in waiting if start is None or p.ingested_at >= start]
            self.pending[(meter.id, external_id)] = {}
            self.cleared_pending.add((meter.id, external_id))
            if not counted or parsed is None:
                continue
            state = state or self._new_state(subject, meter, at)
            before = state.balance
            state.balance = consume(before, parsed[1], merge_all(p.partial for p in counted))
            self._record(state, "usage", at, before, events=sum(p.events for p in counted))

    def _usage(self, event: UsageRecorded) -> None:
        meters = self.meters_of(event.organization_id)
        if not meters:
            return
        subject: Subject | None = None
        if event.customer_id is not None:
            subject = self.subject(event.customer_id)
            if subject is None or subject.organization_id != event.organization_id:
                return
        elif event.external_customer_id:
            subject = self.subject_by_external(event.organization_id, event.external_customer_id)
        else:
            return
        view = _UsageView(event.name, event.source, event.occurred_at, event.metadata)
        at = event.timestamp
        if self._bucket is None or self._bucket[0] != at:
            self._bucket = (at, floor_to_base(at))
        bucket = self._bucket[1]
        customer = 0 if subject is None else subject.id.int
        for meter in meters.values():
            parsed = meter.parsed()
            if parsed is None or parsed[0].clauses and not parsed[0].matches(view):
                continue
            if subject is None:
                assert event.external_customer_id is not None
                self._hold(meter.id, event.external_customer_id, at,
                           partial_of(parsed[1], view) or EMPTY)
                continue
            key = (customer, meter.id.int)
            run = self.runs.get(key)
            if run is not None and run.bucket != bucket:
                self._settle(key)
                run = None
            if run is None:
                state = self.state(subject.id, meter.id) or self._new_state(subject, meter, at)
                run = self.runs[key] = _Run(state, Tally(parsed[1]), at, at, at, bucket, 0)
            run.usage.take(contribution(parsed[1], view))
            run.last = at
            run.latest = max(run.latest, at)
            run.events += 1

    def _settle(self, key: tuple[int, int]) -> None:
        run = self.runs.pop(key)
        state = run.state
        before = state.balance
        state.balance = consume(before, run.usage.aggregation, run.usage.partial())
        self._record(state, "usage", run.first, before, events=run.events, bucket=run.bucket,
                     until=run.latest, modified_at=run.last)

    def _hold(self, meter_id: UUID, external_id: str, at: datetime, partial: Partial) -> None:
        held = self.pending.setdefault((meter_id, external_id), {})
        usage = PendingUsage(at, partial, 1)
        earlier = held.get(at)
        held[at] = usage if earlier is None else earlier.plus(usage)

    def _system(self, event: UsageRecorded) -> None:
        if event.name not in (CREDITED, RESET) or event.customer_id is None:
            return
        meter = self._meter(UUID(str(event.metadata["meter_id"])), event.organization_id)
        if meter is None:
            return
        subject = self.subject(event.customer_id)
        if subject is None:
            return
        at = event.timestamp
        state = self.state(subject.id, meter.id) or self._new_state(subject, meter, at)
        before = state.balance
        if event.name == CREDITED:
            units = int(event.metadata["units"])
            rollover = bool(event.metadata.get("rollover", False))
            state.balance = credit(before, units, rollover)
            self._record(state, "credit", at, before, units=units, rollover=rollover,
                         event_id=event.originator_id)
        else:
            state.balance = ZERO
            state.period_start = at
            self._record(state, "reset", at, before, event_id=event.originator_id)

    def _new_state(self, subject: Subject, meter: MeterDefinition,
                   at: datetime) -> CustomerMeterState:
        state = CustomerMeterState(id=customer_meter_id(subject.id, meter.id),
                                   organization_id=subject.organization_id,
                                   customer_id=subject.id, meter_id=meter.id, created_at=at,
                                   modified_at=at)
        self.states[(subject.id, meter.id)] = state
        return state

    def _record(self, state: CustomerMeterState, kind: EntryKind, at: datetime,
                before: Balance, modified_at: datetime | None = None, **fields: Any) -> None:
        """Note the change of `state` (from `before`) and, keeping history, its entry."""
        state.modified_at = modified_at or at
        self.changed_states.add((state.customer_id, state.meter_id))
        if not self.history:
            return
        if kind == "usage":
            if "bucket" not in fields:
                fields["bucket"] = floor_to_base(at)
            line, merged = usage_entry(state.last_entry, at, before, state.balance, **fields)
        else:
            line, merged = entry(kind, at, before, state.balance, **fields), False
        if not merged:
            state.last_seq += 1
        state.last_entry = line
        self.entries.setdefault((state.customer_id, state.meter_id), {})[state.last_seq] = \
            state.last_entry
