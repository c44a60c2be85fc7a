"""Meter usage: exact partial aggregates per meter build, customer and 15-minute UTC bucket,
plus an all-customers roll-up per bucket and the distinct values `unique` needs.

Events land in the bucket of their own `timestamp` (late events included). The live projection
(`projections.live_usage`) applies usage to *live* builds only and registers a new build whenever
a meter is created or its definition changes; `projections.meter_builds` projects a new build
from the start of the ledger and makes it live once it has caught up (see
`projections.meter_tables`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic
from sqlalchemy import Connection, Table, delete, insert, select, update

from domain.aggregation import Aggregation, Partial, Tally, contribution, parse_aggregation
from domain.calendar import floor_to_base
from domain.meter_filter import Filter, parse_filter
from domain.quantities import Metered, customer_key
from domain.usage import UsageRecorded
from projections import exact_sqlite
from projections.bulk import insert_rows
from projections.meter_tables import (
    BUILDING,
    USAGE_TABLES,
    meter_builds,
    meter_usage,
    meter_usage_rollup,
    meter_usage_values,
)

NAME = "meter_usage"
USAGE_TOPIC = get_topic(UsageRecorded)


@dataclass(frozen=True)
class Build:
    """One meter definition being (or having been) projected over the whole ledger."""

    meter_id: UUID
    generation: int
    organization_id: UUID
    filter: Filter
    aggregation: Aggregation


def build_of(row: Any) -> Build:
    return Build(row["meter_id"], row["generation"], row["organization_id"],
                 parse_filter(row["filter"]), parse_aggregation(row["aggregation"]))


def builds(conn: Connection, state: str) -> list[Build]:
    """The builds in a state, their definitions parsed."""
    rows = conn.execute(select(meter_builds).where(meter_builds.c.state == state)).mappings()
    return [build_of(row) for row in rows]


class UsageBatch:
    """The partials a batch of events adds to some builds, written in one go."""

    def __init__(self, targets: Iterable[Build]) -> None:
        self.by_organization: dict[UUID, list[Build]] = {}
        for build in targets:
            self.by_organization.setdefault(build.organization_id, []).append(build)
        self.per_customer: dict[tuple[Any, ...], Tally] = {}
        self.rollup: dict[tuple[Any, ...], Tally] = {}
        self.values: set[tuple[Any, ...]] = set()
        self.skipped: Counter[tuple[UUID, int]] = Counter()

    def add(self, event: UsageRecorded) -> None:
        targets = self.by_organization.get(event.organization_id)
        if not targets:
            return
        view = Metered(event.name, event.source, event.occurred_at, event.metadata)
        bucket = floor_to_base(event.occurred_at)
        customer = customer_key(event.customer_id, event.external_customer_id)
        for build in targets:
            if not build.filter.matches(view):
                continue
            value = contribution(build.aggregation, view)
            if value is None:
                self.skipped[(build.meter_id, build.generation)] += 1
                continue
            key = (build.meter_id, build.generation, customer, bucket)
            if isinstance(value, str):  # unique: the value is a row of its own, the rows count
                self.values.add((*key, value))
                value = True
            _tally(self.per_customer, key, build).take(value)
            _tally(self.rollup, (build.meter_id, build.generation, bucket), build).take(value)

    def write(self, conn: Connection) -> None:
        upsert_partials(conn, meter_usage, {k: t.partial() for k, t in self.per_customer.items()})
        upsert_partials(conn, meter_usage_rollup, {k: t.partial() for k, t in self.rollup.items()})
        if self.values:
            insert_rows(conn, meter_usage_values, list(self.values), "DO NOTHING")
        for (meter_id, generation), count in self.skipped.items():
            conn.execute(update(meter_builds).where(
                meter_builds.c.meter_id == meter_id, meter_builds.c.generation == generation,
            ).values(skipped_events=meter_builds.c.skipped_events + count))


def _tally(tallies: dict[tuple[Any, ...], Tally], key: tuple[Any, ...], build: Build) -> Tally:
    tally = tallies.get(key)
    if tally is None:
        tally = tallies[key] = Tally(build.aggregation)
    return tally


def upsert_partials(conn: Connection, table: Table,
                    partials: dict[tuple[Any, ...], Partial]) -> None:
    """Add partials to the rows of their keys, exactly: PostgreSQL adds NUMERICs, SQLite (whose
    decimals are text) uses the functions of `projections.exact_sqlite`."""
    if not partials:
        return
    insert_rows(conn, table, [(*key, p.count, p.sum, p.min, p.max)
                               for key, p in partials.items()], merge_partials(conn, table))


def merge_partials(conn: Connection, table: Table) -> str:
    """The `ON CONFLICT` action adding an incoming partial row to the existing one, exactly."""
    if conn.dialect.name == "postgresql":
        add, low, high = "{0} + {1}", "least({0}, {1})", "greatest({0}, {1})"
    else:
        exact_sqlite.register(conn)
        add, low, high = "exact_add({0}, {1})", "exact_least({0}, {1})", "exact_greatest({0}, {1})"
    merged = {"event_count": "{0} + {1}", "total": add, "minimum": low, "maximum": high}
    return "DO UPDATE SET " + ", ".join(
        f"{name} = " + how.format(f"{table.name}.{name}", f"excluded.{name}")
        for name, how in merged.items())


def apply_usage(conn: Connection, targets: Sequence[Build], events: Iterable[Any]) -> None:
    """Add the usage events among `events` to the `targets` builds."""
    if not targets:
        return
    batch = UsageBatch(targets)
    for event in events:
        if isinstance(event, UsageRecorded):
            batch.add(event)
    batch.write(conn)


# --------------------------------------------------------------------------- builds


def drop_builds(conn: Connection, meter_id: UUID, generations: Sequence[int]) -> None:
    """Forget builds of a meter and their usage rows."""
    if not generations:
        return
    for table in (*USAGE_TABLES, meter_builds):
        conn.execute(delete(table).where(table.c.meter_id == meter_id,
                                         table.c.generation.in_(generations)))


def start_build(conn: Connection, meter_id: UUID, organization_id: UUID,
                definition_version: int, filter_json: dict[str, Any],
                aggregation_json: dict[str, Any], at: datetime) -> int:
    """Register a new build of a meter (replacing any build still in progress)."""
    rows = conn.execute(select(meter_builds.c.generation, meter_builds.c.state).where(
        meter_builds.c.meter_id == meter_id)).all()
    drop_builds(conn, meter_id, [g for g, state in rows if state == BUILDING])
    generation = max((g for g, _ in rows), default=0) + 1
    conn.execute(insert(meter_builds).values(
        meter_id=meter_id, generation=generation, organization_id=organization_id,
        definition_version=definition_version, filter=filter_json,
        aggregation=aggregation_json, state=BUILDING, position=0, skipped_events=0,
        started_at=at, finished_at=None))
    return generation


def latest_build(conn: Connection, meter_id: UUID) -> Any:
    """The newest build of a meter: it holds the meter's current definition."""
    return conn.execute(select(meter_builds).where(meter_builds.c.meter_id == meter_id)
                        .order_by(meter_builds.c.generation.desc()).limit(1)).mappings().first()
