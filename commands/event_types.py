"""Relabel an event type."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from commands.ledger import Ledger
from domain.event_type import EventType


@dataclass(frozen=True)
class RelabelEventType:
    organization_id: UUID
    event_type_id: UUID
    label: str
    label_property_selector: str | None


def relabel_event_type(cmd: RelabelEventType, ledger: Ledger) -> int:
    event_type = ledger.load(EventType, cmd.event_type_id, cmd.organization_id,
                             "Event type not found")
    event_type.relabel(label=cmd.label.strip(), label_property_selector=cmd.label_property_selector)
    return ledger.record(event_type)
