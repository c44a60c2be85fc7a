"""Ingest a batch of usage events: all-or-nothing validation, idempotency, one transaction.

Batches hold thousands of events, so per-event work is kept small: valid fields are checked
inline (an error's location is built only for an error), events are built without the frozen
dataclass constructor, and the whole batch is one `Ledger.record` call (one recorder
transaction; see `commands.store_codec` and `commands.store_recorders` for the encoding and the
PostgreSQL transfer).

Idempotency: a batch is planned as if none of its keys were recorded, and recorded as it comes;
the store's primary key refuses it whole when one of its keys is recorded already. Only then is
the store asked which keys it holds (one query), and the batch planned again with its duplicates
and conflicts. New data, the common case, thus costs no look-up. A parent link or span mark the
first plan rejects is looked up the same way before the batch is refused: a resent event is
checked against itself otherwise (a span started twice, say).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from commands.ledger import IntegrityError, Ledger
from commands.recorded import first_states
from domain import ids
from domain.customer import Customer, Member
from domain.errors import FieldError, InvalidInput
from domain.event_metadata import validate_metadata
from domain.event_type import EventType
from domain.hierarchy import NOTHING_RECORDED, BatchLink, RecordedTrees, link_errors
from domain.span import DURATION_KEY, Span, SpanError, parse_span, span_stream_id
from domain.usage import USER, UsageRecorded, fingerprint

MAX_FUTURE = timedelta(minutes=5)
MAX_NAME = 128
INSERTED, DUPLICATE, CONFLICT = "inserted", "duplicate", "conflict"
_RETRIES = 8

RecordedTreesReader = Callable[[UUID, Sequence[BatchLink]], RecordedTrees]
"""Reads what is recorded around a batch's parent links (see `domain.hierarchy`); called only
for batches where some event has a `parent_id`."""


@dataclass(frozen=True)
class IngestEvents:
    organization_id: UUID
    events: list[Any]
    received_at: datetime


class EventOutcome(NamedTuple):
    status: str
    event_id: UUID
    external_id: str | None


@dataclass
class IngestResult:
    inserted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    outcomes: list[EventOutcome] = field(default_factory=list)
    position: int = 0
    entries: tuple[int, int] | None = None
    """The first and last ledger positions the batch recorded (None when it recorded nothing)."""
    links: list[tuple[int, BatchLink]] = field(default_factory=list)
    """For a batch with parent links: each recorded event's ledger position and link."""

    def details(self) -> list[dict[str, Any]]:
        """One result per event, in request order (the `?details=true` extension)."""
        return [{"status": o.status, "id": str(o.event_id), "external_id": o.external_id}
                for o in self.outcomes]


class _Candidate(NamedTuple):
    """A validated event, not yet recorded."""

    position: int
    """Where the event is in the request (the `i` of error locations)."""
    event_id: UUID
    payload: dict[str, Any]
    fields: dict[str, Any]
    keyed: bool


def ingest_events(cmd: IngestEvents, ledger: Ledger,
                  recorded_trees: RecordedTreesReader | None = None) -> IngestResult:
    candidates = _validate(cmd, ledger)
    names = {c.fields["name"] for c in candidates}
    # The batch's event types, but those this process has seen recorded (they stay recorded).
    type_ids = {type_id: n for n in names if (type_id := ids.event_type_id(
        cmd.organization_id, n)) not in ledger.known_event_types}
    keys = [*(c.event_id for c in candidates if c.keyed), *type_ids]
    recorded = first_states(ledger, type_ids)
    looked_up = False  # the batch's keys: only once the plan made without them fails
    for _attempt in range(_RETRIES):
        try:
            links = _check_links(cmd, candidates, recorded_trees, recorded)
            result = _record(cmd, ledger, candidates, links, type_ids, recorded)
        except InvalidInput:
            # A link or span the batch's own resent events would explain? Else it stands.
            if looked_up:
                raise
            recorded, looked_up = first_states(ledger, keys), True
            if not any(c.event_id in recorded for c in candidates):
                raise
        except IntegrityError:
            # One of our keys (or event types) is recorded already (a retried batch), or a
            # concurrent batch recorded it first: look them all up and plan again.
            recorded, looked_up = first_states(ledger, keys), True
        else:
            ledger.known_event_types.update(type_ids)
            return result
    msg = "Could not record the batch: too much contention on the same idempotency keys"
    raise RuntimeError(msg)


def _record(cmd: IngestEvents, ledger: Ledger, candidates: list[_Candidate],
            links: list[BatchLink] | None, type_ids: dict[UUID, str],
            recorded: dict[UUID, dict[str, Any]]) -> IngestResult:
    result = IngestResult()
    seen: dict[UUID, str] = {}
    to_record: list[Any] = []
    inserted: list[int] = []
    spans = _SpanPlan(cmd.organization_id, ledger)
    for number, candidate in enumerate(candidates):
        digest = candidate.fields["fingerprint"]
        earlier = seen.get(candidate.event_id)
        if earlier is None and candidate.event_id in recorded:
            earlier = recorded[candidate.event_id].get("fingerprint", "")
        if earlier is not None:
            status = DUPLICATE if earlier == digest else CONFLICT
            result.duplicates += 1
            result.conflicts += status == CONFLICT
            result.outcomes.append(EventOutcome(status, candidate.event_id,
                                                candidate.fields["external_id"]))
            continue
        seen[candidate.event_id] = digest
        to_record.append(_usage_entry(ledger, candidate.event_id, cmd.received_at,
                                      spans.mark(candidate)))
        result.inserted += 1
        inserted.append(number)
        result.outcomes.append(EventOutcome(INSERTED, candidate.event_id,
                                            candidate.fields["external_id"]))
    new_types = [EventType(organization_id=cmd.organization_id, name=name)
                 for type_id, name in type_ids.items() if type_id not in recorded]
    spans.raise_errors()
    if not (to_record or new_types):
        result.position = ledger.position()
        return result
    type_entries = sum(len(t.pending_events) for t in new_types)
    positions = ledger.record_entries(*new_types, *to_record, *spans.touched())
    if not positions:  # a recorder that does not report positions
        result.position = ledger.position()
        return result
    result.position, result.entries = positions[-1], (positions[0], positions[-1])
    if links is not None:  # a link's index only locates its errors: it serves the tail as is
        result.links = [(position, links[number])
                        for position, number in zip(positions[type_entries:], inserted)]
    return result


_USAGE_DEFAULTS = {f.name: f.default for f in dataclass_fields(UsageRecorded)
                   if f.default is not MISSING}
_USAGE_STATE = frozenset(f.name for f in dataclass_fields(UsageRecorded)) \
    - {"originator_id", "originator_version"}


def _usage_entry(ledger: Ledger, event_id: UUID, received_at: datetime,
                 fields: dict[str, Any]) -> StoredEvent:
    """The ledger entry of `UsageRecorded(originator_id=event_id, originator_version=1,
    timestamp=received_at, **fields)`, written without building the event (see
    `Ledger.entry`). Fields that do not match the class go through its constructor, which
    rejects them."""
    state = {"timestamp": received_at, **fields}
    for name, default in _USAGE_DEFAULTS.items():
        state.setdefault(name, default)
    if state.keys() != _USAGE_STATE or type(event_id) is not UUID:
        UsageRecorded(originator_id=event_id, originator_version=1, **state)
    return ledger.entry(UsageRecorded, event_id, state)


def _check_links(cmd: IngestEvents, candidates: list[_Candidate],
                 recorded_trees: RecordedTreesReader | None,
                 duplicates: dict[UUID, Any]) -> list[BatchLink] | None:
    """Reject parent links that would close a cycle or make a tree too deep; return the batch's
    links (one per candidate), or None for a flat batch (no `parent_id` anywhere), which skips
    this entirely. `duplicates`: the batch's events the ledger already holds, by id."""
    if not any(c.fields["parent_ref"] for c in candidates):
        return None
    links = [BatchLink(c.position, c.event_id, c.fields["external_id"], c.fields["parent_ref"],
                       new=c.event_id not in duplicates) for c in candidates]
    trees = recorded_trees(cmd.organization_id, links) if recorded_trees \
        else NOTHING_RECORDED
    errors = link_errors(links, trees)
    if errors:
        raise InvalidInput(errors)
    return links


class _SpanPlan:
    """The span marks of one batch: each `span` event starts or completes its `Span`; the event
    that completes one carries the duration in its metadata."""

    def __init__(self, organization_id: UUID, ledger: Ledger) -> None:
        self.organization_id = organization_id
        self.ledger = ledger
        self.spans: dict[UUID, Span] = {}
        self.errors: list[FieldError] = []

    def mark(self, candidate: _Candidate) -> dict[str, Any]:
        """The fields to record for `candidate`."""
        fields = candidate.fields
        if fields["span_id"] is None:
            return fields
        stream_id = span_stream_id(self.organization_id, fields["span_id"])
        span = self.spans.get(stream_id) or self.ledger.find(Span, stream_id)
        at = fields["occurred_at"]
        if span is None:
            self.spans[stream_id] = Span(organization_id=self.organization_id,
                                         span_id=fields["span_id"], action=fields["span_action"],
                                         event_id=candidate.event_id, at=at)
            return fields
        self.spans[stream_id] = span
        try:
            span.check(fields["span_action"], at)
        except SpanError as e:
            self.errors.append(FieldError(("body", "events", candidate.position, e.field), str(e),
                                          "span", candidate.payload.get(e.field)))
            return fields
        span.complete(fields["span_action"], candidate.event_id, at)
        return {**fields, "metadata": {**fields["metadata"], DURATION_KEY: span.duration_ms}}

    def raise_errors(self) -> None:
        if self.errors:
            raise InvalidInput(self.errors)

    def touched(self) -> list[Span]:
        return [s for s in self.spans.values() if s.pending_events]


def _validate(cmd: IngestEvents, ledger: Ledger) -> list[_Candidate]:
    errors: list[FieldError] = []
    candidates: list[_Candidate] = []
    customers: dict[UUID, bool] = {}
    members: dict[UUID, bool] = {}
    for index, raw in enumerate(cmd.events):
        loc = ("body", "events", index)
        before = len(errors)
        if not isinstance(raw, dict):
            errors.append(FieldError(loc, "Input should be a valid dictionary", "dict_type", raw))
            continue
        fields = _fields(cmd, raw, loc, errors)
        if len(errors) > before:
            continue
        if fields["customer_id"] is not None:
            known = customers.get(fields["customer_id"])
            if known is None:
                customer = ledger.find(Customer, fields["customer_id"])
                known = customer is not None and customer.organization_id == \
                    cmd.organization_id and not customer.is_deleted
                customers[fields["customer_id"]] = known
            if not known:
                errors.append(FieldError((*loc, "customer_id"), "Customer does not exist.",
                                         "customer_id", str(fields["customer_id"])))
        if fields["member_id"] is not None:
            known = members.get(fields["member_id"])
            if known is None:
                member = ledger.find(Member, fields["member_id"])
                known = member is not None and member.organization_id == \
                    cmd.organization_id and not member.deleted
                members[fields["member_id"]] = known
            if not known:
                errors.append(FieldError((*loc, "member_id"), "Member does not exist.",
                                         "member_id", str(fields["member_id"])))
        external_id = fields["external_id"]
        event_id = ids.keyed_event_id(cmd.organization_id, external_id) if external_id \
            else ids.new_id()
        candidates.append(_Candidate(index, event_id, raw, fields, keyed=bool(external_id)))
    if errors:
        raise InvalidInput(errors)
    return candidates


def _fields(cmd: IngestEvents, raw: dict[str, Any], loc: tuple[str | int, ...],
            errors: list[FieldError]) -> dict[str, Any]:
    # Valid values are checked inline; a field's location is built only for an error.
    get = raw.get
    name = get("name")
    if type(name) is not str or not 1 <= len(name) <= MAX_NAME:
        _check_name(name, loc, errors)

    timestamp = get("timestamp")
    occurred_at = cmd.received_at if timestamp is None \
        else _timestamp(timestamp, cmd.received_at, (*loc, "timestamp"), errors)

    customer_ref = get("customer_id")
    customer_id = None if customer_ref is None \
        else _uuid(customer_ref, (*loc, "customer_id"), errors)
    external_customer_ref = get("external_customer_id")
    external_customer_id = _text(external_customer_ref, loc, "external_customer_id", errors)
    if (customer_id is None) == (external_customer_id is None) and not any(
            e.loc[:3] == loc and e.loc[3:4] in (("customer_id",), ("external_customer_id",))
            for e in errors):
        errors.append(FieldError(
            loc, "Exactly one of customer_id or external_customer_id is required",
            "customer_reference", {"customer_id": customer_ref,
                                   "external_customer_id": external_customer_ref}))
    organization = get("organization_id")
    if organization is not None and str(organization) != str(cmd.organization_id):
        errors.append(FieldError((*loc, "organization_id"),
                                 "Setting organization_id is disallowed when using an "
                                 "organization token.", "organization_token", organization))
    metadata: dict[str, Any] = {}
    raw_metadata = get("metadata")
    if raw_metadata is not None:
        metadata, problems = validate_metadata(raw_metadata, (*loc, "metadata"))
        errors.extend(problems)
    member_ref = get("member_id")
    external_member_ref = get("external_member_id")
    parent_ref = get("parent_id")
    # The instant, not its spelling: a retry may write the same time with another offset.
    payload = {"name": name, "timestamp": None if timestamp is None else occurred_at,
               "customer_id": customer_ref, "external_customer_id": external_customer_ref,
               "member_id": member_ref, "external_member_id": external_member_ref,
               "parent_id": parent_ref, "metadata": metadata}
    raw_span = get("span")
    span = None if raw_span is None else parse_span(raw_span, (*loc, "span"), errors)
    if span is not None:
        payload["span"] = raw_span
    return {
        "organization_id": cmd.organization_id,
        "name": name,
        "occurred_at": occurred_at,
        "source": USER,
        "customer_id": customer_id,
        "external_customer_id": external_customer_id,
        "member_id": None if member_ref is None
        else _uuid(member_ref, (*loc, "member_id"), errors),
        "external_member_id": _text(external_member_ref, loc, "external_member_id", errors),
        "external_id": _text(get("external_id"), loc, "external_id", errors),
        "parent_ref": _text(parent_ref, loc, "parent_id", errors),
        "metadata": metadata,
        "fingerprint": fingerprint(payload),
        "span_id": span.span_id if span else None,
        "span_action": span.action if span else None,
    }


def _check_name(name: Any, loc: tuple[str | int, ...], errors: list[FieldError]) -> None:
    if not isinstance(name, str):
        errors.append(FieldError((*loc, "name"), "Field required" if name is None
                                 else "Input should be a valid string",
                                 "missing" if name is None else "string_type", name))
    elif not 1 <= len(name) <= MAX_NAME:
        errors.append(FieldError((*loc, "name"), f"String should have between 1 and {MAX_NAME} "
                                 "characters", "string_length", name))


def _text(value: Any, loc: tuple[str | int, ...], key: str,
          errors: list[FieldError]) -> str | None:
    """An optional non-empty string field."""
    if value is None or (type(value) is str and value):
        return value
    return _string(value, (*loc, key), errors)


def _timestamp(value: Any, now: datetime, loc: tuple[str | int, ...],
               errors: list[FieldError]) -> datetime:
    if not isinstance(value, str):
        errors.append(FieldError(loc, "Input should be a valid datetime", "datetime_type", value))
        return now
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        errors.append(FieldError(loc, "Input should be a valid datetime", "datetime_parsing",
                                 value))
        return now
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        errors.append(FieldError(loc, "Input should have timezone info", "timezone_aware", value))
        return now
    if parsed - now > MAX_FUTURE:
        errors.append(FieldError(loc, "Timestamp must not be more than 5 minutes in the future.",
                                 "timestamp_future", value))
    return parsed.astimezone(UTC)


def _uuid(value: Any, loc: tuple[str | int, ...], errors: list[FieldError]) -> UUID | None:
    if value is None:
        return None
    try:
        return UUID(str(value)) if isinstance(value, str) else _bad_uuid(value)
    except ValueError:
        errors.append(FieldError(loc, "Input should be a valid UUID", "uuid_parsing", value))
        return None


def _bad_uuid(value: Any) -> UUID:
    raise ValueError(value)


def _string(value: Any, loc: tuple[str | int, ...], errors: list[FieldError]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append(FieldError(loc, "Input should be a valid string", "string_type", value))
        return None
    if not value:
        errors.append(FieldError(loc, "String should have at least 1 character",
                                 "string_too_short", value))
        return None
    return value
