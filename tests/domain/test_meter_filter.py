"""Meter filters: parsing, error locations and Polar's matching semantics (made exact)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import FieldError, InvalidInput
from domain.meter_filter import (
    MATCH_ALL,
    MAX_FILTER_DEPTH,
    MISSING,
    Filter,
    FilterClause,
    FilterConjunction,
    FilterError,
    FilterOperator,
    compare,
    epoch_seconds,
    matches,
    metadata_path,
    normalize_property,
    parse_filter,
    resolve_property,
)

TS = datetime(2026, 1, 2, 3, 4, 5, 999_999, tzinfo=UTC)
TS_EPOCH = 1767323045


@dataclass(frozen=True)
class Ev:
    name: str = "ai_usage"
    source: str = "user"
    timestamp: datetime = TS
    metadata: dict[str, Any] = field(default_factory=dict)


EVENT = Ev(metadata={
    "model": "gpt-4o",
    "tokens": 1200,
    "price": Decimal("0.0025"),
    "ratio": Decimal("1.0"),
    "premium": True,
    "zero": 0,
    "label": "50% off",
    "_cost": {"amount": Decimal("12.5"), "currency": "usd"},
    "_llm": {"vendor": "openai", "model": "gpt-4o", "input_tokens": 900, "output_tokens": 300,
             "total_tokens": 1200},
})


def clause(prop: Any, op: str, value: Any) -> dict[str, Any]:
    return {"property": prop, "operator": op, "value": value}


def one(prop: str, op: str, value: Any, event: Ev = EVENT) -> bool:
    return matches(parse_filter({"conjunction": "and", "clauses": [clause(prop, op, value)]}),
                   event)


# --------------------------------------------------------------------------- parsing


def test_parse_and_round_trip_nested_filter() -> None:
    data = {
        "conjunction": "and",
        "clauses": [
            clause("name", "eq", "ai_usage"),
            {"conjunction": "or", "clauses": [
                clause("price", "gte", Decimal("0.0025")),
                clause("premium", "eq", True),
                {"conjunction": "and", "clauses": []},
            ]},
            clause("tokens", "lt", 5000),
        ],
    }
    f = parse_filter(data)
    assert f.conjunction is FilterConjunction.and_
    inner = f.clauses[1]
    assert isinstance(inner, Filter)
    assert inner.clauses[0] == FilterClause("price", FilterOperator.gte, Decimal("0.0025"))
    assert f.to_json() == data
    price = f.to_json()["clauses"][1]["clauses"][0]["value"]
    assert type(price) is Decimal and str(price) == "0.0025"
    assert type(f.to_json()["clauses"][2]["value"]) is int
    assert parse_filter(f.to_json()) == f
    assert len(f.iter_clauses()) == 4


def test_metadata_prefix_is_stripped_like_polar() -> None:
    f = parse_filter({"conjunction": "or", "clauses": [clause("metadata.tokens", "gt", 1)]})
    assert f.to_json()["clauses"][0]["property"] == "tokens"
    assert normalize_property("metadata.metadata.x") == "x"
    assert metadata_path("metadata._cost.amount") == ("_cost", "amount")
    assert metadata_path("_llm.input_tokens") == ("_llm", "input_tokens")
    assert metadata_path("tokens") == ("tokens",)
    for field_name in ("name", "source", "timestamp", "metadata.name"):
        assert metadata_path(field_name) is None
    # As in Polar, `metadata.name` is the event's name, not a metadata key `name`.
    event = Ev(name="a", metadata={"name": "b"})
    assert one("metadata.name", "eq", "a", event)
    assert not one("metadata.name", "eq", "b", event)


def test_extra_keys_are_ignored_like_pydantic() -> None:
    f = parse_filter({"conjunction": "and", "clauses": [{**clause("a", "eq", 1), "x": 1}],
                      "extra": True})
    assert f.to_json() == {"conjunction": "and", "clauses": [clause("a", "eq", 1)]}


@pytest.mark.parametrize(("data", "loc", "type_"), [
    ([], (), "dict_type"),
    ({"clauses": []}, ("conjunction",), "missing"),
    ({"conjunction": "xor", "clauses": []}, ("conjunction",), "enum"),
    ({"conjunction": "AND", "clauses": []}, ("conjunction",), "enum"),
    ({"conjunction": "and"}, ("clauses",), "missing"),
    ({"conjunction": "and", "clauses": {}}, ("clauses",), "list_type"),
    ({"conjunction": "and", "clauses": ["x"]}, ("clauses", 0), "dict_type"),
    ({"conjunction": "and", "clauses": [clause("a", "eq", 1), clause("b", "eq", 1),
                                        clause("c", "between", 1)]},
     ("clauses", 2, "operator"), "enum"),
    ({"conjunction": "and", "clauses": [{"operator": "eq", "value": 1}]},
     ("clauses", 0, "property"), "missing"),
    ({"conjunction": "and", "clauses": [clause(3, "eq", 1)]},
     ("clauses", 0, "property"), "string_type"),
    ({"conjunction": "and", "clauses": [{"property": "a", "operator": "eq"}]},
     ("clauses", 0, "value"), "missing"),
    ({"conjunction": "and", "clauses": [clause("a", "eq", None)]},
     ("clauses", 0, "value"), "filter_value_type"),
    ({"conjunction": "and", "clauses": [clause("a", "eq", [1])]},
     ("clauses", 0, "value"), "filter_value_type"),
    ({"conjunction": "and", "clauses": [clause("a", "eq", 1.5)]},
     ("clauses", 0, "value"), "decimal_type"),
    ({"conjunction": "and", "clauses": [clause("a", "eq", Decimal("NaN"))]},
     ("clauses", 0, "value"), "finite_number"),
    ({"conjunction": "and", "clauses": [clause("a", "eq", Decimal("-Infinity"))]},
     ("clauses", 0, "value"), "finite_number"),
    ({"conjunction": "and", "clauses": [clause("a", "eq", "x" * 1001)]},
     ("clauses", 0, "value"), "string_too_long"),
    ({"conjunction": "and", "clauses": [
        {"conjunction": "or", "clauses": [clause("a", "eq", 1), clause("b", "gt", {})]}]},
     ("clauses", 0, "clauses", 1, "value"), "filter_value_type"),
    ({"conjunction": "and", "clauses": [{"clauses": []}]},
     ("clauses", 0, "conjunction"), "missing"),
])
def test_malformed_filters_name_the_location(data: Any, loc: tuple[Any, ...], type_: str) -> None:
    with pytest.raises(FilterError) as exc:
        parse_filter(data)
    assert exc.value.loc == loc
    assert exc.value.type == type_
    assert isinstance(exc.value, ValueError)
    assert exc.value.msg


def test_string_of_exactly_1000_characters_is_accepted() -> None:
    parse_filter({"conjunction": "and", "clauses": [clause("a", "eq", "x" * 1000)]})


def test_all_errors_are_reported_and_can_be_prefixed() -> None:
    with pytest.raises(FilterError) as exc:
        parse_filter({"conjunction": "nand", "clauses": [
            clause("a", "eq", 1), {"property": "b", "operator": "is"}, clause("c", "eq", 1.0)]})
    err = exc.value
    assert [e.loc for e in err.errors] == [
        ("conjunction",), ("clauses", 1, "operator"), ("clauses", 1, "value"),
        ("clauses", 2, "value")]
    assert err.loc == ("conjunction",)
    assert err.input == "nand"
    prefixed = err.prefixed(("body", "filter"))
    assert prefixed[1] == FieldError(("body", "filter", "clauses", 1, "operator"), prefixed[1].msg,
                                     "enum", "is")
    invalid = err.as_invalid_input(("body", "filter"))
    assert isinstance(invalid, InvalidInput)
    assert invalid.errors[0].as_json() == {
        "type": "enum", "loc": ["body", "filter", "conjunction"],
        "msg": "Input should be 'and' or 'or'", "input": "nand"}


def test_nesting_depth_is_bounded() -> None:
    data: dict[str, Any] = {"conjunction": "and", "clauses": []}
    for _ in range(MAX_FILTER_DEPTH - 1):
        data = {"conjunction": "or", "clauses": [data]}
    assert matches(parse_filter(data), EVENT)
    with pytest.raises(FilterError) as exc:
        parse_filter({"conjunction": "or", "clauses": [data]})
    assert exc.value.loc == ("clauses", 0) * MAX_FILTER_DEPTH


def test_clause_equality_keeps_bools_apart_from_numbers() -> None:
    assert FilterClause("a", FilterOperator.eq, True) != FilterClause("a", FilterOperator.eq, 1)
    assert FilterClause("a", FilterOperator.eq, Decimal("1.0")) == FilterClause(
        "a", FilterOperator.eq, 1)
    assert len({FilterClause("a", FilterOperator.eq, True),
                FilterClause("a", FilterOperator.eq, 1)}) == 2
    with pytest.raises(ValueError):
        FilterClause("a", FilterOperator.eq, 1.5)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- matching


def test_event_fields() -> None:
    assert one("name", "eq", "ai_usage")
    assert one("name", "ne", "other")
    assert not one("name", "ne", "ai_usage")
    assert one("name", "like", "usage")
    assert not one("name", "like", "USAGE")  # case-sensitive
    assert one("name", "not_like", "USAGE")
    assert one("source", "eq", "user")
    assert not one("source", "eq", "system")
    assert not one("name", "eq", 1)  # type mismatch never matches...
    assert not one("name", "ne", 1)  # ...not even with ne


def test_timestamp_is_floored_epoch_seconds() -> None:
    assert epoch_seconds(TS) == TS_EPOCH
    assert epoch_seconds(datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)) == -1
    assert resolve_property(EVENT, "timestamp") == TS_EPOCH
    assert one("timestamp", "eq", TS_EPOCH)
    assert not one("timestamp", "eq", TS_EPOCH + 1)
    assert one("timestamp", "gte", TS_EPOCH)
    assert one("timestamp", "lt", TS_EPOCH + 1)
    assert not one("timestamp", "gt", TS_EPOCH)
    assert one("timestamp", "lt", Decimal(TS_EPOCH) + Decimal("0.5"))
    assert not one("timestamp", "eq", str(TS_EPOCH))
    assert not one("timestamp", "like", "17")
    with pytest.raises(ValueError):
        epoch_seconds(datetime(2026, 1, 1))


def test_numbers_compare_exactly_across_int_and_decimal() -> None:
    assert one("ratio", "eq", 1)  # Decimal("1.0") == 1
    assert one("tokens", "eq", Decimal("1200.000"))
    assert one("tokens", "gt", Decimal("1199.9999999999999999999999999999"))
    assert not one("tokens", "gt", Decimal("1200.0000000000000000000000000001"))
    assert one("price", "lt", Decimal("0.00250000000000000000000000000001"))
    assert one("price", "gt", 0)
    assert one("zero", "eq", 0)
    assert one("zero", "lte", Decimal("-0"))
    big = Ev(metadata={"n": 2**70 + 1})
    assert one("n", "gt", 2**70, big)
    assert not one("n", "eq", Decimal(2**70), big)
    assert one("n", "eq", Decimal(2**70 + 1), big)


def test_bool_is_not_a_number() -> None:
    assert one("premium", "eq", True)
    assert one("premium", "ne", False)
    assert not one("premium", "eq", 1)
    assert not one("premium", "ne", 0)
    assert not one("premium", "gt", False)  # order on booleans never matches
    assert not one("premium", "gte", True)
    assert not one("premium", "lte", True)
    assert not one("zero", "eq", False)
    assert not one("tokens", "ne", True)
    assert not one("premium", "eq", "true")


def test_strings_compare_as_text_only_with_strings() -> None:
    assert one("model", "eq", "gpt-4o")
    assert one("model", "gt", "gpt-3")
    assert one("model", "lt", "gpt-5")
    assert not one("model", "lt", "GPT-5")  # code-point order: "G" < "g"
    assert not one("tokens", "eq", "1200")
    assert not one("tokens", "ne", "1200")
    assert not one("model", "gt", 0)


def test_like_is_a_literal_case_sensitive_substring_test_on_strings() -> None:
    assert one("model", "like", "4o")
    assert one("model", "like", "")
    assert not one("model", "not_like", "")
    assert one("label", "like", "50%")
    assert not one("model", "like", "gpt%4o")  # no wildcards
    assert not one("model", "like", "gpt_4o")
    assert not one("tokens", "like", "12")  # like on numbers never matches
    assert not one("tokens", "not_like", "x")
    assert not one("premium", "like", "t")
    assert not one("model", "like", 4)  # non-string value
    assert not one("model", "not_like", 4)


def test_missing_keys_never_match() -> None:
    for op, value in [("eq", 1), ("ne", 1), ("ne", "x"), ("gt", 0), ("lt", 0), ("like", ""),
                      ("not_like", "x"), ("ne", True)]:
        assert not one("absent", op, value), op
        assert not one("_cost.absent", op, value), op
        assert not one("model.deeper", op, value), op  # through a non-dict
    assert resolve_property(EVENT, "absent") is MISSING
    assert resolve_property(EVENT, "tokens.x") is MISSING


def test_nested_metadata_paths() -> None:
    assert resolve_property(EVENT, "_cost.amount") == Decimal("12.5")
    assert one("_cost.amount", "gt", Decimal("12.49"))
    assert one("metadata._cost.currency", "eq", "usd")
    assert one("_llm.input_tokens", "gte", 900)
    assert one("_llm.vendor", "like", "open")
    assert not one("_cost", "eq", "usd")  # a dict leaf matches nothing
    assert not one("_cost", "ne", "usd")
    deep = Ev(metadata={"a": {"b": {"c": 3}}})
    assert one("a.b.c", "eq", 3, deep)


def test_unusual_metadata_values_never_match_and_never_raise() -> None:
    event = Ev(metadata={"nan": Decimal("NaN"), "inf": Decimal("Infinity"), "f": 1.5,
                         "none": None, "list": [1]})
    for prop in ("nan", "inf", "f", "none", "list"):
        for op in FilterOperator:
            for value in (1, Decimal("1.5"), "x", True):
                assert not one(prop, op.value, value, event), (prop, op, value)


def test_conjunctions_and_empty_clause_lists() -> None:
    yes = clause("tokens", "eq", 1200)
    no = clause("tokens", "eq", 1)
    assert matches(parse_filter({"conjunction": "and", "clauses": []}), EVENT)
    assert matches(parse_filter({"conjunction": "or", "clauses": []}), EVENT)
    assert MATCH_ALL.matches(EVENT)
    assert not matches(parse_filter({"conjunction": "and", "clauses": [yes, no]}), EVENT)
    assert matches(parse_filter({"conjunction": "or", "clauses": [no, yes]}), EVENT)
    assert not matches(parse_filter({"conjunction": "or", "clauses": [no, no]}), EVENT)
    nested = {"conjunction": "and", "clauses": [
        yes, {"conjunction": "or", "clauses": [no, {"conjunction": "and", "clauses": [yes]}]}]}
    assert matches(parse_filter(nested), EVENT)
    nested["clauses"][1]["clauses"][1]["clauses"] = [no]  # type: ignore[index]
    assert not matches(parse_filter(nested), EVENT)
    # An empty sub-filter inside an `or` matches everything.
    assert matches(parse_filter({"conjunction": "or", "clauses": [
        no, {"conjunction": "or", "clauses": []}]}), EVENT)


def test_plain_strings_are_coerced_to_enums() -> None:
    c = FilterClause("metadata.model", "like", "gpt")  # type: ignore[arg-type]
    assert c.operator is FilterOperator.like and c.property == "model"
    f = Filter("or", [c])  # type: ignore[arg-type]
    assert f.conjunction is FilterConjunction.or_ and f.clauses == (c,)
    assert f.matches(EVENT)
    assert c.path() == ("model",)
    with pytest.raises(ValueError):
        FilterClause("a", "between", 1)  # type: ignore[arg-type]


def test_compare_directly() -> None:
    assert compare(FilterOperator.eq, Decimal("2.50"), Decimal("2.5"))
    assert compare(FilterOperator.ne, 3, Decimal("2.5"))
    assert not compare(FilterOperator.eq, True, 1)
    assert not compare(FilterOperator.eq, 1, True)


# --------------------------------------------------------------------------- properties

scalars = st.one_of(
    st.booleans(),
    st.integers(-10**6, 10**6),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-1000, max_value=1000),
    st.text(alphabet="abAB%_ ", max_size=4),
)
ops = st.sampled_from(list(FilterOperator))
props = st.sampled_from(["a", "b", "name", "source", "timestamp", "n.x"])
clauses_st = st.builds(FilterClause, props, ops, scalars)
filters_st = st.recursive(
    st.builds(Filter, st.sampled_from(list(FilterConjunction)),
              st.lists(clauses_st, max_size=3).map(tuple)),
    lambda inner: st.builds(Filter, st.sampled_from(list(FilterConjunction)),
                            st.lists(st.one_of(clauses_st, inner), max_size=3).map(tuple)),
    max_leaves=8,
)
events_st = st.builds(
    Ev,
    name=st.sampled_from(["a", "ab", "B"]),
    source=st.sampled_from(["user", "system"]),
    timestamp=st.integers(0, 2_000_000_000).map(
        lambda s: datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=s, microseconds=7)),
    metadata=st.dictionaries(st.sampled_from(["a", "b", "n"]),
                             st.one_of(scalars, st.fixed_dictionaries({"x": scalars})),
                             max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(filters_st, events_st)
def test_round_trip_preserves_meaning(f: Filter, event: Ev) -> None:
    again = parse_filter(f.to_json())
    assert again == f
    assert matches(again, event) == matches(f, event)


@settings(max_examples=300, deadline=None)
@given(filters_st, events_st)
def test_conjunction_semantics(f: Filter, event: Ev) -> None:
    results = [c.matches(event) for c in f.clauses]
    if not results:
        assert matches(f, event)
    elif f.conjunction is FilterConjunction.and_:
        assert matches(f, event) == all(results)
    else:
        assert matches(f, event) == any(results)


@settings(max_examples=300, deadline=None)
@given(props, scalars, events_st)
def test_operator_laws(prop: str, value: Any, event: Ev) -> None:
    def m(op: FilterOperator) -> bool:
        return FilterClause(prop, op, value).matches(event)

    present = resolve_property(event, prop)
    same_kind = present is not MISSING and (
        (type(present) is bool) == (type(value) is bool)
        and isinstance(present, str) == isinstance(value, str)
        and not isinstance(present, dict))
    # eq / ne are complementary exactly when both sides are comparable.
    assert (m(FilterOperator.eq) or m(FilterOperator.ne)) == same_kind
    assert not (m(FilterOperator.eq) and m(FilterOperator.ne))
    if same_kind and type(value) is not bool:
        assert m(FilterOperator.lt) != m(FilterOperator.gte)
        assert m(FilterOperator.gt) != m(FilterOperator.lte)
        assert m(FilterOperator.gte) == (m(FilterOperator.gt) or m(FilterOperator.eq))
    if isinstance(value, str) and isinstance(present, str):
        assert m(FilterOperator.like) != m(FilterOperator.not_like)
        assert m(FilterOperator.like) == (value in present)
    else:
        assert not m(FilterOperator.like) and not m(FilterOperator.not_like)
