"""Helpers shared by the queries (and projections): sorting, pagination, list membership in
bounded chunks, streaming."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Row, Select, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY

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


def streamed(conn: Connection, query: Select[Any], rows: int = 5000) -> Iterator[Row[Any]]:
    """The rows of `query`, fetched `rows` at a time. On PostgreSQL that is a server-side
    cursor, which lives in a transaction; reads autocommit there (`projections.store`), so the
    cursor gets a connection of its own."""
    if conn.dialect.name != "postgresql":
        yield from conn.execution_options(yield_per=rows).execute(query)
        return
    with conn.engine.connect() as own:
        own = own.execution_options(isolation_level="READ COMMITTED", yield_per=rows)
        with own.begin():
            yield from own.execute(query)


T = TypeVar("T")


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """`items` in lists of at most `size`, in order: a look-up by a long list of values runs
    as several statements of bounded size."""
    listed = list(items)
    for start in range(0, len(listed), size):
        yield listed[start:start + size]


def one_of(conn: Connection, column: ColumnElement[Any],
           values: Sequence[Any]) -> ColumnElement[bool]:
    """`column IN values`; on PostgreSQL `= ANY` of one array parameter, which costs far less
    to build and send than hundreds of parameters (and keeps the statement's text the same)."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)
