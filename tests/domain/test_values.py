"""Exact JSON: numbers keep every digit from the wire to storage and back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Context, Decimal
from enum import Enum, IntEnum
from typing import Any
from uuid import UUID

import orjson
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


def _canonical_json_before(value: Any) -> str:
    """`canonical_json` as it was while a Python walk built the canonical value: the fingerprints
    recorded in existing ledgers were computed with it."""
    return orjson.dumps(_canonical_before(value), option=orjson.OPT_SORT_KEYS).decode()


_PLAIN_BEFORE = frozenset((str, bool, type(None)))


def _canonical_before(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {k if type(k) is str else str(k):
                v if type(v) in _PLAIN_BEFORE else _canonical_before(v)
                for k, v in value.items()}
    if kind is int and -(2 ** 63) <= value < 2 ** 63:
        return value
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | Decimal):
        exact = Decimal(value)
        number = exact.normalize(Context(prec=max(28, len(exact.as_tuple().digits)))) \
            or Decimal(0)
        text = format(number, "f") if abs(number.adjusted()) < 100 else str(number)
        return orjson.Fragment(text.encode())
    if isinstance(value, dict):
        return {str(k): _canonical_before(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_before(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return str(value)


class _Colour(Enum):
    RED = "red"


class _Size(IntEnum):
    BIG = 10**20


class _Text(str):
    pass


_numbers = (st.integers() | st.integers(min_value=2**62, max_value=2**65).flatmap(
    lambda n: st.sampled_from([n, -n])) | st.integers(min_value=0, max_value=2**400)
    | st.decimals() | st.decimals(places=2) | st.sampled_from([
        Decimal("1.0"), Decimal("1E+3"), Decimal("-0"), Decimal("-0.000"), Decimal("0E+7"),
        Decimal("1E+99"), Decimal("1E+100"), Decimal("-1.5E-100"), Decimal("12E-99"),
        Decimal("9" * 28), Decimal("9" * 29), Decimal("1" + "0" * 40), Decimal("1E+999999"),
        Decimal("1.5E-1000026"), Decimal("9" * 40 + "E+999960"), Decimal("sNaN"), 2**64 - 1,
        2**63, -(2**63), -(2**63) - 1, 2**64]))
_leaves = (st.none() | st.booleans() | _numbers | st.text() | st.uuids()
           | st.datetimes(timezones=st.none() | st.just(UTC) | st.timezones()
                          | st.builds(timezone, st.timedeltas(min_value=timedelta(hours=-23),
                                                              max_value=timedelta(hours=23))))
           | st.dates() | st.floats() | st.sampled_from([_Colour.RED, _Size.BIG, _Text("t")]))
_keys = st.text() | st.integers() | st.booleans() | st.none() | st.uuids() \
    | st.sampled_from([_Text("k"), 1.5])
_json_values = st.recursive(_leaves, lambda inner: st.lists(inner, max_size=4)
                            | st.lists(inner, max_size=3).map(tuple)
                            | st.dictionaries(_keys, inner, max_size=4), max_leaves=20)


@settings(max_examples=1000)
@given(_json_values)
def test_canonical_json_writes_what_it_always_wrote(value: Any) -> None:
    try:
        expected = _canonical_json_before(value)
    except (ArithmeticError, TypeError) as e:
        with pytest.raises(type(e)):
            canonical_json(value)
    else:
        assert canonical_json(value) == expected


@settings(max_examples=500)
@given(st.dictionaries(st.text(), st.none() | st.booleans() | st.text() | _numbers.filter(
    lambda n: not (isinstance(n, Decimal) and n.is_snan())), max_size=6))
def test_canonical_json_of_ingested_payloads_is_unchanged(metadata: dict[str, Any]) -> None:
    payload = {"name": "api.request", "timestamp": datetime(2024, 5, 1, 12, 0, 0, 1, UTC),
               "customer_id": None, "external_customer_id": "c-1", "parent_id": None,
               "metadata": {**metadata, "_cost": {"amount": Decimal("0.625000"),
                                                  "currency": "usd"}}}
    assert canonical_json(payload) == _canonical_json_before(payload)
