"""Event types: one per (organization, event name), created by the first event of that name."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ids


class EventType(Aggregate):
    @staticmethod
    def create_id(organization_id: UUID, name: str) -> UUID:
        return ids.event_type_id(organization_id, name)

    @event("Created")
    def __init__(self, organization_id: UUID, name: str) -> None:
        self.organization_id = organization_id
        self.name = name
        self.label = name
        self.label_property_selector: str | None = None

    @event("Relabelled")
    def relabel(self, label: str, label_property_selector: str | None) -> None:
        self.label = label
        self.label_property_selector = label_property_selector
