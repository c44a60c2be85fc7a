"""/v1/benefits: Credits benefits (`meter_credit`); other benefit types are not supported."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
)
from starlette.responses import Response

from commands import benefits as cmd
from domain.credits import MAX_UNITS
from domain.errors import InvalidInput
from queries import commerce as q
from queries.credit_schemas import Benefit
from queries.schemas import ListResource
from web.api import Api, Call
from web.errors import from_pydantic
from web.params import Metadata, PageParams, parse_uuid

api = Api()
READ = ("benefits:read", "benefits:write")
WRITE = ("benefits:write",)
TAGS = ("benefits",)
READS = ("commerce",)

Description = Annotated[str, Field(min_length=3, max_length=42)]
Visibility = Literal["draft", "private", "public"]


class MeterCreditProperties(BaseModel):
    units: Annotated[StrictInt, Field(gt=0, le=MAX_UNITS)]
    rollover: StrictBool
    meter_id: UUID


class BenefitCreate(BaseModel):
    """Any benefit type is parsed; only `meter_credit` is accepted (see `_properties`)."""

    model_config = ConfigDict(extra="ignore")

    type: str
    description: Description
    properties: dict[str, Any]
    metadata: Metadata = Field(default_factory=dict)
    visibility: Visibility = "private"
    organization_id: UUID | None = None


class BenefitUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    description: Description | None = None
    properties: dict[str, Any] | None = None
    metadata: Metadata | None = None
    visibility: Visibility | None = None


class BenefitListParams(PageParams):
    organization_id: list[UUID] = Field(default_factory=list)
    type: list[str] = Field(default_factory=list)
    id: list[UUID] = Field(default_factory=list)
    exclude_id: list[UUID] = Field(default_factory=list)
    query: str | None = None
    sorting: list[str] = Field(default_factory=lambda: ["-created_at"])


def _supported(kind: str) -> None:
    if kind != "meter_credit":
        raise InvalidInput.one(("body", "type"), f"Benefit type '{kind}' is not supported: "
                               "only 'meter_credit' is.", "value_error", kind)


def _properties(raw: dict[str, Any]) -> MeterCreditProperties:
    try:
        return TypeAdapter(MeterCreditProperties).validate_python(raw)
    except ValidationError as e:
        raise from_pydantic(e, ("body", "properties")) from None


def _read(call: Call, benefit_id: UUID) -> Benefit:
    with call.services.store.engine.connect() as conn:
        return q.get_benefit(conn, call.organization_id, benefit_id)


@api.route("POST", "/v1/benefits/", scopes=WRITE, summary="Create Benefit", response=Benefit,
           body=BenefitCreate, status=201, tags=TAGS)
def create_benefit(call: Call) -> Any:
    body: BenefitCreate = call.body
    _supported(body.type)
    properties = _properties(body.properties)
    benefit_id, position = cmd.create_benefit(cmd.CreateBenefit(
        organization_id=call.organization_id, description=body.description,
        meter_id=properties.meter_id, units=properties.units, rollover=properties.rollover,
        metadata=body.metadata, visibility=body.visibility), call.services.ledger)
    call.fresh(position, READS)
    return _read(call, benefit_id)


@api.route("GET", "/v1/benefits/", scopes=READ, summary="List Benefits",
           response=ListResource[Benefit], query=BenefitListParams, reads=READS, tags=TAGS)
def list_benefits(call: Call) -> Any:
    p: BenefitListParams = call.query
    if p.type and "meter_credit" not in p.type:
        return ListResource[Benefit].model_validate({"items": [], "pagination": {
            "total_count": 0, "max_page": 0}})
    with call.services.store.engine.connect() as conn:
        return q.list_benefits(conn, call.organization_id, ids=p.id, exclude_ids=p.exclude_id,
                               query=p.query, metadata=p.metadata, sorting=p.sorting,
                               page=p.page, limit=p.limit)


@api.route("GET", "/v1/benefits/{id}", scopes=READ, summary="Get Benefit", response=Benefit,
           reads=READS, tags=TAGS)
def get_benefit(call: Call) -> Any:
    return _read(call, parse_uuid(call.path["id"]))


@api.route("PATCH", "/v1/benefits/{id}", scopes=WRITE, summary="Update Benefit",
           response=Benefit, body=BenefitUpdate, tags=TAGS)
def update_benefit(call: Call) -> Any:
    """Changes apply from the next grant or cycle; credits already granted stay."""
    body: BenefitUpdate = call.body
    benefit_id = parse_uuid(call.path["id"])
    _supported(body.type)
    changes = body.model_dump(exclude_unset=True, exclude={"type", "properties"})
    if body.properties is not None:
        changes.update(_properties(body.properties).model_dump())
    position = cmd.update_benefit(cmd.UpdateBenefit(call.organization_id, benefit_id, changes),
                                  call.services.ledger)
    call.fresh(position, READS)
    return _read(call, benefit_id)


@api.route("DELETE", "/v1/benefits/{id}", scopes=WRITE, summary="Delete Benefit",
           response=None, status=204, tags=TAGS)
def delete_benefit(call: Call) -> Any:
    """Future grants stop; credits already granted stay until refunded or revoked."""
    position = cmd.delete_benefit(cmd.DeleteBenefit(call.organization_id,
                                                    parse_uuid(call.path["id"])),
                                  call.services.ledger)
    call.fresh(position, READS)
    return Response(status_code=204)
