"""Read models are disposable: rebuilt from the ledger they answer exactly as before.

Also read-your-writes: a read right after a write sees it.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from projections.tables import READ_MODEL_VERSION, events, read_model_version
from tests.conftest import new_token
from web.bootstrap import Services


def post(client: TestClient, auth: dict[str, str], path: str, body: Any) -> Any:
    response = client.post(path, json=body, headers=auth)
    assert response.status_code in (200, 201), response.text
    return response.json()


@pytest.fixture
def history(client: TestClient, auth: dict[str, str], services: Services) -> list[str]:
    """A mix of everything the ledger records; returns the GET paths to compare."""
    other = {"Authorization": f"Bearer {new_token(services, 'globex')}"}
    ada = post(client, auth, "/v1/customers/", {"email": "ada@example.com",
                                                 "external_id": "ada", "name": "Ada",
                                                 "metadata": {"plan": "pro"}})
    team = post(client, auth, "/v1/customers/", {"email": "team@example.com", "type": "team"})
    gone = post(client, auth, "/v1/customers/", {"email": "gone@example.com",
                                                  "external_id": "gone"})
    member = post(client, auth, f"/v1/customers/{team['id']}/members",
                  {"email": "m@example.com", "external_id": "m"})
    client.patch(f"/v1/customers/{ada['id']}", json={"name": "Ada L."}, headers=auth)
    client.patch(f"/v1/customers/{team['id']}/members/{member['id']}",
                 json={"role": "billing_manager"}, headers=auth)
    post(client, auth, "/v1/events/ingest", {"events": [
        {"name": "call", "external_customer_id": "ada", "external_id": "root",
         "timestamp": "2026-01-01T00:00:00Z",
         "metadata": {"_cost": {"amount": "0.000000000001", "currency": "usd"}, "n": 1.50}},
        {"name": "call", "customer_id": ada["id"], "parent_id": "root",
         "timestamp": "2026-01-01T00:00:01Z", "external_id": "child"},
        {"name": "step", "customer_id": team["id"], "member_id": member["id"],
         "parent_id": "child", "timestamp": "2026-01-01T00:00:02Z",
         "metadata": {"topic": "billing"}},
        {"name": "orphan", "external_customer_id": "later", "parent_id": "late-parent",
         "timestamp": "2026-01-01T00:00:03Z"},
        {"name": "gone.call", "external_customer_id": "gone"},
    ]})
    post(client, auth, "/v1/events/ingest", {"events": [
        {"name": "call", "external_customer_id": "later", "external_id": "late-parent",
         "timestamp": "2026-01-01T00:00:04Z"},
        {"name": "call", "external_customer_id": "ada", "external_id": "root"},
    ]})
    post(client, other, "/v1/events/ingest", {"events": [
        {"name": "call", "external_customer_id": "ada", "external_id": "root"}]})
    types = client.get("/v1/event-types/", headers=auth).json()["items"]
    step = next(t for t in types if t["name"] == "step")
    client.patch(f"/v1/event-types/{step['id']}", headers=auth,
                 json={"label": "Step", "label_property_selector": "topic"})
    client.delete(f"/v1/customers/{gone['id']}", headers=auth)
    post(client, auth, "/v1/customers/", {"email": "later@example.com", "external_id": "later"})

    events = client.get("/v1/events/", params={"limit": 100}, headers=auth).json()["items"]
    customers = [ada, team]   # `gone` is deleted: 404 by id
    return [
        "/v1/events/?limit=100", "/v1/events/?limit=100&sorting=timestamp",
        "/v1/events/?depth=0&limit=100", f"/v1/events/?customer_id={ada['id']}",
        "/v1/events/?external_customer_id=later", "/v1/events/?query=billing",
        "/v1/events/names", "/v1/event-types/?limit=100", "/v1/customers/?limit=100",
        "/v1/customers/external/ada", "/v1/customers/external/later",
        f"/v1/customers/{team['id']}/members",
        *(f"/v1/events/{e['id']}" for e in events),
        *(f"/v1/events/?parent_id={e['id']}&depth=3" for e in events),
        *(f"/v1/customers/{c['id']}" for c in customers),
    ]


def snapshot(client: TestClient, auth: dict[str, str], paths: list[str]) -> dict[str, bytes]:
    answers = {}
    for path in paths:
        response = client.get(path, headers=auth)
        assert response.status_code == 200, (path, response.text)
        answers[path] = response.content
    return answers


def test_rebuilding_every_projection_gives_identical_answers(client: TestClient,
                                                             auth: dict[str, str],
                                                             services: Services,
                                                             history: list[str]) -> None:
    before = snapshot(client, auth, history)
    services.runner.rebuild(list(services.runner.projections))
    assert snapshot(client, auth, history) == before


def test_dropped_read_tables_recreated_from_the_ledger_give_identical_answers(
        client: TestClient, auth: dict[str, str], services: Services,
        history: list[str]) -> None:
    before = snapshot(client, auth, history)
    services.runner.stop()
    services.store.drop_tables()
    services.store.create_tables()
    services.runner.ensure_positions()
    services.runner.run_until_idle()
    services.runner.start()
    assert snapshot(client, auth, history) == before


def test_read_models_of_another_version_are_rebuilt_on_start(
        client: TestClient, auth: dict[str, str], services: Services,
        history: list[str]) -> None:
    """An upgrade that changes a read table's shape finds the old tables, drops them all and
    projects the ledger again."""
    before = snapshot(client, auth, history)
    services.runner.stop()
    with services.store.writer.begin() as conn:
        conn.execute(update(read_model_version).values(version=READ_MODEL_VERSION - 1))
        conn.execute(events.delete())   # an old version's rows: they must not survive
    services.store.create_tables()
    assert services.runner.positions() == {}
    services.runner.ensure_positions()
    services.runner.run_until_idle()
    services.runner.start()
    assert snapshot(client, auth, history) == before


@pytest.mark.usefixtures("history")
def test_history_has_the_expected_shape(client: TestClient, auth: dict[str, str]) -> None:
    """Guards the scenario itself: parents linked, late parent attached, duplicates skipped."""
    items = client.get("/v1/events/", params={"limit": 100, "sorting": "timestamp"},
                       headers=auth).json()["items"]
    by_key = {e["external_id"]: e for e in items if e["external_id"]}
    orphan = next(e for e in items if e["name"] == "orphan")
    step = next(e for e in items if e["name"] == "step")
    assert len(items) == 6
    assert (by_key["root"]["child_count"], by_key["child"]["parent_id"],
            step["parent_id"], step["label"]) == (1, by_key["root"]["id"],
                                                  by_key["child"]["id"], "billing")
    assert (orphan["parent_id"], by_key["late-parent"]["child_count"]) == \
        (by_key["late-parent"]["id"], 1)


# Read-your-writes -------------------------------------------------------------------------

def test_each_ingest_is_visible_to_the_next_read(client: TestClient,
                                                 auth: dict[str, str]) -> None:
    seen = []
    for i in range(8):
        post(client, auth, "/v1/events/ingest", {"events": [
            {"name": f"e{i}", "external_customer_id": "c"}]})
        seen.append(client.get("/v1/events/", headers=auth,
                               params={"limit": 100}).json()["pagination"]["total_count"])
    assert seen == list(range(1, 9))


def test_each_customer_write_is_visible_to_the_next_read(client: TestClient,
                                                         auth: dict[str, str]) -> None:
    seen = []
    for i in range(4):
        customer = post(client, auth, "/v1/customers/", {"email": f"c{i}@example.com",
                                                         "external_id": f"c{i}"})
        client.patch(f"/v1/customers/{customer['id']}", json={"name": f"n{i}"}, headers=auth)
        seen.append(client.get(f"/v1/customers/external/c{i}", headers=auth).json()["name"])
        client.delete(f"/v1/customers/{customer['id']}", headers=auth)
        seen.append(client.get(f"/v1/customers/external/c{i}", headers=auth).status_code)
    assert seen == ["n0", 404, "n1", 404, "n2", 404, "n3", 404]


def test_each_relabel_is_visible_to_the_next_read(client: TestClient,
                                                  auth: dict[str, str]) -> None:
    post(client, auth, "/v1/events/ingest", {"events": [{"name": "e",
                                                          "external_customer_id": "c"}]})
    type_id = client.get("/v1/event-types/", headers=auth).json()["items"][0]["id"]
    seen = []
    for i in range(4):
        client.patch(f"/v1/event-types/{type_id}", json={"label": f"L{i}"}, headers=auth)
        seen.append(client.get("/v1/events/", headers=auth).json()["items"][0]["label"])
    assert seen == ["L0", "L1", "L2", "L3"]
