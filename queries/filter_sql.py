"""A meter filter (JSON form) compiled to a SQL condition over the `events` read table.

The semantics mirror the reference implementation `domain.meter_filter.matches`: a missing key or
a type mismatch never matches, not even with `ne`; `like` is a case-sensitive substring test.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, cast, false, func, literal, not_, or_, true
from sqlalchemy import Integer as SAInteger

from domain.meter_filter import normalize_property
from projections.tables import events
from queries.jsonsql import json_kind, json_number, json_text, json_true

_EVENT_FIELDS = {"name", "source", "timestamp"}


def filter_condition(spec: dict[str, Any], dialect: str) -> ColumnElement[bool]:
    clauses = [
        filter_condition(c, dialect) if "clauses" in c else _clause(c, dialect)
        for c in spec.get("clauses", [])
    ]
    if not clauses:
        return true()
    return and_(*clauses) if spec.get("conjunction", "and") == "and" else or_(*clauses)


def _path(prop: str) -> tuple[str, ...]:
    return tuple(normalize_property(prop).split("."))


def _compare(left: Any, operator: str, right: Any) -> ColumnElement[bool]:
    match operator:
        case "eq":
            return left == right  # type: ignore[no-any-return]
        case "ne":
            return left != right  # type: ignore[no-any-return]
        case "gt":
            return left > right  # type: ignore[no-any-return]
        case "gte":
            return left >= right  # type: ignore[no-any-return]
        case "lt":
            return left < right  # type: ignore[no-any-return]
        case "lte":
            return left <= right  # type: ignore[no-any-return]
    msg = f"unknown operator {operator}"
    raise ValueError(msg)


def _clause(clause: dict[str, Any], dialect: str) -> ColumnElement[bool]:
    prop, operator, value = clause["property"], clause["operator"], clause["value"]
    if normalize_property(prop) in _EVENT_FIELDS:
        prop = normalize_property(prop)
        return _event_field(prop, operator, value, dialect)
    path = _path(prop)
    kind = json_kind(events.c.metadata, path)
    if operator in ("like", "not_like"):
        if not isinstance(value, str):
            return false()
        text = json_text(events.c.metadata, path)
        contains = func.instr(text, value) > 0 if dialect == "sqlite" \
            else func.strpos(text, value) > 0
        return and_(kind == "string", contains if operator == "like" else not_(contains))
    if isinstance(value, bool):
        if operator not in ("eq", "ne"):
            return false()
        is_true = json_true(events.c.metadata, path)
        return and_(kind == "boolean", is_true if (operator == "eq") == value else not_(is_true))
    if isinstance(value, int | Decimal):
        if dialect == "sqlite":
            # json_text keeps the number's digits; compare them exactly, not as floats.
            order = func.metering_decimal_cmp(json_text(events.c.metadata, path), str(value))
            return and_(kind == "number", _compare(order, operator, literal(0)))
        number = json_number(events.c.metadata, path)
        return and_(kind == "number", _compare(number, operator, literal(Decimal(value))))
    text = json_text(events.c.metadata, path)
    if dialect == "postgresql" and operator not in ("eq", "ne"):
        text = text.collate("C")  # code-point order, as Python compares strings
    return and_(kind == "string", _compare(text, operator, value))


def _event_field(prop: str, operator: str, value: Any, dialect: str) -> ColumnElement[bool]:
    if prop == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            return false()
        if operator in ("like", "not_like"):
            return false()
        epoch = cast(func.strftime("%s", events.c.timestamp), SAInteger) if dialect == "sqlite" \
            else func.floor(func.extract("epoch", events.c.timestamp))
        return _compare(epoch, operator, literal(value))
    column: ColumnElement[str] = events.c.name if prop == "name" else events.c.source
    if not isinstance(value, str):
        return false()
    if dialect == "postgresql" and operator not in ("eq", "ne", "like", "not_like"):
        column = column.collate("C")
    if operator in ("like", "not_like"):
        contains = func.instr(column, value) > 0 if dialect == "sqlite" \
            else func.strpos(column, value) > 0
        return contains if operator == "like" else not_(contains)
    return _compare(column, operator, value)
