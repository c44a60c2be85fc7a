"""One-time purchases (extension: there is no checkout here) and refunds.

A paid order grants the product's Credits benefits; a refund takes back what was granted.
Both are recorded in one transaction with their `meter.credited` system events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from commands.credits import credited, grants_of, live_customer, live_product
from commands.ledger import Ledger
from domain.customer import Customer
from domain.errors import InvalidInput
from domain.order import Order


@dataclass(frozen=True)
class CreateOrder:
    organization_id: UUID
    customer_id: UUID
    product_id: UUID
    amount: int | None = None
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RefundOrder:
    organization_id: UUID
    order_id: UUID


def create_order(cmd: CreateOrder, ledger: Ledger) -> tuple[UUID, int]:
    customer = live_customer(ledger, cmd.organization_id, cmd.customer_id, None,
                             ("body", "customer_id"))
    product = live_product(ledger, cmd.organization_id, cmd.product_id, ("body", "product_id"))
    if product.is_recurring:
        raise InvalidInput.one(("body", "product_id"), "This product is recurring: start a "
                               "subscription instead.", "value_error", str(cmd.product_id))
    grants = grants_of(ledger, product)
    amount, currency = product.amount(cmd.amount)
    now = datetime.now(UTC)
    order = Order(organization_id=cmd.organization_id, customer_id=customer.id,
                  product_id=product.id, amount=amount, currency=currency,
                  description=cmd.description or product.name, metadata=dict(cmd.metadata),
                  grants=[g.to_json() for g in grants])
    return order.id, ledger.record(order, *credited(customer, grants, now))


def refund_order(cmd: RefundOrder, ledger: Ledger) -> int:
    order = ledger.load(Order, cmd.order_id, cmd.organization_id, "Order not found")
    now = datetime.now(UTC)
    order.refund(now)
    customer = ledger.load(Customer, order.customer_id)
    return ledger.record(order, *credited(customer, order.granted(), now, sign=-1))
