"""Aggregations: parsing, exact partials, merging, and storage round trips."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.aggregation import (
    AVG_PRECISION,
    COUNT,
    EMPTY,
    Aggregation,
    AggregationError,
    AggregationFunction,
    Partial,
    Tally,
    aggregate,
    canonical_decimal,
    canonical_value,
    contribution,
    is_summable,
    merge,
    merge_all,
    parse_aggregation,
    partial_from_json,
    partial_of,
    partial_to_json,
    value,
)

F = AggregationFunction
TS = datetime(2026, 1, 1, 0, 0, 10, 500_000, tzinfo=UTC)


@dataclass(frozen=True)
class Ev:
    metadata: dict[str, Any] = field(default_factory=dict)
    name: str = "usage"
    source: str = "user"
    timestamp: datetime = TS


def agg(func: str, prop: str | None = None) -> Aggregation:
    data: dict[str, Any] = {"func": func}
    if prop is not None:
        data["property"] = prop
    return parse_aggregation(data)


def total(aggregation: Aggregation, *values: Any, key: str = "v") -> Decimal:
    return value(aggregation, aggregate(aggregation, [Ev({key: v}) for v in values]))


# --------------------------------------------------------------------------- parsing


def test_parse_and_to_json() -> None:
    assert parse_aggregation({"func": "count"}) == COUNT
    assert COUNT.to_json() == {"func": "count"}
    # Like Polar, a property sent with count is ignored.
    assert parse_aggregation({"func": "count", "property": "x"}).to_json() == {"func": "count"}
    for func in ("sum", "max", "min", "avg", "unique"):
        a = parse_aggregation({"func": func, "property": "metadata.tokens"})
        assert a.to_json() == {"func": func, "property": "tokens"}
        assert parse_aggregation(a.to_json()) == a
    assert agg("sum", "metadata._cost.amount").property == "_cost.amount"


@pytest.mark.parametrize(("data", "loc", "type_"), [
    ("count", (), "dict_type"),
    ({}, ("func",), "missing"),
    ({"func": "median", "property": "x"}, ("func",), "enum"),
    ({"func": "COUNT"}, ("func",), "enum"),
    ({"func": None}, ("func",), "enum"),
    ({"func": "sum"}, ("property",), "missing"),
    ({"func": "unique"}, ("property",), "missing"),
    ({"func": "avg", "property": 3}, ("property",), "string_type"),
])
def test_malformed_aggregations(data: Any, loc: tuple[Any, ...], type_: str) -> None:
    with pytest.raises(AggregationError) as exc:
        parse_aggregation(data)
    assert exc.value.loc == loc
    assert exc.value.type == type_
    assert isinstance(exc.value, ValueError)


def test_aggregation_invariants() -> None:
    assert Aggregation("sum", "metadata.x") == Aggregation(F.sum, "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Aggregation(F.sum)
    with pytest.raises(ValueError):
        Aggregation(F.count, "x")


def test_is_summable() -> None:
    assert [f.value for f in F if is_summable(Aggregation(f, None if f is F.count else "x"))] == [
        "count", "sum"]
    assert COUNT.is_summable()


# --------------------------------------------------------------------------- partial_of


def test_count_never_skips() -> None:
    assert partial_of(COUNT, Ev()) == Partial(count=1)
    assert value(COUNT, aggregate(COUNT, [Ev(), Ev({"v": "x"}), Ev({"v": True})])) == 3


def test_numeric_functions_skip_non_numbers() -> None:
    s = agg("sum", "v")
    for skipped in ("12", True, False, None, {"amount": 1}, [1], 1.5, Decimal("NaN"),
                    Decimal("-Infinity")):
        assert partial_of(s, Ev({"v": skipped})) is None, skipped
    assert partial_of(s, Ev()) is None
    assert partial_of(s, Ev({"v": 3})) == Partial(1, Decimal(3), Decimal(3), Decimal(3))
    # Skipped events do not count towards avg's denominator.
    a = agg("avg", "v")
    assert value(a, aggregate(a, [Ev({"v": 1}), Ev({"v": "2"}), Ev({"v": True}), Ev({"v": 2})])) \
        == Decimal("1.5")


def test_event_fields_as_properties() -> None:
    # The timestamp is a number (floored epoch seconds); name and source are text.
    assert total(agg("max", "timestamp"), 0) == 1767225610
    assert partial_of(agg("sum", "name"), Ev()) is None
    u = agg("unique", "source")
    assert value(u, aggregate(u, [Ev(source="user"), Ev(source="system"), Ev()])) == 2


def test_nested_properties() -> None:
    s = agg("sum", "_cost.amount")
    events = [Ev({"_cost": {"amount": Decimal("0.1"), "currency": "usd"}}),
              Ev({"_cost": {"amount": Decimal("0.2"), "currency": "usd"}}),
              Ev({"_cost": "bad"})]
    assert value(s, aggregate(s, events)) == Decimal("0.3")
    assert str(value(s, aggregate(s, events))) == "0.3"
    t = agg("sum", "metadata._llm.total_tokens")
    assert value(t, aggregate(t, [Ev({"_llm": {"total_tokens": 7}})] * 3)) == 21


# --------------------------------------------------------------------------- values


def test_sum_of_a_million_micro_units_is_exactly_one() -> None:
    s = agg("sum", "v")
    one_micro = partial_of(s, Ev({"v": Decimal("0.000001")}))
    assert one_micro is not None
    result = EMPTY
    for _ in range(10**6):
        result = merge(result, one_micro)
    assert result.count == 10**6
    assert result.sum == 1
    assert value(s, result) == Decimal(1)
    assert str(value(s, result)) == "1"
    assert str(value(agg("avg", "v"), result)) == "0.000001"


def test_sums_never_round() -> None:
    s = agg("sum", "v")
    # 40 significant digits: beyond the default 28-digit context.
    assert total(s, 10**30, Decimal("0.0000000001")) == Decimal("1000000000000000000000000000000."
                                                                 "0000000001")
    assert total(s, Decimal("1E+40"), 1, Decimal("-1E+40")) == 1
    assert total(s, Decimal("0.1"), Decimal("0.2")) == Decimal("0.3")
    assert total(s, Decimal("1.10"), Decimal("2.20")) == Decimal("3.3")
    assert str(total(s, Decimal("1.10"), Decimal("2.20"))) == "3.3"  # normalised
    assert str(total(s, Decimal("5E+2"))) == "500"


def test_min_max() -> None:
    assert total(agg("max", "v"), 3, Decimal("3.5"), -10) == Decimal("3.5")
    assert total(agg("min", "v"), 3, Decimal("3.5"), -10) == -10
    assert total(agg("min", "v"), Decimal("-0.0000001"), 0) == Decimal("-0.0000001")
    assert total(agg("max", "v"), Decimal("2.50"), Decimal("2.5")) == Decimal("2.5")


def test_avg_rule() -> None:
    a = agg("avg", "v")
    assert str(total(a, 1, 2)) == "1.5"
    assert str(total(a, 7, 0, 0, 0)) == "1.75"
    assert str(total(a, Decimal("1.10"), Decimal("1.30"))) == "1.2"
    assert str(total(a, 10, 30)) == "20"
    assert str(total(a, -1, -2)) == "-1.5"
    third = total(a, 1, 0, 0)
    assert third == Decimal("0." + "3" * AVG_PRECISION)
    two_thirds = total(a, 2, 0, 0)
    assert two_thirds == Decimal("0." + "6" * (AVG_PRECISION - 1) + "7")  # half-even rounding
    assert str(total(a, 10**70, 0)) == "5" + "0" * 69  # exact, not 5E+69


def test_empty_values_are_zero() -> None:
    for f in F:
        a = Aggregation(f, None if f is F.count else "v")
        assert value(a, EMPTY) == 0
        assert str(value(a, EMPTY)) == "0"


def test_unique_counts_distinct_json_values() -> None:
    u = agg("unique", "v")
    assert total(u, "a", "a", "b") == 2
    assert total(u, 1, Decimal("1.0"), Decimal("1E+0"), Decimal("1.000")) == 1
    assert total(u, 1, "1", True) == 3  # number, string and boolean differ
    assert total(u, True, True, False) == 2
    assert total(u, 0, Decimal("-0.0")) == 1
    assert total(u, None, None) == 1  # JSON null is a value; a missing key is not
    assert value(u, aggregate(u, [Ev(), Ev({"w": 1})])) == 0
    assert total(u, {"x": 1}, [1], 1.5) == 0  # non-scalars (and floats) are skipped


def test_canonical_values() -> None:
    assert canonical_value(1) == canonical_value(Decimal("1.00")) == "1"
    assert canonical_value(Decimal("1E+2")) == "100"
    assert canonical_value(Decimal("-0.0")) == "0"
    assert canonical_value(Decimal("0.50")) == "0.5"
    assert canonical_value(10**150) == "1E+150"
    assert canonical_value("a\"b") == '"a\\"b"'
    assert canonical_value("é") == '"é"'
    assert canonical_value(True) == "true"
    assert canonical_value(None) == "null"
    assert canonical_value({"a": 1}) is None
    assert canonical_decimal(Decimal("123.4500")) == Decimal("123.45")
    assert str(canonical_decimal(Decimal("-1.2E+3"))) == "-1200"


# --------------------------------------------------------------------------- merging


def test_merge_identity_and_unique_union() -> None:
    p = Partial(2, Decimal(3), Decimal(1), Decimal(2))
    assert merge(p, EMPTY) is p
    assert merge(EMPTY, p) is p
    u = agg("unique", "v")
    left = aggregate(u, [Ev({"v": "a"}), Ev({"v": "b"})])
    right = aggregate(u, [Ev({"v": "b"}), Ev({"v": "c"})])
    assert value(u, merge(left, right)) == 3
    assert merge(left, right).count == 4


numbers = st.one_of(
    st.integers(-10**20, 10**20),
    st.decimals(allow_nan=False, allow_infinity=False, places=6, min_value=-10**9,
                max_value=10**9),
    st.decimals(allow_nan=False, allow_infinity=False, min_value=Decimal("-1E+30"),
                max_value=Decimal("1E+30")),
    st.sampled_from([Decimal("1E+40"), Decimal("-1E-40"), Decimal("0E+5"), Decimal("-0.00")]),
)
values_st = st.one_of(numbers, st.booleans(), st.text(max_size=3), st.none())
funcs = st.sampled_from(list(F))


def _exact(x: Decimal | int) -> Fraction:
    return Fraction(x)


@settings(max_examples=200, deadline=None)
@given(funcs, st.lists(values_st, max_size=12), st.lists(st.integers(0, 12), max_size=4))
def test_merging_partials_matches_the_brute_force_value(
        func: F, raw: list[Any], cuts: list[int]) -> None:
    a = Aggregation(func, None if func is F.count else "v")
    events = [Ev({"v": v}) for v in raw]
    # Any split of the events into chunks, merged in any grouping, gives the same partial.
    bounds = sorted({0, len(events), *[min(c, len(events)) for c in cuts]})
    chunks = [aggregate(a, events[i:j]) for i, j in itertools.pairwise(bounds)]
    whole = aggregate(a, events)
    assert merge_all(chunks) == whole
    assert merge_all(reversed(chunks)) == whole
    got = value(a, whole)

    nums = [Decimal(v) for v in raw if not isinstance(v, bool) and isinstance(v, int | Decimal)]
    if func is F.count:
        assert got == len(raw)
    elif func is F.sum:
        assert _exact(got) == sum((_exact(n) for n in nums), Fraction(0))
    elif func is F.max:
        assert got == (max(nums) if nums else 0)
    elif func is F.min:
        assert got == (min(nums) if nums else 0)
    elif func is F.avg:
        if not nums:
            assert got == 0
        else:
            exact = sum((_exact(n) for n in nums), Fraction(0)) / len(nums)
            assert abs(_exact(got) - exact) <= abs(exact) / 10 ** (AVG_PRECISION - 1)
    else:
        distinct = {("n", _exact(Decimal(v))) if not isinstance(v, bool | str) and v is not None
                    else (type(v).__name__, v) for v in raw}
        assert got == len(distinct)
    # Values are in normal form: no trailing zeros, no negative zero.
    assert got == canonical_decimal(got)


@settings(max_examples=200, deadline=None)
@given(funcs, st.lists(st.one_of(values_st, st.just({"x": 1})), max_size=12))
def test_a_tally_is_the_merge_of_each_events_partial(func: F, raw: list[Any]) -> None:
    """Customer meters add a run's events to a `Tally` (each event's `contribution`): the
    same partial as merging each event's, to the digit (a sum keeps the exponent merging
    gives it)."""
    a = Aggregation(func, None if func is F.count else "v")
    events = [Ev({"v": v}) for v in raw] + [Ev()]
    tally = Tally(a)
    for event in events:
        tally.take(contribution(a, event))
    assert partial_to_json(tally.partial()) == partial_to_json(aggregate(a, events))


# --------------------------------------------------------------------------- storage


def test_partial_json_is_compact_and_exact() -> None:
    assert partial_to_json(EMPTY) == {}
    assert partial_from_json({}) == EMPTY
    p = Partial(3, Decimal("1.500"), Decimal(-2), Decimal("1E+3"), frozenset({'"b"', '"a"'}))
    data = partial_to_json(p)
    assert data == {"count": 3, "sum": "1.500", "min": "-2", "max": "1E+3",
                    "distinct": ['"a"', '"b"']}
    back = partial_from_json(data)
    assert back == p
    assert str(back.sum) == "1.500"
    assert partial_to_json(Partial(count=1)) == {"count": 1}


@pytest.mark.parametrize(("data", "loc"), [
    ([], ()),
    ({"count": -1}, ("count",)),
    ({"count": True}, ("count",)),
    ({"count": "1"}, ("count",)),
    ({"sum": 1.5}, ("sum",)),
    ({"sum": "abc"}, ("sum",)),
    ({"min": "NaN"}, ("min",)),
    ({"max": None}, ("max",)),
    ({"distinct": "a"}, ("distinct",)),
    ({"distinct": [1]}, ("distinct",)),
])
def test_malformed_partial_json(data: Any, loc: tuple[Any, ...]) -> None:
    with pytest.raises(AggregationError) as exc:
        partial_from_json(data)
    assert exc.value.loc == loc


@settings(max_examples=200, deadline=None)
@given(funcs, st.lists(values_st, max_size=8))
def test_partial_json_round_trip(func: F, raw: list[Any]) -> None:
    a = Aggregation(func, None if func is F.count else "v")
    p = aggregate(a, [Ev({"v": v}) for v in raw])
    data = partial_to_json(p)
    assert json.loads(json.dumps(data)) == data  # JSON-safe: no Decimal, no set
    back = partial_from_json(data)
    assert back == p
    assert value(a, back) == value(a, p)
