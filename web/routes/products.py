"""/v1/products: one-time and recurring products, their prices and benefits."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictInt, TypeAdapter, ValidationError

from commands import products as cmd
from domain.errors import InvalidInput
from queries import commerce as q
from queries.credit_schemas import Product
from queries.schemas import ListResource
from web.api import Api, Call
from web.errors import from_pydantic
from web.params import Metadata, PageParams, parse_uuid

api = Api()
READ = ("products:read", "products:write")
WRITE = ("products:write",)
TAGS = ("products",)
READS = ("commerce",)

Name = Annotated[str, Field(min_length=3)]
Amount = Annotated[StrictInt, Field(ge=0, le=99_999_999)]
Visibility = Literal["draft", "private", "public"]
Interval = Literal["day", "week", "month", "year"]
Currency = Annotated[str, Field(min_length=3, max_length=3)]


class FixedPriceCreate(BaseModel):
    amount_type: Literal["fixed"]
    price_currency: Currency = "usd"
    tax_behavior: Literal["location", "inclusive", "exclusive"] | None = None
    price_amount: Amount


class CustomPriceCreate(BaseModel):
    amount_type: Literal["custom"]
    price_currency: Currency = "usd"
    tax_behavior: Literal["location", "inclusive", "exclusive"] | None = None
    minimum_amount: Amount = 0
    maximum_amount: Amount | None = None
    preset_amount: Amount | None = None


class ExistingPrice(BaseModel):
    id: UUID


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Name
    description: str | None = None
    visibility: Visibility = "public"
    prices: list[dict[str, Any]]
    metadata: Metadata = Field(default_factory=dict)
    recurring_interval: Interval | None = None
    recurring_interval_count: Annotated[int, Field(ge=1, le=999)] | None = None
    organization_id: UUID | None = None


class ProductUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Name | None = None
    description: str | None = None
    visibility: Visibility | None = None
    prices: list[dict[str, Any]] | None = None
    metadata: Metadata | None = None
    recurring_interval: Interval | None = None
    recurring_interval_count: Annotated[int, Field(ge=1, le=999)] | None = None
    is_archived: bool | None = None


class ProductBenefitsUpdate(BaseModel):
    benefits: list[UUID]


class ProductListParams(PageParams):
    organization_id: list[UUID] = Field(default_factory=list)
    id: list[UUID] = Field(default_factory=list)
    query: str | None = None
    is_archived: bool | None = None
    is_recurring: bool | None = None
    benefit_id: list[UUID] = Field(default_factory=list)
    sorting: list[str] = Field(default_factory=lambda: ["-created_at"])


_PRICES: dict[str, type[BaseModel]] = {"fixed": FixedPriceCreate, "custom": CustomPriceCreate}


def _prices(raw: list[dict[str, Any]], existing: bool) -> list[dict[str, Any]]:
    """Validated price specs; other amount types (seat-based, metered, ...) are not supported."""
    specs: list[dict[str, Any]] = []
    for index, spec in enumerate(raw):
        loc = ("body", "prices", index)
        model = ExistingPrice if existing and "amount_type" not in spec else \
            _PRICES.get(spec.get("amount_type"))  # type: ignore[arg-type]
        if model is None:
            raise InvalidInput.one((*loc, "amount_type"), f"Price type "
                                   f"'{spec.get('amount_type')}' is not supported: only "
                                   "'fixed' and 'custom' are.", "value_error",
                                   spec.get("amount_type"))
        try:
            specs.append(TypeAdapter(model).validate_python(spec).model_dump())
        except ValidationError as e:
            found = from_pydantic(e, ()).errors
            raise InvalidInput([replace(f, loc=(*loc, *f.loc)) for f in found]) from None
    return specs


def _read(call: Call, product_id: UUID) -> Product:
    with call.services.store.engine.connect() as conn:
        return q.get_product(conn, call.organization_id, product_id)


@api.route("POST", "/v1/products/", scopes=WRITE, summary="Create Product", response=Product,
           body=ProductCreate, status=201, tags=TAGS)
def create_product(call: Call) -> Any:
    body: ProductCreate = call.body
    product_id, position = cmd.create_product(cmd.CreateProduct(
        organization_id=call.organization_id, name=body.name,
        prices=_prices(body.prices, existing=False), description=body.description,
        recurring_interval=body.recurring_interval,
        recurring_interval_count=body.recurring_interval_count, visibility=body.visibility,
        metadata=body.metadata), call.services.ledger)
    call.fresh(position, READS)
    return _read(call, product_id)


@api.route("GET", "/v1/products/", scopes=READ, summary="List Products",
           response=ListResource[Product], query=ProductListParams, reads=READS, tags=TAGS)
def list_products(call: Call) -> Any:
    p: ProductListParams = call.query
    with call.services.store.engine.connect() as conn:
        return q.list_products(conn, call.organization_id, ids=p.id, query=p.query,
                               is_archived=p.is_archived, is_recurring=p.is_recurring,
                               benefit_ids=p.benefit_id, metadata=p.metadata,
                               sorting=p.sorting, page=p.page, limit=p.limit)


@api.route("GET", "/v1/products/{id}", scopes=READ, summary="Get Product", response=Product,
           reads=READS, tags=TAGS)
def get_product(call: Call) -> Any:
    return _read(call, parse_uuid(call.path["id"]))


@api.route("PATCH", "/v1/products/{id}", scopes=WRITE, summary="Update Product",
           response=Product, body=ProductUpdate, tags=TAGS)
def update_product(call: Call) -> Any:
    body: ProductUpdate = call.body
    product_id = parse_uuid(call.path["id"])
    changes = body.model_dump(exclude_unset=True)
    if body.prices is not None:
        changes["prices"] = _prices(body.prices, existing=True)
    position = cmd.update_product(cmd.UpdateProduct(call.organization_id, product_id, changes),
                                  call.services.ledger)
    call.fresh(position, READS)
    return _read(call, product_id)


@api.route("POST", "/v1/products/{id}/benefits", scopes=WRITE,
           summary="Update Product Benefits", response=Product, body=ProductBenefitsUpdate,
           tags=TAGS)
def update_product_benefits(call: Call) -> Any:
    """Sets the product's benefits (the list replaces the current one); grants and renewals
    from now on give them."""
    body: ProductBenefitsUpdate = call.body
    product_id = parse_uuid(call.path["id"])
    position = cmd.set_product_benefits(cmd.SetProductBenefits(
        call.organization_id, product_id, body.benefits), call.services.ledger)
    call.fresh(position, READS)
    return _read(call, product_id)
