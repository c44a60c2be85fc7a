"""Live meter usage whether or not the events read table holds the page yet: a worker running
only `meter_usage` (the events projection elsewhere, behind) applies the decoded events; one
running after the events projection aggregates the page from its table. Same numbers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from starlette.testclient import TestClient

from projections.meter_tables import meter_usage, meter_usage_values
from tests.meters.helpers import create_meter, ingest, numbers, ok, quantities, send
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


UNIQUE_VALUES: list[Any] = [
    "a", "a", 'q"uote', "back\\slash", "tab\there", "ünïcode ✓", 1, Decimal("1.0"),
    Decimal("1E+2"), 100, 10 ** 120, Decimal("1E+120"), -7, Decimal("0.50"), Decimal("0.5"),
    True, False, True]
"""Twelve distinct values: texts with and without escapes, numbers in several spellings of the
same value (1 = 1.0, 100 = 1E+2, 10^120 = 1E+120, 0.5 = 0.50), integers beyond the plain form."""


def test_unique_values_are_the_same_from_events_and_from_the_table(
        client: TestClient, services: Services, auth: dict[str, str]) -> None:
    users = create_meter(client, auth, "users", aggregation={"func": "unique",
                                                             "property": "user"})
    services.runner.run_until_idle()
    services.runner.stop()
    usage_only = projection_runner(services.ledger, services.store, ["meter_usage"])
    ingest(client, auth, [
        {"name": "ai", "external_customer_id": f"c{i % 3}",
         "timestamp": f"2026-01-0{1 + i % 2}T0{i % 4}:00:00Z", "metadata": {"user": value}}
        for i, value in enumerate(UNIQUE_VALUES)]
        + [{"name": "ai", "external_customer_id": "c1", "timestamp": "2026-01-01T00:00:00Z",
            "metadata": {"other": 1}}])
    usage_only.run_until_idle()                                  # from the decoded events
    assert services.runner.positions()["events"] < services.runner.positions()["meter_usage"]
    services.runner.run_until_idle()
    from_events = _usage_rows(services)
    data, _ = quantities(client, auth, users["id"], **WINDOW)
    assert (numbers(data), Decimal(data["total"])) == ([9, 8, 0], 12)
    assert ok(send(client, auth, "GET", f"/v1/meters/{users['id']}"))["skipped_events"] == 1

    services.runner.rebuild(["meter_usage"])                    # from the events table
    services.runner.run_until_idle()
    assert _usage_rows(services) == from_events
    assert quantities(client, auth, users["id"], **WINDOW)[0] == data


def _usage_rows(services: Services) -> list[Any]:
    with services.store.engine.connect() as conn:
        return [sorted(map(tuple, conn.execute(select(*(table.c[name] for name in columns)))))
                for table, columns in (
                    (meter_usage, ("customer", "bucket", "event_count")),
                    (meter_usage_values, ("customer", "bucket", "value")))]
