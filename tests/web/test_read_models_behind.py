"""A write whose result the read models do not show in time is a 503 naming the ledger position,
never a 404 that would have the client write it again."""

from __future__ import annotations

from dataclasses import replace

from starlette.testclient import TestClient

from tests.conftest import new_token
from web.app import create_app
from web.bootstrap import bootstrap
from web.config import Settings

METER = {"name": "tokens", "filter": {"conjunction": "and", "clauses": []},
         "aggregation": {"func": "sum", "property": "tokens"}}


def test_a_write_not_yet_projected_is_a_503_and_is_recorded_once(settings: Settings) -> None:
    services = bootstrap(replace(settings, read_wait_timeout=0.2))   # no projection runs
    try:
        auth = {"Authorization": f"Bearer {new_token(services)}"}
        with TestClient(create_app(services.settings, services)) as client:
            created = client.post("/v1/meters/", json=METER, headers=auth)
            assert created.status_code == 503
            assert created.headers["Retry-After"] == "1"
            body = created.json()
            assert body["error"] == "ServiceUnavailable"
            assert f"ledger position {services.ledger.position()}" in body["detail"]

            services.runner.run_until_idle()
            listed = client.get("/v1/meters/", headers=auth)
            assert listed.status_code == 200
            assert [m["name"] for m in listed.json()["items"]] == ["tokens"]
            missing = client.get("/v1/meters/00000000-0000-0000-0000-000000000000",
                                 headers=auth)
            assert missing.status_code == 404   # caught up: not found means not found
    finally:
        services.close()
