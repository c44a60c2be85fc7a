"""Small HTTP helpers for the meter tests (bodies written with exact numbers)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from starlette.testclient import TestClient

from domain.values import dumps, loads

SOURCE = "Metering-Quantities-Source"


def named(name: str) -> dict[str, Any]:
    """A filter matching the events of one name."""
    return {"conjunction": "and", "clauses": [{"property": "name", "operator": "eq",
                                               "value": name}]}


def send(client: TestClient, auth: dict[str, str], method: str, path: str,
         body: Any = None, **params: Any) -> httpx.Response:
    return client.request(method, path, params=params or None,
                          content=None if body is None else dumps(body),
                          headers={**auth, "Content-Type": "application/json"})


def ok(response: httpx.Response) -> Any:
    assert response.status_code in (200, 201), response.text
    return loads(response.content)


def detail(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    return loads(response.content)["detail"]  # type: ignore[no-any-return]


def create_meter(client: TestClient, auth: dict[str, str], name: str = "AI tokens",
                 filter: dict[str, Any] | None = None,
                 aggregation: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    return ok(send(client, auth, "POST", "/v1/meters/", {
        "name": name, "filter": filter or named("ai"),
        "aggregation": aggregation or {"func": "sum", "property": "tokens"}, **fields}))


def ingest(client: TestClient, auth: dict[str, str], events: list[dict[str, Any]]) -> None:
    result = ok(send(client, auth, "POST", "/v1/events/ingest", {"events": events}))
    assert result["inserted"] == len(events), result


def quantities(client: TestClient, auth: dict[str, str], meter_id: str,
               **params: Any) -> tuple[dict[str, Any], str]:
    """The quantities and which read model answered (`projection` or `events`)."""
    response = send(client, auth, "GET", f"/v1/meters/{meter_id}/quantities",
                    **{"interval": "day", "timezone": "UTC", **params})
    return ok(response), response.headers[SOURCE]


def numbers(data: dict[str, Any]) -> list[Decimal]:
    return [Decimal(q["quantity"]) for q in data["quantities"]]
