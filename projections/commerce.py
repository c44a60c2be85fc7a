"""Benefits, products, orders and subscriptions, as read tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.utils import get_topic
from sqlalchemy import Connection, Table, insert, select, update

from domain.benefit import Benefit
from domain.order import Order
from domain.product import Product
from domain.subscription import Subscription, add_interval
from projections.credit_tables import benefits, orders, products, subscriptions


def _price_row(price: dict[str, Any], at: Any) -> dict[str, Any]:
    return {**price, "id": str(price["id"]), "created_at": price.get("created_at") or at}


class CommerceProjection:
    name = "commerce"
    topics = frozenset(get_topic(cls) for cls in (
        Benefit.Created, Benefit.Updated, Benefit.Deleted,
        Product.Created, Product.Updated, Product.BenefitsSet,
        Order.Paid, Order.Refunded,
        Subscription.Started, Subscription.Cycled, Subscription.Canceled,
        Subscription.Uncanceled, Subscription.Revoked,
    ))

    def tables(self) -> Sequence[Table]:
        return (benefits, products, orders, subscriptions)

    def process(self, conn: Connection, events: Sequence[Any]) -> None:
        for event in events:
            self._apply(conn, event)

    def _apply(self, conn: Connection, event: Any) -> None:
        at, key = event.timestamp, event.originator_id
        match event:
            case Benefit.Created():
                conn.execute(insert(benefits).values(
                    id=key, organization_id=event.organization_id, created_at=at,
                    modified_at=None, type="meter_credit", description=event.description,
                    meter_id=event.meter_id, units=event.units, rollover=event.rollover,
                    metadata=event.metadata, visibility=event.visibility, deleted_at=None))
            case Benefit.Updated():
                conn.execute(update(benefits).where(benefits.c.id == key)
                             .values(modified_at=at, **event.changes))
            case Benefit.Deleted():
                conn.execute(update(benefits).where(benefits.c.id == key)
                             .values(modified_at=at, deleted_at=event.at))
            case Product.Created():
                conn.execute(insert(products).values(
                    id=key, organization_id=event.organization_id, created_at=at,
                    modified_at=None, name=event.name, description=event.description,
                    recurring_interval=event.recurring_interval,
                    recurring_interval_count=event.recurring_interval_count,
                    visibility=event.visibility, metadata=event.metadata,
                    prices=[_price_row(p, at) for p in event.prices], benefit_ids=[],
                    is_archived=False))
            case Product.Updated():
                changes = dict(event.changes)
                if "prices" in changes:
                    changes["prices"] = self._prices(conn, key, changes["prices"], at)
                conn.execute(update(products).where(products.c.id == key)
                             .values(modified_at=at, **changes))
            case Product.BenefitsSet():
                conn.execute(update(products).where(products.c.id == key).values(
                    modified_at=at, benefit_ids=[str(b) for b in event.benefit_ids]))
            case Order.Paid():
                conn.execute(insert(orders).values(
                    id=key, organization_id=event.organization_id, created_at=at,
                    modified_at=None, customer_id=event.customer_id,
                    product_id=event.product_id, status="paid", amount=event.amount,
                    currency=event.currency, description=event.description,
                    metadata=event.metadata, refunded_at=None))
            case Order.Refunded():
                conn.execute(update(orders).where(orders.c.id == key).values(
                    modified_at=at, status="refunded", refunded_at=event.at))
            case Subscription.Started():
                self._started(conn, event)
            case Subscription.Cycled():
                self._subscription(conn, event, current_period_start=event.period_start,
                                   current_period_end=event.period_end)
            case Subscription.Canceled():
                self._subscription(conn, event, cancel_at_period_end=True, canceled_at=event.at)
            case Subscription.Uncanceled():
                self._subscription(conn, event, cancel_at_period_end=False, canceled_at=None)
            case Subscription.Revoked():
                row = conn.execute(select(subscriptions.c.canceled_at)
                                   .where(subscriptions.c.id == key)).one()
                self._subscription(conn, event, status="canceled", cancel_at_period_end=False,
                                   canceled_at=row.canceled_at or event.at, ended_at=event.at)

    @staticmethod
    def _prices(conn: Connection, product_id: Any, prices: list[dict[str, Any]],
                at: Any) -> list[dict[str, Any]]:
        """Keep the creation time of prices already listed."""
        current = conn.execute(select(products.c.prices).where(products.c.id == product_id)) \
            .scalar_one()
        created = {p["id"]: p["created_at"] for p in current}
        return [_price_row({**p, "created_at": created.get(str(p["id"]))}, at) for p in prices]

    @staticmethod
    def _started(conn: Connection, event: Any) -> None:
        conn.execute(insert(subscriptions).values(
            id=event.originator_id, organization_id=event.organization_id,
            created_at=event.timestamp, modified_at=None, customer_id=event.customer_id,
            product_id=event.product_id, status="active", amount=event.amount,
            currency=event.currency, recurring_interval=event.recurring_interval,
            recurring_interval_count=event.recurring_interval_count,
            started_at=event.started_at, current_period_start=event.started_at,
            current_period_end=add_interval(event.started_at, event.recurring_interval,
                                            event.recurring_interval_count),
            cancel_at_period_end=False, canceled_at=None, ended_at=None,
            metadata=event.metadata))

    @staticmethod
    def _subscription(conn: Connection, event: Any, **values: Any) -> None:
        conn.execute(update(subscriptions).where(subscriptions.c.id == event.originator_id)
                     .values(modified_at=event.timestamp, **values))
