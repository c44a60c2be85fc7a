"""`metering project --projection NAME`: a worker process that runs its share of the projections."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from starlette.testclient import TestClient

from commands.ingest import IngestEvents, ingest_events
from commands.tokens import authenticate
from tests.conftest import new_token
from web.app import create_app
from web.bootstrap import Services
from web.config import Settings

METERING = str(Path(sys.executable).parent / "metering")
EVENTS = 30


def _worker(settings: Settings, *names: str) -> subprocess.Popen[str]:
    env = {**os.environ, "METERING_DATABASE_URL": settings.database_url,
           "METERING_DATABASE_SCHEMA": settings.database_schema or ""}
    projections = [arg for name in names for arg in ("--projection", name)]
    return subprocess.Popen([METERING, "project", *projections], env=env, text=True,
                            stderr=subprocess.PIPE)


def _wait_for(services: Services, name: str, position: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while services.runner.positions()[name] < position:
        assert time.monotonic() < deadline, f"{name} did not reach {position}"
        time.sleep(0.05)


def test_a_worker_runs_only_its_projections(settings: Settings, services: Services) -> None:
    token = new_token(services)
    organization = authenticate(token, services.ledger).organization_id
    ingest_events(IngestEvents(organization, [
        {"name": "api.call", "external_customer_id": f"c{i % 3}", "metadata": {"n": i}}
        for i in range(EVENTS)], datetime.now(UTC)), services.ledger)
    position = services.ledger.position()

    worker = _worker(settings, "events", "catalog")
    try:
        _wait_for(services, "events", position)
        _wait_for(services, "catalog", position)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, errors = worker.communicate(timeout=30)
    assert worker.returncode == 0, errors
    assert "projecting catalog, events" in errors
    positions = services.runner.positions()
    assert positions["meter_usage"] == positions["customer_meters"] == 0

    # The API process projects nothing itself here: what it serves is the worker's.
    with TestClient(create_app(settings, services)) as client:
        listed = client.get("/v1/events/", params={"limit": 100},
                            headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200
    assert listed.json()["pagination"]["total_count"] == EVENTS
    assert sorted(e["metadata"]["n"] for e in listed.json()["items"]) == list(range(EVENTS))


def test_an_unknown_projection_is_refused(settings: Settings) -> None:
    worker = _worker(settings, "invoices")
    _, errors = worker.communicate(timeout=30)
    assert worker.returncode == 2
    assert "invalid choice: 'invoices'" in errors
