"""/quantities equals a brute-force recomputation from the raw events, for random events
(late ones included), meters, definition changes, zones, intervals and customer selections."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from domain.aggregation import (
    Aggregation,
    AggregationFunction,
    Partial,
    aggregate,
    canonical_value,
    merge_all,
    parse_aggregation,
    value,
)
from domain.calendar import TimeInterval, bucket_ranges
from domain.meter_filter import parse_filter
from domain.quantities import Metered
from tests.conftest import new_token
from tests.meters.helpers import create_meter, ingest, ok, quantities, send
from web.bootstrap import Services

F = AggregationFunction
ORIGIN = datetime(2025, 10, 20, tzinfo=UTC)   # two DST changes within the events' 200 days
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu",
         "Australia/Lord_Howe", "America/St_Johns"]
SPANS = {"hour": timedelta(days=3), "day": timedelta(days=45), "week": timedelta(days=120),
         "month": timedelta(days=400), "year": timedelta(days=800)}
CUSTOMERS = 4
"""0 and 1 are one customer (sending under its id, then its external id), 2 is only an
external id, 3 a customer without external id."""

numbers = st.one_of(st.integers(-50, 1000),
                    st.decimals(-100, 100, places=6, allow_nan=False, allow_infinity=False))
metadata = st.fixed_dictionaries({}, optional={
    "tokens": st.one_of(numbers, st.just("12"), st.booleans()),
    "model": st.sampled_from(["gpt-4", "gpt-3.5", "claude"]),
    "user": st.one_of(st.sampled_from(["u1", "u2", "u3"]), st.integers(0, 2),
                      st.just(Decimal("1.0"))),
})
events = st.lists(st.tuples(st.integers(0, CUSTOMERS - 1),
                            st.integers(0, 200 * 24 * 3600),
                            st.sampled_from(["ai", "api", "other"]), metadata), max_size=30)
clauses = st.sampled_from([
    {"property": "name", "operator": "eq", "value": "ai"},
    {"property": "name", "operator": "like", "value": "a"},
    {"property": "model", "operator": "not_like", "value": "gpt"},
    {"property": "tokens", "operator": "gt", "value": 10},
    {"property": "tokens", "operator": "lte", "value": Decimal("0.5")},
    {"property": "user", "operator": "ne", "value": "u1"},
    {"property": "timestamp", "operator": "gte", "value": 1764547200},
])
filters = st.builds(lambda conj, cs: {"conjunction": conj, "clauses": cs},
                    st.sampled_from(["and", "or"]),
                    st.lists(st.one_of(clauses, st.builds(
                        lambda cs: {"conjunction": "or", "clauses": cs},
                        st.lists(clauses, max_size=2))), max_size=2))
aggregations = st.one_of(
    st.just({"func": "count"}),
    st.builds(lambda f: {"func": f, "property": "tokens"},
              st.sampled_from(["sum", "max", "min", "avg"])),
    st.just({"func": "unique", "property": "user"}))


@dataclass(frozen=True)
class Query:
    zone: str
    interval: str
    start: datetime
    end: datetime
    customers: tuple[int, ...]
    customer_function: str | None


queries = st.builds(
    lambda zone, interval, start, fraction, customers, function: Query(
        zone, interval, ORIGIN + timedelta(minutes=start),
        ORIGIN + timedelta(minutes=start) + SPANS[interval] * fraction, customers, function),
    st.sampled_from(ZONES), st.sampled_from(list(SPANS)), st.integers(-3000, 200 * 24 * 60),
    st.floats(0, 1), st.sampled_from([(), (0,), (1,), (2,), (1, 2, 3)]),
    st.one_of(st.none(), st.sampled_from([f.value for f in F])))


@dataclass(frozen=True)
class Sent:
    """An event as the brute force sees it."""

    customer: int
    at: datetime
    view: Metered


def _send(raw: tuple[int, int, str, dict[str, Any]], people: list[dict[str, Any]]
          ) -> tuple[dict[str, Any], Sent]:
    customer, seconds, name, meta = raw
    at = ORIGIN + timedelta(seconds=seconds)
    who = ({"customer_id": people[0]["id"]}, {"external_customer_id": "ext-0"},
           {"external_customer_id": "ext-2"}, {"customer_id": people[1]["id"]})[customer]
    return ({"name": name, "timestamp": at.isoformat(), "metadata": meta, **who},
            Sent(0 if customer == 1 else customer, at, Metered(name, "user", at, meta)))


def _combine(function: str, values: list[Decimal]) -> Decimal:
    partial = merge_all(Partial(count=1, sum=v, min=v, max=v,
                                distinct=frozenset({str(canonical_value(v))})) for v in values)
    return value(Aggregation(F(function), None if function == "count" else "q"), partial)


def brute_force(sent: list[Sent], flt: dict[str, Any], agg: dict[str, Any],
                q: Query) -> tuple[list[tuple[datetime, Decimal]], Decimal]:
    """The answer recomputed from the events alone, following the documented rules."""
    matching = parse_filter(flt)
    aggregation = parse_aggregation(agg)
    chosen = [s for s in sent if matching.matches(s.view)
              and (not q.customers or s.customer in {0 if c == 1 else c for c in q.customers})]
    ranges = bucket_ranges(q.start, q.end, TimeInterval(q.interval), ZoneInfo(q.zone),
                           inclusive_end=True)
    rows = []
    present = []
    for start, end in ranges:
        inside = [s for s in chosen if start <= s.at < end]
        if q.customer_function is None:
            whole = aggregate(aggregation, [s.view for s in inside])
            quantity, has = value(aggregation, whole), not whole.is_empty
        else:
            per = [aggregate(aggregation, [s.view for s in inside if s.customer == c])
                   for c in range(CUSTOMERS)]
            values = [value(aggregation, p) for p in per if not p.is_empty]
            quantity, has = _combine(q.customer_function, values), bool(values)
        rows.append((start, quantity))
        if has:
            present.append(quantity)
    first, last = ranges[0][0], ranges[-1][1]
    in_range = [s for s in chosen if first <= s.at < last]
    if q.customer_function is None:
        total = value(aggregation, aggregate(aggregation, [s.view for s in in_range]))
    elif aggregation.func in (F.count, F.sum):
        total = _combine("sum", [r[1] for r in rows])
    elif aggregation.func in (F.max, F.min):
        total = _combine(aggregation.func.value, present)
    else:
        per = [aggregate(aggregation, [s.view for s in in_range if s.customer == c])
               for c in range(CUSTOMERS)]
        total = _combine(q.customer_function,
                         [value(aggregation, p) for p in per if not p.is_empty])
    return rows, total


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(early=events, late=events, flt=filters, agg=aggregations,
       redefined=st.one_of(st.none(), st.tuples(filters, aggregations)),
       asked=st.lists(queries, min_size=1, max_size=3), by_metadata=st.booleans())
def test_quantities_equal_a_brute_force_recomputation(
        client: TestClient, services: Services, early: list[Any], late: list[Any],
        flt: dict[str, Any], agg: dict[str, Any],
        redefined: tuple[dict[str, Any], dict[str, Any]] | None, asked: list[Query],
        by_metadata: bool) -> None:
    auth = {"Authorization": f"Bearer {new_token(services, f'org-{uuid.uuid4()}')}"}
    people = [ok(send(client, auth, "POST", "/v1/customers/",
                      {"email": "zero@example.com", "external_id": "ext-0"})),
              ok(send(client, auth, "POST", "/v1/customers/", {"email": "three@example.com"}))]
    meter = create_meter(client, auth, filter=flt, aggregation=agg)
    first = [_send(e, people) for e in early]
    second = [_send(e, people) for e in late]
    if first:
        ingest(client, auth, [body for body, _ in first])
    services.runner.run_until_idle()
    if redefined is not None:
        flt, agg = redefined
        ok(send(client, auth, "PATCH", f"/v1/meters/{meter['id']}",
                {"filter": flt, "aggregation": agg}))
    if second:   # late: timestamps anywhere in the past, after the builds went live
        ingest(client, auth, [body for body, _ in second])
    services.runner.run_until_idle()
    sent = [s for _, s in first + second]
    for q in asked:
        params: dict[str, Any] = {
            "start_timestamp": q.start.isoformat(), "end_timestamp": q.end.isoformat(),
            "interval": q.interval, "timezone": q.zone,
            "customer_id": [people[0]["id"]] if 0 in q.customers else [],
            "external_customer_id": [{1: "ext-0", 2: "ext-2"}[c] for c in q.customers
                                     if c in (1, 2)]
            + (["ext-unknown"] if 3 in q.customers else []),
        }
        if 3 in q.customers:
            params["customer_id"].append(people[1]["id"])
        if q.customer_function:
            params["customer_aggregation_function"] = q.customer_function
        expected_filter = flt
        if by_metadata:
            params["metadata[model]"] = ["gpt-4", "claude"]
            expected_filter = {"conjunction": "and", "clauses": [flt, {
                "conjunction": "or", "clauses": [
                    {"property": "model", "operator": "eq", "value": m}
                    for m in ("gpt-4", "claude")]}]}
        data, source = quantities(client, auth, meter["id"], **params)
        assert source == ("events" if by_metadata else "projection")
        rows, total = brute_force(sent, expected_filter, agg, q)
        got = [(datetime.fromisoformat(r["timestamp"]), Decimal(r["quantity"]))
               for r in data["quantities"]]
        assert [(t.astimezone(UTC), t.utcoffset()) for t, _ in got] == [
            (t.astimezone(UTC), t.utcoffset()) for t, _ in rows]
        assert [v for _, v in got] == [v for _, v in rows], (q, data)
        assert Decimal(data["total"]) == total, (q, data)
