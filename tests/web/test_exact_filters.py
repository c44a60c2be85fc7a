"""Numeric filters compare exact decimals on both stores (SQLite would compare floats)."""

from __future__ import annotations

import json

from starlette.testclient import TestClient


def _ingest(client: TestClient, auth: dict[str, str], values: list[str]) -> None:
    events = ",".join(
        f'{{"name": "n", "external_customer_id": "c", "metadata": {{"v": {v}}}}}'
        for v in values)
    response = client.post("/v1/events/ingest", content=f'{{"events": [{events}]}}',
                           headers={**auth, "Content-Type": "application/json"})
    assert response.status_code == 200


def _count(client: TestClient, auth: dict[str, str], operator: str, value: str) -> int:
    spec = ('{"conjunction": "and", "clauses": [{"property": "v", "operator": "'
            + operator + '", "value": ' + value + "}]}")
    response = client.get("/v1/events/", params={"filter": spec}, headers=auth)
    assert response.status_code == 200, response.text
    return int(json.loads(response.text)["pagination"]["total_count"])


def test_eq_on_a_decimal_does_not_match_a_value_that_differs_beyond_float_precision(
        client: TestClient, auth: dict[str, str]) -> None:
    _ingest(client, auth, ["0.1", "0.10000000000000000001"])
    assert _count(client, auth, "eq", "0.1") == 1
    assert _count(client, auth, "gt", "0.1") == 1


def test_large_integers_compare_exactly(client: TestClient, auth: dict[str, str]) -> None:
    _ingest(client, auth, ["9007199254740993", "9007199254740992"])
    assert _count(client, auth, "eq", "9007199254740993") == 1
    assert _count(client, auth, "lte", "9007199254740992") == 1
