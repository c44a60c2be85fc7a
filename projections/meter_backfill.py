"""Meter builds straight from the events read table: one GROUP BY per range of the ledger.

A new build (a meter created over existing usage, or a definition change) must aggregate the
whole ledger. Decoding every ledger entry in Python caps that at a few tens of thousands of events
per second; the events read table already holds every usage event with its ledger position, so
the database can aggregate a range of positions itself. The filter compiles to the same SQL as
`GET /v1/events/?filter=` (`queries.filter_sql`), values are exact (PostgreSQL NUMERIC; on SQLite
the number's own text through `projections.exact_sqlite`), and each step's partials are added to
the build's rows exactly as `projections.meter_usage` adds a batch's.

Used for the aggregations SQL can reproduce exactly: count, sum/max/min/avg of a metadata
number, and, on PostgreSQL, `unique` of a metadata value: its distinct values are JSONB's text of
each scalar, which is `domain.aggregation.canonical_value`'s text for strings without escapes,
booleans and plain integers; the few other values are canonicalised in Python. Properties that
are event fields (and `unique` on SQLite) go through the ledger instead.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    FromClause,
    Insert,
    MetaData,
    Select,
    String,
    Table,
    and_,
    case,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from domain.aggregation import CANONICAL_INTEGER_DIGITS, AggregationFunction, canonical_value
from domain.meter_filter import metadata_path
from domain.values import loads
from projections import exact_sqlite
from projections.bulk import insert_rows
from projections.meter_tables import meter_usage, meter_usage_rollup, meter_usage_values
from projections.meter_usage import Build, merge_partials
from projections.tables import events, projection_positions
from queries.filter_sql import filter_condition
from queries.jsonsql import json_kind, json_number, json_value

EVENTS_PROJECTION = "events"
"""The projection whose position says how far the events read table reaches."""


def events_reached(conn: Connection) -> int:
    """The ledger position up to which the events read table holds every usage event."""
    return int(conn.execute(select(projection_positions.c.position).where(
        projection_positions.c.name == EVENTS_PROJECTION)).scalar() or 0)


_STEP_TABLE = "meter_build_step"
_PARTIAL_COLUMNS = "customer, bucket, event_count, total, minimum, maximum"
_step = Table(_STEP_TABLE, MetaData(), Column("customer", String), Column("bucket", String),
              Column("event_count", BigInteger), Column("total", String),
              Column("minimum", String), Column("maximum", String),
              Column("skipped", BigInteger))
"""One step's partials (temporary, per connection); typed loosely: rows come from SQL only."""


_SCALARS = ("string", "number", "boolean", "null")
_CANONICAL_INTEGER = f'^(0|-?[1-9][0-9]{{0,{CANONICAL_INTEGER_DIGITS - 1}}})$'


def _canonical(value: ColumnElement[str]) -> ColumnElement[bool]:
    """Whether a JSONB text is already `canonical_value`'s: a string without escapes, a boolean,
    null or an integer written in full. Strings, the usual distinct values, are told by their
    first and last characters and the absence of a backslash, without the regular expression
    that only integers need (on every value, it made a live page's `unique` statement 40%
    slower)."""
    return case(
        (func.left(value, 1) == '"', and_(func.length(value) >= 2, func.right(value, 1) == '"',
                                          func.strpos(value, "\\") == 0)),
        (value.in_(("true", "false", "null")), true()),
        else_=value.regexp_match(_CANONICAL_INTEGER))


def can_backfill(build: Build, dialect: str) -> bool:
    aggregation = build.aggregation
    if aggregation.func is AggregationFunction.count:
        return True
    if aggregation.property is None or metadata_path(aggregation.property) is None:
        return False
    return aggregation.func is not AggregationFunction.unique or dialect == "postgresql"


def backfill(conn: Connection, build: Build, after: int, upto: int) -> None:
    """Add to `build` the usage events at ledger positions in (`after`, `upto`]; the events
    projection must have reached `upto`."""
    _stage(conn, build, after, upto)
    conflict = "(meter_id, generation, customer, bucket)"
    ids = {"meter_id": _uuid(conn, build.meter_id), "generation": build.generation}
    conn.execute(text(
        f"INSERT INTO meter_usage (meter_id, generation, {_PARTIAL_COLUMNS}) "
        f"SELECT :meter_id, :generation, {_PARTIAL_COLUMNS} FROM {_STEP_TABLE} "
        f"WHERE event_count > 0 ON CONFLICT {conflict} {merge_partials(conn, meter_usage)}"),
        ids)
    total, low, high = _exact_aggregates(conn)
    conn.execute(text(
        "INSERT INTO meter_usage_rollup (meter_id, generation, bucket, event_count, total, "
        f"minimum, maximum) SELECT :meter_id, :generation, bucket, sum(event_count), "
        f"{total}(total), {low}(minimum), {high}(maximum) FROM {_STEP_TABLE} "
        "WHERE event_count > 0 GROUP BY bucket "
        f"ON CONFLICT (meter_id, generation, bucket) {merge_partials(conn, meter_usage_rollup)}"),
        ids)
    conn.execute(text(
        "UPDATE meter_builds SET skipped_events = skipped_events + "
        f"(SELECT coalesce(sum(skipped), 0) FROM {_STEP_TABLE}) "
        "WHERE meter_id = :meter_id AND generation = :generation"), ids)


def _stage(conn: Connection, build: Build, after: int, upto: int) -> None:
    """This range's partials per (customer, 15-minute bucket), into a temporary table; for a
    `unique` build, its distinct values too."""
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STEP_TABLE} (customer text, "
            "bucket timestamptz, event_count bigint, total numeric, minimum numeric, "
            "maximum numeric, skipped bigint) ON COMMIT DELETE ROWS")
    else:
        conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STEP_TABLE} (customer text, bucket text, "
            "event_count integer, total text, minimum text, maximum text, skipped integer)")
    conn.exec_driver_sql(f"DELETE FROM {_STEP_TABLE}")
    aggregation = build.aggregation
    path = metadata_path(aggregation.property or "") or ()
    counting = aggregation.func in (AggregationFunction.count, AggregationFunction.unique)
    value: ColumnElement[Any] = literal(1)
    if aggregation.func is AggregationFunction.unique:
        value = case((json_kind(events.c.metadata, path).in_(_SCALARS),
                      json_value(events.c.metadata, path)))
    elif not counting:
        value = json_number(events.c.metadata, path)
    matched = select(_customer_key(postgres).label("customer"),
                     _bucket(postgres).label("bucket"), value.label("v")).where(
        events.c.organization_id == build.organization_id,
        events.c.position > after, events.c.position <= upto,
        filter_condition(build.filter.to_json(), conn.dialect.name))
    if aggregation.func is AggregationFunction.unique:
        _stage_values(conn, build, matched)
        return
    conn.execute(_partials(conn, matched.subquery(), counting))


def _partials(conn: Connection, matched: FromClause, counting: bool) -> Insert:
    """The insert of the partials of `matched` (customer, bucket, v) into the step table."""
    total, low, high = _exact_aggregates(conn)
    amounts = [literal(0), literal(None), literal(None)] if counting else [
        getattr(func, total)(matched.c.v), getattr(func, low)(matched.c.v),
        getattr(func, high)(matched.c.v)]
    if conn.dialect.name != "postgresql" and counting:
        amounts[0] = literal("0")
    partials = select(matched.c.customer, matched.c.bucket, func.count(matched.c.v), *amounts,
                      func.count() - func.count(matched.c.v)) \
        .group_by(matched.c.customer, matched.c.bucket)
    return insert(_step).from_select([c.name for c in _step.columns], partials)


def _stage_values(conn: Connection, build: Build, matched: Select[Any]) -> None:
    """A `unique` build's partials and distinct values per (customer, bucket), in one statement
    that reads the range once: the values already in canonical form are inserted by the
    database, the others come back to be canonicalised here."""
    rows = matched.cte("matched").prefix_with("MATERIALIZED")
    staged = _partials(conn, rows, counting=True).cte("staged")
    distinct = select(rows.c.customer, rows.c.bucket, rows.c.v).distinct() \
        .where(rows.c.v.is_not(None)).cte("distinct_values").prefix_with("MATERIALIZED")
    canonical = _canonical(distinct.c.v)
    kept = pg_insert(meter_usage_values).from_select(
        [c.name for c in meter_usage_values.columns],
        select(literal(build.meter_id), literal(build.generation), distinct.c.customer,
               distinct.c.bucket, distinct.c.v).where(canonical)).on_conflict_do_nothing() \
        .cte("kept")
    others = conn.execute(select(distinct.c.customer, distinct.c.bucket, distinct.c.v)
                          .where(~canonical).add_cte(staged, kept)).all()
    insert_rows(conn, meter_usage_values, list({
        (build.meter_id, build.generation, customer, bucket, canonical_value(loads(text)))
        for customer, bucket, text in others}), "DO NOTHING")


def _exact_aggregates(conn: Connection) -> tuple[str, str, str]:
    if conn.dialect.name == "postgresql":
        return "sum", "min", "max"
    exact_sqlite.register(conn)
    return "exact_sum", "exact_min", "exact_max"


def _customer_key(postgres: bool) -> ColumnElement[str]:
    """`domain.quantities.customer_key` in SQL (SQLite keeps uuids as 32 hex digits)."""
    if postgres:
        customer = literal_column("events.customer_id::text")
    else:
        customer = literal_column("lower(substr(events.customer_id, 1, 8) || '-' || "
                        "substr(events.customer_id, 9, 4) || '-' || "
                        "substr(events.customer_id, 13, 4) || '-' || "
                        "substr(events.customer_id, 17, 4) || '-' || "
                        "substr(events.customer_id, 21))")
    return func.coalesce(customer, literal("external:") + func.nullif(
        events.c.external_customer_id, ""), literal(""))


def _bucket(postgres: bool) -> ColumnElement[Any]:
    """`domain.calendar.floor_to_base` in SQL (SQLite keeps `YYYY-MM-DD HH:MM:SS.ffffff` text)."""
    if postgres:
        return literal_column("date_bin('15 minutes', events.timestamp, "
                    "TIMESTAMPTZ '2000-01-01 00:00:00+00')")
    return literal_column("substr(events.timestamp, 1, 14) || "
                "printf('%02d', CAST(substr(events.timestamp, 15, 2) AS INTEGER) / 15 * 15) || "
                "':00.000000'")


def _uuid(conn: Connection, value: Any) -> Any:
    return value if conn.dialect.name == "postgresql" else value.hex
