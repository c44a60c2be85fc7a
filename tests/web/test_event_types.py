"""/v1/event-types: automatic creation, statistics, relabelling, labels of listed events."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from tests.conftest import new_token
from web.bootstrap import Services


@pytest.fixture
def types(client: TestClient, auth: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Event types after three events of two names; by name."""
    response = client.post("/v1/events/ingest", json={"events": [
        {"name": "chat", "external_customer_id": "c", "timestamp": "2026-01-01T00:00:00Z",
         "metadata": {"topic": "billing"}},
        {"name": "chat", "external_customer_id": "c", "timestamp": "2026-01-03T00:00:00Z",
         "metadata": {"topic": "refunds"}},
        {"name": "upload", "external_customer_id": "c", "timestamp": "2026-01-02T00:00:00Z"},
    ]}, headers=auth)
    assert response.status_code == 200, response.text
    listed = client.get("/v1/event-types/", headers=auth).json()["items"]
    return {t["name"]: t for t in listed}


def patch(client: TestClient, auth: dict[str, str], type_id: str,
          body: dict[str, Any]) -> httpx.Response:
    return client.patch(f"/v1/event-types/{type_id}", json=body, headers=auth)


def labels(client: TestClient, auth: dict[str, str]) -> list[tuple[str, str]]:
    items = client.get("/v1/events/", params={"sorting": "timestamp"}, headers=auth).json()
    return [(e["name"], e["label"]) for e in items["items"]]


def test_first_event_of_a_name_creates_its_type_labelled_with_the_name(
        types: dict[str, dict[str, Any]]) -> None:
    assert {n: (t["label"], t["label_property_selector"], t["source"])
            for n, t in types.items()} == {"chat": ("chat", None, "user"),
                                           "upload": ("upload", None, "user")}


@pytest.mark.usefixtures("types")
def test_types_list_statistics_most_recently_seen_first(client: TestClient,
                                                        auth: dict[str, str]) -> None:
    listed = client.get("/v1/event-types/", headers=auth).json()
    assert [(t["name"], t["occurrences"], t["first_seen"], t["last_seen"])
            for t in listed["items"]] == [
        ("chat", 2, "2026-01-01T00:00:00+00:00", "2026-01-03T00:00:00+00:00"),
        ("upload", 1, "2026-01-02T00:00:00+00:00", "2026-01-02T00:00:00+00:00")]
    assert listed["pagination"] == {"total_count": 2, "max_page": 1}


def test_types_query_matches_name_or_label(client: TestClient, auth: dict[str, str],
                                           types: dict[str, dict[str, Any]]) -> None:
    patch(client, auth, types["upload"]["id"], {"label": "File Upload"})
    listed = client.get("/v1/event-types/", params={"query": "file"}, headers=auth).json()
    assert [t["name"] for t in listed["items"]] == ["upload"]


def test_patch_label_is_stripped_and_returned(client: TestClient, auth: dict[str, str],
                                              types: dict[str, dict[str, Any]]) -> None:
    response = patch(client, auth, types["chat"]["id"], {"label": "  Chat message  "})
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["name"], body["label"], body["label_property_selector"]) == (
        types["chat"]["id"], "chat", "Chat message", None)


def test_patched_label_is_the_label_of_listed_events(client: TestClient, auth: dict[str, str],
                                                     types: dict[str, dict[str, Any]]) -> None:
    patch(client, auth, types["chat"]["id"], {"label": "Chat message"})
    assert labels(client, auth) == [("chat", "Chat message"), ("upload", "upload"),
                                    ("chat", "Chat message")]


def test_label_property_selector_takes_the_label_from_metadata(
        client: TestClient, auth: dict[str, str], types: dict[str, dict[str, Any]]) -> None:
    patch(client, auth, types["chat"]["id"], {"label": "Chat",
                                              "label_property_selector": "metadata.topic"})
    assert labels(client, auth) == [("chat", "billing"), ("upload", "upload"),
                                    ("chat", "refunds")]


def test_label_property_selector_without_value_falls_back_to_the_label(
        client: TestClient, auth: dict[str, str], types: dict[str, dict[str, Any]]) -> None:
    patch(client, auth, types["upload"]["id"], {"label": "Upload",
                                                "label_property_selector": "topic"})
    assert labels(client, auth)[1] == ("upload", "Upload")


def test_relabel_shows_in_event_names(client: TestClient, auth: dict[str, str],
                                      types: dict[str, dict[str, Any]]) -> None:
    patch(client, auth, types["upload"]["id"], {"label": "Upload"})
    names = client.get("/v1/events/names", headers=auth).json()["items"]
    assert {n["name"]: n["label"] for n in names} == {"chat": "chat", "upload": "Upload"}


def test_label_outside_1_to_128_characters_once_stripped_is_rejected(
        client: TestClient, auth: dict[str, str], types: dict[str, dict[str, Any]]) -> None:
    answers = [patch(client, auth, types["chat"]["id"], {"label": label})
               for label in ("", "   ", "x" * 129)]
    assert [(r.status_code, [d["loc"] for d in r.json()["detail"]]) for r in answers] == \
        [(422, [["body", "label"]])] * 3


def test_label_of_128_characters_is_accepted(client: TestClient, auth: dict[str, str],
                                             types: dict[str, dict[str, Any]]) -> None:
    response = patch(client, auth, types["chat"]["id"], {"label": "x" * 128})
    assert response.json()["label"] == "x" * 128


def test_patch_unknown_type_is_404(client: TestClient, auth: dict[str, str]) -> None:
    response = patch(client, auth, "00000000-0000-4000-8000-000000000001", {"label": "x"})
    assert response.status_code == 404


def test_patch_type_of_another_organization_is_404(client: TestClient, services: Services,
                                                   types: dict[str, dict[str, Any]]) -> None:
    other = {"Authorization": f"Bearer {new_token(services, 'globex')}"}
    assert patch(client, other, types["chat"]["id"], {"label": "x"}).status_code == 404
    assert client.get("/v1/event-types/", headers=other).json()["items"] == []
