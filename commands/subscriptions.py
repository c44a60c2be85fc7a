"""Subscriptions (extension: renewals happen when asked, there is no billing clock).

Start grants the product's Credits benefits; a cycle resets each credited meter, carries over what
may roll over and grants again; a revoke (or the cycle that ends a subscription canceled at period
end) takes back the last grant. Each is one transaction with its system events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from commands.credits import credited, cycled, grants_of, live_customer, live_product
from commands.ledger import Ledger
from domain.credits import Balance
from domain.customer import Customer
from domain.errors import InvalidInput
from domain.product import Product
from domain.subscription import Subscription


@dataclass(frozen=True)
class StartSubscription:
    organization_id: UUID
    product_id: UUID
    customer_id: UUID | None = None
    external_customer_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CycleSubscription:
    """`balances` are the customer's current balances per meter, from which the carried-over
    credit is computed (the caller reads them, caught up with the ledger)."""

    organization_id: UUID
    subscription_id: UUID
    balances: Mapping[UUID, Balance] = field(default_factory=dict)


@dataclass(frozen=True)
class CancelSubscription:
    organization_id: UUID
    subscription_id: UUID
    at_period_end: bool = True


@dataclass(frozen=True)
class RevokeSubscription:
    organization_id: UUID
    subscription_id: UUID


def start_subscription(cmd: StartSubscription, ledger: Ledger) -> tuple[UUID, int]:
    loc = ("body", "customer_id" if cmd.customer_id is not None else "external_customer_id")
    customer = live_customer(ledger, cmd.organization_id, cmd.customer_id,
                             cmd.external_customer_id, loc)
    product = live_product(ledger, cmd.organization_id, cmd.product_id, ("body", "product_id"))
    if not product.is_recurring or product.recurring_interval is None:
        raise InvalidInput.one(("body", "product_id"), "This product is not recurring: create "
                               "an order instead.", "value_error", str(cmd.product_id))
    grants = grants_of(ledger, product)
    amount, currency = product.amount()
    now = datetime.now(UTC)
    subscription = Subscription(
        organization_id=cmd.organization_id, customer_id=customer.id, product_id=product.id,
        amount=amount, currency=currency, recurring_interval=product.recurring_interval,
        recurring_interval_count=product.recurring_interval_count or 1, started_at=now,
        metadata=dict(cmd.metadata), grants=[g.to_json() for g in grants])
    return subscription.id, ledger.record(subscription, *credited(customer, grants, now))


def cycle_subscription(cmd: CycleSubscription, ledger: Ledger) -> int:
    subscription = _load(ledger, cmd.organization_id, cmd.subscription_id)
    customer = ledger.load(Customer, subscription.customer_id)
    now = datetime.now(UTC)
    previous = subscription.granted()
    if subscription.cancel_at_period_end:
        subscription.revoke(now)
        return ledger.record(subscription, *credited(customer, previous, now, sign=-1))
    grants = grants_of(ledger, ledger.load(Product, subscription.product_id))
    subscription.cycle(grants)
    return ledger.record(subscription, *cycled(customer, previous, grants, cmd.balances, now))


def cancel_subscription(cmd: CancelSubscription, ledger: Ledger) -> int:
    subscription = _load(ledger, cmd.organization_id, cmd.subscription_id)
    version = subscription.version
    if cmd.at_period_end:
        subscription.cancel(datetime.now(UTC))
    else:
        subscription.uncancel()
    return ledger.record(subscription) if subscription.version != version else ledger.position()


def revoke_subscription(cmd: RevokeSubscription, ledger: Ledger) -> int:
    subscription = _load(ledger, cmd.organization_id, cmd.subscription_id)
    customer = ledger.load(Customer, subscription.customer_id)
    now = datetime.now(UTC)
    subscription.revoke(now)
    return ledger.record(subscription, *credited(customer, subscription.granted(), now, sign=-1))


def _load(ledger: Ledger, organization_id: UUID, subscription_id: UUID) -> Subscription:
    return ledger.load(Subscription, subscription_id, organization_id, "Subscription not found")
