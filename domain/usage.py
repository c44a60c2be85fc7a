"""Usage events: the immutable entries of the ledger.

Each ingested event is recorded as one bare domain event (a one-event stream), so ingestion never
reads an aggregate before writing. Its id is derived from the idempotency key when there is one,
which lets the store's primary key enforce "recorded at most once" across processes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEvent

from domain.values import canonical_json

USER = "user"
SYSTEM = "system"


@dataclass(frozen=True)
class UsageRecorded(DomainEvent):
    """One usage (or system) event. `timestamp` is when the ledger recorded it (ingestion time);
    `occurred_at` is the event's own `timestamp` as the client sent it."""

    organization_id: UUID
    name: str
    occurred_at: datetime
    source: str
    customer_id: UUID | None
    external_customer_id: str | None
    member_id: UUID | None
    external_member_id: str | None
    external_id: str | None
    parent_ref: str | None
    metadata: dict[str, Any]
    fingerprint: str
    span_id: str | None = None
    """Extension: the span this event starts or ends (see `domain.span`)."""
    span_action: str | None = None


def fingerprint(payload: dict[str, Any]) -> str:
    """A digest of what the client sent for one event, to tell a true duplicate from a conflict."""
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def metadata_number(value: Any) -> Decimal | None:
    """A metadata value as a number, when it is a JSON number (never a bool or a string).
    The usual JSON types are told by their exact type first (roll-ups read every event's
    metadata); subclasses go through `isinstance`."""
    kind = type(value)
    if kind is Decimal:
        return value  # immutable: the same number as a copy
    if kind is int:
        return Decimal(value)
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return None
    return Decimal(value)
