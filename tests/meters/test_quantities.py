"""GET /v1/meters/{id}/quantities: buckets, zones, customers, totals, exactness."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from starlette.testclient import TestClient

from tests.meters.helpers import create_meter, ingest, numbers, ok, quantities, send
from web.bootstrap import Services


def ai(at: str, customer: str = "c1", **metadata: Any) -> dict[str, Any]:
    return {"name": "ai", "external_customer_id": customer, "timestamp": at,
            "metadata": metadata}


def built(services: Services) -> None:
    """Let the projections and the meters' background builds finish."""
    services.runner.run_until_idle()


def test_sums_are_exact_decimals(client: TestClient, services: Services,
                                 auth: dict[str, str]) -> None:
    meter = create_meter(client, auth)
    ingest(client, auth, [ai("2026-01-01T10:00:00Z", tokens=Decimal("0.001"))
                          for _ in range(1000)])
    ingest(client, auth, [ai("2026-01-02T10:00:00Z", tokens=Decimal(v))
                          for v in ("0.1", "0.2", "1E-30")])
    built(services)
    response = send(client, auth, "GET", f"/v1/meters/{meter['id']}/quantities",
                    start_timestamp="2026-01-01T00:00:00Z",
                    end_timestamp="2026-01-02T00:00:00Z", interval="day")
    assert response.headers["Metering-Quantities-Source"] == "projection"
    text = response.text
    assert '"quantity":1}' in text
    assert '"quantity":0.300000000000000000000000000001}' in text
    assert '"total":1.300000000000000000000000000001}' in text


def test_every_bucket_appears_and_starts_in_the_requested_zone(
        client: TestClient, services: Services, auth: dict[str, str]) -> None:
    meter = create_meter(client, auth, aggregation={"func": "count"})
    ingest(client, auth, [ai("2026-01-03T23:30:00Z"), ai("2026-01-05T12:00:00Z")])
    built(services)
    data, source = quantities(client, auth, meter["id"], timezone="America/New_York",
                              start_timestamp="2026-01-02T12:00:00-05:00",
                              end_timestamp="2026-01-06T00:00:00-05:00")
    assert source == "projection"
    assert [q["timestamp"] for q in data["quantities"]] == [
        "2026-01-02T00:00:00-05:00", "2026-01-03T00:00:00-05:00",
        "2026-01-04T00:00:00-05:00", "2026-01-05T00:00:00-05:00",
        "2026-01-06T00:00:00-05:00"]
    assert numbers(data) == [0, 1, 0, 1, 0]
    assert data["total"] == 2


def test_dst_days_in_paris_last_23_and_25_hours(client: TestClient, services: Services,
                                                 auth: dict[str, str]) -> None:
    meter = create_meter(client, auth, aggregation={"func": "count"})
    ingest(client, auth, [
        ai("2026-03-28T23:30:00Z"),   # 29 March 00:30 (+01:00): the 23-hour day
        ai("2026-03-29T21:59:00Z"),   # 29 March 23:59 (+02:00)
        ai("2026-03-29T22:00:00Z"),   # 30 March 00:00 (+02:00)
        ai("2026-10-24T22:00:00Z"),   # 25 October 00:00 (+02:00): the 25-hour day
        ai("2026-10-25T22:59:00Z"),   # 25 October 23:59 (+01:00)
    ])
    built(services)
    days, _ = quantities(client, auth, meter["id"], timezone="Europe/Paris",
                         start_timestamp="2026-03-29T00:00:00+01:00",
                         end_timestamp="2026-03-30T00:00:00+02:00")
    assert [(q["timestamp"], q["quantity"]) for q in days["quantities"]] == [
        ("2026-03-29T00:00:00+01:00", 2), ("2026-03-30T00:00:00+02:00", 1)]
    spring, _ = quantities(client, auth, meter["id"], timezone="Europe/Paris", interval="hour",
                           start_timestamp="2026-03-29T00:00:00+01:00",
                           end_timestamp="2026-03-29T23:59:00+02:00")
    assert len(spring["quantities"]) == 23
    assert spring["quantities"][2]["timestamp"] == "2026-03-29T03:00:00+02:00"
    autumn, source = quantities(client, auth, meter["id"], timezone="Europe/Paris",
                                interval="hour", start_timestamp="2026-10-25T00:00:00+02:00",
                                end_timestamp="2026-10-25T23:59:00+01:00")
    assert source == "projection"
    stamps = [q["timestamp"] for q in autumn["quantities"]]
    assert len(stamps) == 25
    assert stamps[2:4] == ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00"]
    assert autumn["total"] == 2


def test_weeks_start_on_monday_and_months_on_the_first(
        client: TestClient, services: Services, auth: dict[str, str]) -> None:
    meter = create_meter(client, auth, aggregation={"func": "count"})
    ingest(client, auth, [ai("2026-01-04T12:00:00Z"), ai("2026-01-05T00:00:00Z")])
    built(services)
    weeks, _ = quantities(client, auth, meter["id"], interval="week",
                          start_timestamp="2026-01-01T00:00:00Z",
                          end_timestamp="2026-01-07T00:00:00Z")
    assert [(q["timestamp"], q["quantity"]) for q in weeks["quantities"]] == [
        ("2025-12-29T00:00:00+00:00", 1), ("2026-01-05T00:00:00+00:00", 1)]
    months, _ = quantities(client, auth, meter["id"], interval="month",
                           timezone="Asia/Kathmandu", start_timestamp="2026-01-15T00:00:00Z",
                           end_timestamp="2026-02-15T00:00:00Z")
    assert [q["timestamp"] for q in months["quantities"]] == [
        "2026-01-01T00:00:00+05:45", "2026-02-01T00:00:00+05:45"]
    assert numbers(months) == [2, 0]


def test_customer_ids_and_external_ids_name_the_same_customer(
        client: TestClient, services: Services, auth: dict[str, str]) -> None:
    ada = ok(send(client, auth, "POST", "/v1/customers/", {"email": "ada@example.com",
                                                           "external_id": "ada"}))
    meter = create_meter(client, auth)
    day = "2026-01-01T10:00:00Z"
    ingest(client, auth, [ai(day, "ada", tokens=1), ai(day, "bob", tokens=10),
                          {**ai(day, tokens=100), "external_customer_id": None,
                           "customer_id": ada["id"]}])
    built(services)
    window = {"start_timestamp": day, "end_timestamp": day}
    for who in ({"customer_id": ada["id"]}, {"external_customer_id": "ada"}):
        data, source = quantities(client, auth, meter["id"], **window, **who)
        assert (data["total"], source) == (101, "projection"), who
    both, _ = quantities(client, auth, meter["id"], **window,
                         external_customer_id=["ada", "bob"])
    assert both["total"] == 111
    nobody, _ = quantities(client, auth, meter["id"], **window, external_customer_id="zed")
    assert nobody["total"] == 0
    per_customer, _ = quantities(client, auth, meter["id"], **window,
                                 customer_aggregation_function="count")
    assert per_customer["total"] == 2  # ada (under both ids) and bob


def test_customer_aggregation_function_combines_per_customer_values(
        client: TestClient, services: Services, auth: dict[str, str]) -> None:
    meter = create_meter(client, auth, aggregation={"func": "max", "property": "tokens"})
    ingest(client, auth, [
        ai("2026-01-01T01:00:00Z", "a", tokens=5), ai("2026-01-01T02:00:00Z", "a", tokens=7),
        ai("2026-01-01T03:00:00Z", "b", tokens=3), ai("2026-01-02T01:00:00Z", "b", tokens=4),
    ])
    built(services)
    window = {"start_timestamp": "2026-01-01T00:00:00Z", "end_timestamp": "2026-01-02T00:00:00Z"}
    summed, _ = quantities(client, auth, meter["id"], **window,
                           customer_aggregation_function="sum")
    assert (numbers(summed), summed["total"]) == ([10, 4], 10)   # max meter: max of buckets
    averaged, _ = quantities(client, auth, meter["id"], **window,
                             customer_aggregation_function="avg")
    assert numbers(averaged) == [5, 4]
    plain, _ = quantities(client, auth, meter["id"], **window)
    assert (numbers(plain), plain["total"]) == ([7, 4], 7)


def test_totals_of_avg_and_unique_cover_the_whole_range(
        client: TestClient, services: Services, auth: dict[str, str]) -> None:
    avg = create_meter(client, auth, "avg", aggregation={"func": "avg", "property": "tokens"})
    unique = create_meter(client, auth, "users", aggregation={"func": "unique",
                                                              "property": "user"})
    low = create_meter(client, auth, "low", aggregation={"func": "min", "property": "tokens"})
    ingest(client, auth, [
        ai("2026-01-01T01:00:00Z", tokens=1, user="u1"),
        ai("2026-01-01T02:00:00Z", tokens=2, user="u2"),
        ai("2026-01-02T01:00:00Z", tokens=6, user="u1"),
        ai("2026-01-02T01:00:00Z", tokens=Decimal("-1.5"), user=1),
        ai("2026-01-02T01:00:00Z", tokens="many", user=Decimal("1.0")),
    ])
    built(services)
    window = {"start_timestamp": "2026-01-01T00:00:00Z", "end_timestamp": "2026-01-03T00:00:00Z"}
    data, _ = quantities(client, auth, avg["id"], **window)
    assert numbers(data) == [Decimal("1.5"), Decimal("2.25"), 0]
    assert data["total"] == Decimal("1.875")
    data, _ = quantities(client, auth, unique["id"], **window)
    assert (numbers(data), data["total"]) == ([2, 2, 0], 3)   # u1, u2, 1 (= 1.0)
    data, _ = quantities(client, auth, low["id"], **window)
    assert (numbers(data), data["total"]) == ([1, Decimal("-1.5"), 0], Decimal("-1.5"))
    assert ok(send(client, auth, "GET", f"/v1/meters/{avg['id']}"))["skipped_events"] == 1


def test_late_events_land_in_their_buckets(client: TestClient, services: Services,
                                           auth: dict[str, str]) -> None:
    meter = create_meter(client, auth)
    ingest(client, auth, [ai("2026-01-10T10:00:00Z", tokens=1)])
    built(services)
    ingest(client, auth, [ai("2025-12-31T23:59:59Z", tokens=2),
                          ai("2026-01-01T00:00:00Z", tokens=4)])
    data, source = quantities(client, auth, meter["id"], interval="year",
                              start_timestamp="2025-06-01T00:00:00Z",
                              end_timestamp="2026-06-01T00:00:00Z")
    assert (numbers(data), source) == ([2, 5], "projection")


def test_metadata_filter_is_answered_from_the_events(client: TestClient, services: Services,
                                                     auth: dict[str, str]) -> None:
    meter = create_meter(client, auth)
    ingest(client, auth, [ai("2026-01-01T10:00:00Z", tokens=1, model="gpt"),
                          ai("2026-01-01T11:00:00Z", tokens=Decimal("0.5"), model="claude"),
                          ai("2026-01-01T12:00:00Z", tokens=4, model="llama")])
    built(services)
    data, source = quantities(client, auth, meter["id"], start_timestamp="2026-01-01T00:00:00Z",
                              end_timestamp="2026-01-01T00:00:00Z",
                              **{"metadata[model]": ["gpt", "claude"]})
    assert (data["total"], source) == (Decimal("1.5"), "events")


def test_new_meter_answers_from_the_events_until_its_first_build_is_live(
        client: TestClient, services: Services, auth: dict[str, str]) -> None:
    ingest(client, auth, [ai("2026-01-01T10:00:00Z", tokens=3)])
    jobs, services.runner.jobs = services.runner.jobs, []   # hold the background builds
    meter = create_meter(client, auth)
    assert meter["rebuild"]["state"] == "rebuilding"
    assert meter["rebuild"]["serving_definition_version"] is None
    window = {"start_timestamp": "2026-01-01T00:00:00Z", "end_timestamp": "2026-01-01T00:00:00Z"}
    data, source = quantities(client, auth, meter["id"], **window)
    assert (data["total"], source) == (3, "events")
    services.runner.jobs = jobs
    built(services)
    data, source = quantities(client, auth, meter["id"], **window)
    assert (data["total"], source) == (3, "projection")
    rebuild = ok(send(client, auth, "GET", f"/v1/meters/{meter['id']}"))["rebuild"]
    assert rebuild["state"] == "idle" and rebuild["serving_definition_version"] == 1
    assert datetime.fromisoformat(rebuild["finished_at"])


def test_filters_compare_like_polar(client: TestClient, services: Services,
                                    auth: dict[str, str]) -> None:
    meter = create_meter(client, auth, aggregation={"func": "count"}, filter={
        "conjunction": "and", "clauses": [
            {"property": "name", "operator": "like", "value": "a"},
            {"property": "tier", "operator": "ne", "value": "free"},
            {"conjunction": "or", "clauses": [
                {"property": "_cost.amount", "operator": "gte", "value": Decimal("0.5")},
                {"property": "timestamp", "operator": "lt", "value": 1767225600}]}]})
    day = "2026-01-01T10:00:00Z"
    ingest(client, auth, [
        ai(day, tier="pro", _cost={"amount": Decimal("0.5"), "currency": "usd"}),   # counted
        ai(day, tier="free", _cost={"amount": Decimal(2), "currency": "usd"}),      # free
        ai(day, _cost={"amount": Decimal(2), "currency": "usd"}),                   # no tier
        ai(day, tier="pro", _cost={"amount": Decimal("0.4"), "currency": "usd"}),   # too cheap
        ai("2025-12-31T23:00:00Z", tier="team"),                                    # early
        ai("2025-12-31T23:00:00Z", tier=1),                        # a number is not text
        {**ai(day, tier="pro"), "name": "AI"},                                      # case
    ])
    built(services)
    data, _ = quantities(client, auth, meter["id"], start_timestamp="2025-12-31T00:00:00Z",
                         end_timestamp="2026-01-01T00:00:00Z")
    assert numbers(data) == [1, 1]
