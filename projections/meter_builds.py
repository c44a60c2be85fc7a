"""Background builds of meter usage (blue/green rebuilds).

A build projects one meter definition from the start of the ledger, in its own transactions, its
position kept on its `meter_builds` row (locked while a batch is applied, so two workers never
apply the same batch). It never reads past the live projection's position. Once it has caught up,
it joins: in one transaction that holds the live projection's position row, it applies what is
left, becomes the meter's live build and the previous live build is dropped. Quantities switch
from the old definition to the new one at that instant.

Where the events read table already holds a range and SQL can aggregate it exactly, a build
advances through `projections.meter_backfill` (a GROUP BY per step) instead of decoding the
ledger entries one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, select, update

from commands.ledger import Ledger
from domain.errors import NotFound
from projections.meter_backfill import backfill, can_backfill, events_reached
from projections.meter_tables import BUILDING, LIVE, meter_builds
from projections.meter_usage import (
    NAME,
    USAGE_TOPIC,
    Build,
    apply_usage,
    build_of,
    drop_builds,
    latest_build,
    start_build,
)
from projections.store import Store
from projections.tables import projection_positions


@dataclass(frozen=True)
class Progress:
    meter_id: UUID
    generation: int
    position: int


class MeterBuilds:
    def __init__(self, ledger: Ledger, store: Store, batch_size: int = 5000,
                 backfill_step: int = 100_000) -> None:
        self.ledger = ledger
        self.store = store
        self.batch_size = batch_size
        self.backfill_step = backfill_step  # positions per step from the events read table

    def step(self) -> int:
        """Advance the least advanced builds by one batch, or join them to the live projection;
        return how much was done (0: no build in progress)."""
        with self.store.writer.begin() as conn:
            live_position = self._live_position(conn, lock=False)
            group = self._least_advanced(conn)
            if not group:
                return 0
            position = group[0]["position"]
            if position < live_position:
                return self._advance(conn, group, position, live_position)
        return self._join()

    def run_until_idle(self) -> int:
        total = 0
        while done := self.step():
            total += done
        return total

    def rebuild(self, meter_id: UUID) -> int:
        """Start a new build of a meter's current definition; return its generation."""
        with self.store.writer.begin() as conn:
            self._live_position(conn, lock=True)
            latest = latest_build(conn, meter_id)
            if latest is None:
                raise NotFound("Meter not found")
            return start_build(conn, meter_id, latest["organization_id"],
                               latest["definition_version"], latest["filter"],
                               latest["aggregation"], datetime.now(UTC))

    def in_progress(self) -> list[Progress]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(meter_builds.c.meter_id, meter_builds.c.generation,
                                       meter_builds.c.position)
                                .where(meter_builds.c.state == BUILDING)).all()
        return [Progress(m, g, p) for m, g, p in rows]

    # ------------------------------------------------------------------------------------

    @staticmethod
    def _live_position(conn: Connection, *, lock: bool) -> int:
        stmt = select(projection_positions.c.position).where(projection_positions.c.name == NAME)
        if lock:
            stmt = stmt.with_for_update()
        return int(conn.execute(stmt).scalar() or 0)

    @staticmethod
    def _least_advanced(conn: Connection) -> list[Any]:
        """The building builds at the lowest position (locked): they advance together."""
        rows = conn.execute(select(meter_builds).where(meter_builds.c.state == BUILDING)
                            .order_by(meter_builds.c.position, meter_builds.c.meter_id,
                                      meter_builds.c.generation)
                            .with_for_update()).mappings().all()
        return [r for r in rows if r["position"] == rows[0]["position"]] if rows else []

    def _advance(self, conn: Connection, group: Sequence[Any], position: int, stop: int) -> int:
        targets = [build_of(r) for r in group]
        reached = self._backfill(conn, targets, position, stop)
        done = reached - position
        if reached == position:  # through the ledger
            reached, done = self._from_ledger(conn, targets, position, stop)
        self._move(conn, group, reached)
        return max(1, done)

    def _from_ledger(self, conn: Connection, targets: Sequence[Build], position: int,
                     stop: int) -> tuple[int, int]:
        """Apply a batch of the usage entries in (`position`, `stop`] from the ledger; return
        the position reached and how many entries were applied."""
        notifications = self.ledger.recorder.select_notifications(
            start=position, limit=self.batch_size, stop=stop, topics=[USAGE_TOPIC],
            inclusive_of_start=False)
        apply_usage(conn, targets, (self.ledger.mapper.to_domain_event(n) for n in notifications))
        reached = notifications[-1].id if len(notifications) == self.batch_size else stop
        return reached, len(notifications)

    @staticmethod
    def _move(conn: Connection, group: Sequence[Any], position: int) -> None:
        for row in group:
            conn.execute(update(meter_builds).where(
                meter_builds.c.meter_id == row["meter_id"],
                meter_builds.c.generation == row["generation"]).values(position=position))

    def _backfill(self, conn: Connection, targets: Sequence[Build], position: int,
                  stop: int) -> int:
        """Advance the builds from the events read table as far as it reaches (at most
        `backfill_step` positions); return the position reached (`position`: not possible)."""
        if not all(can_backfill(b, conn.dialect.name) for b in targets):
            return position
        reach = min(stop, position + self.backfill_step, events_reached(conn))
        if reach <= position:
            return position
        for build in targets:
            backfill(conn, build, position, reach)
        return reach

    def _join(self) -> int:
        """Catch the least advanced builds up with the live projection while holding its
        position, and make them live."""
        with self.store.writer.begin() as conn:
            live_position = self._live_position(conn, lock=True)
            group = self._least_advanced(conn)
            if not group:
                return 0
            position = group[0]["position"]
            if live_position - position > self.batch_size:
                return 1  # fell behind meanwhile: advance without blocking the projection
            # The gap (at most a batch) comes from the ledger: the events read table a step
            # aggregates from may lag behind the live projection (another worker runs it).
            reached, _ = self._from_ledger(conn, [build_of(r) for r in group], position,
                                           live_position)
            if reached < live_position:
                self._move(conn, group, reached)
                return 1
            now = datetime.now(UTC)
            for row in group:
                live = conn.execute(select(meter_builds.c.generation).where(
                    meter_builds.c.meter_id == row["meter_id"],
                    meter_builds.c.state == LIVE)).scalars().all()
                drop_builds(conn, row["meter_id"], live)
                conn.execute(update(meter_builds).where(
                    meter_builds.c.meter_id == row["meter_id"],
                    meter_builds.c.generation == row["generation"],
                ).values(state=LIVE, position=live_position, finished_at=now))
            return len(group)
