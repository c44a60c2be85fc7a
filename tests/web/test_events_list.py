"""GET /v1/events/, /v1/events/{id} and /v1/events/names: filters, sorting, pagination."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from domain import ids
from domain.usage import SYSTEM, UsageRecorded
from domain.values import dumps, loads
from tests.conftest import new_token
from web.bootstrap import Services

SEED = [
    {"name": "api.call", "external_id": "e1", "external_customer_id": "ada",
     "timestamp": "2026-01-01T00:00:00Z", "metadata": {"region": "eu", "tier": "pro", "n": 1}},
    {"name": "api.call", "external_id": "e2", "customer": "ada",
     "timestamp": "2026-01-01T01:00:00Z", "metadata": {"region": "us", "tier": "pro"}},
    {"name": "llm.call", "external_id": "e3", "external_customer_id": "bob",
     "timestamp": "2026-01-01T02:00:00Z",
     "metadata": {"region": "eu", "tier": "free", "model": "gpt-5"}},
    {"name": "upload", "external_id": "e4", "external_customer_id": "bob",
     "timestamp": "2026-01-01T03:00:00Z", "metadata": {"n": 2}},
]


@pytest.fixture
def ada(client: TestClient, auth: dict[str, str]) -> dict[str, Any]:
    """A customer, and the seed events: two of hers (one under each reference), two of bob's."""
    response = client.post("/v1/customers/", json={"email": "ada@example.com",
                                                   "external_id": "ada", "name": "Ada"},
                           headers=auth)
    customer: dict[str, Any] = response.json()
    events = []
    for seed in SEED:
        item = {k: v for k, v in seed.items() if k != "customer"}
        if seed.get("customer") == "ada":
            item["customer_id"] = customer["id"]
        events.append(item)
    ingest(client, auth, events)
    return customer


def ingest(client: TestClient, auth: dict[str, str], events: list[dict[str, Any]]) -> None:
    response = client.post("/v1/events/ingest", content=dumps({"events": events}),
                           headers=auth)
    assert response.status_code == 200, response.text


def get(client: TestClient, auth: dict[str, str], path: str = "/v1/events/",
        **params: Any) -> Any:
    response = client.get(path, params=params, headers=auth)
    assert response.status_code == 200, response.text
    return loads(response.content)


def keys(client: TestClient, auth: dict[str, str], **params: Any) -> list[str]:
    """External ids of the listed events, oldest first unless sorting says otherwise."""
    params.setdefault("sorting", "timestamp")
    params.setdefault("limit", 100)
    return [e["external_id"] for e in get(client, auth, **params)["items"]]


# Customer references ----------------------------------------------------------------------

@pytest.mark.usefixtures("ada")
def test_default_sorting_is_newest_first(client: TestClient, auth: dict[str, str]) -> None:
    assert [e["external_id"] for e in get(client, auth)["items"]] == ["e4", "e3", "e2", "e1"]


def test_customer_id_filter_matches_events_sent_under_its_external_id(
        client: TestClient, auth: dict[str, str], ada: dict[str, Any]) -> None:
    assert keys(client, auth, customer_id=ada["id"]) == ["e1", "e2"]


@pytest.mark.usefixtures("ada")
def test_external_customer_id_filter_matches_events_sent_under_the_customer_id(
        client: TestClient, auth: dict[str, str]) -> None:
    assert keys(client, auth, external_customer_id="ada") == ["e1", "e2"]


@pytest.mark.usefixtures("ada")
def test_external_customer_id_filter_works_without_a_customer(client: TestClient,
                                                              auth: dict[str, str]) -> None:
    assert keys(client, auth, external_customer_id="bob") == ["e3", "e4"]


def test_customer_filters_are_or_within_and_across(client: TestClient, auth: dict[str, str],
                                                   ada: dict[str, Any]) -> None:
    assert keys(client, auth, customer_id=ada["id"], external_customer_id="bob") == \
        ["e1", "e2", "e3", "e4"]


def test_listed_event_carries_its_resolved_customer(client: TestClient, auth: dict[str, str],
                                                    ada: dict[str, Any]) -> None:
    first = get(client, auth, sorting="timestamp")["items"][0]
    assert (first["customer_id"], first["customer"]["id"], first["customer"]["email"],
            first["external_customer_id"]) == (ada["id"], ada["id"], "ada@example.com", "ada")


@pytest.mark.usefixtures("ada")
def test_event_of_an_unknown_external_customer_has_no_customer(client: TestClient,
                                                               auth: dict[str, str]) -> None:
    last = get(client, auth)["items"][0]
    assert (last["customer_id"], last["customer"], last["external_customer_id"]) == \
        (None, None, "bob")


# Name, source, time -----------------------------------------------------------------------

@pytest.mark.usefixtures("ada")
def test_name_filter_is_repeatable_and_ored(client: TestClient, auth: dict[str, str]) -> None:
    assert keys(client, auth, name=["llm.call", "upload"]) == ["e3", "e4"]


@pytest.mark.usefixtures("ada")
def test_source_filter_separates_system_from_user_events(client: TestClient,
                                                         auth: dict[str, str],
                                                         services: Services) -> None:
    services.ledger.record(UsageRecorded(
        originator_id=ids.new_id(), originator_version=1, timestamp=datetime.now(UTC),
        organization_id=ids.organization_id("acme"), name="meter.reset",
        occurred_at=datetime(2026, 1, 2, tzinfo=UTC), source=SYSTEM, customer_id=None,
        external_customer_id="bob", member_id=None, external_member_id=None,
        external_id="s1", parent_ref=None, metadata={}, fingerprint=""))
    assert (keys(client, auth, source="system"), keys(client, auth, source="user"),
            keys(client, auth, source=["user", "system"])) == \
        (["s1"], ["e1", "e2", "e3", "e4"], ["e1", "e2", "e3", "e4", "s1"])


@pytest.mark.usefixtures("ada")
def test_start_and_end_timestamps_are_exclusive(client: TestClient,
                                                auth: dict[str, str]) -> None:
    assert keys(client, auth, start_timestamp="2026-01-01T00:00:00Z",
                end_timestamp="2026-01-01T03:00:00Z") == ["e2", "e3"]


@pytest.mark.usefixtures("ada")
def test_timestamp_bounds_honour_their_offset(client: TestClient, auth: dict[str, str]) -> None:
    assert keys(client, auth, start_timestamp="2026-01-01T02:30:00+01:00") == ["e3", "e4"]


# Metadata, filter, query ------------------------------------------------------------------

@pytest.mark.usefixtures("ada")
def test_metadata_filter_matches_a_value(client: TestClient, auth: dict[str, str]) -> None:
    assert keys(client, auth, **{"metadata[region]": "eu"}) == ["e1", "e3"]


@pytest.mark.usefixtures("ada")
def test_metadata_filter_values_of_one_key_are_ored(client: TestClient,
                                                    auth: dict[str, str]) -> None:
    assert keys(client, auth, **{"metadata[tier]": ["free", "pro"]}) == ["e1", "e2", "e3"]


@pytest.mark.usefixtures("ada")
def test_metadata_filters_of_different_keys_are_anded(client: TestClient,
                                                      auth: dict[str, str]) -> None:
    assert keys(client, auth, **{"metadata[region]": "eu", "metadata[tier]": "pro"}) == ["e1"]


@pytest.mark.usefixtures("ada")
def test_metadata_filter_compares_numbers_as_text(client: TestClient,
                                                  auth: dict[str, str]) -> None:
    assert keys(client, auth, **{"metadata[n]": "2"}) == ["e4"]


@pytest.mark.usefixtures("ada")
def test_filter_with_eq_on_name(client: TestClient, auth: dict[str, str]) -> None:
    spec = {"conjunction": "and", "clauses": [
        {"property": "name", "operator": "eq", "value": "api.call"}]}
    assert keys(client, auth, filter=json.dumps(spec)) == ["e1", "e2"]


@pytest.mark.usefixtures("ada")
def test_filter_with_eq_on_metadata(client: TestClient, auth: dict[str, str]) -> None:
    spec = {"conjunction": "and", "clauses": [
        {"property": "region", "operator": "eq", "value": "eu"},
        {"property": "tier", "operator": "eq", "value": "free"}]}
    assert keys(client, auth, filter=json.dumps(spec)) == ["e3"]


@pytest.mark.usefixtures("ada")
def test_filter_with_eq_on_a_metadata_number(client: TestClient, auth: dict[str, str]) -> None:
    spec = {"conjunction": "and", "clauses": [
        {"property": "n", "operator": "eq", "value": 1}]}
    assert keys(client, auth, filter=json.dumps(spec)) == ["e1"]


def test_filter_that_is_not_json_is_rejected(client: TestClient, auth: dict[str, str]) -> None:
    response = client.get("/v1/events/", params={"filter": "{nope"}, headers=auth)
    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["detail"]] == [["query", "filter"]]


@pytest.mark.usefixtures("ada")
def test_query_searches_event_names(client: TestClient, auth: dict[str, str]) -> None:
    assert keys(client, auth, query="LLM") == ["e3"]


@pytest.mark.usefixtures("ada")
def test_query_searches_metadata(client: TestClient, auth: dict[str, str]) -> None:
    assert keys(client, auth, query="gpt-5") == ["e3"]


@pytest.mark.usefixtures("ada")
def test_query_searches_customers(client: TestClient, auth: dict[str, str]) -> None:
    assert keys(client, auth, query="ada@example") == ["e1", "e2"]


# Hierarchy --------------------------------------------------------------------------------

@pytest.fixture
def tree(client: TestClient, auth: dict[str, str]) -> dict[str, str]:
    """root -> (a -> a1, b): event ids by external id."""
    ingest(client, auth, [
        {"name": "n", "external_customer_id": "c", "external_id": x, "parent_id": p,
         "timestamp": f"2026-01-01T00:00:0{i}Z"}
        for i, (x, p) in enumerate([("root", None), ("a", "root"), ("a1", "a"),
                                    ("b", "root"), ("lone", None)])])
    items = get(client, auth, limit=100)["items"]
    return {e["external_id"]: e["id"] for e in items}


def test_parent_id_lists_direct_children(client: TestClient, auth: dict[str, str],
                                         tree: dict[str, str]) -> None:
    assert keys(client, auth, parent_id=tree["root"]) == ["a", "b"]


def test_parent_id_with_depth_lists_descendants_down_to_that_level(
        client: TestClient, auth: dict[str, str], tree: dict[str, str]) -> None:
    assert keys(client, auth, parent_id=tree["root"], depth=2) == ["a", "a1", "b"]


@pytest.mark.usefixtures("tree")
def test_depth_zero_lists_only_roots(client: TestClient, auth: dict[str, str]) -> None:
    assert keys(client, auth, depth=0) == ["root", "lone"]


@pytest.mark.usefixtures("tree")
def test_depth_one_lists_roots_and_their_children(client: TestClient,
                                                  auth: dict[str, str]) -> None:
    assert keys(client, auth, depth=1) == ["root", "a", "b", "lone"]


def test_child_count_and_parent_id_describe_the_tree(client: TestClient, auth: dict[str, str],
                                                     tree: dict[str, str]) -> None:
    items = get(client, auth, sorting="timestamp")["items"]
    assert [(e["external_id"], e["parent_id"], e["child_count"]) for e in items] == [
        ("root", None, 2), ("a", tree["root"], 1), ("a1", tree["a"], 0),
        ("b", tree["root"], 0), ("lone", None, 0)]


# Sorting and pagination -------------------------------------------------------------------

@pytest.mark.usefixtures("ada")
def test_sorting_by_timestamp_lists_oldest_first(client: TestClient,
                                                 auth: dict[str, str]) -> None:
    assert keys(client, auth, sorting="timestamp") == ["e1", "e2", "e3", "e4"]


@pytest.mark.usefixtures("ada")
def test_pages_split_the_list_and_report_totals(client: TestClient,
                                                auth: dict[str, str]) -> None:
    first = get(client, auth, sorting="timestamp", limit=3, page=1)
    second = get(client, auth, sorting="timestamp", limit=3, page=2)
    assert [e["external_id"] for e in first["items"]] == ["e1", "e2", "e3"]
    assert [e["external_id"] for e in second["items"]] == ["e4"]
    assert first["pagination"] == second["pagination"] == {"total_count": 4, "max_page": 2}


@pytest.mark.usefixtures("ada")
def test_page_beyond_the_last_is_empty(client: TestClient, auth: dict[str, str]) -> None:
    page = get(client, auth, limit=10, page=2)
    assert page == {"items": [], "pagination": {"total_count": 4, "max_page": 1}}


def test_empty_list_has_no_pages(client: TestClient, auth: dict[str, str]) -> None:
    assert get(client, auth) == {"items": [], "pagination": {"total_count": 0, "max_page": 0}}


def test_limit_over_100_is_rejected(client: TestClient, auth: dict[str, str]) -> None:
    response = client.get("/v1/events/", params={"limit": 101}, headers=auth)
    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["detail"]] == [["query", "limit"]]


def test_page_zero_is_rejected(client: TestClient, auth: dict[str, str]) -> None:
    response = client.get("/v1/events/", params={"page": 0}, headers=auth)
    assert [d["loc"] for d in response.json()["detail"]] == [["query", "page"]]


def test_unknown_sorting_is_rejected(client: TestClient, auth: dict[str, str]) -> None:
    response = client.get("/v1/events/", params={"sorting": "name"}, headers=auth)
    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["detail"]] == [["query", "sorting", 0]]


# One event --------------------------------------------------------------------------------

@pytest.mark.usefixtures("ada")
def test_get_event_returns_the_listed_event(client: TestClient, auth: dict[str, str]) -> None:
    listed = get(client, auth)["items"]
    assert [get(client, auth, f"/v1/events/{e['id']}") for e in listed] == listed


def test_get_unknown_event_is_404(client: TestClient, auth: dict[str, str]) -> None:
    response = client.get("/v1/events/00000000-0000-4000-8000-000000000001", headers=auth)
    assert response.status_code == 404


def test_get_event_with_a_non_uuid_id_is_404(client: TestClient, auth: dict[str, str]) -> None:
    assert client.get("/v1/events/not-a-uuid", headers=auth).status_code == 404


def test_get_event_of_another_organization_is_404(client: TestClient, auth: dict[str, str],
                                                  services: Services) -> None:
    other = {"Authorization": f"Bearer {new_token(services, 'globex')}"}
    ingest(client, other, [{"name": "secret", "external_customer_id": "x"}])
    event_id = get(client, other)["items"][0]["id"]
    assert client.get(f"/v1/events/{event_id}", headers=auth).status_code == 404


# Names ------------------------------------------------------------------------------------

@pytest.mark.usefixtures("ada")
def test_names_list_occurrences_and_first_and_last_seen(client: TestClient,
                                                        auth: dict[str, str]) -> None:
    names = get(client, auth, "/v1/events/names")
    assert names == {"items": [
        {"name": "upload", "label": "upload", "source": "user", "occurrences": 1,
         "first_seen": "2026-01-01T03:00:00+00:00", "last_seen": "2026-01-01T03:00:00+00:00"},
        {"name": "llm.call", "label": "llm.call", "source": "user", "occurrences": 1,
         "first_seen": "2026-01-01T02:00:00+00:00", "last_seen": "2026-01-01T02:00:00+00:00"},
        {"name": "api.call", "label": "api.call", "source": "user", "occurrences": 2,
         "first_seen": "2026-01-01T00:00:00+00:00", "last_seen": "2026-01-01T01:00:00+00:00"},
    ], "pagination": {"total_count": 3, "max_page": 1}}


def test_names_filtered_by_customer_count_only_their_events(client: TestClient,
                                                            auth: dict[str, str],
                                                            ada: dict[str, Any]) -> None:
    names = get(client, auth, "/v1/events/names", customer_id=ada["id"])["items"]
    assert [(n["name"], n["occurrences"]) for n in names] == [("api.call", 2)]


@pytest.mark.usefixtures("ada")
def test_names_query_matches_part_of_the_name(client: TestClient, auth: dict[str, str]) -> None:
    names = get(client, auth, "/v1/events/names", query="call", sorting="name")["items"]
    assert [n["name"] for n in names] == ["api.call", "llm.call"]
