"""The write service: an `eventsourcing` application whose event store is the ledger."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEvent
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.utils import Environment, get_topic

from commands.store_codec import LedgerTranscoder
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
        "MAPPER_TOPIC": "commands.store_codec:LedgerMapper",
    }
    recorders: Mapping[str, str] = {
        "eventsourcing.postgres": "commands.store_recorders:PostgresCopyRecorder",
    }

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        self.known_event_types: set[UUID] = set()
        """Event type streams this process has seen recorded. An event type is never
        deleted, so ingestion does not look these up again."""

    def construct_env(self, name: str, env: Any = None) -> Environment:
        environment = super().construct_env(name, env)
        recorder = self.recorders.get(environment.get("PERSISTENCE_MODULE", ""))
        if recorder and not environment.get("APPLICATION_RECORDER_TOPIC"):
            environment["APPLICATION_RECORDER_TOPIC"] = recorder
        return environment

    def record(self, *items: Any) -> int:
        """Save aggregates, bare events and ready ledger entries atomically, in the given order;
        return the ledger position reached."""
        return max(self.record_entries(*items), default=self.position())

    def record_entries(self, *items: Any) -> list[int]:
        """`record`, returning the ledger position of each entry written, in order.

        Does what `save()` does (the base class's `_notify` hook does nothing), except that
        bare events skip its runtime-protocol check and entries made by `entry` skip the
        mapper (both by far the slowest steps for a batch of thousands of usage events).
        """
        processing: ProcessingEvent[UUID] = ProcessingEvent()
        entries: list[StoredEvent] = []
        for item in items:
            if isinstance(item, StoredEvent):
                entries.append(item)
                continue
            collected = len(processing.events)
            if isinstance(item, DomainEvent):
                processing.events.append(item)
            else:
                processing.collect_events(item)
            entries.extend(map(self.mapper.to_stored_event, processing.events[collected:]))
        positions = self.recorder.insert_events(entries)
        if self.repository.cache and not self.repository.fastforward:
            for aggregate_id, aggregate in processing.aggregates.items():
                self.repository.cache.put(aggregate_id, aggregate)
        self._take_snapshots(processing)
        return list(positions or ())

    def entry(self, cls: type[DomainEvent], originator_id: UUID,
              state: dict[str, Any]) -> StoredEvent:
        """The ledger entry of the first event (version 1) of stream `originator_id`, of class
        `cls` with this state, as the mapper would write it, without building the event. The
        state's nested values must be exact JSON values (see
        `LedgerTranscoder.encode_exact_json`)."""
        mapper = self.mapper
        if isinstance(mapper.transcoder, LedgerTranscoder) and not mapper.compressor \
                and not mapper.cipher:
            return StoredEvent(originator_id, 1, get_topic(cls),
                               mapper.transcoder.encode_exact_json(state))
        event = object.__new__(cls)  # the mapper's own way, for a compressed or encrypted store
        object.__setattr__(event, "__dict__", {"originator_id": originator_id,
                                               "originator_version": 1, **state})
        return mapper.to_stored_event(event)

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
