"""/v1/meters: definitions and their quantities over time."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool

from commands import meters as cmd
from domain.aggregation import AggregationFunction
from domain.calendar import CalendarError, parse_interval, parse_timezone
from queries import meters as q
from queries import quantities as qq
from queries.commerce import benefits_using_meter
from queries.schemas import ListResource, Meter, MeterQuantities
from web.api import Api, Call
from web.errors import json_response
from web.params import Metadata, PageParams, parse_uuid

api = Api()
READ = ("meters:read", "meters:write")
WRITE = ("meters:write",)
TAGS = ("meters",)
SOURCE_HEADER = "Metering-Quantities-Source"
"""Extension: `projection` or `events`, which read model answered a quantities request."""

Unit = Literal["scalar", "token", "custom"]


class MeterCreate(BaseModel):
    """Types only; the rules (name length, custom unit, filter and aggregation grammar) are
    checked by `commands.meters`."""

    model_config = ConfigDict(extra="ignore")

    name: str
    unit: Unit = "scalar"
    custom_label: str | None = None
    custom_multiplier: int | None = None
    filter: Any = Field(description="A meter filter: {conjunction, clauses}.")
    aggregation: Any = Field(description="{func} or {func, property}.")
    metadata: Metadata = Field(default_factory=dict)
    organization_id: UUID | None = None


class MeterUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    unit: Unit | None = None
    custom_label: str | None = None
    custom_multiplier: int | None = None
    filter: Any = None
    aggregation: Any = None
    metadata: Metadata | None = None
    is_archived: StrictBool | None = None


class MeterListParams(PageParams):
    organization_id: list[UUID] = Field(default_factory=list)
    query: str | None = None
    is_archived: bool | None = None
    sorting: list[str] = Field(default_factory=lambda: ["name"])


class QuantitiesParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    start_timestamp: AwareDatetime
    end_timestamp: AwareDatetime
    interval: str = Field(description="hour, day, week (from Monday), month or year.")
    timezone: str = Field("UTC", description="An IANA time zone; buckets are its calendar "
                                             "periods.")
    customer_id: list[UUID] = Field(default_factory=list)
    external_customer_id: list[str] = Field(default_factory=list)
    customer_aggregation_function: AggregationFunction | None = None
    metadata: dict[str, list[str]] = Field(default_factory=dict, description=(
        "Only events whose metadata has these values (`?metadata[key]=value`; textual; values "
        "of one key are OR'd, keys AND'd). Answered from the events table, not the buckets."))


def _read_meter(call: Call, meter_id: UUID) -> Meter:
    with call.services.store.engine.connect() as conn:
        return q.get_meter(conn, call.organization_id, meter_id,
                           call.services.ledger.position())


@api.route("POST", "/v1/meters/", scopes=WRITE, summary="Create Meter", response=Meter,
           body=MeterCreate, status=201, tags=TAGS)
def create_meter(call: Call) -> Any:
    body: MeterCreate = call.body
    meter_id, position = cmd.create_meter(cmd.CreateMeter(
        organization_id=call.organization_id, name=body.name, filter=body.filter,
        aggregation=body.aggregation, unit=body.unit, custom_label=body.custom_label,
        custom_multiplier=body.custom_multiplier, metadata=body.metadata),
        call.services.ledger)
    call.fresh(position, ("meters", "meter_usage"))
    return _read_meter(call, meter_id)


@api.route("GET", "/v1/meters/", scopes=READ, summary="List Meters",
           response=ListResource[Meter], query=MeterListParams,
           reads=("meters", "meter_usage"), tags=TAGS)
def list_meters(call: Call) -> Any:
    p: MeterListParams = call.query
    with call.services.store.engine.connect() as conn:
        return q.list_meters(conn, call.organization_id, query=p.query,
                             is_archived=p.is_archived, metadata=p.metadata,
                             sorting=p.sorting, page=p.page, limit=p.limit,
                             ledger_position=call.services.ledger.position())


@api.route("GET", "/v1/meters/{id}", scopes=READ, summary="Get Meter", response=Meter,
           reads=("meters", "meter_usage"), tags=TAGS)
def get_meter(call: Call) -> Any:
    return _read_meter(call, parse_uuid(call.path["id"]))


@api.route("PATCH", "/v1/meters/{id}", scopes=WRITE, summary="Update Meter", response=Meter,
           body=MeterUpdate, tags=TAGS)
def update_meter(call: Call) -> Any:
    body: MeterUpdate = call.body
    meter_id = parse_uuid(call.path["id"])
    used_by: list[UUID] = []
    if body.is_archived:
        call.fresh(call.services.ledger.position(), ("commerce",))
        with call.services.store.engine.connect() as conn:
            used_by = benefits_using_meter(conn, call.organization_id, meter_id)
    position = cmd.update_meter(cmd.UpdateMeter(
        call.organization_id, meter_id, body.model_dump(exclude_unset=True), used_by),
        call.services.ledger)
    call.fresh(position, ("meters", "meter_usage"))
    return _read_meter(call, meter_id)


@api.route("GET", "/v1/meters/{id}/quantities", scopes=READ, summary="Get Meter Quantities",
           response=MeterQuantities, query=QuantitiesParams,
           reads=("meters", "meter_usage", "catalog"), tags=TAGS)
def get_quantities(call: Call) -> Any:
    """Answered from the meter's usage build when it can, else from the events table (see
    `queries.quantities`); the `Metering-Quantities-Source` header says which."""
    p: QuantitiesParams = call.query
    meter_id = parse_uuid(call.path["id"])
    try:
        query = qq.QuantitiesQuery(
            start=p.start_timestamp, end=p.end_timestamp, interval=parse_interval(p.interval),
            timezone=parse_timezone(p.timezone), customer_id=p.customer_id,
            external_customer_id=p.external_customer_id,
            customer_aggregation=p.customer_aggregation_function, metadata=p.metadata)
        buckets = qq.Buckets.of(query)
    except CalendarError as e:
        raise e.as_invalid_input() from None
    with call.services.store.engine.connect() as conn:
        result = qq.from_projection(conn, call.organization_id, meter_id, query, buckets)
    source = qq.PROJECTION
    if result is None:
        source = qq.EVENTS
        call.fresh(call.services.ledger.position(), ("events", "catalog", "meters"))
        with call.services.store.engine.connect() as conn:
            result = qq.from_events(conn, call.organization_id, meter_id, query, buckets)
    return json_response(result.model_dump(mode="python"), headers={SOURCE_HEADER: source})
