"""Ingest a batch of usage events: all-or-nothing validation, idempotency, one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from commands.ledger import IntegrityError, Ledger
from commands.recorded import first_states
from domain import ids
from domain.customer import Customer, Member
from domain.errors import FieldError, InvalidInput
from domain.event_metadata import validate_metadata
from domain.event_type import EventType
from domain.usage import USER, UsageRecorded, fingerprint

MAX_FUTURE = timedelta(minutes=5)
MAX_NAME = 128
INSERTED, DUPLICATE, CONFLICT = "inserted", "duplicate", "conflict"
_RETRIES = 8


@dataclass(frozen=True)
class IngestEvents:
    organization_id: UUID
    events: list[Any]
    received_at: datetime


@dataclass
class IngestResult:
    inserted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)
    position: int = 0


@dataclass(frozen=True)
class _Candidate:
    """A validated event, not yet recorded."""

    event_id: UUID
    payload: dict[str, Any]
    fields: dict[str, Any]
    keyed: bool


def ingest_events(cmd: IngestEvents, ledger: Ledger) -> IngestResult:
    candidates = _validate(cmd, ledger)
    for _attempt in range(_RETRIES):
        try:
            return _record(cmd, ledger, candidates)
        except IntegrityError:
            # A concurrent batch recorded one of our keys (or event types) first: plan again.
            continue
    msg = "Could not record the batch: too much contention on the same idempotency keys"
    raise RuntimeError(msg)


def _record(cmd: IngestEvents, ledger: Ledger, candidates: list[_Candidate]) -> IngestResult:
    keyed_ids = [c.event_id for c in candidates if c.keyed]
    names = {c.fields["name"] for c in candidates}
    type_ids = {ids.event_type_id(cmd.organization_id, n): n for n in names}
    recorded = first_states(ledger, [*keyed_ids, *type_ids])

    result = IngestResult()
    seen: dict[UUID, str] = {}
    to_record: list[Any] = []
    for candidate in candidates:
        digest = candidate.fields["fingerprint"]
        earlier = seen.get(candidate.event_id)
        if earlier is None and candidate.event_id in recorded:
            earlier = recorded[candidate.event_id].get("fingerprint", "")
        if earlier is not None:
            status = DUPLICATE if earlier == digest else CONFLICT
            result.duplicates += 1
            result.conflicts += status == CONFLICT
            result.results.append({"status": status, "id": str(candidate.event_id),
                                   "external_id": candidate.fields["external_id"]})
            continue
        seen[candidate.event_id] = digest
        to_record.append(UsageRecorded(
            originator_id=candidate.event_id, originator_version=1,
            timestamp=cmd.received_at, **candidate.fields))
        result.inserted += 1
        result.results.append({"status": INSERTED, "id": str(candidate.event_id),
                               "external_id": candidate.fields["external_id"]})
    new_types = [EventType(organization_id=cmd.organization_id, name=name)
                 for type_id, name in type_ids.items() if type_id not in recorded]
    result.position = ledger.record(*new_types, *to_record) if to_record or new_types \
        else ledger.position()
    return result


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
        candidates.append(_Candidate(event_id, raw, fields, keyed=bool(external_id)))
    if errors:
        raise InvalidInput(errors)
    return candidates


def _fields(cmd: IngestEvents, raw: dict[str, Any], loc: tuple[str | int, ...],
            errors: list[FieldError]) -> dict[str, Any]:
    name = raw.get("name")
    if not isinstance(name, str):
        errors.append(FieldError((*loc, "name"), "Field required" if name is None
                                 else "Input should be a valid string",
                                 "missing" if name is None else "string_type", name))
    elif not 1 <= len(name) <= MAX_NAME:
        errors.append(FieldError((*loc, "name"), f"String should have between 1 and {MAX_NAME} "
                                 "characters", "string_length", name))

    occurred_at = cmd.received_at
    if raw.get("timestamp") is not None:
        occurred_at = _timestamp(raw["timestamp"], cmd.received_at, (*loc, "timestamp"), errors)

    customer_id = _uuid(raw.get("customer_id"), (*loc, "customer_id"), errors)
    external_customer_id = _string(raw.get("external_customer_id"),
                                   (*loc, "external_customer_id"), errors)
    if (customer_id is None) == (external_customer_id is None) and not any(
            e.loc[:3] == loc and e.loc[3:4] in (("customer_id",), ("external_customer_id",))
            for e in errors):
        errors.append(FieldError(
            loc, "Exactly one of customer_id or external_customer_id is required",
            "customer_reference", {k: raw.get(k) for k in ("customer_id",
                                                           "external_customer_id")}))
    organization = raw.get("organization_id")
    if organization is not None and str(organization) != str(cmd.organization_id):
        errors.append(FieldError((*loc, "organization_id"),
                                 "Setting organization_id is disallowed when using an "
                                 "organization token.", "organization_token", organization))
    metadata: dict[str, Any] = {}
    if raw.get("metadata") is not None:
        metadata, problems = validate_metadata(raw["metadata"], (*loc, "metadata"))
        errors.extend(problems)
    payload = {k: raw.get(k) for k in ("name", "timestamp", "customer_id", "external_customer_id",
                                       "member_id", "external_member_id", "parent_id")}
    payload["metadata"] = metadata
    return {
        "organization_id": cmd.organization_id,
        "name": name,
        "occurred_at": occurred_at,
        "source": USER,
        "customer_id": customer_id,
        "external_customer_id": external_customer_id,
        "member_id": _uuid(raw.get("member_id"), (*loc, "member_id"), errors),
        "external_member_id": _string(raw.get("external_member_id"),
                                      (*loc, "external_member_id"), errors),
        "external_id": _string(raw.get("external_id"), (*loc, "external_id"), errors),
        "parent_ref": _string(raw.get("parent_id"), (*loc, "parent_id"), errors),
        "metadata": metadata,
        "fingerprint": fingerprint(payload),
    }


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
