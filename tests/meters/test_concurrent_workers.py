"""Several projection workers on one database never apply an event twice (nor lose one)."""

from __future__ import annotations

import threading
from decimal import Decimal

from starlette.testclient import TestClient

from tests.meters.helpers import create_meter, ingest, quantities, send
from web.bootstrap import Services, bootstrap
from web.config import Settings

BATCHES, PER_BATCH = 12, 50


def test_two_workers_and_background_builds_count_every_event_once(
        client: TestClient, services: Services, settings: Settings,
        auth: dict[str, str]) -> None:
    second = bootstrap(settings)   # another worker process, as `metering project` would be
    second.runner.start()
    third = threading.Thread(target=services.runner.run_until_idle)
    try:
        total = create_meter(client, auth, "tokens")
        third.start()
        for batch in range(BATCHES):
            if batch == BATCHES // 2:
                count = create_meter(client, auth, "calls", aggregation={"func": "count"})
                send(client, auth, "PATCH", f"/v1/meters/{total['id']}",
                     {"filter": {"conjunction": "and", "clauses": []}})
            ingest(client, auth, [
                {"name": "ai", "external_customer_id": f"c{i % 7}",
                 "timestamp": f"2026-01-{1 + i % 28:02d}T{batch % 24:02d}:00:00Z",
                 "metadata": {"tokens": Decimal("0.001") * (i + 1)}}
                for i in range(PER_BATCH)])
        third.join()
        services.runner.run_until_idle()
        second.runner.run_until_idle()
    finally:
        second.close()
    window = {"start_timestamp": "2026-01-01T00:00:00Z", "end_timestamp": "2026-01-28T00:00:00Z",
              "interval": "month"}
    tokens, source = quantities(client, auth, total["id"], **window)
    assert source == "projection"
    assert tokens["total"] == Decimal("1.275") * BATCHES   # 0.001 * (1 + ... + 50)
    calls, source = quantities(client, auth, count["id"], **window)
    assert (calls["total"], source) == (BATCHES * PER_BATCH, "projection")
    per_customer, _ = quantities(client, auth, count["id"], **window,
                                 customer_aggregation_function="sum")
    assert per_customer["total"] == BATCHES * PER_BATCH
