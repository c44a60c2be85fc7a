"""Portable SQL over JSON metadata (SQLite JSON1 and PostgreSQL JSONB), as SQLAlchemy
constructs compiled per dialect, so query code is written once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ColumnElement, Numeric, String, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement


class _JsonPathFunction(FunctionElement[Any]):
    inherit_cache = True

    def __init__(self, column: ColumnElement[Any], path: tuple[str, ...]) -> None:
        # Both dialects' path texts travel as bound parameters, so cached SQL stays correct.
        pg = "{" + ",".join('"' + p.replace('"', '\\"') + '"' for p in path) + "}"
        sqlite = "$" + "".join('."' + p.replace('"', '""') + '"' for p in path)
        super().__init__(column, literal(pg, String()), literal(sqlite, String()))


class json_text(_JsonPathFunction):
    inherit_cache = True
    """The value at `path` as text (strings unquoted, numbers as written, booleans true/false)."""

    type = String()
    name = "json_text"


class json_value(_JsonPathFunction):
    inherit_cache = True
    """The value at `path` as JSON text, as the database writes it (strings quoted)."""

    type = String()
    name = "json_value"


class json_number(_JsonPathFunction):
    inherit_cache = True
    """The value at `path` when it is a JSON number, exactly: a NUMERIC on PostgreSQL, its decimal
    text as written on SQLite (for `projections.exact_sqlite`; never a float); NULL otherwise."""

    type = Numeric()
    name = "json_number"


class json_kind(_JsonPathFunction):
    inherit_cache = True
    """One of 'string', 'number', 'boolean', 'object', 'array', 'null', or NULL when missing."""

    type = String()
    name = "json_kind"


class json_true(_JsonPathFunction):
    inherit_cache = True
    type = Boolean()
    name = "json_true"


def _column(element: _JsonPathFunction, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(next(iter(element.clauses)), **kw))


def _pg_path(element: _JsonPathFunction, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(list(element.clauses)[1], **kw)) + "::text[]"


def _sqlite_path(element: _JsonPathFunction, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(list(element.clauses)[2], **kw))


@compiles(json_text, "postgresql")
def _text_pg(element: json_text, compiler: Any, **kw: Any) -> str:
    return f"({_column(element, compiler, **kw)} #>> {_pg_path(element, compiler, **kw)})"


@compiles(json_text, "sqlite")
def _text_sqlite(element: json_text, compiler: Any, **kw: Any) -> str:
    col, path = _column(element, compiler, **kw), _sqlite_path(element, compiler, **kw)
    return (f"(CASE json_type({col}, {path}) WHEN 'text' THEN json_extract({col}, {path}) "
            f"ELSE ({col} -> {path}) END)")


@compiles(json_value, "postgresql")
def _value_pg(element: json_value, compiler: Any, **kw: Any) -> str:
    return f"(({_column(element, compiler, **kw)} #> {_pg_path(element, compiler, **kw)})::text)"


@compiles(json_value, "sqlite")
def _value_sqlite(element: json_value, compiler: Any, **kw: Any) -> str:
    return f"({_column(element, compiler, **kw)} -> {_sqlite_path(element, compiler, **kw)})"


@compiles(json_number, "postgresql")
def _number_pg(element: json_number, compiler: Any, **kw: Any) -> str:
    col, path = _column(element, compiler, **kw), _pg_path(element, compiler, **kw)
    return (f"(CASE WHEN jsonb_typeof({col} #> {path}) = 'number' "
            f"THEN ({col} #>> {path})::numeric END)")


@compiles(json_number, "sqlite")
def _number_sqlite(element: json_number, compiler: Any, **kw: Any) -> str:
    col, path = _column(element, compiler, **kw), _sqlite_path(element, compiler, **kw)
    return (f"(CASE WHEN json_type({col}, {path}) IN ('integer', 'real') "
            f"THEN ({col} -> {path}) END)")


@compiles(json_kind, "postgresql")
def _kind_pg(element: json_kind, compiler: Any, **kw: Any) -> str:
    col, path = _column(element, compiler, **kw), _pg_path(element, compiler, **kw)
    return f"jsonb_typeof({col} #> {path})"


@compiles(json_kind, "sqlite")
def _kind_sqlite(element: json_kind, compiler: Any, **kw: Any) -> str:
    col, path = _column(element, compiler, **kw), _sqlite_path(element, compiler, **kw)
    return (f"(CASE json_type({col}, {path}) WHEN 'text' THEN 'string' "
            f"WHEN 'integer' THEN 'number' WHEN 'real' THEN 'number' "
            f"WHEN 'true' THEN 'boolean' WHEN 'false' THEN 'boolean' "
            f"ELSE json_type({col}, {path}) END)")


@compiles(json_true, "postgresql")
def _true_pg(element: json_true, compiler: Any, **kw: Any) -> str:
    col, path = _column(element, compiler, **kw), _pg_path(element, compiler, **kw)
    return f"(({col} #> {path}) = 'true'::jsonb)"


@compiles(json_true, "sqlite")
def _true_sqlite(element: json_true, compiler: Any, **kw: Any) -> str:
    col, path = _column(element, compiler, **kw), _sqlite_path(element, compiler, **kw)
    return f"(json_type({col}, {path}) = 'true')"
