"""Response shapes, field for field as Polar's public API (polar-sdk 1.0.2, v2026_10).

Extension fields (beyond Polar) are marked in their descriptions; clients that do not know them
ignore them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

MetadataValue = str | int | Decimal | bool


class Schema(BaseModel):
    model_config = ConfigDict(frozen=True)


class Pagination(Schema):
    total_count: int
    max_page: int

    @classmethod
    def of(cls, total: int, limit: int) -> Pagination:
        """The pagination of `total` items in pages of `limit`."""
        return cls(total_count=total, max_page=(total + limit - 1) // limit if limit else 0)


class ListResource(Schema, Generic[T]):
    items: list[T]
    pagination: Pagination


class Customer(Schema):
    id: UUID
    created_at: datetime
    modified_at: datetime | None
    metadata: dict[str, MetadataValue]
    external_id: str | None
    email: str | None
    email_verified: bool = False
    type: Literal["individual", "team"]
    name: str | None
    billing_name: str | None
    billing_address: dict[str, Any] | None
    tax_id: list[Any] | None
    locale: str | None
    organization_id: UUID
    default_payment_method_id: UUID | None = None
    deleted_at: datetime | None
    first_user_event_at: datetime | None
    avatar_url: str | None = None


class Member(Schema):
    id: UUID
    created_at: datetime
    modified_at: datetime | None
    customer_id: UUID
    email: str
    name: str | None
    external_id: str | None
    role: Literal["owner", "billing_manager", "member"]


class Span(Schema):
    """Extension: an operation opened by one event and closed by another (see the README)."""

    id: str = Field(description="The span id both events were sent with.")
    state: Literal["open", "closed"] = Field(
        description="closed once both its start and its end are recorded, in either order.")
    start_event_id: UUID | None = Field(description="The event that started it, once recorded.")
    started_at: datetime | None = Field(description="That event's timestamp.")
    end_event_id: UUID | None = Field(description="The event that ended it, once recorded.")
    ended_at: datetime | None = Field(description="That event's timestamp.")
    duration_ms: Decimal | None = Field(
        description="ended_at - started_at in milliseconds, exact; null while open. The event "
                    "recorded second carries it in its metadata as `_span_duration_ms`.")
    child_count: int = Field(0, description="Direct children of the start event.")
    descendant_count: int = Field(0, description="All descendants of the start event.")


class EventSpan(Span):
    action: Literal["start", "end"] = Field(description="What this event does to the span.")


class Event(Schema):
    """A user event (`source: user`) or a system event (`source: system`)."""

    id: UUID
    timestamp: datetime
    organization_id: UUID
    customer_id: UUID | None
    customer: Customer | None
    external_customer_id: str | None
    member_id: UUID | None = None
    external_member_id: str | None = None
    child_count: int = Field(0, description="Number of direct child events.")
    parent_id: UUID | None = None
    label: str
    name: str
    source: Literal["user", "system"]
    metadata: dict[str, Any]
    external_id: str | None = Field(None, description="Extension: the idempotency key.")
    ingested_at: datetime = Field(description="Extension: when the ledger recorded the event.")
    root_id: UUID = Field(description="Extension: the root of the event's tree.")
    depth: int = Field(0, description="Extension: 0 for a root, 1 for its children, ...")
    descendant_count: int = Field(0, description="Extension: the number of events below this "
                                                 "one in its tree (children, their children, "
                                                 "...).")
    span: EventSpan | None = Field(None, description="Extension: the span this event starts or "
                                                     "ends.")


class EventTreeNode(Event):
    """Extension: an event of a tree, with its roll-ups and its children."""

    totals: dict[str, Decimal] = Field(description=(
        "Own value plus the sum over all descendants, for every numeric metadata path found in "
        "the subtree (`_cost.amount`, `_llm.total_tokens`, `duration_ms`, ...), exact."))
    children: list[EventTreeNode] = Field(description="Direct children, oldest first.")


class CostStatistics(Schema):
    """Extension: exact cost figures over traces (a trace is a root event and its
    descendants), amounts in cents."""

    total: Decimal = Field(description="Sum of `_cost.amount` over the traces' events.")
    traces: int = Field(description="Traces with at least one cost.")
    average: Decimal = Field(description="total / traces (60 significant digits when inexact).")
    p50: Decimal = Field(description="Median cost per trace (nearest rank).")
    p95: Decimal
    p99: Decimal


class CostGroup(CostStatistics):
    key: str | None = Field(description="The customer (id, else external id), event name or "
                                         "root event name, by `group_by`.")


class CostPeriod(CostStatistics):
    timestamp: datetime = Field(description="Start of the bucket, in the requested time zone.")
    groups: list[CostGroup]


class CostSummary(Schema):
    """Extension: costs of the traces whose root falls in the range."""

    periods: list[CostPeriod]
    totals: CostStatistics
    groups: list[CostGroup] = Field(description="Per group, over the whole range.")


class EventName(Schema):
    name: str
    label: str
    source: Literal["user", "system"]
    occurrences: int
    first_seen: datetime
    last_seen: datetime


class EventType(Schema):
    created_at: datetime
    modified_at: datetime | None
    id: UUID
    name: str
    label: str
    label_property_selector: str | None = None
    organization_id: UUID


class EventTypeWithStats(Schema):
    id: UUID | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None
    name: str
    label: str
    label_property_selector: str | None = None
    organization_id: UUID
    source: Literal["user", "system"]
    occurrences: int
    first_seen: datetime
    last_seen: datetime


class EventResult(Schema):
    status: Literal["inserted", "duplicate", "conflict"]
    id: UUID
    external_id: str | None


class EventsIngestResponse(Schema):
    inserted: int
    duplicates: int = 0
    conflicts: int = Field(0, description="Extension: duplicates whose payload differs from "
                                          "the recorded event (the recorded one is kept).")
    results: list[EventResult] | None = Field(
        None, description="Extension, with `?details=true`: one result per event, in order.")


class MeterRebuild(Schema):
    """Extension: the state of the meter's usage projection."""

    state: Literal["idle", "rebuilding"]
    serving_definition_version: int | None = Field(
        description="The definition quantities are computed with (null until the first build "
                    "is done: quantities are then computed from the events).")
    building_definition_version: int | None = Field(
        description="The definition being projected in the background, if any.")
    position: int | None = Field(description="Ledger position the build has reached.")
    target_position: int = Field(description="The ledger's position now.")
    progress: Decimal | None = Field(description="position / target_position, 0 to 1.")
    started_at: datetime | None
    finished_at: datetime | None = Field(description="When the serving build went live.")


class Meter(Schema):
    metadata: dict[str, MetadataValue]
    created_at: datetime
    modified_at: datetime | None
    id: UUID
    name: str
    unit: Literal["scalar", "token", "custom"]
    custom_label: str | None
    custom_multiplier: int | None
    filter: dict[str, Any]
    aggregation: dict[str, Any]
    organization_id: UUID
    archived_at: datetime | None
    definition_version: int = Field(description="Extension: 1, plus one per filter or "
                                                "aggregation change.")
    skipped_events: int = Field(description="Extension: matching events left out of a property "
                                            "aggregation because the property was not a JSON "
                                            "number (or, for unique, not a scalar).")
    rebuild: MeterRebuild = Field(description="Extension: see MeterRebuild.")


class MeterQuantity(Schema):
    timestamp: datetime = Field(description="Start of the bucket, in the requested time zone.")
    quantity: Decimal


class MeterQuantities(Schema):
    quantities: list[MeterQuantity]
    total: Decimal

