"""Spans: a start event and an end event, in either order, give a duration that rolls up and
can be metered."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from starlette.testclient import TestClient

from tests.hierarchy.tree_helpers import by_external_id, event, ingest, locs, ok, total

T0 = "2026-03-01T10:00:00Z"


def start(external_id: str, span: str, timestamp: str, parent: str | None = None,
          **fields: Any) -> dict[str, Any]:
    return event(external_id, parent, name="job", span={"id": span, "action": "start"},
                 timestamp=timestamp, **fields)


def end(external_id: str, span: str, timestamp: str, parent: str | None = None,
        **fields: Any) -> dict[str, Any]:
    return event(external_id, parent, name="job.done", span={"id": span, "action": "end"},
                 timestamp=timestamp, **fields)


def span(client: TestClient, auth: dict[str, str], span_id: str) -> dict[str, Any]:
    return ok(client.get(f"/v1/events/spans/{span_id}", headers=auth))  # type: ignore[no-any-return]


def test_a_span_closed_before_it_was_opened_has_its_duration(client: TestClient,
                                                             auth: dict[str, str]) -> None:
    ok(ingest(client, auth, end("e", "job-1", "2026-03-01T10:00:02.250Z")))
    assert span(client, auth, "job-1")["state"] == "open"
    ok(ingest(client, auth, start("s", "job-1", T0)))
    found = span(client, auth, "job-1")
    events = by_external_id(client, auth)
    assert (found["state"], Decimal(found["duration_ms"]), found["start_event_id"],
            found["end_event_id"]) == ("closed", Decimal(2250), events["s"]["id"],
                                       events["e"]["id"])
    # The event recorded second carries the duration, once.
    assert events["s"]["metadata"] == {"_span_duration_ms": Decimal("2250.000")}
    assert events["e"]["metadata"] == {}
    assert events["s"]["span"]["action"] == "start"
    assert events["e"]["span"]["state"] == "closed"


def test_a_span_never_closed_stays_open_without_duration(client: TestClient,
                                                         auth: dict[str, str]) -> None:
    ok(ingest(client, auth, start("s", "job-1", T0)))
    found = span(client, auth, "job-1")
    assert (found["state"], found["ended_at"], found["duration_ms"]) == ("open", None, None)
    listed = ok(client.get("/v1/events/spans/", params={"state": "open"}, headers=auth))
    assert [s["id"] for s in listed["items"]] == ["job-1"]
    assert ok(client.get("/v1/events/spans/", params={"state": "closed"},
                         headers=auth))["items"] == []


def test_spans_are_found_by_id_even_with_a_slash(client: TestClient,
                                                 auth: dict[str, str]) -> None:
    ok(ingest(client, auth, start("s", "run/1", T0), start("t", "run/2", T0)))
    listed = ok(client.get("/v1/events/spans/", params={"id": "run/1"}, headers=auth))
    assert [s["id"] for s in listed["items"]] == ["run/1"]
    assert client.get("/v1/events/spans/nope", headers=auth).status_code == 404


def test_start_and_end_in_one_batch_close_the_span(client: TestClient,
                                                   auth: dict[str, str]) -> None:
    ok(ingest(client, auth, start("s", "j", T0), end("e", "j", "2026-03-01T10:00:01Z")))
    assert by_external_id(client, auth)["e"]["metadata"] == {
        "_span_duration_ms": Decimal("1000.000")}


def test_children_recorded_inside_a_span_are_counted(client: TestClient,
                                                     auth: dict[str, str]) -> None:
    ok(ingest(client, auth, start("s", "j", T0), event("c1", "s"), event("c2", "s"),
              event("gc", "c1")))
    assert (span(client, auth, "j")["child_count"], span(client, auth, "j")["descendant_count"]) \
        == (2, 3)


def test_span_durations_roll_up_through_the_tree(client: TestClient,
                                                 auth: dict[str, str]) -> None:
    ok(ingest(client, auth, event("run"),
              start("s1", "a", T0, "run"), end("e1", "a", "2026-03-01T10:00:00.5Z", "s1"),
              end("e2", "b", "2026-03-01T10:00:03Z", "run"), start("s2", "b", T0, "run")))
    run = by_external_id(client, auth, aggregate_fields="_span_duration_ms")["run"]
    assert run["metadata"] == {"_span_duration_ms": Decimal("3500.000")}


def test_a_second_start_for_a_span_is_rejected(client: TestClient, auth: dict[str, str]) -> None:
    ok(ingest(client, auth, start("s", "j", T0)))
    response = ingest(client, auth, event("ok"), start("s2", "j", T0))
    assert locs(response) == [["body", "events", 1, "span"]]
    assert total(client, auth) == 1


def test_a_span_cannot_end_before_it_starts(client: TestClient, auth: dict[str, str]) -> None:
    ok(ingest(client, auth, end("e", "j", T0)))
    assert locs(ingest(client, auth, start("s", "j", "2026-03-01T10:00:01Z"))) == [
        ["body", "events", 0, "timestamp"]]


def test_a_malformed_span_is_rejected(client: TestClient, auth: dict[str, str]) -> None:
    response = ingest(client, auth, event("a", span={"id": "", "action": "stop", "x": 1}))
    assert locs(response) == [["body", "events", 0, "span", "id"],
                              ["body", "events", 0, "span", "action"],
                              ["body", "events", 0, "span", "x"]]


def test_the_duration_key_is_reserved(client: TestClient, auth: dict[str, str]) -> None:
    response = ingest(client, auth, event("a", metadata={"_span_duration_ms": 5}))
    assert locs(response) == [["body", "events", 0, "metadata", "_span_duration_ms"]]


def test_resending_a_span_event_is_a_duplicate(client: TestClient, auth: dict[str, str]) -> None:
    ok(ingest(client, auth, start("s", "j", T0)))
    assert ok(ingest(client, auth, start("s", "j", T0)))["duplicates"] == 1


def test_a_meter_sums_span_durations_per_customer(client: TestClient,
                                                  auth: dict[str, str]) -> None:
    response = client.post("/v1/meters/", headers=auth, json={
        "name": "compute", "filter": {"conjunction": "and", "clauses": []},
        "aggregation": {"func": "sum", "property": "_span_duration_ms"}})
    assert response.status_code == 201, response.text
    meter = response.json()
    ok(ingest(client, auth, start("s1", "a", T0), end("e1", "a", "2026-03-01T10:00:01.5Z"),
              end("e2", "b", "2026-03-01T10:00:02Z"), start("s2", "b", T0),
              start("s3", "c", T0)))
    quantities = ok(client.get(f"/v1/meters/{meter['id']}/quantities", headers=auth, params={
        "start_timestamp": "2026-03-01T00:00:00Z", "end_timestamp": "2026-03-02T00:00:00Z",
        "interval": "day", "external_customer_id": "cust-1"}))
    assert Decimal(str(quantities["total"])) == Decimal(3500)
