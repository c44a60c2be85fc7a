"""Exact JSON: numbers keep every digit from the wire to storage and back."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.values import canonical_json, dumps, loads


def test_loads_parses_fractions_as_decimals_with_every_digit() -> None:
    value = loads(b'{"x": 0.10000000000000000001, "y": 1.50, "z": 2e-3}')
    assert value == {"x": Decimal("0.10000000000000000001"), "y": Decimal("1.50"),
                     "z": Decimal("2e-3")}
    assert [type(v) for v in value.values()] == [Decimal] * 3


def test_loads_keeps_integers_as_ints_of_any_size() -> None:
    assert loads("[7, 123456789012345678901234567890]") == [7, 123456789012345678901234567890]


def test_dumps_writes_decimals_as_json_numbers_with_their_digits() -> None:
    assert dumps({"x": Decimal("0.10000000000000000001"), "y": Decimal("1.50")}) == \
        b'{"x":0.10000000000000000001,"y":1.50}'


def test_dumps_writes_short_exponents_in_plain_notation() -> None:
    assert dumps([Decimal("1E+3"), Decimal("1E-12")]) == b"[1000,0.000000000001]"


def test_dumps_keeps_long_exponents_as_valid_json() -> None:
    assert loads(dumps([Decimal("1E+400"), Decimal("-5E-400")])) == [Decimal("1E+400"),
                                                                    Decimal("-5E-400")]


def test_dumps_writes_integers_wider_than_64_bits() -> None:
    big = {"n": [2 ** 64, -(2 ** 63) - 1, 10 ** 30], "ok": 2 ** 64 - 1, "b": True}
    assert dumps(big) == (b'{"n":[18446744073709551616,-9223372036854775809,'
                          b'1000000000000000000000000000000],"ok":18446744073709551615,'
                          b'"b":true}')


def test_dumps_writes_wide_integers_beside_decimals() -> None:
    assert dumps([10 ** 20, Decimal("0.5")]) == b"[100000000000000000000,0.5]"


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_dumps_refuses_numbers_json_cannot_hold(value: Decimal) -> None:
    with pytest.raises(TypeError):
        dumps({"x": value})


def test_canonical_json_sorts_keys() -> None:
    assert canonical_json({"b": 1, "a": {"d": 2, "c": 3}}) == '{"a":{"c":3,"d":2},"b":1}'


def test_canonical_json_equates_equal_numbers() -> None:
    assert canonical_json([1, Decimal("1.0"), Decimal("1E+0"), Decimal("0.00"),
                           Decimal("-0")]) == "[1,1,1,0,0]"


def test_canonical_json_tells_a_number_from_its_text() -> None:
    assert canonical_json({"x": 1}) != canonical_json({"x": "1"})


def test_canonical_json_tells_close_numbers_apart() -> None:
    assert canonical_json(Decimal("0.10000000000000000001")) != canonical_json(Decimal("0.1"))


finite_decimals = st.decimals(allow_nan=False, allow_infinity=False)


@settings(max_examples=200)
@given(finite_decimals)
def test_every_finite_decimal_survives_a_round_trip(value: Decimal) -> None:
    assert loads(dumps([value])) == [value]


@settings(max_examples=200)
@given(finite_decimals.filter(lambda d: d.as_tuple().exponent < 0))  # type: ignore[operator]
def test_fractions_round_trip_with_their_exact_digits(value: Decimal) -> None:
    (back,) = loads(dumps([value]))
    assert (type(back), back.as_tuple()) == (Decimal, value.as_tuple())


@settings(max_examples=200)
@given(st.integers())
def test_every_integer_survives_a_round_trip(value: int) -> None:
    assert loads(dumps({"n": value})) == {"n": value}


@settings(max_examples=100)
@given(finite_decimals, finite_decimals)
def test_canonical_json_is_equal_exactly_when_the_numbers_are(a: Decimal, b: Decimal) -> None:
    assert (canonical_json(a) == canonical_json(b)) == (a == b)


def test_canonical_json_keeps_digits_beyond_the_default_decimal_precision() -> None:
    a = Decimal("0.12345678901234567890123456789012")
    b = Decimal("0.12345678901234567890123456789013")
    assert canonical_json(a) != canonical_json(b)
    assert canonical_json(a) == "0.12345678901234567890123456789012"
