"""POST /v1/events/ingest: counts, idempotency, references, validation, all-or-nothing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from starlette.testclient import TestClient

from domain.values import dumps, loads
from tests.conftest import new_token
from web.bootstrap import Services

INGEST = "/v1/events/ingest"


def ingest(client: TestClient, auth: dict[str, str], *events: dict[str, Any],
           details: bool = False) -> httpx.Response:
    """Post a batch; the body is written with exact numbers (Decimals as JSON numbers)."""
    return client.post(INGEST + ("?details=true" if details else ""), content=dumps(
        {"events": list(events)}), headers={**auth, "Content-Type": "application/json"})


def listed(client: TestClient, auth: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get("/v1/events/", params={"limit": 100, **params}, headers=auth)
    assert response.status_code == 200, response.text
    return loads(response.content)  # type: ignore[no-any-return]


def event(name: str = "api.call", **fields: Any) -> dict[str, Any]:
    return {"name": name, "external_customer_id": "cust-1", **fields}


def detail(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    return loads(response.content)["detail"]  # type: ignore[no-any-return]


def locs(response: httpx.Response) -> list[list[Any]]:
    return [d["loc"] for d in detail(response)]


def create_customer(client: TestClient, auth: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/customers/", json=fields, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


# Counts and idempotency --------------------------------------------------------------------

def test_ingest_counts_every_new_event_as_inserted(client: TestClient,
                                                   auth: dict[str, str]) -> None:
    response = ingest(client, auth, event(), event(), event(external_id="k1"))
    assert response.status_code == 200
    assert response.json() == {"inserted": 3, "duplicates": 0, "conflicts": 0}


def test_events_without_external_id_are_never_deduplicated(client: TestClient,
                                                           auth: dict[str, str]) -> None:
    ingest(client, auth, event(timestamp="2026-01-01T00:00:00Z"))
    response = ingest(client, auth, event(timestamp="2026-01-01T00:00:00Z"))
    assert response.json()["inserted"] == 1
    assert listed(client, auth)["pagination"]["total_count"] == 2


def test_repeated_external_id_within_a_batch_is_a_duplicate(client: TestClient,
                                                            auth: dict[str, str]) -> None:
    response = ingest(client, auth, event(external_id="k1"), event(external_id="k1"),
                      event(external_id="k1"))
    assert response.json() == {"inserted": 1, "duplicates": 2, "conflicts": 0}
    assert listed(client, auth)["pagination"]["total_count"] == 1


def test_external_id_recorded_by_an_earlier_batch_is_a_duplicate(client: TestClient,
                                                                 auth: dict[str, str]) -> None:
    ingest(client, auth, event(external_id="k1", timestamp="2026-01-01T00:00:00Z"))
    response = ingest(client, auth, event(external_id="k1", timestamp="2026-01-01T00:00:00Z"),
                      event(external_id="k2"))
    assert response.json() == {"inserted": 1, "duplicates": 1, "conflicts": 0}
    assert listed(client, auth)["pagination"]["total_count"] == 2


def test_two_concurrent_requests_with_one_external_id_record_it_once(
        client: TestClient, auth: dict[str, str]) -> None:
    rounds, per_round = 5, 2
    barrier = threading.Barrier(per_round)
    results: list[dict[str, int]] = []
    lock = threading.Lock()

    def post(key: str) -> None:
        barrier.wait()
        response = ingest(client, auth, event(external_id=key,
                                              timestamp="2026-01-01T00:00:00Z"))
        with lock:
            results.append(response.json())

    for round_ in range(rounds):
        threads = [threading.Thread(target=post, args=(f"race-{round_}",))
                   for _ in range(per_round)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert sorted((r["inserted"], r["duplicates"]) for r in results) == \
        [(0, 1)] * rounds + [(1, 0)] * rounds
    assert listed(client, auth)["pagination"]["total_count"] == rounds


def test_duplicate_with_a_different_payload_counts_as_conflict(client: TestClient,
                                                               auth: dict[str, str]) -> None:
    ingest(client, auth, event(external_id="k1", timestamp="2026-01-01T00:00:00Z",
                               metadata={"n": 1}))
    response = ingest(client, auth,
                      event(external_id="k1", timestamp="2026-01-01T00:00:00Z",
                            metadata={"n": 2}),
                      event(external_id="k1", timestamp="2026-01-01T00:00:00Z",
                            metadata={"n": 1}))
    assert response.json() == {"inserted": 0, "duplicates": 2, "conflicts": 1}


def test_retry_writing_the_same_instant_with_another_offset_is_no_conflict(
        client: TestClient, auth: dict[str, str]) -> None:
    ingest(client, auth, event(external_id="k1", timestamp="2026-01-01T00:00:00Z"))
    response = ingest(client, auth, event(external_id="k1",
                                          timestamp="2026-01-01T01:00:00+01:00"),
                      event(external_id="k1", timestamp="2026-01-01T00:00:01Z"))
    assert response.json() == {"inserted": 0, "duplicates": 2, "conflicts": 1}


def test_conflicting_duplicate_keeps_the_recorded_event(client: TestClient,
                                                        auth: dict[str, str]) -> None:
    ingest(client, auth, event(external_id="k1", metadata={"n": 1}))
    ingest(client, auth, event(external_id="k1", metadata={"n": 2}))
    assert [e["metadata"] for e in listed(client, auth)["items"]] == [{"n": 1}]


def test_details_report_one_result_per_event_in_order(client: TestClient,
                                                      auth: dict[str, str]) -> None:
    ingest(client, auth, event(external_id="old", metadata={"n": 1}))
    response = ingest(client, auth, event(external_id="new"), event(external_id="new"),
                      event(external_id="old", metadata={"n": 2}), event(), details=True)
    body = response.json()
    assert [(r["status"], r["external_id"]) for r in body["results"]] == [
        ("inserted", "new"), ("duplicate", "new"), ("conflict", "old"), ("inserted", None)]
    assert body["results"][0]["id"] == body["results"][1]["id"]
    ids = {e["id"] for e in listed(client, auth)["items"]}
    assert {body["results"][i]["id"] for i in (0, 2, 3)} == ids


def test_results_are_absent_without_details(client: TestClient, auth: dict[str, str]) -> None:
    assert "results" not in ingest(client, auth, event()).json()


# Parents ----------------------------------------------------------------------------------

def test_parent_given_by_external_id_in_the_same_batch_is_linked(client: TestClient,
                                                                 auth: dict[str, str]) -> None:
    ingest(client, auth, event("root", external_id="p", timestamp="2026-01-01T00:00:00Z"),
           event("child", parent_id="p", timestamp="2026-01-01T00:00:01Z"),
           event("child", parent_id="p", timestamp="2026-01-01T00:00:02Z"))
    root, first, second = listed(client, auth, sorting="timestamp")["items"]
    assert (root["child_count"], first["parent_id"], second["parent_id"]) == \
        (2, root["id"], root["id"])


def test_parent_given_by_external_id_of_an_earlier_batch_is_linked(
        client: TestClient, auth: dict[str, str]) -> None:
    ingest(client, auth, event("root", external_id="p", timestamp="2026-01-01T00:00:00Z"))
    ingest(client, auth, event("child", parent_id="p", timestamp="2026-01-01T00:00:01Z"))
    root, child = listed(client, auth, sorting="timestamp")["items"]
    assert (root["child_count"], child["parent_id"]) == (1, root["id"])


def test_parent_given_by_our_event_id_is_linked(client: TestClient,
                                                auth: dict[str, str]) -> None:
    parent_id = ingest(client, auth, event("root"), details=True).json()["results"][0]["id"]
    ingest(client, auth, event("child", parent_id=parent_id))
    child = listed(client, auth, name="child")["items"][0]
    assert child["parent_id"] == parent_id


# Customers and members --------------------------------------------------------------------

def test_event_attributed_to_a_member_lists_its_member_id(client: TestClient,
                                                          auth: dict[str, str]) -> None:
    customer = create_customer(client, auth, email="team@example.com", type="team")
    member = client.post(f"/v1/customers/{customer['id']}/members",
                         json={"email": "bob@example.com"}, headers=auth).json()
    ingest(client, auth, {"name": "seat.use", "customer_id": customer["id"],
                          "member_id": member["id"]})
    assert listed(client, auth)["items"][0]["member_id"] == member["id"]


def test_unknown_member_id_is_rejected(client: TestClient, auth: dict[str, str]) -> None:
    response = ingest(client, auth, event(member_id="00000000-0000-4000-8000-000000000001"))
    assert locs(response) == [["body", "events", 0, "member_id"]]


def test_member_of_another_organization_is_rejected(client: TestClient, auth: dict[str, str],
                                                    services: Services) -> None:
    other = {"Authorization": f"Bearer {new_token(services, 'globex')}"}
    customer = create_customer(client, other, email="x@globex.com")
    member = client.post(f"/v1/customers/{customer['id']}/members",
                         json={"email": "y@globex.com"}, headers=other).json()
    response = ingest(client, auth, event(member_id=member["id"]))
    assert locs(response) == [["body", "events", 0, "member_id"]]


def test_unknown_customer_id_is_rejected(client: TestClient, auth: dict[str, str]) -> None:
    response = ingest(client, auth, {"name": "a",
                                     "customer_id": "00000000-0000-4000-8000-000000000001"})
    assert detail(response) == [{
        "type": "customer_id", "loc": ["body", "events", 0, "customer_id"],
        "msg": "Customer does not exist.", "input": "00000000-0000-4000-8000-000000000001"}]


def test_customer_of_another_organization_is_rejected(client: TestClient, auth: dict[str, str],
                                                      services: Services) -> None:
    other = {"Authorization": f"Bearer {new_token(services, 'globex')}"}
    customer = create_customer(client, other, email="x@globex.com")
    response = ingest(client, auth, {"name": "a", "customer_id": customer["id"]})
    assert locs(response) == [["body", "events", 0, "customer_id"]]


def test_deleted_customer_is_rejected(client: TestClient, auth: dict[str, str]) -> None:
    customer = create_customer(client, auth, email="gone@example.com")
    client.delete(f"/v1/customers/{customer['id']}", headers=auth)
    response = ingest(client, auth, {"name": "a", "customer_id": customer["id"]})
    assert locs(response) == [["body", "events", 0, "customer_id"]]


def test_both_customer_references_are_rejected(client: TestClient, auth: dict[str, str]) -> None:
    customer = create_customer(client, auth, email="a@example.com")
    response = ingest(client, auth, event(customer_id=customer["id"]))
    assert locs(response) == [["body", "events", 0]]


def test_external_customer_id_without_customer_is_linked_when_the_customer_appears(
        client: TestClient, auth: dict[str, str]) -> None:
    ingest(client, auth, event(external_customer_id="future"))
    customer = create_customer(client, auth, email="f@example.com", external_id="future")
    items = listed(client, auth, customer_id=customer["id"])["items"]
    assert [(e["customer_id"], e["customer"]["id"], e["external_customer_id"])
            for e in items] == [(customer["id"], customer["id"], "future")]


# Timestamps -------------------------------------------------------------------------------

def test_naive_timestamp_is_rejected(client: TestClient, auth: dict[str, str]) -> None:
    response = ingest(client, auth, event(timestamp="2026-01-01T00:00:00"))
    assert locs(response) == [["body", "events", 0, "timestamp"]]


def test_timestamp_more_than_five_minutes_ahead_is_rejected(client: TestClient,
                                                            auth: dict[str, str]) -> None:
    ahead = (datetime.now(UTC) + timedelta(minutes=6)).isoformat()
    response = ingest(client, auth, event(timestamp=ahead))
    assert locs(response) == [["body", "events", 0, "timestamp"]]


def test_timestamp_slightly_ahead_is_accepted(client: TestClient, auth: dict[str, str]) -> None:
    ahead = (datetime.now(UTC) + timedelta(minutes=4)).isoformat()
    assert ingest(client, auth, event(timestamp=ahead)).json()["inserted"] == 1


def test_old_timestamp_is_accepted_and_stored_in_utc(client: TestClient,
                                                     auth: dict[str, str]) -> None:
    ingest(client, auth, event(timestamp="1999-12-31T23:00:00-02:00"))
    assert listed(client, auth)["items"][0]["timestamp"] == "2000-01-01T01:00:00+00:00"


def test_missing_timestamp_defaults_to_the_time_of_receipt(client: TestClient,
                                                           auth: dict[str, str]) -> None:
    before = datetime.now(UTC)
    ingest(client, auth, event())
    after = datetime.now(UTC)
    stamped = datetime.fromisoformat(listed(client, auth)["items"][0]["timestamp"])
    assert before <= stamped <= after


# Field validation -------------------------------------------------------------------------

def test_name_of_0_or_129_characters_is_rejected(client: TestClient,
                                                 auth: dict[str, str]) -> None:
    response = ingest(client, auth, event(""), event("n" * 129))
    assert locs(response) == [["body", "events", 0, "name"], ["body", "events", 1, "name"]]


def test_name_of_128_characters_is_accepted(client: TestClient, auth: dict[str, str]) -> None:
    assert ingest(client, auth, event("n" * 128)).json()["inserted"] == 1


def test_error_loc_names_the_event_index_and_field(client: TestClient,
                                                   auth: dict[str, str]) -> None:
    response = ingest(client, auth, event(), event(), event(timestamp="yesterday"))
    assert detail(response) == [{"type": "datetime_parsing",
                                 "loc": ["body", "events", 2, "timestamp"],
                                 "msg": "Input should be a valid datetime",
                                 "input": "yesterday"}]


def test_every_invalid_event_of_a_batch_is_reported(client: TestClient,
                                                    auth: dict[str, str]) -> None:
    response = ingest(client, auth, event(""), event(), event(metadata={"x": None}))
    assert locs(response) == [["body", "events", 0, "name"],
                              ["body", "events", 2, "metadata", "x"]]


def test_invalid_event_rejects_the_whole_batch(client: TestClient, auth: dict[str, str],
                                               services: Services) -> None:
    ingest(client, auth, event(external_id="before"))
    position = services.ledger.position()
    response = ingest(client, auth, event(external_id="a"), event("brand.new"),
                      event(metadata={"bad": [1]}))
    assert response.status_code == 422
    assert services.ledger.position() == position
    assert listed(client, auth)["pagination"]["total_count"] == 1


def test_body_over_ten_mebibytes_is_rejected_with_413(client: TestClient, auth: dict[str, str],
                                                      services: Services) -> None:
    position = services.ledger.position()
    padding = "x" * 500
    count = 10 * 1024 * 1024 // 500 + 1
    response = ingest(client, auth, *[event(metadata={"p": padding})] * count)
    assert response.status_code == 413
    assert services.ledger.position() == position


def test_body_without_events_is_rejected(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post(INGEST, json={}, headers=auth)
    assert locs(response) == [["body", "events"]]


def test_malformed_json_is_rejected(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post(INGEST, content=b'{"events": [', headers=auth)
    assert locs(response) == [["body"]]


# Metadata ---------------------------------------------------------------------------------

def test_each_invalid_metadata_value_is_rejected_at_its_key(client: TestClient,
                                                            auth: dict[str, str]) -> None:
    bad = {"empty": "", "long": "x" * 501, "nested": {"a": 1}, "null": None, "list": [1, 2]}
    response = ingest(client, auth, *(event(metadata={"ok": 1, key: value})
                                      for key, value in bad.items()))
    assert [(d["loc"], d["type"]) for d in detail(response)] == [
        (["body", "events", 0, "metadata", "empty"], "string_too_short"),
        (["body", "events", 1, "metadata", "long"], "string_too_long"),
        (["body", "events", 2, "metadata", "nested"], "metadata_value_type"),
        (["body", "events", 3, "metadata", "null"], "metadata_value_type"),
        (["body", "events", 4, "metadata", "list"], "metadata_value_type")]


def test_metadata_values_round_trip_with_their_types(client: TestClient,
                                                     auth: dict[str, str]) -> None:
    metadata = {"s": "x" * 500, "i": 7, "b": False, "d": Decimal("2.5")}
    ingest(client, auth, event(metadata=metadata))
    assert listed(client, auth)["items"][0]["metadata"] == metadata


def test_metadata_numbers_keep_every_digit(client: TestClient, auth: dict[str, str]) -> None:
    client.post(INGEST, content=b'{"events": [{"name": "a", "external_customer_id": "c", '
                                b'"metadata": {"x": 0.10000000000000000001, "t": 1.50, '
                                b'"big": 123456789012345678901234567890}}]}', headers=auth)
    response = client.get("/v1/events/", headers=auth)
    assert b'"x":0.10000000000000000001' in response.content
    assert b'"t":1.50' in response.content
    assert b'"big":123456789012345678901234567890' in response.content


def test_cost_amount_is_returned_as_a_string_with_every_digit(client: TestClient,
                                                              auth: dict[str, str]) -> None:
    amounts = ["12345.000000000001", "0.000000000001", Decimal("1.50"), 7]
    ingest(client, auth, *(event(timestamp=f"2026-01-01T00:00:0{i}Z",
                                 metadata={"_cost": {"amount": amount, "currency": "usd"}})
                           for i, amount in enumerate(amounts)))
    costs = [e["metadata"]["_cost"] for e in listed(client, auth, sorting="timestamp")["items"]]
    assert costs == [{"amount": text, "currency": "usd"}
                     for text in ("12345.000000000001", "0.000000000001", "1.50", "7")]


def test_cost_amount_with_13_decimal_places_is_rejected(client: TestClient,
                                                        auth: dict[str, str]) -> None:
    response = ingest(client, auth, event(metadata={"_cost": {"amount": "0.0000000000001",
                                                              "currency": "usd"}}))
    assert locs(response) == [["body", "events", 0, "metadata", "_cost", "amount"]]


def test_upper_case_usd_currency_is_accepted(client: TestClient, auth: dict[str, str]) -> None:
    ingest(client, auth, event(metadata={"_cost": {"amount": "1", "currency": "USD"}}))
    assert listed(client, auth)["items"][0]["metadata"]["_cost"] == {"amount": "1",
                                                                     "currency": "usd"}


def test_other_currency_is_rejected(client: TestClient, auth: dict[str, str]) -> None:
    response = ingest(client, auth, event(metadata={"_cost": {"amount": "1",
                                                              "currency": "eur"}}))
    assert locs(response) == [["body", "events", 0, "metadata", "_cost", "currency"]]


def test_llm_metadata_is_accepted_with_its_required_fields(client: TestClient,
                                                           auth: dict[str, str]) -> None:
    llm = {"vendor": "openai", "model": "gpt-5", "input_tokens": 10, "output_tokens": 5,
           "total_tokens": 15, "cached_input_tokens": 2, "prompt": "hi", "response": "yo"}
    ingest(client, auth, event(metadata={"_llm": llm}))
    assert listed(client, auth)["items"][0]["metadata"] == {"_llm": llm}


def test_llm_metadata_without_required_fields_is_rejected(client: TestClient,
                                                          auth: dict[str, str]) -> None:
    response = ingest(client, auth, event(metadata={"_llm": {"vendor": "openai",
                                                             "input_tokens": 1}}))
    assert locs(response) == [["body", "events", 0, "metadata", "_llm", field]
                              for field in ("model", "output_tokens", "total_tokens")]


def test_new_event_name_creates_its_event_type(client: TestClient, auth: dict[str, str]) -> None:
    ingest(client, auth, event("first.seen"), event("first.seen"))
    types = client.get("/v1/event-types/", headers=auth).json()["items"]
    assert [(t["name"], t["label"], t["occurrences"]) for t in types] == \
        [("first.seen", "first.seen", 2)]
