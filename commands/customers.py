"""Customers and members: create, update, soft delete. Uniqueness through claims."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from commands import claims
from commands.ledger import IntegrityError, Ledger
from domain.claim import Claim
from domain.customer import Customer, Member
from domain.errors import FieldError, InvalidInput, NotFound

EMAIL, EXTERNAL_ID = "customer-email", "customer-external-id"
MEMBER_EMAIL, MEMBER_EXTERNAL_ID = "member-email", "member-external-id"


@dataclass(frozen=True)
class CreateCustomer:
    organization_id: UUID
    email: str | None
    name: str | None = None
    external_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    type: str = "individual"
    billing_address: dict[str, Any] | None = None
    tax_id: str | None = None
    locale: str | None = None
    owner: dict[str, Any] | None = None


@dataclass(frozen=True)
class UpdateCustomer:
    organization_id: UUID
    customer_id: UUID
    changes: dict[str, Any]


@dataclass(frozen=True)
class DeleteCustomer:
    organization_id: UUID
    customer_id: UUID


@dataclass(frozen=True)
class CreateMember:
    organization_id: UUID
    customer_id: UUID
    email: str
    name: str | None = None
    external_id: str | None = None
    role: str = "member"


@dataclass(frozen=True)
class UpdateMember:
    organization_id: UUID
    customer_id: UUID
    member_id: UUID
    changes: dict[str, Any]


@dataclass(frozen=True)
class DeleteMember:
    organization_id: UUID
    customer_id: UUID
    member_id: UUID


def _once(fn: Any) -> Any:
    """Run a command again after a concurrent write won a race (its claims are then seen)."""
    def run(cmd: Any, ledger: Ledger) -> Any:
        try:
            return fn(cmd, ledger)
        except IntegrityError:
            return fn(cmd, ledger)
    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


@_once
def create_customer(cmd: CreateCustomer, ledger: Ledger) -> tuple[UUID, int]:
    email = cmd.email.lower() if cmd.email else None
    if cmd.type == "individual" and not email:
        raise InvalidInput.one(("body", "email"), "Field required", "missing")
    customer = Customer(organization_id=cmd.organization_id, email=cmd.email, name=cmd.name,
                        external_id=cmd.external_id, metadata=dict(cmd.metadata), type=cmd.type,
                        billing_address=cmd.billing_address, tax_id=cmd.tax_id, locale=cmd.locale)
    taken: list[Claim] = []
    if email:
        taken.append(claims.take(ledger, cmd.organization_id, EMAIL, email, customer.id,
                                 ("body", "email"), "A customer with this email address already "
                                 "exists."))
    if cmd.external_id:
        taken.append(claims.take(ledger, cmd.organization_id, EXTERNAL_ID, cmd.external_id,
                                 customer.id, ("body", "external_id"),
                                 "A customer with this external ID already exists."))
    owner_email = (cmd.owner or {}).get("email") or cmd.email
    new: list[Any] = []
    if owner_email:
        owner = Member(organization_id=cmd.organization_id, customer_id=customer.id,
                       email=owner_email,
                       name=(cmd.owner or {}).get("name", cmd.name),
                       external_id=(cmd.owner or {}).get("external_id"), role="owner")
        new.append(owner)
        new.append(claims.take(ledger, customer.id, MEMBER_EMAIL, owner_email.lower(), owner.id,
                               ("body", "owner", "email"), "Duplicate member email."))
        if owner.external_id:
            new.append(claims.take(ledger, customer.id, MEMBER_EXTERNAL_ID, owner.external_id,
                                   owner.id, ("body", "owner", "external_id"),
                                   "Duplicate member external ID."))
    return customer.id, ledger.record(customer, *taken, *new)


@_once
def update_customer(cmd: UpdateCustomer, ledger: Ledger) -> int:
    customer = _live_customer(ledger, cmd.organization_id, cmd.customer_id)
    changes = {k: v for k, v in cmd.changes.items() if getattr(customer, k, None) != v}
    touched: list[Claim] = []
    errors: list[FieldError] = []
    if "external_id" in changes and customer.external_id is not None:
        errors.append(FieldError(("body", "external_id"),
                                 "Customer external ID cannot be updated once set.",
                                 "value_error", changes["external_id"]))
    if "type" in changes and (customer.type, changes["type"]) != ("individual", "team"):
        errors.append(FieldError(("body", "type"), "Customer type can only be upgraded from "
                                 "individual to team.", "value_error", changes["type"]))
    if "email" in changes and changes["email"] is None and customer.type == "individual":
        errors.append(FieldError(("body", "email"), "Email is required for individual customers.",
                                 "value_error", None))
    if errors:
        raise InvalidInput(errors)
    if not changes:
        return ledger.position()
    if "email" in changes:
        old = customer.email.lower() if customer.email else None
        new = changes["email"].lower() if changes["email"] else None
        if new != old:
            if new:
                touched.append(claims.take(ledger, cmd.organization_id, EMAIL, new, customer.id,
                                           ("body", "email"), "A customer with this email "
                                           "address already exists."))
            touched += claims.release(ledger, cmd.organization_id, EMAIL, old, customer.id)
    if changes.get("external_id"):
        touched.append(claims.take(ledger, cmd.organization_id, EXTERNAL_ID,
                                   changes["external_id"], customer.id, ("body", "external_id"),
                                   "A customer with this external ID already exists."))
    customer.update(changes)
    return ledger.record(customer, *touched)


def delete_customer(cmd: DeleteCustomer, ledger: Ledger) -> int:
    customer = _live_customer(ledger, cmd.organization_id, cmd.customer_id)
    released = claims.release(ledger, cmd.organization_id, EMAIL,
                              customer.email.lower() if customer.email else None, customer.id)
    released += claims.release(ledger, cmd.organization_id, EXTERNAL_ID, customer.external_id,
                               customer.id)
    customer.delete(at=datetime.now(UTC))
    return ledger.record(customer, *released)


@_once
def create_member(cmd: CreateMember, ledger: Ledger) -> tuple[UUID, int]:
    _live_customer(ledger, cmd.organization_id, cmd.customer_id)
    member = Member(organization_id=cmd.organization_id, customer_id=cmd.customer_id,
                    email=cmd.email, name=cmd.name, external_id=cmd.external_id, role=cmd.role)
    taken = [claims.take(ledger, cmd.customer_id, MEMBER_EMAIL, cmd.email.lower(), member.id,
                         ("body", "email"), "A member with this email already exists.")]
    if cmd.external_id:
        taken.append(claims.take(ledger, cmd.customer_id, MEMBER_EXTERNAL_ID, cmd.external_id,
                                 member.id, ("body", "external_id"),
                                 "A member with this external ID already exists."))
    return member.id, ledger.record(member, *taken)


@_once
def update_member(cmd: UpdateMember, ledger: Ledger) -> int:
    member = _live_member(ledger, cmd)
    changes = {k: v for k, v in cmd.changes.items() if getattr(member, k, None) != v}
    if not changes:
        return ledger.position()
    touched: list[Claim] = []
    if changes.get("email"):
        touched.append(claims.take(ledger, cmd.customer_id, MEMBER_EMAIL,
                                   changes["email"].lower(), member.id, ("body", "email"),
                                   "A member with this email already exists."))
        touched += claims.release(ledger, cmd.customer_id, MEMBER_EMAIL, member.email.lower(),
                                  member.id)
    member.update(changes)
    return ledger.record(member, *touched)


def delete_member(cmd: DeleteMember, ledger: Ledger) -> int:
    member = _live_member(ledger, cmd)
    released = claims.release(ledger, cmd.customer_id, MEMBER_EMAIL, member.email.lower(),
                              member.id)
    released += claims.release(ledger, cmd.customer_id, MEMBER_EXTERNAL_ID, member.external_id,
                               member.id)
    member.delete()
    return ledger.record(member, *released)


def _live_customer(ledger: Ledger, organization_id: UUID, customer_id: UUID) -> Customer:
    customer = ledger.load(Customer, customer_id, organization_id, "Customer not found")
    if customer.is_deleted:
        raise NotFound("Customer not found")
    return customer


def _live_member(ledger: Ledger, cmd: UpdateMember | DeleteMember) -> Member:
    _live_customer(ledger, cmd.organization_id, cmd.customer_id)
    member = ledger.load(Member, cmd.member_id, cmd.organization_id, "Member not found")
    if member.deleted or member.customer_id != cmd.customer_id:
        raise NotFound("Member not found")
    return member
