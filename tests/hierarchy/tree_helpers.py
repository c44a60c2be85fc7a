"""Shared steps of the hierarchy tests: ingest with exact JSON, read back by external id."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.testclient import TestClient

from domain.values import dumps, loads

INGEST = "/v1/events/ingest"


def ingest(client: TestClient, auth: dict[str, str], *events: dict[str, Any]) -> httpx.Response:
    return client.post(INGEST, content=dumps({"events": list(events)}),
                       headers={**auth, "Content-Type": "application/json"})


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return loads(response.content)


def event(external_id: str, parent: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"name": fields.pop("name", "step"), "external_customer_id": "cust-1",
            "external_id": external_id, **({"parent_id": parent} if parent else {}), **fields}


def cost(amount: str) -> dict[str, Any]:
    return {"_cost": {"amount": amount, "currency": "usd"}}


def by_external_id(client: TestClient, auth: dict[str, str],
                   **params: Any) -> dict[str, dict[str, Any]]:
    """Every event of the organization (up to 100 per page), keyed by external id."""
    found: dict[str, dict[str, Any]] = {}
    page = 1
    while True:
        body = ok(client.get("/v1/events/", params={"limit": 100, "page": page, **params},
                             headers=auth))
        found.update({e["external_id"]: e for e in body["items"]})
        if page >= body["pagination"]["max_page"]:
            return found
        page += 1


def total(client: TestClient, auth: dict[str, str]) -> int:
    body = ok(client.get("/v1/events/", params={"limit": 1}, headers=auth))
    return int(body["pagination"]["total_count"])


def locs(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    return [d["loc"] for d in response.json()["detail"]]
