"""Benefits, products, orders and subscriptions, read from their tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, func, select

from domain.errors import NotFound
from projections.credit_tables import benefits, orders, products, subscriptions
from queries.common import order_by, paginate
from queries.credit_schemas import (
    Benefit,
    BenefitMeterCreditProperties,
    Order,
    OrderItem,
    Product,
    ProductBase,
    ProductPrice,
    ProductPriceCustom,
    ProductPriceFixed,
    Subscription,
)
from queries.customers import get_customer
from queries.jsonsql import json_text
from queries.schemas import ListResource, Pagination

_BENEFIT_SORT = {"created_at": benefits.c.created_at, "description": benefits.c.description,
                 "type": benefits.c.type, "user_order": benefits.c.created_at}
_PRODUCT_SORT = {"created_at": products.c.created_at, "name": products.c.name}


def to_benefit(row: Any) -> Benefit:
    return Benefit(id=row["id"], created_at=row["created_at"], modified_at=row["modified_at"],
                   description=row["description"], is_deleted=row["deleted_at"] is not None,
                   organization_id=row["organization_id"], metadata=row["metadata"] or {},
                   visibility=row["visibility"], properties=BenefitMeterCreditProperties(
                       units=row["units"], rollover=row["rollover"], meter_id=row["meter_id"]))


def benefits_using_meter(conn: Connection, organization_id: UUID, meter_id: UUID) -> list[UUID]:
    """The Credits benefits (not deleted) that grant units of a meter."""
    return list(conn.execute(select(benefits.c.id).where(
        benefits.c.organization_id == organization_id, benefits.c.meter_id == meter_id,
        benefits.c.deleted_at.is_(None)).order_by(benefits.c.created_at)).scalars())


def get_benefit(conn: Connection, organization_id: UUID, benefit_id: UUID) -> Benefit:
    row = conn.execute(select(benefits).where(
        benefits.c.organization_id == organization_id, benefits.c.id == benefit_id,
        benefits.c.deleted_at.is_(None))).mappings().first()
    if row is None:
        raise NotFound("Benefit not found")
    return to_benefit(row)


def list_benefits(conn: Connection, organization_id: UUID, *, ids: Sequence[UUID],
                  exclude_ids: Sequence[UUID], query: str | None,
                  metadata: dict[str, list[str]], sorting: Sequence[str], page: int,
                  limit: int) -> ListResource[Benefit]:
    stmt = select(benefits).where(benefits.c.organization_id == organization_id,
                                  benefits.c.deleted_at.is_(None))
    if ids:
        stmt = stmt.where(benefits.c.id.in_(ids))
    if exclude_ids:
        stmt = stmt.where(benefits.c.id.not_in(exclude_ids))
    if query:
        stmt = stmt.where(func.lower(benefits.c.description).like(f"%{query.lower()}%"))
    for key, values in metadata.items():
        stmt = stmt.where(json_text(benefits.c.metadata, (key,)).in_(values))
    stmt = stmt.order_by(*order_by(sorting, _BENEFIT_SORT, benefits.c.id))
    rows, total = paginate(conn, stmt, page, limit)
    return ListResource[Benefit](items=[to_benefit(r) for r in rows],
        pagination=Pagination.of(total, limit))


def _price(price: dict[str, Any], product_id: UUID) -> ProductPrice:
    common = {"created_at": datetime.fromisoformat(str(price["created_at"])),
              "id": price["id"], "price_currency": price["price_currency"],
              "tax_behavior": price.get("tax_behavior"), "is_archived": price["is_archived"],
              "product_id": product_id}
    if price["amount_type"] == "fixed":
        return ProductPriceFixed(price_amount=price["price_amount"], **common)
    return ProductPriceCustom(minimum_amount=price.get("minimum_amount") or 0,
                              maximum_amount=price.get("maximum_amount"),
                              preset_amount=price.get("preset_amount"), **common)


def _base(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "created_at": row["created_at"], "modified_at": row["modified_at"],
            "name": row["name"], "description": row["description"],
            "visibility": row["visibility"], "recurring_interval": row["recurring_interval"],
            "recurring_interval_count": row["recurring_interval_count"],
            "is_recurring": row["recurring_interval"] is not None,
            "is_archived": row["is_archived"], "organization_id": row["organization_id"],
            "metadata": row["metadata"] or {}}


def to_products(conn: Connection, rows: Sequence[Any]) -> list[Product]:
    wanted = {UUID(b) for r in rows for b in r["benefit_ids"]}
    attached = {r["id"]: to_benefit(r) for r in conn.execute(select(benefits).where(
        benefits.c.id.in_(wanted), benefits.c.deleted_at.is_(None))).mappings()} \
        if wanted else {}
    return [Product(**_base(r), prices=[_price(p, r["id"]) for p in r["prices"]],
                    benefits=[attached[UUID(b)] for b in r["benefit_ids"] if UUID(b) in attached])
            for r in rows]


def _product_row(conn: Connection, organization_id: UUID, product_id: UUID) -> Any:
    row = conn.execute(select(products).where(products.c.organization_id == organization_id,
                                              products.c.id == product_id)).mappings().first()
    if row is None:
        raise NotFound("Product not found")
    return row


def get_product(conn: Connection, organization_id: UUID, product_id: UUID) -> Product:
    return to_products(conn, [_product_row(conn, organization_id, product_id)])[0]


def list_products(conn: Connection, organization_id: UUID, *, ids: Sequence[UUID],
                  query: str | None, is_archived: bool | None, is_recurring: bool | None,
                  benefit_ids: Sequence[UUID], metadata: dict[str, list[str]],
                  sorting: Sequence[str], page: int, limit: int) -> ListResource[Product]:
    stmt = select(products).where(products.c.organization_id == organization_id)
    if ids:
        stmt = stmt.where(products.c.id.in_(ids))
    if query:
        stmt = stmt.where(func.lower(products.c.name).like(f"%{query.lower()}%"))
    if is_archived is not None:
        stmt = stmt.where(products.c.is_archived.is_(is_archived))
    if is_recurring is not None:
        stmt = stmt.where(products.c.recurring_interval.is_not(None) if is_recurring
                          else products.c.recurring_interval.is_(None))
    for key, values in metadata.items():
        stmt = stmt.where(json_text(products.c.metadata, (key,)).in_(values))
    stmt = stmt.order_by(*order_by(sorting, _PRODUCT_SORT, products.c.id))
    if benefit_ids:
        wanted = {str(b) for b in benefit_ids}
        rows = [r for r in conn.execute(stmt).mappings() if wanted & set(r["benefit_ids"])]
        total, rows = len(rows), rows[(page - 1) * limit:page * limit]
    else:
        rows, total = paginate(conn, stmt, page, limit)
    return ListResource[Product](items=to_products(conn, rows),
        pagination=Pagination.of(total, limit))


def get_order(conn: Connection, organization_id: UUID, order_id: UUID) -> Order:
    row = conn.execute(select(orders).where(orders.c.organization_id == organization_id,
                                            orders.c.id == order_id)).mappings().first()
    if row is None:
        raise NotFound("Order not found")
    product = _product_row(conn, organization_id, row["product_id"])
    customer = get_customer(conn, organization_id, row["customer_id"])
    refunded = row["amount"] if row["status"] == "refunded" else 0
    price = next((p for p in product["prices"] if not p["is_archived"]), None)
    return Order(
        id=row["id"], created_at=row["created_at"], modified_at=row["modified_at"],
        status=row["status"], subtotal_amount=row["amount"], net_amount=row["amount"],
        total_amount=row["amount"], refunded_amount=refunded, currency=row["currency"],
        billing_name=customer.name, billing_address=customer.billing_address,
        customer_id=row["customer_id"], product_id=row["product_id"],
        metadata=row["metadata"] or {}, customer=customer, product=ProductBase(**_base(product)),
        items=[OrderItem(created_at=row["created_at"], id=row["id"], label=product["name"],
                         amount=row["amount"],
                         product_price_id=UUID(price["id"]) if price else None)],
        description=row["description"], refundable_amount=row["amount"] - refunded)


def get_subscription(conn: Connection, organization_id: UUID,
                     subscription_id: UUID) -> Subscription:
    row = conn.execute(select(subscriptions).where(
        subscriptions.c.organization_id == organization_id,
        subscriptions.c.id == subscription_id)).mappings().first()
    if row is None:
        raise NotFound("Subscription not found")
    product = get_product(conn, organization_id, row["product_id"])
    return Subscription(
        created_at=row["created_at"], modified_at=row["modified_at"], id=row["id"],
        amount=row["amount"], currency=row["currency"],
        recurring_interval=row["recurring_interval"],
        recurring_interval_count=row["recurring_interval_count"], status=row["status"],
        current_period_start=row["current_period_start"],
        current_period_end=row["current_period_end"],
        cancel_at_period_end=row["cancel_at_period_end"], canceled_at=row["canceled_at"],
        started_at=row["started_at"],
        ends_at=row["current_period_end"] if row["cancel_at_period_end"] else row["ended_at"],
        ended_at=row["ended_at"], customer_id=row["customer_id"],
        product_id=row["product_id"], metadata=row["metadata"] or {},
        customer=get_customer(conn, organization_id, row["customer_id"]), product=product,
        prices=[p for p in product.prices if not p.is_archived])
