"""Customer meters (consumed, credited, balance) and their history, kept current incrementally.

Each batch loads the rows it touches into a `domain.credit_book.Book`, folds the events in ledger
order and writes back what changed, inside the runner's transaction (exactly once). Once the
runner has committed a batch, the book is kept for the next one: it holds exactly what the tables
hold, as long as nobody else applied a batch in between (the runner says so: `forget`), so the
next batch reads only the rows the book does not know yet. A change of a
meter's filter or aggregation rebuilds that meter's rows from the ledger (see
`projections.customer_meter_replay`) before the rest of the batch is applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic
from sqlalchemy import Connection, Table, and_, bindparam, delete, insert, select, tuple_, update

from commands.ledger import Ledger
from domain.aggregation import partial_from_json, partial_to_json
from domain.credit_book import (
    Book,
    CustomerMeterState,
    MeterDefinition,
    PendingUsage,
    Subject,
)
from domain.credits import Balance, Entry
from domain.customer import Customer
from domain.meter import DEFINITION_FIELDS, Meter
from domain.usage import SYSTEM, UsageRecorded
from projections.bulk import insert_rows, overwrite
from projections.credit_tables import (
    customer_meter_definitions,
    customer_meter_entries,
    customer_meter_pending,
    customer_meter_subjects,
    customer_meters,
)
from projections.customer_meter_replay import notifications, replay
from projections.tables import projection_positions
from queries.common import chunks, one_of

_CHUNK = 500
# Columns a flush never changes on a stored row (of history, only usage entries are updated).
_FIXED_STATE = frozenset({"id", "organization_id", "customer_id", "meter_id", "created_at"})
_FIXED_ENTRY = frozenset({"customer_meter_id", "seq", "kind", "started_at", "rollover",
                          "event_id", "bucket"})


_KEPT_ROWS = 200_000
"""Keep the book between batches only while it holds at most this many customers and customer
meters (memory)."""


@dataclass
class _Kept:
    """The book and the rows known to exist, as the last committed batch left them."""

    book: Book
    stored_meters: set[UUID]
    stored_subjects: set[UUID]


class ProjectionCrashError(RuntimeError):
    """Raised by the test hook `fail_after`."""


class CustomerMetersProjection:
    name = "customer_meters"
    topics = frozenset(get_topic(cls) for cls in (
        UsageRecorded, Customer.Created, Customer.Updated, Customer.Deleted,
        Meter.Created, Meter.Updated, Meter.Archived, Meter.Unarchived))

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.fail_after: int | None = None
        """Test hook: raise after applying this many events of a batch (then roll back)."""
        self._kept: _Kept | None = None
        self._applied: _Rows | None = None
        """The rows of the batch `process` applied, until the runner commits it."""

    def tables(self) -> Sequence[Table]:
        return (customer_meters, customer_meter_entries, customer_meter_pending,
                customer_meter_subjects, customer_meter_definitions)

    def process(self, conn: Connection, events: Sequence[Any]) -> None:
        kept, self._kept = self._kept, None   # a failure drops it
        store = _Rows(conn, kept)
        book, applied = store.book(events)
        for index, event in enumerate(applied):
            if self.fail_after is not None and index >= self.fail_after:
                msg = f"test hook: crash after {index} events"
                raise ProjectionCrashError(msg)
            if isinstance(event, Meter.Updated) and DEFINITION_FIELDS & set(event.changes):
                store.flush(book)
                self._rebuild_meter(conn, store, event)
                book.forget_meter(event.originator_id)
            book.apply(event)
        store.flush(book)
        self._applied = store

    def committed(self, start: int, end: int) -> None:
        """The runner committed a batch: keep the book it was applied to (or, when none of its
        entries were ours, the book kept before it, which it left as it was)."""
        store, self._applied = self._applied, None
        if store is not None and store.book_ is not None:
            self._kept = _Kept(store.book_, store.stored_meters, store.stored_subjects)
        if self._kept and len(self._kept.book.states) + len(self._kept.book.subjects) > _KEPT_ROWS:
            self._kept = None

    def forget(self) -> None:
        """What was kept may no longer be what the tables hold (see `KeepingProjection`)."""
        self._kept = self._applied = None

    def _position(self, conn: Connection) -> int:
        return int(conn.execute(select(projection_positions.c.position)
                                .where(projection_positions.c.name == self.name)).scalar_one())

    def _rebuild_meter(self, conn: Connection, store: _Rows, event: Any) -> None:
        """Replace one meter's rows by a replay of the ledger up to this change."""
        position = self._position_of(conn, event)
        meter = store.definition(event.originator_id)
        if meter is None:
            return
        replayed = replay(self.ledger, position, organization_id=meter.organization_id,
                          meter_id=meter.id, history=True).book
        store.replace_meter(meter, replayed)

    def _position_of(self, conn: Connection, event: Any) -> int:
        """The notification id of an event of the batch being applied."""
        start = self._position(conn)
        topic = get_topic(type(event))
        for notification in notifications(self.ledger, (topic,), self.ledger.position(), start):
            if notification.originator_id == event.originator_id and \
                    notification.originator_version == event.originator_version:
                return notification.id
        msg = f"{event!r} is not in the ledger after position {start}"
        raise LookupError(msg)


def _definition(row: Any) -> MeterDefinition:
    return MeterDefinition(id=row.id, organization_id=row.organization_id, name=row.name,
                           created_at=row.created_at, filter=row.filter,
                           aggregation=row.aggregation, archived_at=row.archived_at)


_LAST_ENTRY = [c.label(f"entry_{c.name}") for c in customer_meter_entries.columns]
"""A customer meter's last history entry, beside its row."""


def _last_entry(row: Any) -> Entry | None:
    if row.entry_kind is None:
        return None
    return Entry(kind=row.entry_kind, started_at=row.entry_started_at,
                 timestamp=row.entry_timestamp, change=row.entry_change,
                 consumed=row.entry_consumed_units, credited=row.entry_credited_units,
                 balance=row.entry_balance, units=row.entry_units, rollover=row.entry_rollover,
                 event_id=row.entry_event_id, events=row.entry_events, bucket=row.entry_bucket)


def _state(row: Any) -> CustomerMeterState:
    return CustomerMeterState(
        id=row.id, organization_id=row.organization_id, customer_id=row.customer_id,
        meter_id=row.meter_id, created_at=row.created_at, modified_at=row.modified_at,
        period_start=row.period_start,
        balance=Balance(usage=partial_from_json(row.usage), consumed=row.consumed_units,
                        credited=row.credited_units, rollover_units=row.rollover_units),
        last_seq=row.last_seq, last_entry=_last_entry(row))


def _state_row(state: CustomerMeterState) -> tuple[Any, ...]:
    """A `customer_meters` row, in the table's column order (for `insert_rows`)."""
    balance = state.balance
    return (state.id, state.organization_id, state.customer_id, state.meter_id,
            state.created_at, state.modified_at, state.period_start,
            partial_to_json(balance.usage), balance.consumed, balance.credited,
            balance.rollover_units, balance.balance, state.last_seq)


def _entry_row(customer_meter_id: UUID, seq: int, e: Entry) -> tuple[Any, ...]:
    """A `customer_meter_entries` row, in the table's column order."""
    return (customer_meter_id, seq, *e)


def _pending_row(meter_id: UUID, organization_id: UUID, external_id: str,
                 p: PendingUsage) -> tuple[Any, ...]:
    """A `customer_meter_pending` row, in the table's column order (for `insert_rows`)."""
    return (meter_id, external_id, p.ingested_at, organization_id, partial_to_json(p.partial),
            p.events)


class _Rows:
    """The projection's tables, as a `Loader` for the book, and the writer of its changes.

    Remembers which meter and customer rows exist, so flushing knows what to insert and what to
    update; customer meters and their history are upserted.
    """

    def __init__(self, conn: Connection, kept: _Kept | None = None) -> None:
        self.conn = conn
        self.stored_meters: set[UUID] = kept.stored_meters if kept else set()
        self.stored_subjects: set[UUID] = kept.stored_subjects if kept else set()
        self.book_: Book | None = kept.book if kept else None
        """The book of the batch (the kept one, when there is one)."""
        self.read_ahead: dict[tuple[UUID, str], list[PendingUsage]] = {}
        """Pending usage of the external ids the batch's new customers take, read in bulk
        (valid until the next flush)."""

    # Loader ----------------------------------------------------------------------------------

    def meters(self, organization_id: UUID) -> list[MeterDefinition]:
        rows = self.conn.execute(select(customer_meter_definitions).where(
            customer_meter_definitions.c.organization_id == organization_id)).all()
        self.stored_meters.update(r.id for r in rows)
        return [_definition(r) for r in rows]

    def definition(self, meter_id: UUID) -> MeterDefinition | None:
        row = self.conn.execute(select(customer_meter_definitions).where(
            customer_meter_definitions.c.id == meter_id)).first()
        return None if row is None else _definition(row)

    def subject(self, customer_id: UUID) -> Subject | None:
        return self._subject(customer_meter_subjects.c.id == customer_id)

    def subject_by_external(self, organization_id: UUID, external_id: str) -> Subject | None:
        return self._subject(and_(customer_meter_subjects.c.organization_id == organization_id,
                                  customer_meter_subjects.c.external_id == external_id))

    def _subject(self, condition: Any) -> Subject | None:
        row = self.conn.execute(select(customer_meter_subjects).where(condition)).first()
        if row is None:
            return None
        self.stored_subjects.add(row.id)
        return Subject(row.id, row.organization_id, row.external_id)

    def state(self, customer_id: UUID, meter_id: UUID) -> CustomerMeterState | None:
        states = self._states(and_(customer_meters.c.customer_id == customer_id,
                                   customer_meters.c.meter_id == meter_id))
        return states[0] if states else None

    def _states(self, condition: Any) -> list[CustomerMeterState]:
        e = customer_meter_entries
        rows = self.conn.execute(select(customer_meters, *_LAST_ENTRY).outerjoin(e, and_(
            e.c.customer_meter_id == customer_meters.c.id,
            e.c.seq == customer_meters.c.last_seq)).where(condition)).all()
        return [_state(row) for row in rows]

    def pending(self, meter_id: UUID, external_id: str) -> list[PendingUsage]:
        read = self.read_ahead.pop((meter_id, external_id), None)
        if read is not None:
            return read
        rows = self.conn.execute(select(customer_meter_pending).where(
            customer_meter_pending.c.meter_id == meter_id,
            customer_meter_pending.c.external_customer_id == external_id)
            .order_by(customer_meter_pending.c.ingested_at)).all()
        return [PendingUsage(r.ingested_at, partial_from_json(r.usage), r.events) for r in rows]

    # Bulk loading ----------------------------------------------------------------------------

    def book(self, events: Sequence[Any]) -> tuple[Book, list[Any]]:
        """A book primed with every row the batch is likely to touch (a few queries), and the
        events it has to apply.

        Usage in an organization without meters counts for nothing (a meter created later
        counts only what is recorded after it): it is left out, and no row is read for it.
        """
        book = self.book_ = self.book_ or Book(self)
        book.loader = self
        organizations = {e.organization_id for e in events if hasattr(e, "organization_id")}
        book.prime(meters=self._bulk_meters(organizations - book.meters.keys()))
        created_meters: dict[UUID, list[UUID]] = {}
        for event in events:
            if isinstance(event, Meter.Created):
                created_meters.setdefault(event.organization_id, []).append(event.originator_id)

        def meter_ids(organization_id: UUID) -> list[UUID]:
            return [*book.meters_of(organization_id), *created_meters.get(organization_id, ())]

        metered = {o for o in organizations if meter_ids(o)}
        customer_ids: set[UUID] = set()
        externals: set[tuple[UUID, str]] = set()
        taken: set[tuple[UUID, str]] = set()
        created: dict[UUID, UUID] = {}
        applied: list[Any] = []
        for event in events:
            if isinstance(event, UsageRecorded):
                if event.organization_id not in metered:
                    continue
                if event.customer_id is not None:
                    customer_ids.add(event.customer_id)
                elif event.external_customer_id and event.source != SYSTEM:
                    externals.add((event.organization_id, event.external_customer_id))
            elif isinstance(event, Customer.Created):
                if event.organization_id in metered:
                    created[event.originator_id] = event.organization_id
                    if event.external_id:
                        taken.add((event.organization_id, event.external_id))
            elif isinstance(event, Customer.Updated | Customer.Deleted):
                customer_ids.add(event.originator_id)
            applied.append(event)
        unknown_ids = customer_ids - book.subjects.keys()
        unknown_externals = externals - book.by_external.keys()
        subjects = self._bulk_subjects(unknown_ids, unknown_externals)
        book.prime(subjects=subjects,
                   absent_subjects=unknown_ids - {s.id for s in subjects},
                   absent_externals=unknown_externals - {(s.organization_id, s.external_id)
                                                         for s in subjects if s.external_id})
        touched = [book.subjects.get(c) for c in customer_ids] + [
            book.subjects.get(c) for c in map(book.by_external.get, externals) if c is not None]
        customers = {s.id: s.organization_id for s in touched if s is not None and any(
            (s.id, meter_id) not in book.states for meter_id in meter_ids(s.organization_id))}
        states: list[CustomerMeterState] = []
        for chunk in chunks(customers, _CHUNK):
            states += self._states(one_of(self.conn, customer_meters.c.customer_id, chunk))
        book.prime(states=states, absent_states=[
            (customer_id, meter_id)
            for customer_id, organization_id in [*customers.items(), *created.items()]
            for meter_id in meter_ids(organization_id)])
        self._read_pending_ahead({(meter_id, external_id): [] for organization_id, external_id
                                  in taken for meter_id in meter_ids(organization_id)})
        return book, applied

    def _bulk_meters(self, organizations: set[UUID]) -> dict[UUID, list[MeterDefinition]]:
        found: dict[UUID, list[MeterDefinition]] = {o: [] for o in organizations}
        t = customer_meter_definitions
        for chunk in chunks(organizations, _CHUNK):
            for row in self.conn.execute(select(t).where(t.c.organization_id.in_(chunk))):
                found[row.organization_id].append(_definition(row))
                self.stored_meters.add(row.id)
        return found

    def _bulk_subjects(self, customer_ids: set[UUID],
                       externals: set[tuple[UUID, str]]) -> list[Subject]:
        found: dict[UUID, Subject] = {}
        s = customer_meter_subjects
        by_organization: dict[UUID, list[str]] = {}
        for organization_id, external_id in externals:
            by_organization.setdefault(organization_id, []).append(external_id)
        conditions = [one_of(self.conn, s.c.id, chunk) for chunk in chunks(customer_ids, _CHUNK)]
        conditions += [and_(s.c.organization_id == organization_id,
                             one_of(self.conn, s.c.external_id, chunk))
                       for organization_id, external_ids in by_organization.items()
                       for chunk in chunks(external_ids, _CHUNK)]
        for condition in conditions:
            for row in self.conn.execute(select(s).where(condition)):
                found[row.id] = Subject(row.id, row.organization_id, row.external_id)
        self.stored_subjects.update(found)
        return list(found.values())

    def _read_pending_ahead(self, wanted: dict[tuple[UUID, str], list[PendingUsage]]) -> None:
        """Read the pending usage of these (meter, external id) in bulk, for `pending`."""
        p = customer_meter_pending
        for chunk in chunks(wanted, _CHUNK):
            rows = self.conn.execute(select(p).where(
                tuple_(p.c.meter_id, p.c.external_customer_id).in_(chunk))
                .order_by(p.c.ingested_at)).all()
            for r in rows:
                wanted[(r.meter_id, r.external_customer_id)].append(
                    PendingUsage(r.ingested_at, partial_from_json(r.usage), r.events))
        self.read_ahead = wanted

    # Writing ---------------------------------------------------------------------------------

    def flush(self, book: Book) -> None:
        book.settle()
        self._flush_meters(book)
        self._flush_subjects(book)
        self._flush_states(book)
        self._flush_entries(book)
        self._flush_pending(book)

    def _flush_meters(self, book: Book) -> None:
        t = customer_meter_definitions
        for meter_id in book.changed_meters:
            meter = next(m[meter_id] for m in book.meters.values() if meter_id in m)
            values = {"name": meter.name, "filter": meter.filter,
                      "aggregation": meter.aggregation, "archived_at": meter.archived_at}
            if meter_id in self.stored_meters:
                self.conn.execute(update(t).where(t.c.id == meter_id).values(**values))
            else:
                self.conn.execute(insert(t).values(
                    id=meter_id, organization_id=meter.organization_id,
                    created_at=meter.created_at, **values))
                self.stored_meters.add(meter_id)
        book.changed_meters.clear()

    def _flush_subjects(self, book: Book) -> None:
        t = customer_meter_subjects
        new: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        for customer_id in book.changed_subjects:
            subject = book.subjects[customer_id]
            assert subject is not None
            values = {"id": subject.id, "organization_id": subject.organization_id,
                      "external_id": subject.external_id}
            (changed if customer_id in self.stored_subjects else new).append(values)
        if new:
            self.conn.execute(insert(t), new)
            self.stored_subjects.update(v["id"] for v in new)
        if changed:
            self.conn.execute(update(t).where(t.c.id == bindparam("b_id")).values(
                external_id=bindparam("external_id")),
                [{"b_id": v["id"], "external_id": v["external_id"]} for v in changed])
        book.changed_subjects.clear()

    def _flush_states(self, book: Book) -> None:
        """Insert the new customer meters and overwrite the changed ones, in one statement."""
        rows = []
        for key in book.changed_states:
            state = book.states[key]
            assert state is not None
            rows.append(_state_row(state))
        insert_rows(self.conn, customer_meters, rows, overwrite(customer_meters, _FIXED_STATE))
        book.changed_states.clear()

    def _flush_entries(self, book: Book) -> None:
        """Insert the new history entries and overwrite the last stored ones that runs of usage
        added to, in one statement."""
        rows = []
        for key, written in book.entries.items():
            state = book.states[key]
            assert state is not None
            rows += [_entry_row(state.id, seq, e) for seq, e in written.items()]
        insert_rows(self.conn, customer_meter_entries, rows,
                    overwrite(customer_meter_entries, _FIXED_ENTRY))
        book.entries.clear()

    def _flush_pending(self, book: Book) -> None:
        """Delete the pending usage customers took; add what was held to the stored row of the
        same ingestion, or insert it."""
        t = customer_meter_pending
        for chunk in chunks(book.cleared_pending, _CHUNK):
            self.conn.execute(delete(t).where(
                tuple_(t.c.meter_id, t.c.external_customer_id).in_(chunk)))
        held = {(meter_id, external_id, at): usage
                for (meter_id, external_id), rows in book.pending.items()
                for at, usage in rows.items()}
        maybe_stored = [k for k in held if k[:2] not in book.cleared_pending]
        meter_ids = {k[0] for k in maybe_stored}
        ingested = {k[2] for k in maybe_stored}
        stored: dict[tuple[UUID, str, datetime], PendingUsage] = {}
        for chunk in chunks({k[1] for k in maybe_stored}, _CHUNK):
            for r in self.conn.execute(select(t).where(
                    one_of(self.conn, t.c.meter_id, list(meter_ids)),
                    one_of(self.conn, t.c.ingested_at, list(ingested)),
                    one_of(self.conn, t.c.external_customer_id, chunk))):
                key = (r.meter_id, r.external_customer_id, r.ingested_at)
                if key in held:
                    stored[key] = PendingUsage(r.ingested_at, partial_from_json(r.usage),
                                               r.events)
        organization_of = {meter_id: organization_id
                           for organization_id, meters in book.meters.items()
                           for meter_id in meters}
        new: list[tuple[Any, ...]] = []
        changed: list[dict[str, Any]] = []
        for key, usage in held.items():
            meter_id, external_id, at = key
            earlier = stored.get(key)
            if earlier is None:
                new.append(_pending_row(meter_id, organization_of[meter_id], external_id, usage))
                continue
            total = earlier.plus(usage)
            changed.append({"b_meter_id": meter_id, "b_external_id": external_id, "b_at": at,
                            "usage": partial_to_json(total.partial), "events": total.events})
        insert_rows(self.conn, t, new)
        if changed:
            self.conn.execute(update(t).where(
                t.c.meter_id == bindparam("b_meter_id"),
                t.c.external_customer_id == bindparam("b_external_id"),
                t.c.ingested_at == bindparam("b_at"))
                .values(usage=bindparam("usage"), events=bindparam("events")), changed)
        book.pending.clear()
        book.cleared_pending.clear()
        self.read_ahead.clear()

    def replace_meter(self, meter: MeterDefinition, replayed: Book) -> None:
        """Swap one meter's customer meters, history and pending usage for a replay's."""
        meter_id = meter.id
        ids = select(customer_meters.c.id).where(customer_meters.c.meter_id == meter_id)
        self.conn.execute(delete(customer_meter_entries).where(
            customer_meter_entries.c.customer_meter_id.in_(ids.scalar_subquery())))
        self.conn.execute(delete(customer_meters).where(customer_meters.c.meter_id == meter_id))
        self.conn.execute(delete(customer_meter_pending)
                          .where(customer_meter_pending.c.meter_id == meter_id))
        states = [s for s in replayed.states.values() if s is not None and s.meter_id == meter_id]
        insert_rows(self.conn, customer_meters, [_state_row(s) for s in states])
        insert_rows(self.conn, customer_meter_entries, [
            _entry_row(replayed.states[key].id, seq, e)  # type: ignore[union-attr]
            for key, written in replayed.entries.items() if key[1] == meter_id
            for seq, e in written.items()])
        insert_rows(self.conn, customer_meter_pending, [
            _pending_row(meter_id, meter.organization_id, external_id, p)
            for (m, external_id), rows in replayed.pending.items() if m == meter_id
            for p in rows.values()])

