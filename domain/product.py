"""Products: a name, a billing cycle (none for one-time purchases), prices and benefits.

Prices are kept as recorded (fixed or custom amounts); the ledger takes no payments.
"""

from __future__ import annotations

from typing import Any, Final
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ids

RECURRING_INTERVALS: Final = ("day", "week", "month", "year")


class Product(Aggregate):
    @staticmethod
    def create_id() -> UUID:
        return ids.new_id()

    @event("Created")
    def __init__(self, organization_id: UUID, name: str, description: str | None,
                 recurring_interval: str | None, recurring_interval_count: int | None,
                 visibility: str, metadata: dict[str, Any], prices: list[dict[str, Any]]) -> None:
        self.organization_id = organization_id
        self.name = name
        self.description = description
        self.recurring_interval = recurring_interval
        self.recurring_interval_count = recurring_interval_count
        self.visibility = visibility
        self.metadata = metadata
        self.prices = prices
        self.benefit_ids: list[UUID] = []
        self.is_archived = False

    @property
    def is_recurring(self) -> bool:
        return self.recurring_interval is not None

    def amount(self, custom_amount: int | None = None) -> tuple[int, str]:
        """What one purchase costs (in cents) and its currency: the first active price."""
        for price in self.prices:
            if price.get("is_archived"):
                continue
            if price["amount_type"] == "fixed":
                return int(price["price_amount"]), str(price["price_currency"])
            amount = custom_amount if custom_amount is not None else \
                price.get("preset_amount") or price.get("minimum_amount") or 0
            return int(amount), str(price["price_currency"])
        return 0, "usd"

    @event("Updated")
    def update(self, changes: dict[str, Any]) -> None:
        for key, value in changes.items():
            setattr(self, key, value)

    @event("BenefitsSet")
    def set_benefits(self, benefit_ids: list[UUID]) -> None:
        self.benefit_ids = list(benefit_ids)
