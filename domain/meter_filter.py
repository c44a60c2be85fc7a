"""Meter filters: which usage events a meter counts.

Modeled on Polar's `polar.meter.filter`: a filter is a tree of clauses joined by `and` / `or`,
and a clause compares one property of an event with a constant::

    {"conjunction": "and", "clauses": [
        {"property": "name", "operator": "eq", "value": "ai_usage"},
        {"conjunction": "or", "clauses": [
            {"property": "model", "operator": "like", "value": "gpt"},
            {"property": "_llm.input_tokens", "operator": "gt", "value": 1000}]}]}

Matching is pure Python and exact (numbers are `int` / `Decimal`, never `float`); the SQL
compilation of the same filter must follow the rules documented on `compare`.

Properties. `name`, `source` and `timestamp` address the event's own fields (`timestamp` as
integer epoch seconds, floored). Every other property is a path into the event's metadata:
leading `metadata.` prefixes are stripped (as Polar does, so `metadata.name` is the event *name*,
not a metadata key) and dots reach into nested dictionaries (`_cost.amount`, `_llm.model`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum, StrEnum
from functools import lru_cache
from operator import attrgetter
from typing import Any, Final, Literal, Protocol, TypeAlias

from domain.errors import FieldError, InvalidInput

Loc: TypeAlias = tuple[str | int, ...]

MAX_STRING_LENGTH: Final = 1000
"""Longest string clause value (Polar's limit)."""

MAX_FILTER_DEPTH: Final = 64
"""Deepest nesting of filters accepted; keeps recursion (here and in SQL) far from any limit."""

EVENT_FIELDS: Final = frozenset({"name", "source", "timestamp"})
METADATA_PREFIX: Final = "metadata."

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_SECOND: Final = timedelta(seconds=1)


# --------------------------------------------------------------------------- errors


class LocatedValueError(ValueError):
    """A validation failure that knows where, inside the submitted JSON, it happened.

    `loc`, `msg`, `type` and `input` describe the first problem; `errors` lists them all, as
    `domain.errors.FieldError`, ready to be prefixed (e.g. with `("body", "filter")`) and turned
    into Polar's 422 `{"detail": [{"type", "loc", "msg", "input"}]}`.
    """

    def __init__(
        self,
        loc: Loc,
        msg: str,
        *,
        type: str = "value_error",
        input: Any = None,
        errors: Sequence[FieldError] | None = None,
    ) -> None:
        first = FieldError(tuple(loc), msg, type, input)
        self.errors: tuple[FieldError, ...] = tuple(errors) if errors else (first,)
        head = self.errors[0]
        self.loc: Loc = head.loc
        self.msg: str = head.msg
        self.type: str = head.type
        self.input: Any = head.input
        where = ".".join(map(str, self.loc)) or "<root>"
        super().__init__(f"{where}: {self.msg}")

    @classmethod
    def from_errors(cls, errors: Sequence[FieldError]) -> LocatedValueError:
        if not errors:
            raise ValueError("from_errors needs at least one error")
        head = errors[0]
        return cls(head.loc, head.msg, type=head.type, input=head.input, errors=errors)

    def prefixed(self, prefix: Loc) -> list[FieldError]:
        """The errors with `prefix` put in front of every `loc`."""
        return [FieldError((*prefix, *e.loc), e.msg, e.type, e.input) for e in self.errors]

    def as_invalid_input(self, prefix: Loc = ()) -> InvalidInput:
        return InvalidInput(self.prefixed(prefix))


class FilterError(LocatedValueError):
    """A filter document is malformed."""


# --------------------------------------------------------------------------- events


class MeterableEvent(Protocol):
    """What a filter (and an aggregation) reads from a usage event.

    `timestamp` is timezone-aware; `metadata` values are `str`, `int`, `Decimal`, `bool`, or, for
    the reserved `_cost` / `_llm` keys, nested dictionaries of those.
    """

    @property
    def name(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def timestamp(self) -> datetime: ...

    @property
    def metadata(self) -> Mapping[str, Any]: ...


class Missing(Enum):
    """Type of `MISSING`: a property the event does not have (distinct from any JSON value)."""

    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = Missing.MISSING


def epoch_seconds(ts: datetime) -> int:
    """Whole seconds since 1970-01-01T00:00Z, floored (exact: no float involved)."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError("event timestamps must be timezone-aware")
    return (ts - _EPOCH) // _ONE_SECOND


def normalize_property(property: str) -> str:
    """Strip leading `metadata.` prefixes (all of them, so normalising twice changes nothing)."""
    while property.startswith(METADATA_PREFIX):
        property = property[len(METADATA_PREFIX) :]
    return property


@lru_cache(maxsize=4096)
def metadata_path(property: str) -> tuple[str, ...] | None:
    """The key path a property reads inside the metadata, or None for an event field (cached:
    meters resolve the same few properties on every event they match).

    >>> metadata_path("metadata._cost.amount")
    ('_cost', 'amount')
    >>> metadata_path("timestamp") is None
    True
    """
    prop = normalize_property(property)
    if prop in EVENT_FIELDS:
        return None
    return tuple(prop.split("."))


def resolve_property(event: MeterableEvent, property: str) -> object:
    """The value a property has on an event, or `MISSING`.

    `timestamp` resolves to integer epoch seconds. A metadata path is missing when a key is absent
    or an intermediate value is not a dictionary. Leaf values are returned as stored (they may be
    dictionaries, e.g. `_cost`, which no clause value ever matches).
    """
    return property_reader(property)(event)


PropertyReader: TypeAlias = Callable[[MeterableEvent], object]


@lru_cache(maxsize=4096)
def property_reader(property: str) -> PropertyReader:
    """`resolve_property` for one property, its path worked out once: meters read the same few
    properties on every event."""
    path = metadata_path(property)
    if path is None:
        prop = normalize_property(property)
        if prop == "timestamp":
            return lambda event: epoch_seconds(event.timestamp)
        return attrgetter("name" if prop == "name" else "source")

    def read_path(event: MeterableEvent) -> object:
        current: Any = event.metadata
        for key in path:
            if type(current) is not dict and not isinstance(current, Mapping):
                return MISSING
            current = current.get(key, MISSING)
            if current is MISSING:
                return MISSING
        return current
    return read_path


# --------------------------------------------------------------------------- model


class FilterOperator(StrEnum):
    eq = "eq"
    ne = "ne"
    gt = "gt"
    gte = "gte"
    lt = "lt"
    lte = "lte"
    like = "like"
    not_like = "not_like"


class FilterConjunction(StrEnum):
    and_ = "and"
    or_ = "or"


ClauseValue: TypeAlias = str | int | bool | Decimal
Kind: TypeAlias = Literal["bool", "number", "string"]


def value_kind(value: object) -> Kind | None:
    """How a value compares: `bool` before `int` (bool is an int subclass in Python), finite
    `Decimal` and `int` are numbers, `str` is text; anything else (dicts, None, float, NaN) has
    no kind and never matches."""
    if type(value) is str:  # the common case first
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "number"
    if isinstance(value, Decimal):
        return "number" if value.is_finite() else None
    if isinstance(value, str):
        return "string"
    return None


@dataclass(frozen=True, slots=True, eq=False)
class FilterClause:
    property: str
    """Normalised: without the `metadata.` prefix."""
    operator: FilterOperator
    value: ClauseValue
    _read: PropertyReader = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.property != normalize_property(self.property):
            object.__setattr__(self, "property", normalize_property(self.property))
        object.__setattr__(self, "operator", FilterOperator(self.operator))
        if value_kind(self.value) is None:
            raise ValueError(f"invalid clause value {self.value!r}")
        object.__setattr__(self, "_read", property_reader(self.property))

    def _key(self) -> tuple[object, ...]:
        # True == 1 in Python; keep bools apart from numbers in equality and hashing.
        return (self.property, self.operator, value_kind(self.value), self.value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FilterClause):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def path(self) -> tuple[str, ...] | None:
        """The metadata key path this clause reads, None for an event field."""
        return metadata_path(self.property)

    def to_json(self) -> dict[str, Any]:
        return {"property": self.property, "operator": self.operator.value, "value": self.value}

    def matches(self, event: MeterableEvent) -> bool:
        actual = self._read(event)
        if actual is MISSING:
            return False
        return compare(self.operator, actual, self.value)


@dataclass(frozen=True, slots=True)
class Filter:
    conjunction: FilterConjunction
    clauses: tuple[FilterClause | Filter, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "conjunction", FilterConjunction(self.conjunction))
        object.__setattr__(self, "clauses", tuple(self.clauses))

    def to_json(self) -> dict[str, Any]:
        return {
            "conjunction": self.conjunction.value,
            "clauses": [clause.to_json() for clause in self.clauses],
        }

    def matches(self, event: MeterableEvent) -> bool:
        """An empty clause list matches every event, for `and` and `or` alike (as Polar)."""
        if not self.clauses:
            return True
        wanted = self.conjunction is FilterConjunction.or_  # the result that decides at once
        for clause in self.clauses:  # a loop: a generator per event costs more than a clause
            if clause.matches(event) is wanted:
                return wanted
        return not wanted

    def iter_clauses(self) -> list[FilterClause]:
        """Every clause of the tree, depth first."""
        out: list[FilterClause] = []
        for clause in self.clauses:
            if isinstance(clause, Filter):
                out.extend(clause.iter_clauses())
            else:
                out.append(clause)
        return out


MATCH_ALL: Final = Filter(FilterConjunction.and_, ())


def matches(filter: Filter, event: MeterableEvent) -> bool:
    return filter.matches(event)


def compare(operator: FilterOperator, actual: object, expected: ClauseValue) -> bool:
    """Polar's clause semantics, made exact.

    - `like` / `not_like`: case-sensitive substring test; both sides must be strings, otherwise
      no match (for `not_like` too). There are no wildcards: `%` and `_` are literal.
    - Otherwise both sides must have the same kind (see `value_kind`), otherwise no match, for
      `ne` too: `ne` means "present, same kind, different value".
    - numbers compare numerically and exactly (`Decimal("1.0") == 1`); strings by code point
      (SQL must use `COLLATE "C"` to agree); booleans support `eq` / `ne` only.
    """
    if operator is FilterOperator.like or operator is FilterOperator.not_like:
        if not isinstance(actual, str) or not isinstance(expected, str):
            return False
        found = expected in actual
        return found if operator is FilterOperator.like else not found
    kind = value_kind(actual)
    if kind is None or kind != value_kind(expected):
        return False
    if operator is FilterOperator.eq:
        return actual == expected
    if operator is FilterOperator.ne:
        return actual != expected
    if kind == "bool":
        return False
    a: Any = actual
    e: Any = expected
    if operator is FilterOperator.gt:
        return bool(a > e)
    if operator is FilterOperator.gte:
        return bool(a >= e)
    if operator is FilterOperator.lt:
        return bool(a < e)
    if operator is FilterOperator.lte:
        return bool(a <= e)
    raise AssertionError(f"unhandled operator {operator!r}")  # pragma: no cover


# --------------------------------------------------------------------------- parsing

_OPERATORS_MSG: Final = "Input should be " + ", ".join(
    f"'{op.value}'" for op in list(FilterOperator)[:-1]
) + f" or '{list(FilterOperator)[-1].value}'"


def parse_filter(data: object) -> Filter:
    """Validate a filter document (plain JSON data, numbers as int / Decimal).

    Raises `FilterError` listing every problem found, each with its `loc` inside `data`.
    Unknown keys are ignored, as Polar does. Floats are refused: parse JSON with
    `parse_float=Decimal` (see `domain.values.loads`).
    """
    errors: list[FieldError] = []
    result = _parse_filter(data, (), 1, errors)
    if errors or result is None:
        raise FilterError.from_errors(errors)
    return result


def _parse_node(data: object, loc: Loc, depth: int, errors: list[FieldError]
                ) -> FilterClause | Filter | None:
    if isinstance(data, Mapping) and ("conjunction" in data or "clauses" in data):
        return _parse_filter(data, loc, depth, errors)
    return _parse_clause(data, loc, errors)


def _parse_filter(data: object, loc: Loc, depth: int, errors: list[FieldError]) -> Filter | None:
    if not isinstance(data, Mapping):
        errors.append(FieldError(loc, "Input should be a valid dictionary", "dict_type", data))
        return None
    if depth > MAX_FILTER_DEPTH:
        errors.append(FieldError(loc, f"Filters can be nested at most {MAX_FILTER_DEPTH} deep",
                                 "value_error", None))
        return None
    n_errors = len(errors)
    conjunction: FilterConjunction | None = None
    if "conjunction" not in data:
        errors.append(FieldError((*loc, "conjunction"), "Field required", "missing", dict(data)))
    else:
        raw = data["conjunction"]
        if isinstance(raw, str) and raw in FilterConjunction._value2member_map_:
            conjunction = FilterConjunction(raw)
        else:
            errors.append(FieldError((*loc, "conjunction"), "Input should be 'and' or 'or'",
                                     "enum", raw))
    clauses: list[FilterClause | Filter] = []
    if "clauses" not in data:
        errors.append(FieldError((*loc, "clauses"), "Field required", "missing", dict(data)))
    else:
        raw_clauses = data["clauses"]
        if not isinstance(raw_clauses, list | tuple):
            errors.append(FieldError((*loc, "clauses"), "Input should be a valid list",
                                     "list_type", raw_clauses))
        else:
            for i, item in enumerate(raw_clauses):
                node = _parse_node(item, (*loc, "clauses", i), depth + 1, errors)
                if node is not None:
                    clauses.append(node)
    if len(errors) > n_errors or conjunction is None:
        return None
    return Filter(conjunction, tuple(clauses))


def _parse_clause(data: object, loc: Loc, errors: list[FieldError]) -> FilterClause | None:
    if not isinstance(data, Mapping):
        errors.append(FieldError(loc, "Input should be a valid dictionary", "dict_type", data))
        return None
    n_errors = len(errors)
    prop = data.get("property")
    if "property" not in data:
        errors.append(FieldError((*loc, "property"), "Field required", "missing", dict(data)))
    elif not isinstance(prop, str):
        errors.append(FieldError((*loc, "property"), "Input should be a valid string",
                                 "string_type", prop))
    raw_op = data.get("operator")
    if "operator" not in data:
        errors.append(FieldError((*loc, "operator"), "Field required", "missing", dict(data)))
    elif not (isinstance(raw_op, str) and raw_op in FilterOperator._value2member_map_):
        errors.append(FieldError((*loc, "operator"), _OPERATORS_MSG, "enum", raw_op))
    value: Any = data.get("value")
    if "value" not in data:
        errors.append(FieldError((*loc, "value"), "Field required", "missing", dict(data)))
    else:
        _check_value(value, (*loc, "value"), errors)
    if len(errors) > n_errors:
        return None
    assert isinstance(prop, str) and isinstance(raw_op, str)
    return FilterClause(normalize_property(prop), FilterOperator(raw_op), value)


def _check_value(value: object, loc: Loc, errors: list[FieldError]) -> None:
    if isinstance(value, bool | int):
        return
    if isinstance(value, str):
        if len(value) > MAX_STRING_LENGTH:
            errors.append(FieldError(
                loc, f"String should have at most {MAX_STRING_LENGTH} characters",
                "string_too_long", value))
        return
    if isinstance(value, Decimal):
        if not value.is_finite():
            errors.append(FieldError(loc, "Input should be a finite number", "finite_number",
                                     str(value)))
        return
    if isinstance(value, float):
        errors.append(FieldError(
            loc, "Input should be an exact number; parse JSON with parse_float=Decimal",
            "decimal_type", value))
        return
    errors.append(FieldError(loc, "Input should be a valid string, integer, number or boolean",
                             "filter_value_type", value))
