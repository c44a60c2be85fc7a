"""A runner wakes when another process records ledger entries, not at its idle tick."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from commands.ingest import IngestEvents, ingest_events
from commands.tokens import authenticate
from tests.conftest import new_token
from web.bootstrap import Services, bootstrap
from web.config import Settings


def _applied(services: Services, position: int, timeout: float = 10) -> bool:
    """Whether every projection applies `position` within `timeout`, read from the positions
    table (`ProjectionRunner.wait` would poke the runner itself)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if min(services.runner.positions().values()) >= position:
            return True
        time.sleep(0.01)
    return False


def test_entries_of_another_process_wake_the_runner(settings: Settings,
                                                    services: Services) -> None:
    token = new_token(services)
    organization = authenticate(token, services.ledger).organization_id
    worker = bootstrap(settings)  # a `metering project` worker: nothing pokes it
    worker.runner.idle = 60
    worker.runner.start()
    try:
        assert _applied(worker, services.ledger.position())
        time.sleep(0.5)  # the worker now waits for its idle tick
        for batch in range(3):
            ingest_events(IngestEvents(organization, [
                {"name": "api.call", "external_customer_id": "c1", "metadata": {"n": batch}}],
                datetime.now(UTC)), services.ledger)
            position = services.ledger.position()
            assert _applied(worker, position)
    finally:
        worker.runner.stop()
        worker.close()
