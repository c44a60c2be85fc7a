"""Read models: plain tables written only by projections, read only by queries."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    TypeDecorator,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

READ_MODEL_VERSION = 4
"""Bumped whenever a read table changes shape: a database whose read models were built by
another version drops them all on start, and the projections rebuild them from the ledger."""

read_model_version = Table(
    "read_model_version", MetaData(),
    Column("version", Integer, nullable=False),
)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both stores (SQLite keeps naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """An exact decimal: NUMERIC on PostgreSQL, decimal text on SQLite (which has no decimal)."""

    impl = Numeric()
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String())
        return dialect.type_descriptor(Numeric())

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


def partial(condition: str) -> dict[str, Any]:
    """The options of an `Index` holding only the rows where `condition` holds, on both stores."""
    return {"postgresql_where": text(condition), "sqlite_where": text(condition)}


Json = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")

projection_positions = Table(
    "projection_positions", metadata,
    Column("name", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

customers = Table(
    "customers", metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("modified_at", UTCDateTime),
    Column("email", String),
    Column("name", String),
    Column("external_id", String),
    Column("metadata", Json, nullable=False),
    Column("type", String(16), nullable=False),
    Column("billing_address", Json),
    Column("tax_id", String),
    Column("locale", String),
    Column("deleted_at", UTCDateTime),
    Index("ix_customers_org_created", "organization_id", "created_at"),
    Index("ix_customers_org_external", "organization_id", "external_id"),
)

members = Table(
    "members", metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("customer_id", Uuid, nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("modified_at", UTCDateTime),
    Column("email", String, nullable=False),
    Column("name", String),
    Column("external_id", String),
    Column("role", String(32), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
)

event_types = Table(
    "event_types", metadata,
    Column("id", Uuid, primary_key=True),
    Column("organization_id", Uuid, nullable=False),
    Column("name", String(128), nullable=False),
    Column("label", String(128), nullable=False),
    Column("label_property_selector", String),
    Column("created_at", UTCDateTime, nullable=False),
    Column("modified_at", UTCDateTime),
    Index("ix_event_types_org_name", "organization_id", "name", unique=True),
)

events = Table(
    "events", metadata,
    Column("id", Uuid, primary_key=True),
    Column("position", BigInteger, nullable=False, comment="the entry's ledger notification id"),
    Column("organization_id", Uuid, nullable=False),
    Column("name", String(128), nullable=False),
    Column("source", String(8), nullable=False),
    Column("timestamp", UTCDateTime, nullable=False),
    Column("ingested_at", UTCDateTime, nullable=False),
    Column("customer_id", Uuid),
    Column("external_customer_id", String),
    Column("member_id", Uuid),
    Column("external_member_id", String),
    Column("external_id", String),
    Column("parent_ref", String),
    Column("parent_id", Uuid),
    Column("root_id", Uuid),
    Column("depth", Integer, nullable=False, default=0),
    Column("child_count", Integer, nullable=False, default=0),
    # How many events are below this one, and the exact sum over them of every numeric
    # metadata path ({"_cost.amount": Decimal, "tokens": int, ...}; null without descendants).
    Column("descendant_count", Integer, nullable=False, default=0),
    Column("subtree_totals", Json),
    Column("metadata", Json, nullable=False),
    Column("span_id", String),
    # Ancestors from the root down to the parent, as `<hex id>/` each; null for a root. The
    # descendants of X are the events of X's tree whose path starts with X's path + `<X>/`.
    Column("path", String),
    Index("ix_events_org_ts", "organization_id", "timestamp"),
    Index("ix_events_org_position", "organization_id", "position"),
    # Only the events that have the column: an event sent with an external customer id alone
    # costs the other index nothing. Lookups are by equality or IN, which imply IS NOT NULL,
    # so both stores use them. No index on `external_id`: an event sent with one has the id it
    # names (`domain.ids.keyed_event_id`), and is looked up by primary key.
    Index("ix_events_org_customer_ts", "organization_id", "customer_id", "timestamp",
          **partial("customer_id IS NOT NULL")),
    Index("ix_events_org_ext_customer_ts", "organization_id", "external_customer_id",
          "timestamp", **partial("external_customer_id IS NOT NULL")),
    # Children still waiting for their parent: usually few, so flat events cost nothing here.
    Index("ix_events_pending", "organization_id", "parent_ref",
          **partial("parent_id IS NULL AND parent_ref IS NOT NULL")),
    # Only children are indexed: events without a parent (flat ones) cost this index nothing.
    Index("ix_events_tree", "root_id", "depth", **partial("parent_id IS NOT NULL")),
)

spans = Table(
    "spans", metadata,
    Column("organization_id", Uuid, primary_key=True),
    Column("span_id", String, primary_key=True),
    Column("start_event_id", Uuid),
    Column("started_at", UTCDateTime),
    Column("end_event_id", Uuid),
    Column("ended_at", UTCDateTime),
    Index("ix_spans_org_started", "organization_id", "started_at"),
)

event_names = Table(
    "event_names", metadata,
    Column("organization_id", Uuid, primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("source", String(8), primary_key=True),
    Column("occurrences", BigInteger, nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
)

__all__ = ["ExactDecimal", "Json", "UTCDateTime", "metadata"]
