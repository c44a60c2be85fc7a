"""Catch-up runner: pages the ledger's notification log into each projection, exactly once.

Each batch is one read-model transaction that locks the projection's position row, applies the
events after it and moves the position to the last notification read. A crash anywhere rolls the
whole batch back; a second worker on the same database waits on the lock and then sees the moved
position, so no notification is ever applied twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from eventsourcing.domain import DomainEventProtocol
from sqlalchemy import Connection, insert, select, update

from commands.ledger import Ledger
from projections.store import Store
from projections.tables import projection_positions
from projections.wakeup import LedgerListener

log = logging.getLogger(__name__)


class Projection(Protocol):
    name: str
    topics: frozenset[str]

    def tables(self) -> Sequence[Any]:
        """The read tables this projection owns (cleared on rebuild)."""

    def process(self, conn: Connection, events: Sequence[DomainEventProtocol[Any]]) -> None:
        """Apply events to the read tables inside the runner's transaction."""


@runtime_checkable
class PositionedProjection(Protocol):
    """A projection whose rows record where in the ledger each event is."""

    name: str
    topics: frozenset[str]

    def tables(self) -> Sequence[Any]:
        """The read tables this projection owns (cleared on rebuild)."""

    def process_at(self, conn: Connection, events: Sequence[DomainEventProtocol[Any]],
                   positions: Sequence[int]) -> None:
        """Like `process`; `positions[i]` is the notification id of `events[i]`."""


@runtime_checkable
class KeepingProjection(Protocol):
    """A projection that keeps what it read between batches: told when a batch it applied is
    committed (never after a failed one), and told to forget what it kept whenever that may no
    longer be what its tables hold."""

    def committed(self, start: int, end: int) -> None:
        """The batch of the notifications in (`start`, `end`] is committed (`process` was
        called for it only if some of them had the projection's topics)."""

    def forget(self) -> None:
        """The batch failed (its transaction was rolled back), or the batch about to be
        applied does not follow the last one this runner reported committed: another worker
        applied batches in between, or a rebuild started over."""


AnyProjection = Projection | PositionedProjection


class ProjectionRunner:
    def __init__(self, ledger: Ledger, store: Store, projections: Sequence[AnyProjection],
                 batch_size: int = 1000, jobs: Sequence[Callable[[], int]] = (),
                 max_batch_size: int | None = None,
                 between_rounds: Callable[[], object] = lambda: None) -> None:
        self.ledger = ledger
        self.store = store
        self.projections = {p.name: p for p in projections}
        self.batch_size = batch_size
        self.max_batch_size = max(batch_size, max_batch_size or batch_size)
        """Pages grow up to this while the ledger is ahead (see `_read`)."""
        self._limit = batch_size
        self.jobs = list(jobs)
        self.between_rounds = between_rounds
        """Called after each round of `run_until_idle`, once the round's page is released (a
        process's housekeeping: see `web.collector.between_rounds`)."""
        self._wake = threading.Event()
        self._progress = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: LedgerListener | None = None
        self._reported: dict[str, int] = {}
        """Per keeping projection, the end of the last batch reported to it as committed."""
        self.idle = 0.2
        """Seconds between two looks at the ledger when nothing woke the runner."""
        self._page: tuple[int, Sequence[Any], dict[int, Any]] = (-1, (), {})

    def ensure_positions(self) -> None:
        with self.store.writer.begin() as conn:
            known = set(conn.execute(select(projection_positions.c.name)).scalars())
            for name in self.projections:
                if name not in known:
                    conn.execute(insert(projection_positions).values(name=name, position=0))

    def positions(self) -> dict[str, int]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(projection_positions.c.name,
                                       projection_positions.c.position))
            return {name: position for name, position in rows}

    def catch_up(self, projection: AnyProjection) -> int:
        """Apply one batch; return how many notifications were consumed.

        The ledger is read, and the page's events decoded, before the read-model transaction
        begins: on SQLite that transaction holds the database's write lock, which ingestion
        waits for (decoding is a fifth of the events projection's time), and asking the event
        store for a connection while holding it deadlocks with a request that holds the store's
        writer and waits for the lock.
        """
        selected = select(projection_positions.c.position) \
            .where(projection_positions.c.name == projection.name)
        with self.store.engine.connect() as conn:
            start = conn.execute(selected).scalar_one()
        notifications, decoded = self._read(start)
        if not notifications:
            return 0
        chosen = [n for n in notifications if n.topic in projection.topics]
        wanted = [self._decode(n, decoded) for n in chosen]
        keeping = isinstance(projection, KeepingProjection)
        try:
            with self.store.writer.begin() as conn:
                if conn.execute(selected.with_for_update()).scalar_one() != start:
                    return len(notifications)  # another worker applied them: read again
                if keeping and self._reported.get(projection.name) != start:
                    projection.forget()  # type: ignore[union-attr]
                if wanted and isinstance(projection, PositionedProjection):
                    projection.process_at(conn, wanted, [n.id for n in chosen])
                elif wanted:
                    projection.process(conn, wanted)  # type: ignore[union-attr]
                conn.execute(update(projection_positions)
                             .where(projection_positions.c.name == projection.name)
                             .values(position=notifications[-1].id))
        except BaseException:
            if keeping:
                projection.forget()  # type: ignore[union-attr]
            raise
        if keeping:
            self._reported[projection.name] = notifications[-1].id
            projection.committed(start, notifications[-1].id)  # type: ignore[union-attr]
        return len(notifications)

    def _read(self, start: int) -> tuple[Sequence[Any], dict[int, Any]]:
        """The notifications after `start`, and their events decoded so far. Projections at
        the same position share one read and one decoding of each event (a page is a prefix of
        the final sequence: ids only become visible in order).

        A full page means the ledger is ahead: the next page is twice as large (up to
        `max_batch_size`), so a projection that lags rewrites each row it keeps per customer
        or bucket once for more entries; a page that is not full brings the size back."""
        page_start, notifications, decoded = self._page
        if page_start != start or not notifications:
            notifications = self.ledger.recorder.select_notifications(
                start=start, limit=self._limit, inclusive_of_start=False)
            self._limit = min(2 * self._limit, self.max_batch_size) \
                if len(notifications) == self._limit else self.batch_size
            decoded = {}
            self._page = (start, notifications, decoded)
        return notifications, decoded

    def _decode(self, notification: Any, decoded: dict[int, Any]) -> Any:
        event = decoded.get(notification.id)
        if event is None:
            event = decoded[notification.id] = self.ledger.mapper.to_domain_event(notification)
        return event

    def run_until_idle(self) -> int:
        """Catch every projection up with the ledger as it is now, and run the background jobs
        (each call does one step and returns how much it did) until none has work left.

        After each round the page it read is released: every projection has moved past its
        start, so no later round would use it."""
        total = 0
        while True:
            done = sum(self.catch_up(p) for p in self.projections.values()) \
                if self._behind() else 0
            done += sum(job() for job in self.jobs)
            total += done
            self._page = (-1, (), {})
            self.between_rounds()
            if not done:
                return total
            self._notify_progress()

    def _behind(self) -> bool:
        """Whether the ledger holds entries some projection of this runner has not applied:
        two queries, where each projection would read its position and the log (a pass that
        finds nothing new ends every round, and every idle tick is one)."""
        positions, ledger = self.positions(), self.ledger.position()
        return any(positions.get(name, 0) < ledger for name in self.projections)

    def rebuild(self, names: Sequence[str],
                on_progress: Callable[[dict[str, int]], object] | None = None) -> None:
        """Clear the named projections' tables and positions, then project the whole ledger,
        the projections side by side, so that each page of the ledger is read and decoded once
        for all of them. `on_progress` gets their positions after each round.

        The clearing commits on its own: readers see empty tables until the rebuild is done.
        """
        with self.store.writer.begin() as conn:
            for name in names:
                for table in self.projections[name].tables():
                    conn.execute(table.delete())
                conn.execute(update(projection_positions)
                             .where(projection_positions.c.name == name).values(position=0))
        rebuilding = [self.projections[name] for name in names]
        while sum(self.catch_up(projection) for projection in rebuilding):
            if on_progress is not None:
                positions = self.positions()
                on_progress({name: positions[name] for name in names})

    # Background operation ----------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="projection-runner", daemon=True)
        self._thread.start()
        # Entries recorded by other processes wake it at once, too.
        self._listener = LedgerListener(
            self.store.engine, getattr(self.ledger.recorder, "channel_name", ""), self.poke)
        self._listener.start()

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def poke(self) -> None:
        """Something was recorded: catch up now instead of at the next idle tick."""
        self._wake.set()

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                worked = self.run_until_idle()
                failures = 0
            except Exception:
                failures += 1
                log.exception("projection batch failed; retrying (attempt %d)", failures)
                self._stop.wait(min(5.0, 0.05 * 2 ** min(failures, 7)))
                continue
            if not worked:
                self._wake.wait(self.idle)
                self._wake.clear()

    def _notify_progress(self) -> None:
        with self._progress:
            self._progress.notify_all()

    def wait(self, position: int, names: Sequence[str] | None = None,
             timeout: float = 5.0) -> bool:
        """Block until the named projections (default: all) have applied `position`."""
        wanted = list(names or self.projections)
        deadline = time.monotonic() + timeout
        pause = 0.001
        while True:
            current = self.positions()
            if all(current.get(n, 0) >= position for n in wanted):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.poke()
            with self._progress:
                self._progress.wait(min(pause, remaining))
            pause = min(pause * 2, 0.05)
