"""The write service: an `eventsourcing` application whose event store is the ledger."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEvent
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import Environment

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
        "TRANSCODER_TOPIC": "commands.store_codec:LedgerTranscoder",
    }
    recorders: Mapping[str, str] = {
        "eventsourcing.postgres": "commands.store_recorders:PostgresCopyRecorder",
    }

    def construct_env(self, name: str, env: Any = None) -> Environment:
        environment = super().construct_env(name, env)
        recorder = self.recorders.get(environment.get("PERSISTENCE_MODULE", ""))
        if recorder and not environment.get("APPLICATION_RECORDER_TOPIC"):
            environment["APPLICATION_RECORDER_TOPIC"] = recorder
        return environment

    def record(self, *items: Any) -> int:
        """Save aggregates and bare events atomically; return the ledger position reached.

        Does what `save()` does, except that bare events skip its runtime-protocol check (by far
        its slowest step for a batch of thousands of usage events).
        """
        processing: ProcessingEvent[UUID] = ProcessingEvent()
        for item in items:
            if isinstance(item, DomainEvent):
                processing.events.append(item)
            else:
                processing.collect_events(item)
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)
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
