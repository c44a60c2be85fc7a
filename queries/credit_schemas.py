"""Response shapes of benefits, products, orders, subscriptions and customer meters, field for
field as Polar's public API (polar-sdk 1.0.2, v2026_10); extensions say so in their description."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from queries.schemas import Customer, MetadataValue, Meter, Schema

Visibility = Literal["draft", "private", "public"]
Interval = Literal["day", "week", "month", "year"]


class BenefitMeterCreditProperties(Schema):
    units: int
    rollover: bool
    meter_id: UUID


class Benefit(Schema):
    """A Credits benefit (`BenefitMeterCredit`): the only benefit type the ledger supports."""

    id: UUID
    created_at: datetime
    modified_at: datetime | None
    type: Literal["meter_credit"] = "meter_credit"
    description: str
    selectable: bool = False
    deletable: bool = True
    is_deleted: bool
    organization_id: UUID
    metadata: dict[str, MetadataValue]
    visibility: Visibility
    properties: BenefitMeterCreditProperties
    visibility_configurable: bool = True


class _Price(Schema):
    created_at: datetime
    modified_at: datetime | None = None
    id: UUID
    source: Literal["catalog", "ad_hoc"] = "catalog"
    price_currency: str
    tax_behavior: Literal["location", "inclusive", "exclusive"] | None = None
    is_archived: bool
    product_id: UUID


class ProductPriceFixed(_Price):
    amount_type: Literal["fixed"] = "fixed"
    price_amount: int


class ProductPriceCustom(_Price):
    amount_type: Literal["custom"] = "custom"
    minimum_amount: int
    maximum_amount: int | None
    preset_amount: int | None


ProductPrice = ProductPriceFixed | ProductPriceCustom


class ProductBase(Schema):
    id: UUID
    created_at: datetime
    modified_at: datetime | None
    trial_interval: Interval | None = None
    trial_interval_count: int | None = None
    name: str
    description: str | None
    visibility: Visibility
    recurring_interval: Interval | None
    recurring_interval_count: int | None
    meter_interval: Interval | None = None
    meter_interval_count: int | None = None
    is_recurring: bool
    is_archived: bool
    organization_id: UUID
    metadata: dict[str, MetadataValue]


class Product(ProductBase):
    is_deletable: bool = False
    prices: list[ProductPrice]
    benefits: list[Benefit]
    medias: list[Any] = Field(default_factory=list)
    attached_custom_fields: list[Any] = Field(default_factory=list)


class OrderItem(Schema):
    created_at: datetime
    modified_at: datetime | None = None
    id: UUID
    label: str
    amount: int
    tax_amount: int = 0
    proration: bool = False
    product_price_id: UUID | None
    start_timestamp: datetime | None = None
    end_timestamp: datetime | None = None


class Order(Schema):
    """A paid (or refunded) one-time purchase. Amounts are in cents; no tax, no discount."""

    id: UUID
    created_at: datetime
    modified_at: datetime | None
    status: Literal["paid", "refunded"]
    paid: bool = True
    subtotal_amount: int
    discount_amount: int = 0
    net_amount: int
    tax_amount: int = 0
    total_amount: int
    applied_balance_amount: int = 0
    due_amount: int = 0
    refunded_amount: int
    refunded_tax_amount: int = 0
    currency: str
    billing_reason: Literal["purchase"] = "purchase"
    billing_name: str | None
    billing_address: dict[str, Any] | None
    invoice_number: str | None = None
    is_invoice_generated: bool = False
    receipt_number: str | None = None
    units: int | None = None
    customer_id: UUID
    product_id: UUID | None
    discount_id: UUID | None = None
    subscription_id: UUID | None = None
    checkout_id: UUID | None = None
    metadata: dict[str, MetadataValue]
    platform_fee_amount: int = 0
    platform_fee_currency: str | None = None
    customer: Customer
    product: ProductBase | None
    discount: None = None
    subscription: None = None
    items: list[OrderItem]
    description: str
    refundable_amount: int
    refundable_tax_amount: int = 0


class Subscription(Schema):
    created_at: datetime
    modified_at: datetime | None
    id: UUID
    amount: int
    currency: str
    recurring_interval: Interval
    recurring_interval_count: int
    status: Literal["active", "canceled"]
    current_period_start: datetime
    current_period_end: datetime
    current_meter_period_start: datetime | None = None
    current_meter_period_end: datetime | None = None
    trial_start: datetime | None = None
    trial_end: datetime | None = None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    started_at: datetime | None
    ends_at: datetime | None
    ended_at: datetime | None
    pause_at_period_end: bool = False
    paused_at: datetime | None = None
    resumes_at: datetime | None = None
    customer_id: UUID
    product_id: UUID
    discount_id: UUID | None = None
    checkout_id: UUID | None = None
    units: int | None = None
    customer_cancellation_reason: str | None = None
    customer_cancellation_comment: str | None = None
    metadata: dict[str, MetadataValue]
    customer: Customer
    product: Product
    discount: None = None
    prices: list[ProductPrice]
    meters: list[Any] = Field(default_factory=list)
    pending_update: None = None


class CustomerMeter(Schema):
    id: UUID
    created_at: datetime
    modified_at: datetime | None
    customer_id: UUID
    meter_id: UUID
    consumed_units: Decimal
    credited_units: int
    balance: Decimal
    customer: Customer
    meter: Meter
    rollover_units: int = Field(description="Extension: credited units of this period that "
                                            "came from rollover credits (the most the next cycle "
                                            "may carry over).")
    period_start: datetime | None = Field(description="Extension: the last `meter.reset` (null: "
                                                      "never reset).")
    as_of: datetime | None = Field(default=None, description="Extension: with `?as_of=`, the "
                                                             "time the figures are given for.")


class BalanceEntry(Schema):
    """Extension: one ledger entry that moved a customer meter's balance."""

    seq: int = Field(description="Position in the customer meter's history (1, 2, ...).")
    kind: Literal["credit", "reset", "usage"]
    timestamp: datetime = Field(description="When the ledger recorded it (for usage: the last "
                                            "event of the bucket).")
    started_at: datetime = Field(description="For usage: the first event of the bucket.")
    event_id: UUID | None = Field(description="The `meter.credited` / `meter.reset` event.")
    units: Decimal = Field(description="Credit: the units recorded (negative: revocation). "
                                       "Usage: the consumed units added.")
    rollover: bool | None
    events: int = Field(description="Usage: events counted in this bucket.")
    change: Decimal = Field(description="Balance after minus balance before.")
    consumed_units: Decimal
    credited_units: int
    balance: Decimal


class BalanceHistory(Schema):
    """Extension: how a customer meter's balance came to be."""

    customer_meter_id: UUID
    items: list[BalanceEntry]


class Drift(Schema):
    customer_meter_id: UUID
    organization_id: UUID
    customer_id: UUID
    meter_id: UUID
    field: str
    projected: Decimal | None
    recomputed: Decimal | None


class Reconciliation(Schema):
    """Extension: customer meters recomputed from the event store, compared with the read model."""

    position: int = Field(description="Ledger position both sides were computed at.")
    customer_meters: int = Field(description="Customer meters compared.")
    events: int = Field(description="Ledger events replayed.")
    seconds: Decimal = Field(description="Time the recomputation took.")
    drifts: list[Drift]
