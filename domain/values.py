"""Exact JSON values: numbers are `Decimal` (or `int`) from the wire to storage and back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Context, Decimal, DecimalException, Rounded
from typing import Any
from uuid import UUID

import orjson

_DECODER = json.JSONDecoder(parse_float=Decimal)
"""One decoder for every call: `json.loads(..., parse_float=...)` builds a new one each time,
which costs more than decoding a small metadata object."""


def loads(data: bytes | str) -> Any:
    """Parse JSON keeping every digit: fractions and exponents become `Decimal`, never float."""
    if not isinstance(data, str):
        data = data.decode(json.detect_encoding(data), "surrogatepass")
    return _DECODER.decode(data)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            msg = f"{value} is not a JSON number"
            raise TypeError(msg)
        return orjson.Fragment(_decimal_text(value).encode())
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(type(value).__name__)


def _decimal_text(value: Decimal) -> str:
    """Plain notation when it is short, so `1E+3` is written `1000` and `1.50` stays `1.50`."""
    text = str(value)
    if "E" in text:
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and -30 <= exponent <= 30:
            return format(value, "f")
    return text


def dumps(value: Any) -> bytes:
    """Serialise with Decimals as JSON numbers holding exactly their digits."""
    try:
        return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError as e:
        if "64-bit" not in str(e):
            raise
        # orjson writes only 64-bit integers and never defers them to `default`.
        return orjson.dumps(_wide_ints(value), default=_default,
                            option=orjson.OPT_NON_STR_KEYS)


def _wide_ints(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return orjson.Fragment(str(value).encode()) \
            if not -(2 ** 63) <= value < 2 ** 64 else value
    if isinstance(value, dict):
        return {k: _wide_ints(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wide_ints(v) for v in value]
    return value


def dumps_str(value: Any) -> str:
    return dumps(value).decode()


def canonical_json(value: Any) -> str:
    """Sorted keys and normalised numbers: equal values give equal text (1.0 == 1).

    orjson walks the value itself when it would write what the general walk writes."""
    if _plain(value):
        try:
            return orjson.dumps(value, default=_canonical_number,
                                option=orjson.OPT_SORT_KEYS).decode()
        except orjson.JSONEncodeError:
            pass  # a key that is not a str, an integer beyond 64 bits: the general walk decides
    return orjson.dumps(_canonical(value), option=orjson.OPT_SORT_KEYS).decode()


_PLAIN = frozenset((str, bool, type(None)))
_NATIVE = frozenset((str, int, bool, type(None), Decimal, UUID))


def _plain(value: Any) -> bool:
    """Whether orjson writes `value` as `_canonical` would once its Decimals are written by
    `_canonical_number`: only dicts, lists, tuples, UTC (or naive) datetimes and the `_NATIVE`
    types, never subclasses (orjson writes floats and enums in its own way)."""
    kind = type(value)
    if kind is dict:
        items: Any = value.values()
    elif kind is list or kind is tuple:
        items = value
    else:  # orjson writes datetimes as isoformat() does only in these zones
        return kind in _NATIVE or (kind is datetime and (value.tzinfo is None
                                                         or value.tzinfo is UTC))
    for item in items:
        if type(item) not in _NATIVE and not _plain(item):
            return False
    return True


_NORMALIZE = Context(prec=28)
_NORMALIZE.traps[Rounded] = True
"""The context of `_canonical_number` for values of at most 28 digits; rounding (more digits)
raises, as does anything else the default context traps."""


def _canonical_number(value: int | Decimal) -> orjson.Fragment:
    exact = Decimal(value)
    try:
        number = exact.normalize(_NORMALIZE)
    except DecimalException:
        # normalize() rounds to the context precision: give it every digit the value has.
        number = exact.normalize(Context(prec=max(28, len(exact.as_tuple().digits))))
    number = number or Decimal(0)
    text = str(number)  # plain notation unless it has an exponent: write short ones out
    if "E" in text and abs(number.adjusted()) < 100:
        text = format(number, "f")
    return orjson.Fragment(text.encode())


def _canonical(value: Any) -> Any:
    kind = type(value)
    if kind is dict:  # the common shapes first, without a call per plain value
        return {k if type(k) is str else str(k): v if type(v) in _PLAIN else _canonical(v)
                for k, v in value.items()}
    if kind is int and -(2 ** 63) <= value < 2 ** 63:
        return value  # its digits are already canonical
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | Decimal):
        return _canonical_number(value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return str(value)
