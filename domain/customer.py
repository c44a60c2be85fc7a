"""Customers and their B2B members. Deletion is a recorded event (soft delete)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ids

Metadata = dict[str, Any]


class Customer(Aggregate):
    @staticmethod
    def create_id() -> UUID:
        return ids.new_id()

    @event("Created")
    def __init__(self, organization_id: UUID, email: str | None, name: str | None,
                 external_id: str | None, metadata: Metadata, type: str,
                 billing_address: dict[str, Any] | None, tax_id: str | None,
                 locale: str | None) -> None:
        self.organization_id = organization_id
        self.email = email
        self.name = name
        self.external_id = external_id
        self.metadata = metadata
        self.type = type
        self.billing_address = billing_address
        self.tax_id = tax_id
        self.locale = locale
        self.deleted_at: datetime | None = None

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @event("Updated")
    def update(self, changes: dict[str, Any]) -> None:
        for key, value in changes.items():
            setattr(self, key, value)

    @event("Deleted")
    def delete(self, at: datetime) -> None:
        """Soft delete; the external id is released for reuse, as Polar does."""
        self.external_id = None
        self.deleted_at = at


class Member(Aggregate):
    @staticmethod
    def create_id() -> UUID:
        return ids.new_id()

    @event("Created")
    def __init__(self, organization_id: UUID, customer_id: UUID, email: str, name: str | None,
                 external_id: str | None, role: str) -> None:
        self.organization_id = organization_id
        self.customer_id = customer_id
        self.email = email
        self.name = name
        self.external_id = external_id
        self.role = role
        self.deleted = False

    @event("Updated")
    def update(self, changes: dict[str, Any]) -> None:
        for key, value in changes.items():
            setattr(self, key, value)

    @event("Deleted")
    def delete(self) -> None:
        self.deleted = True
