"""Ingestion of batches with parent links: serialised per organization and checked against the
recorded trees.

A link can close a cycle with events recorded by an earlier batch (A waits for B; now B names
A as its parent), so ingestion checks links against the events read model. Entries the events
projection has not applied yet (the tail) are read from the ledger: when none of them is linked
to the batch (none is named as a parent by it, none names one of its events, none is the parent a
recorded root of the batch's ancestry waits for) and no recorded subtree waits for the batch's
events, the read model's answer is already the answer for the whole ledger, and the batch goes on
without waiting; otherwise this thread catches the events projection up first. Two such batches
of one organization must not check at the same time (neither would see the other), so they take
a lock per organization: a thread lock, plus a PostgreSQL advisory lock held until the batch is
recorded, so processes sharing the database are serialised too. Batches without any `parent_id`
take no lock and read nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic
from sqlalchemy import text

from commands.ingest import RecordedTreesReader
from domain.hierarchy import BatchLink, RecordedTrees
from domain.usage import UsageRecorded
from queries.hierarchy import recorded_trees
from web.bootstrap import Services

_LOCKS: dict[UUID, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()
_ADVISORY_CLASS = 0x70617265  # "pare": our namespace among advisory locks
EVENTS = "events"
USAGE_TOPIC = get_topic(UsageRecorded)
MAX_TAIL = 20_000
"""Ledger entries past the events projection that a batch with links reads from the ledger."""


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
        """The trees as the ledger holds them now. When the tail matters, the events
        projection is caught up here, in this thread (exactly once, as the runner would),
        rather than by waiting for the runner's round through every projection."""
        services = self.services
        runner, target = services.runner, services.ledger.position()
        projected = runner.positions()[EVENTS]
        if projected < target:
            tail = self._tail(organization_id, projected, target)
            if tail is not None:
                with services.store.engine.connect() as conn:
                    recorded = recorded_trees(conn, organization_id, links)
                if _independent(links, tail, recorded):
                    return recorded
        while runner.positions()[EVENTS] < target:
            runner.catch_up(runner.projections[EVENTS])
        with services.store.engine.connect() as conn:
            return recorded_trees(conn, organization_id, links)

    def _tail(self, organization_id: UUID, projected: int,
              target: int) -> list[BatchLink] | None:
        """The organization's usage events the events projection has not applied yet (None
        when there are too many to be worth reading: catching up is then as cheap)."""
        if target - projected > MAX_TAIL:
            return None
        ledger = self.services.ledger
        notifications = ledger.recorder.select_notifications(
            start=projected, limit=target - projected, stop=target, topics=[USAGE_TOPIC],
            inclusive_of_start=False)
        tail = []
        for notification in notifications:
            event = ledger.mapper.to_domain_event(notification)
            if isinstance(event, UsageRecorded) and event.organization_id == organization_id:
                tail.append(BatchLink(-1, event.originator_id, event.external_id,
                                      event.parent_ref))
        return tail

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


def _independent(batch: Sequence[BatchLink], tail: Sequence[BatchLink],
                 recorded: RecordedTrees) -> bool:
    """Whether the read model's answer for `batch` holds whatever the `tail` events do: none
    of them is, or waits for, an event the batch's links walk through."""
    if recorded.pending_heights:
        return False  # recorded subtrees wait for the batch: the tail may have grown them
    batch_refs = {ref for link in batch for ref in link.refs}
    walked = {link.parent_ref for link in batch if link.parent_ref} | {
        node.root_parent_ref for node in recorded.nodes.values() if node.root_parent_ref}
    return not any(link.parent_ref in batch_refs or not walked.isdisjoint(link.refs)
                   for link in tail)
