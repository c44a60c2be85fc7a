"""Composition root: builds the ledger, the read store and the projection runner."""

from __future__ import annotations

from dataclasses import dataclass

from commands.ledger import Ledger
from projections.catalog import CatalogProjection
from projections.commerce import CommerceProjection
from projections.customer_meters import CustomerMetersProjection
from projections.events import EventsProjection
from projections.meter_builds import MeterBuilds
from projections.meter_usage import MeterUsageProjection
from projections.meters import MetersProjection
from projections.runner import AnyProjection, ProjectionRunner
from projections.store import Store, create_store
from web.config import Settings


def all_projections(ledger: Ledger) -> list[AnyProjection]:
    return [CatalogProjection(), EventsProjection(), MetersProjection(), MeterUsageProjection(),
            CommerceProjection(), CustomerMetersProjection(ledger)]


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
    ledger = Ledger(env=settings.ledger_env())
    store = create_store(settings.sqlalchemy_url(), settings.database_schema)
    store.create_tables()
    runner = ProjectionRunner(ledger, store, all_projections(ledger),
                              jobs=[MeterBuilds(ledger, store).step])
    runner.ensure_positions()
    return Services(settings=settings, ledger=ledger, store=store, runner=runner)
