"""Validation of an event's `metadata`: flat typed values plus the reserved `_cost` and `_llm`."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.errors import FieldError
from domain.span import DURATION_KEY

Loc = tuple[str | int, ...]

MAX_STRING = 500
MAX_NUMBER_DIGITS = 1000
"""Largest |exponent| of a metadata number, so exact sums of them stay small."""
COST_DECIMAL_PLACES = 12
MAX_COST_DIGITS = 131072
"""Integer digits of the largest amount: what PostgreSQL's NUMERIC holds before the point."""
RESERVED_KEYS = frozenset({DURATION_KEY})
"""Metadata keys the ledger sets itself (a span's duration), never accepted from clients."""

_STRUCTURED = frozenset({"_cost", "_llm"}) | RESERVED_KEYS
_COST_KEYS = frozenset({"amount", "currency"})

_DECIMAL_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)

_LLM_INTS = ("input_tokens", "output_tokens", "total_tokens")
_LLM_STRS = ("vendor", "model")
_LLM_OPTIONAL_STRS = ("prompt", "response")


def validate_metadata(raw: Any, loc: Loc) -> tuple[dict[str, Any], list[FieldError]]:
    """Return the normalised metadata and the errors found (empty when valid)."""
    if not isinstance(raw, dict):
        return {}, [FieldError(loc, "Input should be a valid dictionary", "dict_type", raw)]
    errors: list[FieldError] = []
    clean: dict[str, Any] = {}
    for key, value in raw.items():
        kind = type(value)
        if (kind is int or (kind is str and 0 < len(value) <= MAX_STRING)) \
                and key not in _STRUCTURED:
            clean[key] = value  # the common case, accepted without building its location
            continue
        here = (*loc, key)
        if key == "_cost":
            clean[key] = _cost(value, here, errors)
        elif key == "_llm":
            clean[key] = _llm(value, here, errors)
        elif key in RESERVED_KEYS:
            errors.append(FieldError(here, "This key is reserved: the ledger sets it.",
                                     "reserved_key", value))
        else:
            clean[key] = _scalar(value, here, errors)
    return clean, errors


def _scalar(value: Any, loc: Loc, errors: list[FieldError]) -> Any:
    if isinstance(value, bool | int):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite() or abs(value.adjusted()) > MAX_NUMBER_DIGITS:
            errors.append(FieldError(loc, "Input should be a finite number of at most "
                                     f"{MAX_NUMBER_DIGITS} digits", "finite_number", str(value)))
        return value
    if isinstance(value, str):
        if not value:
            errors.append(FieldError(loc, "String should have at least 1 character",
                                     "string_too_short", value))
        elif len(value) > MAX_STRING:
            errors.append(FieldError(loc, f"String should have at most {MAX_STRING} characters",
                                     "string_too_long", value))
        return value
    errors.append(FieldError(loc, "Input should be a valid string, integer, number or boolean",
                             "metadata_value_type", value))
    return value


def parse_cost_amount(value: Any) -> Decimal | None:
    """A cost amount in cents from a JSON number or a decimal string; None when invalid."""
    if isinstance(value, bool):
        return None
    if type(value) is Decimal:
        amount = value  # what a JSON number with a fraction decodes to: no copy
    elif isinstance(value, int | Decimal):
        amount = Decimal(value)
    elif isinstance(value, str):
        if not _DECIMAL_TEXT.fullmatch(value.strip()):
            return None  # Decimal() would also take "1_000", "NaN" and non-ASCII digits
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    if not amount.is_finite():
        return None
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > COST_DECIMAL_PLACES:
        return None
    if amount.adjusted() >= MAX_COST_DIGITS:
        return None
    return amount


def _cost(value: Any, loc: Loc, errors: list[FieldError]) -> Any:
    if not isinstance(value, dict):
        errors.append(FieldError(loc, "Input should be a valid dictionary", "dict_type", value))
        return value
    amount = parse_cost_amount(value.get("amount"))
    if "amount" not in value:
        errors.append(FieldError((*loc, "amount"), "Field required", "missing", value))
    elif amount is None:
        errors.append(FieldError(
            (*loc, "amount"),
            f"Input should be a decimal number of cents with at most {COST_DECIMAL_PLACES} "
            "decimal places", "decimal_type", value.get("amount")))
    currency = value.get("currency")
    if not isinstance(currency, str):
        errors.append(FieldError((*loc, "currency"), "Field required" if currency is None
                                 else "Input should be a valid string",
                                 "missing" if currency is None else "string_type", value))
    elif currency.lower() != "usd":
        errors.append(FieldError((*loc, "currency"), "Only 'usd' is supported", "currency",
                                 currency))
    for key in sorted(value.keys() - _COST_KEYS):
        errors.append(FieldError((*loc, key), "Extra inputs are not permitted", "extra_forbidden",
                                 value[key]))
    return {"amount": amount, "currency": "usd"} if amount is not None else value


def _llm(value: Any, loc: Loc, errors: list[FieldError]) -> Any:
    if not isinstance(value, dict):
        errors.append(FieldError(loc, "Input should be a valid dictionary", "dict_type", value))
        return value
    for key in (*_LLM_STRS, *_LLM_INTS):
        if key not in value:
            errors.append(FieldError((*loc, key), "Field required", "missing", value))
    for key, item in value.items():
        here = (*loc, key)
        if key in _LLM_STRS and not isinstance(item, str) or key in _LLM_OPTIONAL_STRS and item is not None and not isinstance(item, str):
            errors.append(FieldError(here, "Input should be a valid string", "string_type", item))
        elif key in (*_LLM_INTS, "cached_input_tokens") and (
                isinstance(item, bool) or not isinstance(item, int)):
            if not (key == "cached_input_tokens" and item is None):
                errors.append(FieldError(here, "Input should be a valid integer", "int_type", item))
        elif key not in (*_LLM_STRS, *_LLM_INTS, *_LLM_OPTIONAL_STRS, "cached_input_tokens"):
            errors.append(FieldError(here, "Extra inputs are not permitted", "extra_forbidden",
                                     item))
    return dict(value)
