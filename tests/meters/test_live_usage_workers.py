"""Live meter usage whether or not the events read table holds the page yet: a worker running
only `meter_usage` (the events projection elsewhere, behind) applies the decoded events; one
running after the events projection aggregates the page from its table. Same numbers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from starlette.testclient import TestClient

from tests.meters.helpers import create_meter, ingest, numbers, quantities
from web.bootstrap import Services, projection_runner

WINDOW = {"start_timestamp": "2026-01-01T00:00:00Z", "end_timestamp": "2026-01-03T00:00:00Z"}


def _events(day: int, *tokens: str) -> list[dict[str, Any]]:
    return [{"name": "ai", "external_customer_id": f"c{i % 2}",
             "timestamp": f"2026-01-0{day}T0{i}:00:00Z", "metadata": {"tokens": Decimal(t)}}
            for i, t in enumerate(tokens)]


def test_usage_ahead_of_and_behind_the_events_table_counts_once(
        client: TestClient, services: Services, auth: dict[str, str]) -> None:
    total = create_meter(client, auth)
    count = create_meter(client, auth, "calls", aggregation={"func": "count"})
    services.runner.run_until_idle()
    services.runner.stop()
    usage_only = projection_runner(services.ledger, services.store, ["meter_usage"])

    ingest(client, auth, _events(1, "0.001", "2", "30"))      # the events table lags
    usage_only.run_until_idle()
    assert services.runner.positions()["events"] < services.runner.positions()["meter_usage"]
    ingest(client, auth, _events(2, "400", "0.05"))
    services.runner.run_until_idle()                           # events first: then from SQL

    sums, source = quantities(client, auth, total["id"], **WINDOW)
    assert (numbers(sums), source) == ([Decimal("32.001"), Decimal("400.05"), 0], "projection")
    calls, _ = quantities(client, auth, count["id"], **WINDOW)
    assert numbers(calls) == [3, 2, 0]
