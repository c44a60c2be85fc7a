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

import heapq
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from uuid import UUID
from weakref import WeakKeyDictionary

from eventsourcing.utils import get_topic

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
"""Ledger entries past what the tail holds that a batch with links reads from the ledger."""
MAX_HELD = 200_000
"""Links the tail holds at most (memory): beyond, a batch with links catches the events
projection up instead."""


class _Links:
    """One organization's tail links, indexed by the references that name them."""

    def __init__(self) -> None:
        self.by_position: dict[int, BatchLink] = {}
        self.holders: dict[str, list[int]] = {}
        """By reference: the positions of the links it names."""
        self.waiting: dict[str, int] = {}
        """By reference: how many links name it as their parent."""

    def add(self, position: int, link: BatchLink) -> None:
        self.by_position[position] = link
        for ref in link.refs:
            held = self.holders.get(ref)
            if held is None:
                self.holders[ref] = [position]
            else:
                held.append(position)
        if link.parent_ref is not None:
            self.waiting[link.parent_ref] = self.waiting.get(link.parent_ref, 0) + 1

    def drop(self, position: int) -> None:
        link = self.by_position.pop(position)
        for ref in link.refs:
            held = self.holders[ref]
            held.remove(position)
            if not held:
                del self.holders[ref]
        if link.parent_ref is not None:
            left = self.waiting.pop(link.parent_ref) - 1
            if left:
                self.waiting[link.parent_ref] = left

    def waits_for(self, refs: Iterable[str]) -> bool:
        """Whether a link names one of `refs` as its parent."""
        return not self.waiting.keys().isdisjoint(refs)

    def reach(self, refs: Iterable[str], upto: int, into: dict[int, BatchLink]) -> None:
        """Add to `into` (by position) the links up to position `upto` that `refs` name, and
        their ancestors among these links."""
        frontier = list(refs)
        while frontier:
            for position in self.holders.get(frontier.pop(), ()):
                if position <= upto and position not in into:
                    link = into[position] = self.by_position[position]
                    if link.parent_ref is not None:
                        frontier.append(link.parent_ref)


class _Tail:
    """The links of the ledger entries read past the events projection, kept by the process
    (entries never change), so that each batch decodes only what was recorded since the last
    one instead of the whole tail again. Indexed per organization by reference, so that a batch
    looks only at the tail links its own links can reach, however long the tail."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.read = 0
        """The ledger position read up to."""
        self.positions: dict[int, _Links] = {}
        """Each ledger position read, and the links (of its organization) that hold it."""
        self.order: list[int] = []
        """The same positions, as a heap (dropped smallest first)."""
        self.by_organization: dict[UUID, _Links] = {}

    def add(self, position: int, organization_id: UUID, link: BatchLink) -> None:
        if position in self.positions:
            return
        links = self.of(organization_id)
        self.positions[position] = links
        heapq.heappush(self.order, position)
        links.add(position, link)

    def of(self, organization_id: UUID) -> _Links:
        links = self.by_organization.get(organization_id)
        if links is None:
            links = self.by_organization[organization_id] = _Links()
        return links

    def drop_through(self, projected: int) -> None:
        """Forget the links the events projection has applied."""
        order = self.order
        while order and order[0] <= projected:
            position = heapq.heappop(order)
            self.positions.pop(position).drop(position)

    def clear(self) -> None:
        self.positions.clear()
        self.order.clear()
        self.by_organization.clear()
        self.read = 0


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
        in this thread (exactly once, as the runner would).

        Of the tail, only the links the batch can reach count: those its events name as
        parents and their ancestors, then those the pending roots of the recorded trees it
        names wait for, and their ancestors, until nothing new is reached. (A tail link no
        walk reaches cannot change a depth or close a cycle, whatever ids it shares.)"""
        services = self.services
        runner, target = services.runner, services.ledger.position()
        recorded = self._with_tail(organization_id, links, runner.positions()[EVENTS], target)
        if recorded is not None:
            return recorded
        while runner.positions()[EVENTS] < target:
            runner.catch_up(runner.projections[EVENTS])
        with services.store.engine.connect() as conn:
            return recorded_trees(conn, organization_id, links)

    def _with_tail(self, organization_id: UUID, links: Sequence[BatchLink], projected: int,
                   target: int) -> RecordedTrees | None:
        """The trees as the read model (at `projected`) and the tail up to `target` hold
        them; None when the tail is too long, or could change what the read model says of
        the batch."""
        tail = _tail_of(self.services.ledger)
        with tail.lock:
            if not self._read_tail(tail, projected, target):
                return None
            own_refs = {ref for link in links for ref in link.refs}
            unprojected = tail.of(organization_id)
            if unprojected.waits_for(own_refs):
                return None
            reached: dict[int, BatchLink] = {}
            unprojected.reach((link.parent_ref for link in links if link.parent_ref is not None),
                              target, reached)
            with self.services.store.engine.connect() as conn:
                while True:
                    recorded = recorded_trees(conn, organization_id, links,
                                              [reached[p] for p in sorted(reached)])
                    before = len(reached)
                    unprojected.reach((node.root_parent_ref for node in recorded.nodes.values()
                                       if node.root_parent_ref is not None), target, reached)
                    if len(reached) == before:
                        break
        return recorded if own_refs.isdisjoint(recorded.pending_heights) else None

    def _read_tail(self, tail: _Tail, projected: int, target: int) -> bool:
        """Bring the tail (locked by the caller) to the ledger entries in (`projected`,
        `target`]; False when there are too many to be worth reading (catching up is then as
        cheap), or to hold."""
        tail.drop_through(projected)
        start = max(tail.read, projected)
        if target - start > MAX_TAIL or len(tail.positions) > MAX_HELD:
            tail.clear()
            return False
        if target > start:
            ledger = self.services.ledger
            for notification in ledger.recorder.select_notifications(
                    start=start, limit=target - start, stop=target, topics=[USAGE_TOPIC],
                    inclusive_of_start=False):
                if notification.id in tail.positions:
                    continue
                event = ledger.mapper.to_domain_event(notification)
                if isinstance(event, UsageRecorded):
                    tail.add(notification.id, event.organization_id, BatchLink(
                        -1, event.originator_id, event.external_id, event.parent_ref))
            tail.read = target
        return True

    def recorded(self, organization_id: UUID, entries: tuple[int, int],
                 links: Sequence[tuple[int, BatchLink]]) -> None:
        """A batch with links was just recorded at ledger positions `entries` (first, last):
        keep its links for the tail, so the next batch neither reads nor decodes them (when the
        batch directly follows what was read, nothing else lies in between)."""
        tail = _tail_of(self.services.ledger)
        with tail.lock:
            for position, link in links:
                tail.add(position, organization_id, link)
            first, last = entries
            if first == tail.read + 1:
                tail.read = last

    def _advisory_lock(self, organization_id: UUID) -> AbstractContextManager[None]:
        return self.services.store.advisory_lock(
            _ADVISORY_CLASS, int.from_bytes(organization_id.bytes[:4], "big", signed=True))
