"""Read tables for benefits, products, purchases and customer meters.

Defined on the shared `metadata`, so `Store.create_tables` creates them with the others.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table, Uuid

from projections.tables import ExactDecimal, Json, UTCDateTime, metadata

benefits = Table(
    "benefits", metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("modified_at", UTCDateTime),
    Column("type", String(32), nullable=False),
    Column("description", String, nullable=False),
    Column("meter_id", Uuid, nullable=False),
    Column("units", BigInteger, nullable=False),
    Column("rollover", Boolean, nullable=False),
    Column("metadata", Json, nullable=False),
    Column("visibility", String(16), nullable=False),
    Column("deleted_at", UTCDateTime),
    Index("ix_benefits_org_created", "organization_id", "created_at"),
)

products = Table(
    "products", metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("modified_at", UTCDateTime),
    Column("name", String, nullable=False),
    Column("description", String),
    Column("recurring_interval", String(8)),
    Column("recurring_interval_count", Integer),
    Column("visibility", String(16), nullable=False),
    Column("metadata", Json, nullable=False),
    Column("prices", Json, nullable=False),
    Column("benefit_ids", Json, nullable=False),
    Column("is_archived", Boolean, nullable=False),
    Index("ix_products_org_created", "organization_id", "created_at"),
)

orders = Table(
    "orders", metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("modified_at", UTCDateTime),
    Column("customer_id", Uuid, nullable=False),
    Column("product_id", Uuid, nullable=False),
    Column("status", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(8), nullable=False),
    Column("description", String, nullable=False),
    Column("metadata", Json, nullable=False),
    Column("refunded_at", UTCDateTime),
    Index("ix_orders_org_created", "organization_id", "created_at"),
)

subscriptions = Table(
    "subscriptions", metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("modified_at", UTCDateTime),
    Column("customer_id", Uuid, nullable=False),
    Column("product_id", Uuid, nullable=False),
    Column("status", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(8), nullable=False),
    Column("recurring_interval", String(8), nullable=False),
    Column("recurring_interval_count", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("current_period_start", UTCDateTime, nullable=False),
    Column("current_period_end", UTCDateTime, nullable=False),
    Column("cancel_at_period_end", Boolean, nullable=False),
    Column("canceled_at", UTCDateTime),
    Column("ended_at", UTCDateTime),
    Column("metadata", Json, nullable=False),
    Index("ix_subscriptions_org_created", "organization_id", "created_at"),
)

customer_meters = Table(
    "customer_meters", metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("customer_id", Uuid, nullable=False),
    Column("meter_id", Uuid, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("modified_at", UTCDateTime, nullable=False),
    Column("period_start", UTCDateTime),
    Column("usage", Json, nullable=False),
    Column("consumed_units", ExactDecimal, nullable=False),
    Column("credited_units", BigInteger, nullable=False),
    Column("rollover_units", BigInteger, nullable=False),
    Column("balance", ExactDecimal, nullable=False),
    Column("last_seq", Integer, nullable=False),
    Index("ix_customer_meters_customer_meter", "customer_id", "meter_id", unique=True),
    Index("ix_customer_meters_org_meter", "organization_id", "meter_id"),
    # Every batch that touches a customer meter rewrites its row. No index holds a column
    # that changes, and pages keep half their room, so PostgreSQL writes the new version on
    # the same page without touching the indexes (a HOT update). A list sorted by
    # `modified_at` sorts the organization's rows, which counting them for its pagination
    # reads anyway (README, *Credits and customer meters*, `GET /v1/customer-meters/`: what it
    # costs).
    postgresql_with={"fillfactor": 50},
)

customer_meter_entries = Table(
    "customer_meter_entries", metadata,
    Column("customer_meter_id", Uuid, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("timestamp", UTCDateTime, nullable=False),
    Column("change", ExactDecimal, nullable=False),
    Column("consumed_units", ExactDecimal, nullable=False),
    Column("credited_units", BigInteger, nullable=False),
    Column("balance", ExactDecimal, nullable=False),
    Column("units", ExactDecimal, nullable=False),
    Column("rollover", Boolean),
    Column("event_id", Uuid),
    Column("events", Integer, nullable=False),
    Column("bucket", UTCDateTime),
)

customer_meter_pending = Table(
    "customer_meter_pending", metadata,
    Column("meter_id", Uuid, primary_key=True),
    Column("external_customer_id", String, primary_key=True),
    Column("ingested_at", UTCDateTime, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("usage", Json, nullable=False),
    Column("events", Integer, nullable=False),
    Index("ix_customer_meter_pending_external", "organization_id", "external_customer_id"),
)

customer_meter_subjects = Table(
    "customer_meter_subjects", metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("external_id", String),
    Index("ix_customer_meter_subjects_external", "organization_id", "external_id"),
)

customer_meter_definitions = Table(
    "customer_meter_definitions", metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False, index=True),
    Column("name", String, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("filter", Json, nullable=False),
    Column("aggregation", Json, nullable=False),
    Column("archived_at", UTCDateTime),
)
