"""Meters: a filter and an aggregation that turn ledger entries into billable quantities.

Every change is a recorded event, so a meter's definition at any past time is known. The filter and
aggregation are kept in their JSON form (validated by `domain.meter_filter` and
`domain.aggregation` before they are recorded); `definition_version` counts definition changes,
which is what a projection rebuild keys on.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ids

DEFINITION_FIELDS = frozenset({"filter", "aggregation"})


class Meter(Aggregate):
    @staticmethod
    def create_id() -> UUID:
        return ids.new_id()

    @event("Created")
    def __init__(self, organization_id: UUID, name: str, unit: str, custom_label: str | None,
                 custom_multiplier: Decimal | None, filter: dict[str, Any],
                 aggregation: dict[str, Any], metadata: dict[str, Any]) -> None:
        self.organization_id = organization_id
        self.name = name
        self.unit = unit
        self.custom_label = custom_label
        self.custom_multiplier = custom_multiplier
        self.filter = filter
        self.aggregation = aggregation
        self.metadata = metadata
        self.archived_at: datetime | None = None
        self.definition_version = 1

    @event("Updated")
    def update(self, changes: dict[str, Any]) -> None:
        """Apply changed fields; a change of filter or aggregation starts a new definition."""
        for key, value in changes.items():
            setattr(self, key, value)
        if DEFINITION_FIELDS & set(changes):
            self.definition_version += 1

    @event("Archived")
    def archive(self, at: datetime) -> None:
        self.archived_at = at

    @event("Unarchived")
    def unarchive(self) -> None:
        self.archived_at = None
