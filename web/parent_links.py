"""Ingestion of batches with parent links: serialised per organization and checked against the
recorded trees.

A link can close a cycle with events recorded by an earlier batch (A waits for B; now B names
A as its parent), so ingestion reads the events read model, once the events projection has
caught up with the ledger (this thread catches it up), before recording. Two such batches of one organization must not
check at the same time (neither would see the other), so they take a lock per organization:
a thread lock, plus a PostgreSQL advisory lock held until the batch is recorded, so processes
sharing the database are serialised too. Batches without any `parent_id` take no lock and read
nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from sqlalchemy import text

from commands.ingest import RecordedTreesReader
from domain.hierarchy import BatchLink, RecordedTrees
from queries.hierarchy import recorded_trees
from web.bootstrap import Services

_LOCKS: dict[UUID, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()
_ADVISORY_CLASS = 0x70617265  # "pare": our namespace among advisory locks
EVENTS = "events"


class ParentLinks:
    def __init__(self, services: Services) -> None:
        self.services = services

    @contextmanager
    def guard(self, organization_id: UUID,
              raw_events: Sequence[Any]) -> Iterator[RecordedTreesReader | None]:
        """Hold the organization's link lock while a batch with parent links is ingested;
        yields the reader ingestion checks the links with (None for a flat batch)."""
        if not any(isinstance(e, dict) and e.get("parent_id") is not None for e in raw_events):
            yield None
            return
        with _LOCKS_GUARD:
            lock = _LOCKS.setdefault(organization_id, threading.Lock())
        with lock, self._advisory_lock(organization_id):
            yield self.recorded_trees

    def recorded_trees(self, organization_id: UUID,
                       links: Sequence[BatchLink]) -> RecordedTrees:
        """The trees as the ledger holds them now. The events projection is caught up here,
        in this thread (exactly once, as the runner would), rather than by waiting for the
        runner's round through every projection."""
        services = self.services
        runner, target = services.runner, services.ledger.position()
        while runner.positions()[EVENTS] < target:
            runner.catch_up(runner.projections[EVENTS])
        with services.store.engine.connect() as conn:
            return recorded_trees(conn, organization_id, links)

    @contextmanager
    def _advisory_lock(self, organization_id: UUID) -> Iterator[None]:
        if self.services.store.dialect != "postgresql":
            yield
            return
        key = {"c": _ADVISORY_CLASS, "k": int.from_bytes(organization_id.bytes[:4], "big",
                                                         signed=True)}
        with self.services.store.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(CAST(:c AS integer), "
                              "CAST(:k AS integer))"), key)
            conn.commit()  # the lock belongs to the session: do not stay idle in a transaction
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(CAST(:c AS integer), "
                                  "CAST(:k AS integer))"), key)
                conn.commit()
