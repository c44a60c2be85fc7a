"""/v1/subscriptions: start, renew, cancel and revoke subscriptions to recurring products.

Extension: renewals happen when `POST /v1/subscriptions/{id}/cycle` is called (there is no billing
clock); `cancel` and `revoke` also have extension paths next to the SDK's `PATCH` and `DELETE`.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from commands import subscriptions as cmd
from domain.errors import InvalidInput
from queries import commerce as q
from queries import customer_meters as qm
from queries.credit_schemas import Subscription
from web.api import Api, Call
from web.params import Metadata, parse_uuid

api = Api()
READ = ("subscriptions:read", "subscriptions:write")
WRITE = ("subscriptions:write",)
TAGS = ("subscriptions",)
READS = ("commerce", "catalog")


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    product_id: UUID
    customer_id: UUID | None = None
    external_customer_id: str | None = Field(None, min_length=1)
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_customer(self) -> SubscriptionCreate:
        if (self.customer_id is None) == (self.external_customer_id is None):
            msg = "Exactly one of customer_id or external_customer_id is required"
            raise ValueError(msg)
        return self


class SubscriptionUpdate(BaseModel):
    """The SDK's `SubscriptionCancel` (`cancel_at_period_end`) or `SubscriptionRevoke`
    (`revoke: true`); other updates are not supported."""

    model_config = ConfigDict(extra="ignore")

    cancel_at_period_end: bool | None = None
    revoke: Literal[True] | None = None


def _read(call: Call, subscription_id: UUID) -> Subscription:
    with call.services.store.engine.connect() as conn:
        return q.get_subscription(conn, call.organization_id, subscription_id)


def _done(call: Call, subscription_id: UUID, position: int) -> Subscription:
    call.fresh(position, READS)
    return _read(call, subscription_id)


@api.route("POST", "/v1/subscriptions/", scopes=WRITE, summary="Create Subscription",
           response=Subscription, body=SubscriptionCreate, status=201, tags=TAGS)
def create_subscription(call: Call) -> Any:
    """Starts the subscription now and grants the product's Credits benefits."""
    body: SubscriptionCreate = call.body
    subscription_id, position = cmd.start_subscription(cmd.StartSubscription(
        organization_id=call.organization_id, product_id=body.product_id,
        customer_id=body.customer_id, external_customer_id=body.external_customer_id,
        metadata=body.metadata), call.services.ledger)
    return _done(call, subscription_id, position)


@api.route("GET", "/v1/subscriptions/{id}", scopes=READ, summary="Get Subscription",
           response=Subscription, reads=READS, tags=TAGS)
def get_subscription(call: Call) -> Any:
    return _read(call, parse_uuid(call.path["id"]))


@api.route("POST", "/v1/subscriptions/{id}/cycle", scopes=WRITE, summary="Cycle Subscription",
           response=Subscription, reads=("customer_meters", *READS), tags=TAGS)
def cycle_subscription(call: Call) -> Any:
    """Extension: renew now. Each credited meter is reset, what may roll over is carried over,
    and the benefits are granted again; a subscription canceled at period end ends instead."""
    subscription_id = parse_uuid(call.path["id"])
    with call.services.store.engine.connect() as conn:
        customer_id = q.get_subscription(conn, call.organization_id, subscription_id).customer_id
        balances = qm.balances_of(conn, call.organization_id, customer_id)
    position = cmd.cycle_subscription(cmd.CycleSubscription(
        call.organization_id, subscription_id, balances), call.services.ledger)
    return _done(call, subscription_id, position)


@api.route("POST", "/v1/subscriptions/{id}/cancel", scopes=WRITE,
           summary="Cancel Subscription", response=Subscription, tags=TAGS)
def cancel_subscription(call: Call) -> Any:
    """Extension: cancel at the end of the current period (the next cycle ends it)."""
    subscription_id = parse_uuid(call.path["id"])
    position = cmd.cancel_subscription(cmd.CancelSubscription(
        call.organization_id, subscription_id), call.services.ledger)
    return _done(call, subscription_id, position)


def revoke_subscription(call: Call) -> Any:
    """End now; the credits of the last grant are revoked. 403 when already ended."""
    subscription_id = parse_uuid(call.path["id"])
    position = cmd.revoke_subscription(cmd.RevokeSubscription(
        call.organization_id, subscription_id), call.services.ledger)
    return _done(call, subscription_id, position)


api.route("POST", "/v1/subscriptions/{id}/revoke", scopes=WRITE,
          summary="Revoke Subscription (extension path)", response=Subscription,
          tags=TAGS)(revoke_subscription)
api.route("DELETE", "/v1/subscriptions/{id}", scopes=WRITE, summary="Revoke Subscription",
          response=Subscription, tags=TAGS)(revoke_subscription)


@api.route("PATCH", "/v1/subscriptions/{id}", scopes=WRITE, summary="Update Subscription",
           response=Subscription, body=SubscriptionUpdate, tags=TAGS)
def update_subscription(call: Call) -> Any:
    body: SubscriptionUpdate = call.body
    subscription_id = parse_uuid(call.path["id"])
    if body.revoke:
        return revoke_subscription(call)
    if body.cancel_at_period_end is None:
        raise InvalidInput.one(("body",), "Only `cancel_at_period_end` and `revoke` updates are "
                               "supported.", "value_error", None)
    position = cmd.cancel_subscription(cmd.CancelSubscription(
        call.organization_id, subscription_id, body.cancel_at_period_end),
        call.services.ledger)
    return _done(call, subscription_id, position)
