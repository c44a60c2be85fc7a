"""Products: create, update, attach benefits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from commands.ledger import Ledger
from domain import ids
from domain.benefit import Benefit
from domain.errors import FieldError, InvalidInput
from domain.product import Product


@dataclass(frozen=True)
class CreateProduct:
    organization_id: UUID
    name: str
    prices: list[dict[str, Any]]
    description: str | None = None
    recurring_interval: str | None = None
    recurring_interval_count: int | None = None
    visibility: str = "public"
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UpdateProduct:
    organization_id: UUID
    product_id: UUID
    changes: dict[str, Any]
    """name, description, visibility, metadata, is_archived, recurring_interval(_count) and
    prices (each either `{"id": ...}` to keep an existing price, or a new price)."""


@dataclass(frozen=True)
class SetProductBenefits:
    organization_id: UUID
    product_id: UUID
    benefit_ids: list[UUID]


def create_product(cmd: CreateProduct, ledger: Ledger) -> tuple[UUID, int]:
    recurring = cmd.recurring_interval is not None
    product = Product(organization_id=cmd.organization_id, name=cmd.name,
                      description=cmd.description, recurring_interval=cmd.recurring_interval,
                      recurring_interval_count=(cmd.recurring_interval_count or 1)
                      if recurring else None,
                      visibility=cmd.visibility, metadata=dict(cmd.metadata),
                      prices=[_new_price(p) for p in cmd.prices])
    return product.id, ledger.record(product)


def update_product(cmd: UpdateProduct, ledger: Ledger) -> int:
    product = ledger.load(Product, cmd.product_id, cmd.organization_id, "Product not found")
    changes = dict(cmd.changes)
    if "recurring_interval" in changes and (changes["recurring_interval"] is None) != (
            product.recurring_interval is None):
        raise InvalidInput.one(("body", "recurring_interval"), "The billing type of a product "
                               "(one-time or recurring) cannot be changed.", "value_error",
                               changes["recurring_interval"])
    if "prices" in changes:
        changes["prices"] = _updated_prices(product, changes["prices"])
    changes = {k: v for k, v in changes.items() if getattr(product, k) != v}
    if not changes:
        return ledger.position()
    product.update(changes)
    return ledger.record(product)


def set_product_benefits(cmd: SetProductBenefits, ledger: Ledger) -> int:
    product = ledger.load(Product, cmd.product_id, cmd.organization_id, "Product not found")
    errors = []
    for index, benefit_id in enumerate(cmd.benefit_ids):
        benefit = ledger.find(Benefit, benefit_id)
        if benefit is None or benefit.organization_id != cmd.organization_id \
                or benefit.is_deleted:
            errors.append(FieldError(("body", "benefits", index), "Benefit does not exist.",
                                     "value_error", str(benefit_id)))
    if errors:
        raise InvalidInput(errors)
    wanted = list(dict.fromkeys(cmd.benefit_ids))
    if wanted == product.benefit_ids:
        return ledger.position()
    product.set_benefits(wanted)
    return ledger.record(product)


def _new_price(spec: dict[str, Any]) -> dict[str, Any]:
    return {"id": ids.new_id(), "is_archived": False, "price_currency": "usd",
            "tax_behavior": None, **spec}


def _updated_prices(product: Product, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Prices listed by id are kept, new ones added, the others archived (as Polar)."""
    current = {p["id"]: p for p in product.prices}
    kept: set[UUID] = set()
    added: list[dict[str, Any]] = []
    for index, spec in enumerate(specs):
        if "id" in spec:
            if spec["id"] not in current:
                raise InvalidInput.one(("body", "prices", index, "id"), "Price does not exist.",
                                       "value_error", str(spec["id"]))
            kept.add(spec["id"])
        else:
            added.append(_new_price(spec))
    return [{**p, "is_archived": p["is_archived"] or p["id"] not in kept}
            for p in product.prices] + added
