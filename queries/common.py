"""Helpers shared by the list queries: sorting and pagination."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, ColumnElement, Select, func, select

from domain.errors import InvalidInput


def order_by(sorting: Sequence[str], columns: Mapping[str, ColumnElement[Any]],
             tie_breaker: ColumnElement[Any]) -> list[Any]:
    clauses: list[Any] = []
    for index, key in enumerate(sorting):
        descending = key.startswith("-")
        column = columns.get(key.lstrip("-"))
        if column is None:
            raise InvalidInput.one(("query", "sorting", index),
                                   f"Input should be one of: {', '.join(sorted(columns))}",
                                   "enum", key)
        clauses.append(column.desc() if descending else column.asc())
    clauses.append(tie_breaker.desc() if sorting and sorting[0].startswith("-")
                   else tie_breaker.asc())
    return clauses


def paginate(conn: Connection, query: Select[Any], page: int, limit: int) -> tuple[list[Any], int]:
    """The rows of one page and the total count."""
    total = conn.execute(select(func.count()).select_from(query.order_by(None).subquery())) \
        .scalar_one()
    rows = conn.execute(query.limit(limit).offset((page - 1) * limit)).mappings().all()
    return list(rows), int(total)
