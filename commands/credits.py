"""Credits as ledger entries: the `meter.credited` / `meter.reset` system events that purchases,
renewals and revocations record, and the look-ups those commands share."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from uuid import UUID

from commands.ledger import Ledger
from domain import ids
from domain.benefit import Benefit
from domain.claim import Claim
from domain.credits import (
    CREDITED,
    RESET,
    ZERO,
    Balance,
    Grant,
    credited_metadata,
    cycle_credits,
    reset_metadata,
)
from domain.customer import Customer
from domain.errors import InvalidInput
from domain.product import Product
from domain.usage import SYSTEM, UsageRecorded, fingerprint

CUSTOMER_EXTERNAL_ID = "customer-external-id"
"""The claim kind that makes customer external ids unique (see commands.customers)."""

Loc = tuple[str | int, ...]


def live_customer(ledger: Ledger, organization_id: UUID, customer_id: UUID | None,
                  external_id: str | None, loc: Loc) -> Customer:
    """The customer named by id or external id; 422 at `loc` when there is none."""
    if customer_id is None and external_id is not None:
        claim = ledger.find(Claim, ids.claim_id(organization_id, CUSTOMER_EXTERNAL_ID,
                                                external_id))
        customer_id = claim.owner_id if claim is not None else None
    customer = ledger.find(Customer, customer_id) if customer_id is not None else None
    if customer is None or customer.organization_id != organization_id or customer.is_deleted:
        raise InvalidInput.one(loc, "Customer does not exist.", "value_error",
                               str(customer_id) if external_id is None else external_id)
    return customer


def live_product(ledger: Ledger, organization_id: UUID, product_id: UUID, loc: Loc) -> Product:
    product = ledger.find(Product, product_id)
    if product is None or product.organization_id != organization_id or product.is_archived:
        raise InvalidInput.one(loc, "Product does not exist.", "value_error", str(product_id))
    return product


def grants_of(ledger: Ledger, product: Product) -> list[Grant]:
    """The credits one purchase of `product` grants now (its live Credits benefits)."""
    benefits = (ledger.find(Benefit, benefit_id) for benefit_id in product.benefit_ids)
    return [b.grant() for b in benefits if b is not None and not b.is_deleted]


def _system_event(customer: Customer, name: str, metadata: dict[str, object],
                  at: datetime) -> UsageRecorded:
    return UsageRecorded(
        originator_id=ids.new_id(), originator_version=1, timestamp=at,
        organization_id=customer.organization_id, name=name, occurred_at=at, source=SYSTEM,
        customer_id=customer.id, external_customer_id=customer.external_id, member_id=None,
        external_member_id=None, external_id=None, parent_ref=None, metadata=metadata,
        fingerprint=fingerprint({"name": name, "metadata": metadata}))


def _ticks(at: datetime) -> Iterator[datetime]:
    """Distinct, increasing times from `at`, so entries recorded together keep their order when
    listed by timestamp."""
    step = 0
    while True:
        yield at + timedelta(microseconds=step)
        step += 1


def credited(customer: Customer, grants: Iterable[Grant], at: datetime,
             sign: int = 1) -> list[UsageRecorded]:
    """`meter.credited` for each grant (`sign=-1`: the revocation of those grants)."""
    clock = _ticks(at)
    return [_system_event(customer, CREDITED,
                          credited_metadata(g.meter_id, sign * g.units, g.rollover), next(clock))
            for g in grants]


def cycled(customer: Customer, previous: list[Grant], grants: list[Grant],
           balances: Mapping[UUID, Balance], at: datetime) -> list[UsageRecorded]:
    """A renewal, per meter of the old or new grants: `meter.reset`, the carried-over credit
    (computed from the balance before the reset) and the grants again."""
    clock = _ticks(at)
    events: list[UsageRecorded] = []
    for meter_id in dict.fromkeys(g.meter_id for g in [*previous, *grants]):
        events.append(_system_event(customer, RESET, reset_metadata(meter_id), next(clock)))
        for units, rollover in cycle_credits(balances.get(meter_id, ZERO), grants, meter_id):
            events.append(_system_event(customer, CREDITED,
                                        credited_metadata(meter_id, units, rollover),
                                        next(clock)))
    return events
