"""One-time purchases. There is no checkout: an order is recorded paid, and may be refunded."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ids
from domain.credits import Grant
from domain.errors import Forbidden


class Order(Aggregate):
    """`grants` are the credits granted at purchase (what a refund takes back)."""

    @staticmethod
    def create_id() -> UUID:
        return ids.new_id()

    @event("Paid")
    def __init__(self, organization_id: UUID, customer_id: UUID, product_id: UUID, amount: int,
                 currency: str, description: str, metadata: dict[str, Any],
                 grants: list[dict[str, Any]]) -> None:
        self.organization_id = organization_id
        self.customer_id = customer_id
        self.product_id = product_id
        self.amount = amount
        self.currency = currency
        self.description = description
        self.metadata = metadata
        self.grants = grants
        self.status = "paid"
        self.refunded_at: datetime | None = None

    def granted(self) -> list[Grant]:
        return [Grant.from_json(g) for g in self.grants]

    def refund(self, at: datetime) -> None:
        if self.status == "refunded":
            msg = "Order is already fully refunded."
            raise Forbidden(msg)
        self._refunded(at)

    @event("Refunded")
    def _refunded(self, at: datetime) -> None:
        self.status = "refunded"
        self.refunded_at = at
