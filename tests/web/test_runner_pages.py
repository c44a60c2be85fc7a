"""The runner's pages grow while the ledger is ahead of a projection, and come back to their
base size once it has caught up."""

from __future__ import annotations

from sqlalchemy import func, select
from starlette.testclient import TestClient

from projections.runner import ProjectionRunner
from projections.tables import events as events_table
from tests.meters.helpers import ingest
from web.bootstrap import Services


def _usage(count: int) -> list[dict[str, object]]:
    return [{"name": "ai", "external_customer_id": "c1"} for _ in range(count)]


def test_pages_double_while_full_and_shrink_when_caught_up(
        client: TestClient, services: Services, auth: dict[str, str]) -> None:
    services.runner.run_until_idle()
    services.runner.stop()
    events = services.runner.projections["events"]
    start = services.runner.positions()["events"]
    ingest(client, auth, _usage(30))
    runner = ProjectionRunner(services.ledger, services.store, [events], batch_size=2,
                              max_batch_size=8)
    pages = []
    while consumed := runner.catch_up(events):
        pages.append(consumed)
    assert pages[:4] == [2, 4, 8, 8]
    assert sum(pages) == services.ledger.position() - start
    ingest(client, auth, _usage(3))
    pages = []
    while consumed := runner.catch_up(events):
        pages.append(consumed)
    assert pages == [2, 1]
    with services.store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(events_table)).scalar() == 33
