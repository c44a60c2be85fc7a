"""POST/GET/PATCH /v1/meters/: Polar's shapes, auth, other organizations, validation."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import new_token
from tests.meters.helpers import create_meter, detail, ingest, named, ok, send
from web.bootstrap import Services

TS = "2026-01-05T10:00:00Z"


def test_create_meter_returns_polar_shape_with_extensions(
        client: TestClient, auth: dict[str, str]) -> None:
    meter = create_meter(client, auth, unit="custom", custom_label="request",
                         custom_multiplier=1000, metadata={"team": "ml", "tier": 2},
                         filter={"conjunction": "or", "clauses": [
                             named("ai"),
                             {"property": "metadata.model", "operator": "like",
                              "value": "gpt"}]})
    assert meter["name"] == "AI tokens"
    assert meter["unit"] == "custom"
    assert meter["custom_label"] == "request"
    assert meter["custom_multiplier"] == 1000
    assert meter["metadata"] == {"team": "ml", "tier": 2}
    assert meter["aggregation"] == {"func": "sum", "property": "tokens"}
    assert meter["filter"]["clauses"][1] == {"property": "model", "operator": "like",
                                             "value": "gpt"}
    assert meter["archived_at"] is None and meter["modified_at"] is None
    assert meter["definition_version"] == 1
    assert meter["skipped_events"] == 0
    assert meter["rebuild"]["building_definition_version"] in (1, None)
    fetched = ok(send(client, auth, "GET", f"/v1/meters/{meter['id']}"))
    assert {k: v for k, v in fetched.items() if k != "rebuild"} == {
        k: v for k, v in meter.items() if k != "rebuild"}


def test_meter_endpoints_require_a_token(client: TestClient, auth: dict[str, str]) -> None:
    meter = create_meter(client, auth)
    calls = [("POST", "/v1/meters/"), ("GET", "/v1/meters/"),
             ("GET", f"/v1/meters/{meter['id']}"), ("PATCH", f"/v1/meters/{meter['id']}"),
             ("GET", f"/v1/meters/{meter['id']}/quantities")]
    for method, path in calls:
        assert client.request(method, path).status_code == 401, (method, path)
        wrong = {"Authorization": "Bearer nope"}
        assert client.request(method, path, headers=wrong).status_code == 401, (method, path)


def test_meter_scopes_are_enforced(client: TestClient, services: Services,
                                   auth: dict[str, str]) -> None:
    meter = create_meter(client, auth)
    reader = {"Authorization": f"Bearer {new_token(services, 'acme', 'meters:read')}"}
    assert send(client, reader, "GET", f"/v1/meters/{meter['id']}").status_code == 200
    assert send(client, reader, "PATCH", f"/v1/meters/{meter['id']}",
                {"name": "renamed"}).status_code == 403
    other = {"Authorization": f"Bearer {new_token(services, 'acme', 'events:read')}"}
    assert send(client, other, "GET", "/v1/meters/").status_code == 403


def test_meter_of_another_organization_is_not_found(client: TestClient, services: Services,
                                                    auth: dict[str, str]) -> None:
    meter = create_meter(client, auth)
    other = {"Authorization": f"Bearer {new_token(services, 'globex')}"}
    path = f"/v1/meters/{meter['id']}"
    assert send(client, other, "GET", path).status_code == 404
    assert send(client, other, "PATCH", path, {"name": "stolen"}).status_code == 404
    assert send(client, other, "GET", f"{path}/quantities", interval="day",
                start_timestamp=TS, end_timestamp=TS).status_code == 404
    assert send(client, other, "GET", "/v1/events/", meter_id=meter["id"]).status_code == 404
    assert ok(send(client, other, "GET", "/v1/meters/"))["items"] == []
    assert send(client, auth, "GET", "/v1/meters/not-a-uuid").status_code == 404
    assert ok(send(client, auth, "GET", path))["name"] == "AI tokens"


GOOD: dict[str, Any] = {"name": "Tokens", "filter": named("ai"),
                        "aggregation": {"func": "sum", "property": "tokens"}}


@pytest.mark.parametrize(("change", "loc"), [
    ({"name": "ab"}, ["body", "name"]),
    ({"name": None}, ["body", "name"]),
    ({"unit": "litre"}, ["body", "unit"]),
    ({"unit": "custom"}, ["body", "custom_label"]),
    ({"custom_multiplier": 0}, ["body", "custom_multiplier"]),
    ({"metadata": {"k" * 41: 1}}, ["body", "metadata", "k" * 41, "[key]"]),
    ({"filter": {"conjunction": "and", "clauses": [
        named("ai")["clauses"][0], {"property": "x", "operator": "between", "value": 1}]}},
     ["body", "filter", "clauses", 1, "operator"]),
    ({"filter": {"conjunction": "xor", "clauses": []}}, ["body", "filter", "conjunction"]),
    ({"aggregation": {"func": "median", "property": "x"}}, ["body", "aggregation", "func"]),
    ({"aggregation": {"func": "sum"}}, ["body", "aggregation", "property"]),
])
def test_invalid_meter_is_rejected_naming_the_field_and_nothing_is_recorded(
        client: TestClient, services: Services, auth: dict[str, str], change: dict[str, Any],
        loc: list[Any]) -> None:
    before = services.ledger.position()
    errors = detail(send(client, auth, "POST", "/v1/meters/", {**GOOD, **change}))
    assert loc in [e["loc"] for e in errors], errors
    assert services.ledger.position() == before
    assert ok(send(client, auth, "GET", "/v1/meters/"))["items"] == []


def test_invalid_update_is_rejected_and_nothing_is_recorded(
        client: TestClient, services: Services, auth: dict[str, str]) -> None:
    meter = create_meter(client, auth)
    before = services.ledger.position()
    path = f"/v1/meters/{meter['id']}"
    errors = detail(send(client, auth, "PATCH", path, {
        "name": "ok name", "aggregation": {"func": "avg", "property": 3}}))
    assert [e["loc"] for e in errors] == [["body", "aggregation", "property"]]
    assert detail(send(client, auth, "PATCH", path, {"unit": "custom"}))[0]["loc"] == [
        "body", "custom_label"]
    assert detail(send(client, auth, "PATCH", path, {"is_archived": "maybe"}))[0]["loc"] == [
        "body", "is_archived"]
    assert services.ledger.position() == before
    assert ok(send(client, auth, "GET", path))["name"] == "AI tokens"


def test_update_changes_fields_archives_and_unarchives(client: TestClient,
                                                       auth: dict[str, str]) -> None:
    meter = create_meter(client, auth)
    path = f"/v1/meters/{meter['id']}"
    updated = ok(send(client, auth, "PATCH", path, {
        "name": "Renamed", "unit": "custom", "custom_label": "call", "metadata": {"a": "b"},
        "filter": named("ai.v2"), "is_archived": True}))
    assert updated["name"] == "Renamed" and updated["custom_label"] == "call"
    assert updated["metadata"] == {"a": "b"}
    assert updated["filter"] == named("ai.v2")
    assert updated["definition_version"] == 2
    assert updated["archived_at"] is not None and updated["modified_at"] is not None
    same = ok(send(client, auth, "PATCH", path, {"filter": named("ai.v2")}))
    assert same["definition_version"] == 2
    assert ok(send(client, auth, "PATCH", path, {"is_archived": False}))["archived_at"] is None


def test_list_meters_filters_sorts_and_paginates(client: TestClient,
                                                 auth: dict[str, str]) -> None:
    alpha = create_meter(client, auth, name="alpha calls", metadata={"team": "a"})
    create_meter(client, auth, name="beta tokens", metadata={"team": "b"})
    gamma = create_meter(client, auth, name="gamma calls", metadata={"team": "a"})
    send(client, auth, "PATCH", f"/v1/meters/{gamma['id']}", {"is_archived": True})

    def names(**params: Any) -> list[str]:
        return [m["name"] for m in ok(send(client, auth, "GET", "/v1/meters/",
                                           **params))["items"]]

    assert names() == ["alpha calls", "beta tokens", "gamma calls"]
    assert names(sorting="-name") == ["gamma calls", "beta tokens", "alpha calls"]
    assert names(query="CALLS") == ["alpha calls", "gamma calls"]
    assert names(is_archived="false") == ["alpha calls", "beta tokens"]
    assert names(is_archived="true") == ["gamma calls"]
    assert names(**{"metadata[team]": "a"}) == ["alpha calls", "gamma calls"]
    page = ok(send(client, auth, "GET", "/v1/meters/", limit=2, page=2))
    assert page["pagination"] == {"total_count": 3, "max_page": 2}
    assert [m["id"] for m in page["items"]] == [gamma["id"]]
    assert detail(send(client, auth, "GET", "/v1/meters/", sorting="size"))[0]["loc"] == [
        "query", "sorting", 0]
    assert alpha["id"] in {m["id"] for m in ok(send(
        client, auth, "GET", "/v1/meters/", sorting="created_at"))["items"]}


@pytest.mark.parametrize(("params", "loc"), [
    ({"timezone": "Mars/Olympus"}, ["query", "timezone"]),
    ({"start_timestamp": "2026-02-01T00:00:00Z"}, ["query", "start_timestamp"]),
    ({"interval": "hour", "end_timestamp": "2027-03-01T00:00:00Z"}, ["query", "interval"]),
    ({"interval": "fortnight"}, ["query", "interval"]),
    ({"start_timestamp": "2026-01-01T00:00:00"}, ["query", "start_timestamp"]),
    ({"customer_aggregation_function": "median"}, ["query", "customer_aggregation_function"]),
])
def test_invalid_quantities_request_is_rejected(client: TestClient, auth: dict[str, str],
                                                params: dict[str, str], loc: list[str]) -> None:
    meter = create_meter(client, auth)
    query = {"start_timestamp": "2026-01-01T00:00:00Z", "end_timestamp": "2026-01-31T00:00:00Z",
             "interval": "day", **params}
    errors = detail(send(client, auth, "GET", f"/v1/meters/{meter['id']}/quantities", **query))
    assert loc in [e["loc"] for e in errors], errors


def test_event_list_filters_by_meter(client: TestClient, auth: dict[str, str]) -> None:
    meter = create_meter(client, auth, filter={"conjunction": "and", "clauses": [
        named("ai"), {"property": "tokens", "operator": "gt", "value": 10}]})
    ingest(client, auth, [
        {"name": "ai", "external_customer_id": "c", "timestamp": TS, "metadata": m}
        for m in ({"tokens": 5}, {"tokens": 50}, {"tokens": 500, "model": "gpt"})
    ] + [{"name": "other", "external_customer_id": "c", "metadata": {"tokens": 99}}])

    def tokens(**params: Any) -> list[Any]:
        listed = ok(send(client, auth, "GET", "/v1/events/", meter_id=meter["id"], **params))
        return sorted(e["metadata"]["tokens"] for e in listed["items"])

    assert tokens() == [50, 500]
    assert tokens(filter='{"conjunction":"and","clauses":[{"property":"model",'
                         '"operator":"eq","value":"gpt"}]}') == [500]
