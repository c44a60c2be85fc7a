"""/v1/customers and their members."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from commands import customers as cmd
from queries import customers as q
from queries.schemas import Customer, ListResource, Member
from web.api import Api, Call
from web.params import Email, Metadata, PageParams, parse_uuid

api = Api()
READ = ("customers:read", "customers:write")
WRITE = ("customers:write",)
TAGS = ("customers",)



class Address(BaseModel):
    line1: str | None = None
    line2: str | None = None
    postal_code: str | None = None
    city: str | None = None
    state: str | None = None
    country: str


class OwnerCreate(BaseModel):
    email: Email
    name: str | None = None
    external_id: str | None = None


class CustomerCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    email: Email | None = None
    name: str | None = None
    external_id: Annotated[str, Field(min_length=1)] | None = None
    metadata: Metadata = Field(default_factory=dict)
    type: Literal["individual", "team"] = "individual"
    billing_address: Address | None = None
    tax_id: str | None = None
    locale: str | None = None
    organization_id: UUID | None = None
    owner: OwnerCreate | None = None


class CustomerUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    email: Email | None = None
    name: str | None = None
    external_id: Annotated[str, Field(min_length=1)] | None = None
    metadata: Metadata | None = None
    type: Literal["individual", "team"] | None = None
    billing_address: Address | None = None
    tax_id: str | None = None
    locale: str | None = None


class CustomerListParams(PageParams):
    organization_id: list[UUID] = Field(default_factory=list)
    email: str | None = None
    query: str | None = None
    active: bool | None = None
    sorting: list[str] = Field(default_factory=lambda: ["-created_at"])


class MemberCreate(BaseModel):
    email: Email
    name: str | None = None
    external_id: Annotated[str, Field(min_length=1)] | None = None
    role: Literal["owner", "billing_manager", "member"] = "member"


class MemberUpdate(BaseModel):
    name: str | None = None
    email: Email | None = None
    role: Literal["owner", "billing_manager", "member"] | None = None


class MemberListParams(PageParams):
    role: Literal["owner", "billing_manager", "member"] | None = None
    sorting: list[str] = Field(default_factory=lambda: ["-created_at"])


def _customer_id(call: Call) -> UUID:
    """The customer named by the path: `{id}` or `external/{external_id}`."""
    if "external_id" in call.path:
        with call.services.store.engine.connect() as conn:
            return q.get_customer(conn, call.organization_id,
                                  external_id=call.path["external_id"]).id
    return parse_uuid(call.path["id"])


def _read_customer(call: Call, customer_id: UUID) -> Customer:
    with call.services.store.engine.connect() as conn:
        return q.get_customer(conn, call.organization_id, customer_id)


@api.route("POST", "/v1/customers/", scopes=WRITE, summary="Create Customer", response=Customer,
           body=CustomerCreate, status=201, tags=TAGS)
def create_customer(call: Call) -> Any:
    body: CustomerCreate = call.body
    customer_id, position = cmd.create_customer(cmd.CreateCustomer(
        organization_id=call.organization_id, email=body.email, name=body.name,
        external_id=body.external_id, metadata=body.metadata, type=body.type,
        billing_address=body.billing_address.model_dump() if body.billing_address else None,
        tax_id=body.tax_id, locale=body.locale,
        owner=body.owner.model_dump() if body.owner else None), call.services.ledger)
    call.fresh(position, ("catalog",))
    return _read_customer(call, customer_id)


@api.route("GET", "/v1/customers/", scopes=READ, summary="List Customers",
           response=ListResource[Customer], query=CustomerListParams,
           reads=("catalog", "events"), tags=TAGS)
def list_customers(call: Call) -> Any:
    p: CustomerListParams = call.query
    with call.services.store.engine.connect() as conn:
        return q.list_customers(conn, call.organization_id, email=p.email, query=p.query,
                                metadata=p.metadata, sorting=p.sorting, page=p.page,
                                limit=p.limit)


def get_customer(call: Call) -> Any:
    with call.services.store.engine.connect() as conn:
        if "external_id" in call.path:
            return q.get_customer(conn, call.organization_id,
                                  external_id=call.path["external_id"])
        return q.get_customer(conn, call.organization_id, parse_uuid(call.path["id"]),
                              include_deleted=False)


def update_customer(call: Call) -> Any:
    body: CustomerUpdate = call.body
    customer_id = _customer_id(call)
    changes = body.model_dump(exclude_unset=True)
    position = cmd.update_customer(cmd.UpdateCustomer(call.organization_id, customer_id,
                                                      changes), call.services.ledger)
    call.fresh(position, ("catalog",))
    return _read_customer(call, customer_id)


def delete_customer(call: Call) -> Any:
    position = cmd.delete_customer(cmd.DeleteCustomer(call.organization_id, _customer_id(call)),
                                   call.services.ledger)
    call.fresh(position, ("catalog",))
    return Response(status_code=204)


for _path in ("/v1/customers/{id}", "/v1/customers/external/{external_id}"):
    _suffix = " by External ID" if "external" in _path else ""
    api.route("GET", _path, scopes=READ, summary=f"Get Customer{_suffix}", response=Customer,
              reads=("catalog", "events"), tags=TAGS)(get_customer)
    api.route("PATCH", _path, scopes=WRITE, summary=f"Update Customer{_suffix}",
              response=Customer, body=CustomerUpdate, reads=("catalog",), tags=TAGS)(update_customer)
    api.route("DELETE", _path, scopes=WRITE, summary=f"Delete Customer{_suffix}",
              response=None, status=204, reads=("catalog",), tags=TAGS)(delete_customer)


def list_members(call: Call) -> Any:
    p: MemberListParams = call.query
    customer_id = _customer_id(call)
    with call.services.store.engine.connect() as conn:
        q.get_customer(conn, call.organization_id, customer_id, include_deleted=False)
        return q.list_members(conn, customer_id, role=p.role, sorting=p.sorting, page=p.page,
                              limit=p.limit)


def create_member(call: Call) -> Any:
    body: MemberCreate = call.body
    customer_id = _customer_id(call)
    member_id, position = cmd.create_member(cmd.CreateMember(
        call.organization_id, customer_id, body.email, body.name, body.external_id, body.role),
        call.services.ledger)
    call.fresh(position, ("catalog",))
    with call.services.store.engine.connect() as conn:
        return q.get_member(conn, customer_id, member_id)


def _member_id(call: Call, customer_id: UUID) -> UUID:
    if "member_external_id" in call.path:
        with call.services.store.engine.connect() as conn:
            return q.get_member(conn, customer_id,
                                external_id=call.path["member_external_id"]).id
    return parse_uuid(call.path["member_id"])


def get_member(call: Call) -> Any:
    customer_id = _customer_id(call)
    member_id = _member_id(call, customer_id)
    with call.services.store.engine.connect() as conn:
        q.get_customer(conn, call.organization_id, customer_id, include_deleted=False)
        return q.get_member(conn, customer_id, member_id)


def update_member(call: Call) -> Any:
    body: MemberUpdate = call.body
    customer_id = _customer_id(call)
    member_id = _member_id(call, customer_id)
    position = cmd.update_member(cmd.UpdateMember(call.organization_id, customer_id, member_id,
                                                  body.model_dump(exclude_unset=True)),
                                 call.services.ledger)
    call.fresh(position, ("catalog",))
    with call.services.store.engine.connect() as conn:
        return q.get_member(conn, customer_id, member_id)


def delete_member(call: Call) -> Any:
    customer_id = _customer_id(call)
    position = cmd.delete_member(cmd.DeleteMember(call.organization_id, customer_id,
                                                  _member_id(call, customer_id)),
                                 call.services.ledger)
    call.fresh(position, ("catalog",))
    return Response(status_code=204)


for _base in ("/v1/customers/{id}", "/v1/customers/external/{external_id}"):
    _one = f"{_base}/members/" + ("{member_external_id}" if "external" in _base
                                  else "{member_id}")
    api.route("GET", f"{_base}/members", scopes=READ, summary="List Members",
              response=ListResource[Member], query=MemberListParams, reads=("catalog",),
              tags=TAGS)(list_members)
    api.route("POST", f"{_base}/members", scopes=WRITE, summary="Create Member",
              response=Member, body=MemberCreate, status=201, reads=("catalog",),
              tags=TAGS)(create_member)
    api.route("GET", _one, scopes=READ, summary="Get Member", response=Member,
              reads=("catalog",), tags=TAGS)(get_member)
    api.route("PATCH", _one, scopes=WRITE, summary="Update Member", response=Member,
              body=MemberUpdate, reads=("catalog",), tags=TAGS)(update_member)
    api.route("DELETE", _one, scopes=WRITE, summary="Delete Member", response=None,
              status=204, reads=("catalog",), tags=TAGS)(delete_member)
