"""/v1/orders: one-time purchases. Extension: there is no checkout, so `POST /v1/orders/`
records a paid order (granting the product's credits) and `POST /v1/orders/{id}/refund` a
refund (revoking them)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from commands import orders as cmd
from queries import commerce as q
from queries.credit_schemas import Order
from web.api import Api, Call
from web.params import Metadata, parse_uuid

api = Api()
READ = ("orders:read", "orders:write")
WRITE = ("orders:write",)
TAGS = ("orders",)
READS = ("commerce", "catalog")


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    customer_id: UUID
    product_id: UUID
    amount: Annotated[StrictInt, Field(ge=0)] | None = Field(
        None, description="For a product with a custom price: what was paid, in cents.")
    description: str | None = None
    metadata: Metadata = Field(default_factory=dict)
    organization_id: UUID | None = None


def _read(call: Call, order_id: UUID) -> Order:
    with call.services.store.engine.connect() as conn:
        return q.get_order(conn, call.organization_id, order_id)


@api.route("POST", "/v1/orders/", scopes=WRITE, summary="Create Order", response=Order,
           body=OrderCreate, status=201, tags=TAGS)
def create_order(call: Call) -> Any:
    """Extension semantics: the order is recorded paid at once and grants the product's
    Credits benefits (`meter.credited` system events)."""
    body: OrderCreate = call.body
    order_id, position = cmd.create_order(cmd.CreateOrder(
        organization_id=call.organization_id, customer_id=body.customer_id,
        product_id=body.product_id, amount=body.amount, description=body.description,
        metadata=body.metadata), call.services.ledger)
    call.fresh(position, READS)
    return _read(call, order_id)


@api.route("GET", "/v1/orders/{id}", scopes=READ, summary="Get Order", response=Order,
           reads=READS, tags=TAGS)
def get_order(call: Call) -> Any:
    return _read(call, parse_uuid(call.path["id"]))


@api.route("POST", "/v1/orders/{id}/refund", scopes=WRITE, summary="Refund Order",
           response=Order, tags=TAGS)
def refund_order(call: Call) -> Any:
    """Extension: a full refund; the credits the order granted are revoked (a negative
    `meter.credited` per grant). 403 when already refunded."""
    order_id = parse_uuid(call.path["id"])
    position = cmd.refund_order(cmd.RefundOrder(call.organization_id, order_id),
                                call.services.ledger)
    call.fresh(position, READS)
    return _read(call, order_id)
