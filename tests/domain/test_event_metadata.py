"""Event metadata: flat typed values plus the structured `_cost` and `_llm`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.event_metadata import parse_cost_amount, validate_metadata

LOC = ("body", "events", 3, "metadata")
LLM = {"vendor": "openai", "model": "gpt-5", "input_tokens": 10, "output_tokens": 5,
       "total_tokens": 15}


def errors(raw: Any) -> list[tuple[tuple[str | int, ...], str]]:
    return [(e.loc, e.type) for e in validate_metadata(raw, LOC)[1]]


def test_flat_values_are_kept_as_given() -> None:
    raw = {"s": "x", "i": -3, "d": Decimal("0.10000000000000000001"), "t": True, "f": False}
    assert validate_metadata(raw, LOC) == (raw, [])


def test_booleans_stay_booleans() -> None:
    clean, _ = validate_metadata({"t": True}, LOC)
    assert clean["t"] is True


def test_metadata_that_is_not_an_object_is_rejected() -> None:
    assert errors(["a"]) == [(LOC, "dict_type")]


@pytest.mark.parametrize(("value", "kind"), [
    ("", "string_too_short"), ("x" * 501, "string_too_long"), (None, "metadata_value_type"),
    ([1], "metadata_value_type"), ({"a": 1}, "metadata_value_type"),
    (Decimal("NaN"), "finite_number"), (Decimal("Infinity"), "finite_number"),
])
def test_invalid_flat_value_is_reported_at_its_key(value: Any, kind: str) -> None:
    assert errors({"ok": 1, "bad": value}) == [((*LOC, "bad"), kind)]


def test_string_of_500_characters_is_accepted() -> None:
    assert errors({"s": "x" * 500}) == []


def test_every_bad_key_is_reported() -> None:
    assert errors({"a": None, "b": "", "c": 1}) == [((*LOC, "a"), "metadata_value_type"),
                                                    ((*LOC, "b"), "string_too_short")]


# _cost -------------------------------------------------------------------------------------

def test_cost_amount_string_becomes_an_exact_decimal() -> None:
    clean, _ = validate_metadata({"_cost": {"amount": "12345.000000000001",
                                            "currency": "usd"}}, LOC)
    assert clean == {"_cost": {"amount": Decimal("12345.000000000001"), "currency": "usd"}}


def test_cost_currency_is_normalised_to_lower_case() -> None:
    clean, _ = validate_metadata({"_cost": {"amount": 1, "currency": "USD"}}, LOC)
    assert clean == {"_cost": {"amount": Decimal(1), "currency": "usd"}}


def test_cost_in_another_currency_is_rejected() -> None:
    assert errors({"_cost": {"amount": "1", "currency": "eur"}}) == \
        [((*LOC, "_cost", "currency"), "currency")]


def test_cost_without_currency_is_rejected() -> None:
    assert errors({"_cost": {"amount": "1"}}) == [((*LOC, "_cost", "currency"), "missing")]


def test_cost_without_amount_is_rejected() -> None:
    assert errors({"_cost": {"currency": "usd"}}) == [((*LOC, "_cost", "amount"), "missing")]


def test_cost_with_an_extra_key_is_rejected() -> None:
    assert errors({"_cost": {"amount": "1", "currency": "usd", "tax": 1}}) == \
        [((*LOC, "_cost", "tax"), "extra_forbidden")]


def test_cost_that_is_not_an_object_is_rejected() -> None:
    assert errors({"_cost": "1 usd"}) == [((*LOC, "_cost"), "dict_type")]


@pytest.mark.parametrize("amount", ["0.000000000001", "-3", "1e3", Decimal("2.50"), 7,
                                    " 4.5 "])
def test_cost_amounts_with_at_most_12_decimal_places_parse(amount: Any) -> None:
    assert parse_cost_amount(amount) == Decimal(str(amount).strip())


@pytest.mark.parametrize("amount", ["0.0000000000001", Decimal("1E-13"), "NaN", "Infinity",
                                    "1_000", "abc", "", True, None, [1], "١٢"])
def test_invalid_cost_amounts_are_refused(amount: Any) -> None:
    assert parse_cost_amount(amount) is None


@settings(max_examples=100)
@given(st.decimals(allow_nan=False, allow_infinity=False, places=12,
                   min_value=Decimal(-10 ** 9), max_value=Decimal(10 ** 9)))
def test_cost_amount_text_parses_to_the_same_decimal(amount: Decimal) -> None:
    assert parse_cost_amount(str(amount)) == amount


# _llm --------------------------------------------------------------------------------------

def test_llm_with_required_and_optional_fields_is_kept() -> None:
    llm = {**LLM, "cached_input_tokens": None, "prompt": None, "response": "ok"}
    assert validate_metadata({"_llm": llm}, LOC) == ({"_llm": llm}, [])


@pytest.mark.parametrize("missing", sorted(LLM))
def test_llm_without_a_required_field_is_rejected(missing: str) -> None:
    llm = {k: v for k, v in LLM.items() if k != missing}
    assert errors({"_llm": llm}) == [((*LOC, "_llm", missing), "missing")]


@pytest.mark.parametrize(("key", "value", "kind"), [
    ("input_tokens", "10", "int_type"), ("total_tokens", True, "int_type"),
    ("output_tokens", Decimal("1.5"), "int_type"), ("vendor", 1, "string_type"),
    ("prompt", 3, "string_type"), ("cached_input_tokens", "2", "int_type"),
    ("temperature", 1, "extra_forbidden"),
])
def test_llm_field_of_the_wrong_type_is_rejected(key: str, value: Any, kind: str) -> None:
    assert errors({"_llm": {**LLM, key: value}}) == [((*LOC, "_llm", key), kind)]
