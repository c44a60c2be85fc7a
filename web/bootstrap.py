"""Composition root: builds the ledger, the read store and the projection runner."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from commands.ledger import Ledger
from projections.catalog import CatalogProjection
from projections.commerce import CommerceProjection
from projections.customer_meters import CustomerMetersProjection
from projections.events import EventsProjection
from projections.live_usage import MeterUsageProjection
from projections.meter_builds import MeterBuilds
from projections.meter_usage import NAME as METER_USAGE
from projections.meters import MetersProjection
from projections.runner import AnyProjection, ProjectionRunner
from projections.store import Store, create_store
from web import collector
from web.config import Settings

PROJECTION_NAMES = tuple(cls.name for cls in (
    CatalogProjection, EventsProjection, MetersProjection, MeterUsageProjection,
    CommerceProjection, CustomerMetersProjection))


def all_projections(ledger: Ledger) -> list[AnyProjection]:
    return [CatalogProjection(), EventsProjection(), MetersProjection(), MeterUsageProjection(),
            CommerceProjection(), CustomerMetersProjection(ledger)]


def projection_runner(ledger: Ledger, store: Store,
                      names: Sequence[str] | None = None) -> ProjectionRunner:
    """A runner of the named projections (default: all). Background meter builds run where
    the meter usage projection runs: a finished build joins it.

    Pages of the ledger: on PostgreSQL whatever the ledger holds beyond the projections'
    position, up to 40,000 entries. A page costs a projection more than its entries: its
    transaction, its look-ups, and a rewrite of each row it touches (a customer meter, a meter's
    bucket), however many of the page's entries touched it. So a projection that lags takes
    everything at once: pages starting at 5,000 and doubling while full took one more round,
    and its rewrites, each time a round ended short of the ledger, and lagged a quarter longer
    at 14,000 events/s (1.67-1.84 s against 1.24-1.33). On SQLite 1,000 entries, growing up to
    4,000: a projection's transaction holds the database's only write lock, which ingestion
    waits for, but a longer page writes each index page it changes to the WAL once for more
    entries (the events projection wrote 9.9 KB per entry in pages of 1,000 at 100,000
    entries, 4.3 KB in pages of 4,000)."""
    projections = [p for p in all_projections(ledger) if names is None or p.name in names]
    jobs = [MeterBuilds(ledger, store).step] if any(
        p.name == METER_USAGE for p in projections) else []
    postgres = store.dialect == "postgresql"
    return ProjectionRunner(ledger, store, projections, jobs=jobs,
                            batch_size=40_000 if postgres else 1000,
                            max_batch_size=40_000 if postgres else 4000,
                            between_rounds=collector.between_rounds)


@dataclass
class Services:
    settings: Settings
    ledger: Ledger
    store: Store
    runner: ProjectionRunner

    def close(self) -> None:
        self.runner.stop()
        self.store.dispose()
        self.ledger.close()


def bootstrap(settings: Settings) -> Services:
    store = create_store(settings.sqlalchemy_url(), settings.database_schema)
    with store.schema_lock(settings.database_schema):
        ledger = Ledger(env=settings.ledger_env())
        store.create_tables()
        runner = projection_runner(ledger, store)
        runner.ensure_positions()
    return Services(settings=settings, ledger=ledger, store=store, runner=runner)
