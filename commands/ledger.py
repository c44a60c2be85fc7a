"""The write service: an `eventsourcing` application whose event store is the ledger."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from domain.errors import NotFound

A = TypeVar("A", bound=Aggregate)

__all__ = ["IntegrityError", "Ledger"]


class Ledger(Application[UUID]):
    """Every organization, token, customer, meter, usage event and credit is recorded here.

    Nothing is ever updated or deleted in the store: a change is a new event.
    """

    name = "ledger"
    env: Mapping[str, str] = {
        "AGGREGATE_CACHE_MAXSIZE": "20000",
    }

    def record(self, *items: Any) -> int:
        """Save aggregates and bare events atomically; return the ledger position reached."""
        recordings = self.save(*items)
        return max((r.notification.id for r in recordings), default=self.position())

    def position(self) -> int:
        """The highest notification id recorded so far (0 for an empty ledger)."""
        return self.recorder.max_notification_id() or 0

    def load(self, cls: type[A], aggregate_id: UUID, organization_id: UUID | None = None,
             what: str | None = None) -> A:
        """Load an aggregate, raising NotFound when it is missing, of another type or organization."""
        try:
            aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(what or f"{cls.__name__} not found") from None
        if not isinstance(aggregate, cls):
            raise NotFound(what or f"{cls.__name__} not found")
        if organization_id is not None and getattr(aggregate, "organization_id", None) \
                != organization_id:
            raise NotFound(what or f"{cls.__name__} not found")
        return aggregate

    def find(self, cls: type[A], aggregate_id: UUID) -> A | None:
        try:
            aggregate = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, cls) else None
