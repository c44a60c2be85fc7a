"""Benefits: what a product grants its customers. Only Credits (`meter_credit`) is supported."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ids
from domain.credits import Grant

METER_CREDIT: Final = "meter_credit"


class Benefit(Aggregate):
    """A Credits benefit: `units` of `meter_id` granted on purchase and on every renewal.

    Changes apply from the next grant or cycle; deletion stops future grants (credits already
    granted stay until their order is refunded or their subscription revoked).
    """

    @staticmethod
    def create_id() -> UUID:
        return ids.new_id()

    @event("Created")
    def __init__(self, organization_id: UUID, description: str, meter_id: UUID, units: int,
                 rollover: bool, metadata: dict[str, Any], visibility: str) -> None:
        self.organization_id = organization_id
        self.type = METER_CREDIT
        self.description = description
        self.meter_id = meter_id
        self.units = units
        self.rollover = rollover
        self.metadata = metadata
        self.visibility = visibility
        self.deleted_at: datetime | None = None

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def grant(self) -> Grant:
        return Grant(self.id, self.meter_id, self.units, self.rollover)

    @event("Updated")
    def update(self, changes: dict[str, Any]) -> None:
        for key, value in changes.items():
            setattr(self, key, value)

    @event("Deleted")
    def delete(self, at: datetime) -> None:
        self.deleted_at = at
