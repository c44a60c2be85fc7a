"""Meter aggregations, as exact mergeable partial aggregates.

Modeled on Polar's `polar.meter.aggregation`::

    {"func": "count"}
    {"func": "sum" | "max" | "min" | "avg", "property": "tokens"}
    {"func": "unique", "property": "user_id"}

A `Partial` summarises any set of events for one aggregation; partials of disjoint sets merge
into the partial of their union (`merge` is associative and commutative, `EMPTY` is its
identity), so projections can keep one partial per (meter, customer, time bucket) and combine
them at query time for any bucket size made of whole base buckets.

All arithmetic is exact `Decimal` (sums use an unbounded-precision context); `float` is never
involved. Only `avg` divides, see `value`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, InvalidOperation, localcontext
from enum import StrEnum
from typing import Any, Final, NamedTuple

from domain.errors import FieldError
from domain.meter_filter import (
    MISSING,
    LocatedValueError,
    MeterableEvent,
    PropertyReader,
    normalize_property,
    property_reader,
)

AVG_PRECISION: Final = 60
"""Significant digits of an average that is not exactly representable (e.g. 1/3)."""


class AggregationError(LocatedValueError):
    """An aggregation document, or a stored partial, is malformed."""


class AggregationFunction(StrEnum):
    count = "count"  # type: ignore[assignment]  # shadows str.count; Polar names it `cnt`
    sum = "sum"
    max = "max"
    min = "min"
    avg = "avg"
    unique = "unique"


_PROPERTY_FUNCS: Final = frozenset({
    AggregationFunction.sum, AggregationFunction.max, AggregationFunction.min,
    AggregationFunction.avg, AggregationFunction.unique,
})
_NUMERIC_FUNCS: Final = frozenset({
    AggregationFunction.sum, AggregationFunction.max, AggregationFunction.min,
    AggregationFunction.avg,
})


@dataclass(frozen=True, slots=True)
class Aggregation:
    """`property` is None exactly for `count`; otherwise normalised (no `metadata.` prefix)."""

    func: AggregationFunction
    property: str | None = None
    _read: PropertyReader | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "func", AggregationFunction(self.func))
        if (self.func in _PROPERTY_FUNCS) != (self.property is not None):
            raise ValueError(f"{self.func.value} {'needs' if self.property is None else 'takes no'}"
                             " property")
        if self.property is not None and self.property != normalize_property(self.property):
            object.__setattr__(self, "property", normalize_property(self.property))
        object.__setattr__(self, "_read",
                           None if self.property is None else property_reader(self.property))

    def to_json(self) -> dict[str, Any]:
        if self.property is None:
            return {"func": self.func.value}
        return {"func": self.func.value, "property": self.property}

    def is_summable(self) -> bool:
        return is_summable(self)


COUNT: Final = Aggregation(AggregationFunction.count)


def is_summable(aggregation: Aggregation) -> bool:
    """Whether values computed over disjoint groups (e.g. per price) can simply be added: true
    for count and sum (Polar's rule). Every aggregation is mergeable through its `Partial`."""
    return aggregation.func in (AggregationFunction.count, AggregationFunction.sum)


_FUNCS_MSG: Final = "Input should be " + ", ".join(
    f"'{f.value}'" for f in list(AggregationFunction)[:-1]
) + f" or '{list(AggregationFunction)[-1].value}'"


def parse_aggregation(data: object) -> Aggregation:
    """Validate an aggregation document; extra keys are ignored (as Polar, so a `property` sent
    with `count` is dropped). Raises `AggregationError` with `loc` inside `data`."""
    if not isinstance(data, Mapping):
        raise AggregationError((), "Input should be a valid dictionary", type="dict_type",
                               input=data)
    errors: list[FieldError] = []
    func: AggregationFunction | None = None
    if "func" not in data:
        errors.append(FieldError(("func",), "Field required", "missing", dict(data)))
    else:
        raw = data["func"]
        if isinstance(raw, str) and raw in AggregationFunction._value2member_map_:
            func = AggregationFunction(raw)
        else:
            errors.append(FieldError(("func",), _FUNCS_MSG, "enum", raw))
    prop: str | None = None
    if func in _PROPERTY_FUNCS:
        raw_prop = data.get("property")
        if "property" not in data:
            errors.append(FieldError(("property",), "Field required", "missing", dict(data)))
        elif not isinstance(raw_prop, str):
            errors.append(FieldError(("property",), "Input should be a valid string",
                                     "string_type", raw_prop))
        else:
            prop = normalize_property(raw_prop)
    if errors or func is None:
        raise AggregationError.from_errors(errors)
    return Aggregation(func, prop)


# --------------------------------------------------------------------------- partials


class Partial(NamedTuple):
    """The mergeable summary of a set of events for one aggregation.

    `count` is the number of events that contributed (for count: all matching events; for the
    numeric functions: events whose property is a number; for unique: events having the
    property). `sum` / `min` / `max` are over those numbers. `distinct` holds the canonical text
    (`canonical_value`) of every distinct value seen, for unique only.

    A named tuple, not a frozen dataclass: as immutable, and made in a third of the time (a
    fold makes one per matching event and meter, and another merging it).
    """

    count: int = 0
    sum: Decimal = Decimal(0)
    min: Decimal | None = None
    max: Decimal | None = None
    distinct: frozenset[str] = frozenset()

    @property
    def is_empty(self) -> bool:
        return self.count == 0


EMPTY: Final = Partial()


_EXACT: Final = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
"""A context in which `add` is exact (never rounds) for any finite operands.

Exactness has a price with absurd inputs (1E+999999 + 1E-999999 has two million digits):
bounding the magnitude of metadata numbers is the ingestion's job."""


def number_value(value: object) -> Decimal | None:
    """A resolved property as a number: `int` or finite `Decimal`; never `bool`, text or float."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal) and value.is_finite():
        return value
    return None


CANONICAL_INTEGER_DIGITS: Final = 100
"""Integers up to this many digits are written out in full by `canonical_decimal`."""


def canonical_decimal(value: Decimal) -> Decimal:
    """The normal form of a number: no trailing fractional zeros, no negative zero, and no
    positive exponent unless the integer has more than `CANONICAL_INTEGER_DIGITS` digits.
    Equal numbers have identical normal forms (1, 1.0, 1E+0 -> 1; 1E+2 -> 100; 2.50 -> 2.5)."""
    if value.is_zero():
        return Decimal(0)
    normal = _EXACT.normalize(value)
    # A positive exponent is what makes the text read "E+" (far cheaper than `as_tuple`).
    if normal.adjusted() < CANONICAL_INTEGER_DIGITS and "E+" in str(normal):
        normal = normal.quantize(Decimal(1), context=_EXACT)
    return normal


_quote = json.JSONEncoder(ensure_ascii=False).encode
"""`json.dumps(text, ensure_ascii=False)` without building an encoder per call (which json.dumps
does whenever an option is given)."""


def canonical_value(value: object) -> str | None:
    """The text identifying a JSON scalar for `unique`, or None if the value is not one.

    Numbers: normalised decimal text (`1` and `1.0` are the same value, `1E+2` is `100`).
    Strings: JSON-quoted. Booleans: `true` / `false`. JSON null: `null`. Dictionaries, lists,
    floats and non-finite decimals: None (skipped).
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _quote(value)
    number = number_value(value)
    if number is None:
        return None
    return str(canonical_decimal(number))


def partial_of(aggregation: Aggregation, event: MeterableEvent) -> Partial | None:
    """The partial of one (already filtered) event, or None when the event does not contribute
    (see `contribution`)."""
    value = contribution(aggregation, event)
    if value is None:
        return None
    if aggregation.func is AggregationFunction.count:
        return Partial(count=1)
    if isinstance(value, str):
        return Partial(count=1, distinct=frozenset((value,)))
    assert isinstance(value, Decimal)
    return Partial(count=1, sum=value, min=value, max=value)


def contribution(aggregation: Aggregation, event: MeterableEvent) -> Decimal | str | bool | None:
    """What one (already filtered) event adds: for count, True; for unique, the canonical text
    of its value; for the numeric functions, its number; None when it does not contribute.

    count never skips; sum/max/min/avg skip events whose property is missing or not a number
    (bools, text, dictionaries); unique skips events whose property is missing or not a scalar.
    """
    if aggregation.func is AggregationFunction.count:
        return True
    assert aggregation._read is not None
    raw = aggregation._read(event)
    if raw is MISSING:
        return None
    if aggregation.func is AggregationFunction.unique:
        return canonical_value(raw)
    return number_value(raw)


def merge(a: Partial, b: Partial) -> Partial:
    """The partial of the union of two disjoint event sets."""
    if not b.count and not b.distinct:
        return a
    if not a.count and not a.distinct:
        return b
    a_min, b_min, a_max, b_max = a.min, b.min, a.max, b.max
    return Partial(
        a.count + b.count,
        _EXACT.add(a.sum, b.sum),
        b_min if a_min is None or (b_min is not None and b_min < a_min) else a_min,
        b_max if a_max is None or (b_max is not None and b_max > a_max) else a_max,
        a.distinct | b.distinct if b.distinct else a.distinct,
    )


class Tally:
    """The partial of events taken one at a time (each event's `contribution`):
    `aggregate(aggregation, events)`, without a partial and a merge per event (a run of usage
    takes thousands). The sum is added up once, in the exact context, starting from the first
    number as merging does."""

    __slots__ = ("aggregation", "count", "distinct", "numbers")

    def __init__(self, aggregation: Aggregation) -> None:
        self.aggregation = aggregation
        self.count = 0
        self.numbers: list[Decimal] = []
        self.distinct: set[str] = set()

    def take(self, value: Decimal | str | bool | None) -> None:
        """Merge in an event's `contribution` (True counts it and nothing else)."""
        if value is None:
            return
        self.count += 1
        if value is True:
            return
        if isinstance(value, str):
            self.distinct.add(value)
        elif isinstance(value, Decimal):
            self.numbers.append(value)

    def partial(self) -> Partial:
        numbers = self.numbers
        if not numbers:
            return Partial(self.count, distinct=frozenset(self.distinct)) if self.count else EMPTY
        with localcontext(_EXACT):
            total = sum(numbers[1:], numbers[0])
        return Partial(self.count, total, min(numbers), max(numbers))


def merge_all(partials: Iterable[Partial]) -> Partial:
    result = EMPTY
    for p in partials:
        result = merge(result, p)
    return result


def aggregate(aggregation: Aggregation, events: Iterable[MeterableEvent]) -> Partial:
    """The partial of a set of (already filtered) events."""
    result = EMPTY
    for event in events:
        p = partial_of(aggregation, event)
        if p is not None:
            result = merge(result, p)
    return result


def value(aggregation: Aggregation, partial: Partial) -> Decimal:
    """The meter quantity a partial stands for, in normal form (see `canonical_decimal`).

    Empty partials give 0 for every function (Polar's `coalesce(..., 0)`).
    avg rule: `sum / count` is computed with `AVG_PRECISION` (60) significant digits, rounding
    half-even; when the quotient is exact within 60 digits (e.g. 7/4 = 1.75) it is exact, otherwise
    (e.g. 1/3) it is the correctly rounded 60-digit value. The result is then normalised.
    """
    func = aggregation.func
    if func is AggregationFunction.count:
        return Decimal(partial.count)
    if func is AggregationFunction.unique:
        return Decimal(len(partial.distinct))
    if partial.count == 0:
        return Decimal(0)
    if func is AggregationFunction.sum:
        return canonical_decimal(partial.sum)
    if func is AggregationFunction.max:
        return canonical_decimal(partial.max if partial.max is not None else Decimal(0))
    if func is AggregationFunction.min:
        return canonical_decimal(partial.min if partial.min is not None else Decimal(0))
    if func is AggregationFunction.avg:
        with localcontext(prec=AVG_PRECISION, Emax=MAX_EMAX, Emin=MIN_EMIN):
            quotient = partial.sum / Decimal(partial.count)
        return canonical_decimal(quotient)
    raise AssertionError(f"unhandled function {func!r}")  # pragma: no cover


# --------------------------------------------------------------------------- storage


def partial_to_json(partial: Partial) -> dict[str, Any]:
    """A compact JSON-safe dict: default fields are left out, Decimals are strings, `distinct`
    is a sorted list. `partial_from_json` reads it back exactly."""
    out: dict[str, Any] = {}
    if partial.count:
        out["count"] = partial.count
    if partial.sum != 0 or partial.sum.as_tuple().exponent != 0:
        out["sum"] = str(partial.sum)
    if partial.min is not None:
        out["min"] = str(partial.min)
    if partial.max is not None:
        out["max"] = str(partial.max)
    if partial.distinct:
        out["distinct"] = sorted(partial.distinct)
    return out


def partial_from_json(data: object) -> Partial:
    if not isinstance(data, Mapping):
        raise AggregationError((), "Input should be a valid dictionary", type="dict_type",
                               input=data)
    count = data.get("count", 0)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise AggregationError(("count",), "Input should be a non-negative integer",
                               type="int_type", input=count)
    total = _decimal_field(data, "sum")
    low = _decimal_field(data, "min")
    high = _decimal_field(data, "max")
    raw_distinct = data.get("distinct", [])
    if not isinstance(raw_distinct, list | tuple) or not all(
            isinstance(item, str) for item in raw_distinct):
        raise AggregationError(("distinct",), "Input should be a list of strings",
                               type="list_type", input=raw_distinct)
    return Partial(count=count, sum=total if total is not None else Decimal(0), min=low,
                   max=high, distinct=frozenset(raw_distinct))


def _decimal_field(data: Mapping[str, Any], key: str) -> Decimal | None:
    if key not in data:
        return None
    raw = data[key]
    try:
        if not isinstance(raw, str):
            raise TypeError
        number = Decimal(raw)
    except (TypeError, InvalidOperation):
        raise AggregationError((key,), "Input should be a decimal string", type="decimal_type",
                               input=raw) from None
    if not number.is_finite():
        raise AggregationError((key,), "Input should be a finite number", type="finite_number",
                               input=raw)
    return number
