"""Ingestion of batches with parent links: serialised per organization and checked against the
recorded trees.

A link can close a cycle with events recorded by an earlier batch (A waits for B; now B names
A as its parent), so ingestion checks links against the events read model. Entries the events
projection has not applied yet (the tail, usually the previous batches) are read from the ledger
(each decoded once per process) and count as if they came first in the batch; only when one of
them waits for an event of the batch, or a recorded subtree does (their heights would be stale),
does this thread catch the events projection up first. Two such batches of one organization must
not check at the same time (neither would see the other), so they take a lock per organization:
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
from weakref import WeakKeyDictionary

from eventsourcing.utils import get_topic
from sqlalchemy import text

from commands.ingest import RecordedTreesReader
from commands.ledger import Ledger
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


class _Tail:
    """The links of the ledger entries read past the events projection, kept by the process
    (entries never change), so that each batch decodes only what was recorded since the last
    one instead of the whole tail again."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.read = 0
        """The ledger position read up to."""
        self.links: dict[int, tuple[UUID, BatchLink]] = {}
        """By ledger position: the entry's organization and its link."""


_TAILS: WeakKeyDictionary[Ledger, _Tail] = WeakKeyDictionary()


def _tail_of(ledger: Ledger) -> _Tail:
    return _TAILS.setdefault(ledger, _Tail())


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
        """The trees as the ledger holds them now: the events read model plus, when it lags,
        the entries it has not applied yet (read from the ledger). When those could have
        changed what the read model says of the batch (one of them waits for an event of the
        batch, or a recorded subtree does), the events projection is caught up here instead,
        in this thread (exactly once, as the runner would)."""
        services = self.services
        runner, target = services.runner, services.ledger.position()
        projected = runner.positions()[EVENTS]
        tail = self._tail(organization_id, projected, target) if projected < target else []
        if tail is not None:
            own_refs = {ref for link in links for ref in link.refs}
            if not any(link.parent_ref in own_refs for link in tail):
                with services.store.engine.connect() as conn:
                    recorded = recorded_trees(conn, organization_id, links, tail)
                if own_refs.isdisjoint(recorded.pending_heights):
                    return recorded
        while runner.positions()[EVENTS] < target:
            runner.catch_up(runner.projections[EVENTS])
        with services.store.engine.connect() as conn:
            return recorded_trees(conn, organization_id, links)

    def _tail(self, organization_id: UUID, projected: int,
              target: int) -> list[BatchLink] | None:
        """The organization's usage events the events projection has not applied yet (None
        when there are too many to be worth reading: catching up is then as cheap)."""
        ledger = self.services.ledger
        tail = _tail_of(ledger)
        with tail.lock:
            for position in [p for p in tail.links if p <= projected]:
                del tail.links[position]
            if target - projected > MAX_TAIL:
                tail.links.clear()
                tail.read = 0
                return None
            start = max(tail.read, projected)
            if target > start:
                for notification in ledger.recorder.select_notifications(
                        start=start, limit=target - start, stop=target, topics=[USAGE_TOPIC],
                        inclusive_of_start=False):
                    if notification.id in tail.links:
                        continue
                    event = ledger.mapper.to_domain_event(notification)
                    if isinstance(event, UsageRecorded):
                        tail.links[notification.id] = (event.organization_id, BatchLink(
                            -1, event.originator_id, event.external_id, event.parent_ref))
                tail.read = target
            return [link for position, (organization, link) in sorted(tail.links.items())
                    if organization == organization_id and position <= target]

    def recorded(self, organization_id: UUID, entries: tuple[int, int],
                 links: Sequence[tuple[int, BatchLink]]) -> None:
        """A batch with links was just recorded at ledger positions `entries` (first, last):
        keep its links for the tail, so the next batch neither reads nor decodes them (when the
        batch directly follows what was read, nothing else lies in between)."""
        tail = _tail_of(self.services.ledger)
        with tail.lock:
            for position, link in links:
                tail.links[position] = (organization_id, link)
            first, last = entries
            if first == tail.read + 1:
                tail.read = last

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
