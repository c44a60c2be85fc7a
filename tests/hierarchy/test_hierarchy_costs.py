"""Exact costs: sub-cent amounts keep every digit through validation, roll-ups and the cost
summary."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from starlette.testclient import TestClient

from domain.costs import statistics
from domain.event_metadata import validate_metadata
from domain.hierarchy import add_totals, numeric_leaves
from tests.hierarchy.tree_helpers import by_external_id, cost, event, ingest, locs, ok

PICO = "0.000000000001"


# Pure ----------------------------------------------------------------------------------------

def test_a_million_picocent_costs_sum_exactly() -> None:
    leaves = numeric_leaves(validate_metadata(cost(PICO), ("metadata",))[0])
    totals: dict[str, Decimal] = {}
    for _ in range(10**6):
        add_totals(totals, leaves)
    assert totals == {"_cost.amount": Decimal("0.000001")}
    assert str(totals["_cost.amount"]) == "0.000001000000"


def test_statistics_over_a_million_picocent_traces_are_exact() -> None:
    figures = statistics([Decimal(PICO)] * 10**6)
    assert (figures.total, figures.average, figures.p99) == (
        Decimal("0.000001"), Decimal(PICO), Decimal(PICO))


def test_percentiles_use_the_nearest_rank() -> None:
    figures = statistics([Decimal(n) for n in range(1, 101)])
    assert (figures.p50, figures.p95, figures.p99, figures.average) == (
        Decimal(50), Decimal(95), Decimal(99), Decimal("50.5"))


def test_an_average_that_does_not_terminate_keeps_60_digits() -> None:
    assert statistics([Decimal(1), Decimal(0), Decimal(0)]).average == Decimal("0." + "3" * 60)


@pytest.mark.parametrize("amount", ["1_000", "NaN", "Infinity", "١٢", "0x10", "", "1.0.0",
                                    "0.0000000000001"])
def test_cost_strings_that_are_not_plain_decimals_are_rejected(amount: str) -> None:
    _clean, errors = validate_metadata(cost(amount), ("metadata",))
    assert [e.loc for e in errors] == [("metadata", "_cost", "amount")]


def test_a_cost_as_large_as_numeric_holds_is_accepted() -> None:
    amount = "9" * 131072 + "." + "9" * 12
    clean, errors = validate_metadata(cost(amount), ("metadata",))
    assert errors == [] and str(clean["_cost"]["amount"]) == amount


# HTTP ----------------------------------------------------------------------------------------

def test_float_looking_cost_strings_keep_every_digit(client: TestClient,
                                                     auth: dict[str, str]) -> None:
    ok(ingest(client, auth, event("r", metadata=cost("0.1")), event("a", "r",
              metadata=cost("0.2")), event("b", "r", metadata=cost("1.100000000000")),
              event("big", metadata=cost("123456789012345678901234567890.123456789012"))))
    events = by_external_id(client, auth, aggregate_fields="_cost.amount")
    assert events["b"]["metadata"]["_cost"]["amount"] == "1.100000000000"
    assert events["r"]["metadata"]["_cost"]["amount"] == "1.400000000000"
    assert events["big"]["metadata"]["_cost"]["amount"] == \
        "123456789012345678901234567890.123456789012"


def test_a_thousand_picocent_children_roll_up_exactly(client: TestClient,
                                                      auth: dict[str, str]) -> None:
    ok(ingest(client, auth, event("r"),
              *[event(f"c{i}", "r", metadata=cost(PICO)) for i in range(1000)]))
    root = by_external_id(client, auth, depth=0, aggregate_fields="_cost.amount")["r"]
    assert root["metadata"]["_cost"]["amount"] == "0.000000001000"
    summary = ok(client.get("/v1/events/costs", headers=auth, params={
        "start_timestamp": "2020-01-01T00:00:00Z", "end_timestamp": "2099-01-01T00:00:00Z",
        "interval": "year"}))
    assert summary["totals"]["total"] == Decimal("1E-9")


# Cost summary --------------------------------------------------------------------------------

def _traces(client: TestClient, auth: dict[str, str]) -> None:
    """Three traces on two days (Paris time) for two customers, plus a cost-free trace."""
    def at(day: int, hour: int) -> str:
        return f"2026-03-{day:02d}T{hour:02d}:30:00+00:00"

    ok(ingest(client, auth,
              event("t1", name="chat", timestamp=at(1, 10), metadata=cost("1")),
              event("t1.llm", "t1", name="llm", metadata=cost("2")),
              event("t1.tool", "t1", name="tool", metadata=cost("0.5")),
              event("t2", name="chat", timestamp=at(1, 23), metadata=cost("10"),
                    external_customer_id="cust-2"),
              event("t3", name="search", timestamp=at(2, 12)),
              event("t3.llm", "t3", name="llm", metadata=cost("4")),
              event("free", name="chat", timestamp=at(2, 13)),
              event("waiting", "later", name="llm", timestamp=at(2, 13), metadata=cost("99"))))


def costs(client: TestClient, auth: dict[str, str], **params: Any) -> dict[str, Any]:
    return ok(client.get("/v1/events/costs", headers=auth, params={  # type: ignore[no-any-return]
        "start_timestamp": "2026-03-01T00:00:00+01:00",
        "end_timestamp": "2026-03-03T00:00:00+01:00", "interval": "day",
        "timezone": "Europe/Paris", **params}))


def figures(block: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(Decimal(str(block[k])) for k in ("total", "traces", "average", "p50", "p95",
                                                   "p99"))


def test_cost_summary_totals_traces_by_period_in_the_time_zone(client: TestClient,
                                                               auth: dict[str, str]) -> None:
    _traces(client, auth)
    summary = costs(client, auth)
    # t2 at 23:30 UTC is already March 2nd in Paris; the waiting child is no trace (yet).
    assert [(p["timestamp"], figures(p)) for p in summary["periods"]] == [
        ("2026-03-01T00:00:00+01:00", (Decimal("3.5"), 1, Decimal("3.5"), Decimal("3.5"),
                                       Decimal("3.5"), Decimal("3.5"))),
        ("2026-03-02T00:00:00+01:00", (Decimal(14), 2, Decimal(7), Decimal(4), Decimal(10),
                                       Decimal(10)))]
    assert figures(summary["totals"]) == (Decimal("17.5"), 3, Decimal("5.8" + "3" * 58),
                                          Decimal(4), Decimal(10), Decimal(10))
    assert summary["groups"] == []


def test_cost_summary_groups_by_customer_root_name_or_name(client: TestClient,
                                                           auth: dict[str, str]) -> None:
    _traces(client, auth)

    def groups(by: str) -> dict[str, tuple[Decimal, int]]:
        return {g["key"]: (Decimal(str(g["total"])), g["traces"])
                for g in costs(client, auth, group_by=by)["groups"]}

    assert groups("customer") == {"cust-1": (Decimal("7.5"), 2), "cust-2": (Decimal(10), 1)}
    assert groups("root_name") == {"chat": (Decimal("13.5"), 2), "search": (Decimal(4), 1)}
    assert groups("name") == {"chat": (Decimal(11), 2), "llm": (Decimal(6), 2),
                              "tool": (Decimal("0.5"), 1)}


def test_cost_summary_checks_its_range(client: TestClient, auth: dict[str, str]) -> None:
    response = client.get("/v1/events/costs", headers=auth, params={
        "start_timestamp": "2026-03-02T00:00:00Z", "end_timestamp": "2026-03-01T00:00:00Z",
        "interval": "day"})
    assert locs(response) == [["query", "start_timestamp"]]
    assert locs(client.get("/v1/events/costs", headers=auth, params={
        "start_timestamp": "2026-03-01T00:00:00Z", "end_timestamp": "2026-03-02T00:00:00Z",
        "interval": "day", "group_by": "planet"})) == [["query", "group_by"]]
    assert client.get("/v1/events/costs").status_code == 401
