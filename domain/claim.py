"""Claims make values unique within a scope (a customer's email or external id).

A claim's id is derived from (scope, kind, value), so two concurrent claims of one value collide
on the event store's primary key and exactly one wins.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ids


class Claim(Aggregate):
    @staticmethod
    def create_id(scope: UUID, kind: str, value: str) -> UUID:
        return ids.claim_id(scope, kind, value)

    @event("Created")
    def __init__(self, scope: UUID, kind: str, value: str, owner_id: UUID) -> None:
        self.scope = scope
        self.kind = kind
        self.value = value
        self.owner_id: UUID | None = owner_id

    @property
    def is_free(self) -> bool:
        return self.owner_id is None

    @event("Taken")
    def take(self, owner_id: UUID) -> None:
        self.owner_id = owner_id

    @event("Released")
    def release(self) -> None:
        self.owner_id = None
