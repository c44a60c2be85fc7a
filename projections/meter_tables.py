"""Read tables of meters and of their usage (registered on `projections.tables.metadata`).

Usage is kept per *build*: one build (`generation`) of a meter is the projection of one meter
definition over the whole ledger. The live build answers quantities; a definition change starts a
new build in the background, which replaces the live one, in one transaction, once it has caught
up (blue/green).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Uuid

from projections.tables import ExactDecimal, Json, UTCDateTime, metadata

meters = Table(
    "meters", metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("modified_at", UTCDateTime),
    Column("name", String, nullable=False),
    Column("unit", String(16), nullable=False),
    Column("custom_label", String),
    Column("custom_multiplier", ExactDecimal),
    Column("filter", Json, nullable=False),
    Column("aggregation", Json, nullable=False),
    Column("metadata", Json, nullable=False),
    Column("archived_at", UTCDateTime),
    Column("definition_version", Integer, nullable=False),
    Index("ix_meters_org_name", "organization_id", "name"),
    Index("ix_meters_org_created", "organization_id", "created_at"),
)

BUILDING, LIVE = "building", "live"

meter_builds = Table(
    "meter_builds", metadata,
    Column("meter_id", Uuid, primary_key=True),
    Column("generation", Integer, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("definition_version", Integer, nullable=False),
    Column("filter", Json, nullable=False),
    Column("aggregation", Json, nullable=False),
    Column("state", String(16), nullable=False),
    Column("position", BigInteger, nullable=False, comment="last notification applied"),
    Column("skipped_events", BigInteger, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Index("ix_meter_builds_state", "state", "organization_id"),
)

meter_usage = Table(
    "meter_usage", metadata,
    Column("meter_id", Uuid, primary_key=True),
    Column("generation", Integer, primary_key=True),
    Column("customer", String, primary_key=True, comment="domain.quantities.customer_key"),
    Column("bucket", UTCDateTime, primary_key=True, comment="15-minute UTC bucket start"),
    Column("event_count", BigInteger, nullable=False),
    Column("total", ExactDecimal, nullable=False),
    Column("minimum", ExactDecimal),
    Column("maximum", ExactDecimal),
)

meter_usage_rollup = Table(
    "meter_usage_rollup", metadata,
    Column("meter_id", Uuid, primary_key=True),
    Column("generation", Integer, primary_key=True),
    Column("bucket", UTCDateTime, primary_key=True),
    Column("event_count", BigInteger, nullable=False),
    Column("total", ExactDecimal, nullable=False),
    Column("minimum", ExactDecimal),
    Column("maximum", ExactDecimal),
)

meter_usage_values = Table(
    "meter_usage_values", metadata,
    Column("meter_id", Uuid, primary_key=True),
    Column("generation", Integer, primary_key=True),
    Column("customer", String, primary_key=True),
    Column("bucket", UTCDateTime, primary_key=True),
    Column("value", String, primary_key=True, comment="canonical text of a distinct value"),
    Index("ix_meter_usage_values_bucket", "meter_id", "generation", "bucket"),
)

USAGE_TABLES = (meter_usage, meter_usage_rollup, meter_usage_values)
