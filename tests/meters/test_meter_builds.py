"""Meter usage builds: blue/green switch on definition changes, drop-and-rebuild, the CLI."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from projections.meter_tables import LIVE, meter_builds, meter_usage, meter_usage_values
from tests.meters.helpers import create_meter, ingest, numbers, ok, quantities, send
from web import cli
from web.bootstrap import Services
from web.config import Settings

WINDOW = {"start_timestamp": "2026-01-01T00:00:00Z", "end_timestamp": "2026-01-02T00:00:00Z"}


def event(name: str, at: str, customer: str = "c1", **metadata: Any) -> dict[str, Any]:
    return {"name": name, "external_customer_id": customer, "timestamp": at,
            "metadata": metadata}


def test_definition_change_answers_from_the_old_build_until_the_new_one_is_live(
        client: TestClient, services: Services, auth: dict[str, str]) -> None:
    meter = create_meter(client, auth)
    ingest(client, auth, [event("ai", "2026-01-01T01:00:00Z", tokens=1),
                          event("ai", "2026-01-01T02:00:00Z", tokens=2),
                          event("other", "2026-01-01T03:00:00Z", tokens=10)])
    services.runner.run_until_idle()
    jobs, services.runner.jobs = services.runner.jobs, []   # hold the background builds
    path = f"/v1/meters/{meter['id']}"
    patched = ok(send(client, auth, "PATCH", path, {
        "filter": {"conjunction": "and", "clauses": []}}))
    assert patched["definition_version"] == 2
    assert patched["rebuild"]["state"] == "rebuilding"
    assert patched["rebuild"]["serving_definition_version"] == 1
    assert patched["rebuild"]["building_definition_version"] == 2
    ingest(client, auth, [event("other", "2026-01-02T03:00:00Z", tokens=100),
                          event("ai", "2026-01-02T03:00:00Z", tokens=4)])
    old, source = quantities(client, auth, meter["id"], **WINDOW)
    assert (numbers(old), source) == ([3, 4], "projection")

    services.runner.jobs = jobs
    services.runner.run_until_idle()
    new, source = quantities(client, auth, meter["id"], **WINDOW)
    assert (numbers(new), source) == ([13, 104], "projection")
    rebuild = ok(send(client, auth, "GET", path))["rebuild"]
    assert rebuild["state"] == "idle" and rebuild["serving_definition_version"] == 2
    with services.store.engine.connect() as conn:
        generations = conn.execute(select(meter_builds.c.generation)).scalars().all()
    assert generations == [2]


QUERIES: list[dict[str, Any]] = [
    {"interval": "day", "timezone": "Europe/Paris"},
    {"interval": "hour", "timezone": "Asia/Kolkata", "external_customer_id": "c2"},
    {"interval": "week", "customer_aggregation_function": "max"},
]


def _answers(client: TestClient, auth: dict[str, str], meter_ids: list[str]) -> list[Any]:
    answers = []
    for meter_id in meter_ids:
        for params in QUERIES:
            data, source = quantities(client, auth, meter_id, **WINDOW, **params)
            assert source == "projection"
            answers.append(data)
    return answers


def _rows(services: Services) -> list[Any]:
    with services.store.engine.connect() as conn:
        return [sorted(map(tuple, conn.execute(select(table)).all()), key=repr)
                for table in (meter_usage, meter_usage_values)]


@pytest.fixture
def history(client: TestClient, services: Services, auth: dict[str, str]) -> list[str]:
    meters = [create_meter(client, auth, "sum"),
              create_meter(client, auth, "users", aggregation={"func": "unique",
                                                               "property": "user"}),
              create_meter(client, auth, "avg", aggregation={"func": "avg",
                                                             "property": "tokens"})]
    ingest(client, auth, [event("ai", f"2026-01-01T{h:02d}:{m:02d}:00Z", f"c{h % 3}",
                                tokens=h * m, user=f"u{m % 4}")
                          for h in range(0, 24, 5) for m in (0, 7, 44)])
    send(client, auth, "PATCH", f"/v1/meters/{meters[0]['id']}",
         {"aggregation": {"func": "max", "property": "tokens"}})
    ingest(client, auth, [event("ai", "2026-01-01T23:59:59Z", "c2", tokens=-3, user="late")])
    services.runner.run_until_idle()
    return [m["id"] for m in meters]


def test_drop_and_rebuild_gives_identical_answers_and_rows(
        client: TestClient, services: Services, auth: dict[str, str],
        history: list[str]) -> None:
    before = _answers(client, auth, history), _rows(services)
    services.runner.rebuild(["meters", "meter_usage"])
    services.runner.run_until_idle()
    assert (_answers(client, auth, history), _rows(services)) == before


def test_cli_rebuilds_one_meter_in_a_new_generation(
        client: TestClient, services: Services, settings: Settings, auth: dict[str, str],
        history: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    before = _answers(client, auth, history)
    if settings.database_schema:
        monkeypatch.setenv("METERING_DATABASE_SCHEMA", settings.database_schema)
    assert cli.main(["--database-url", settings.database_url, "rebuild", "--meter",
                     history[1]]) == 0
    with services.store.engine.connect() as conn:
        live = {str(m): g for m, g in conn.execute(
            select(meter_builds.c.meter_id, meter_builds.c.generation)
            .where(meter_builds.c.state == LIVE))}
    assert [live[m] for m in history] == [2, 2, 1]   # sum: redefined; users: rebuilt
    assert _answers(client, auth, history) == before
    assert cli.main(["--database-url", settings.database_url, "rebuild", "--all"]) == 0
    assert _answers(client, auth, history) == before
