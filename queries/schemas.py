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


def page_count(total: int, limit: int) -> int:
    return (total + limit - 1) // limit if limit else 0
