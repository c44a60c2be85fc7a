"""/v1/events: ingestion and reads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from commands.ingest import IngestEvents, ingest_events
from domain.errors import InvalidInput
from domain.hierarchy import parse_rollup_paths
from domain.values import loads
from queries import events as q
from queries.meters import meter_filter
from queries.schemas import Event, EventName, EventsIngestResponse, ListResource
from web.api import POSITION_HEADER, Api, Call
from web.errors import json_response
from web.params import PageParams, parse_uuid
from web.parent_links import ParentLinks

api = Api()
READ = ("events:read", "events:write")


class EventsIngest(BaseModel):
    """`{"events": [...]}`; each event is validated field by field (see the README)."""

    events: list[dict[str, Any]] = Field(description=(
        "Polar's event fields. Extension: an optional `span` object, `{\"id\": string, "
        "\"action\": \"start\" | \"end\"}`, makes the event start or end that span; the "
        "event recorded second gets the span's duration in its metadata as "
        "`_span_duration_ms` (see `GET /v1/events/spans/`)."))


@api.route("POST", "/v1/events/ingest", scopes=("events:write",), summary="Ingest Events",
           response=EventsIngestResponse, body=EventsIngest, raw_body=True, reads=(),
           tags=("events",))
def ingest(call: Call) -> Any:
    body = call.body
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise InvalidInput.one(("body", "events"), "Field required" if not isinstance(body, dict)
                               or "events" not in body else "Input should be a valid list",
                               "missing" if not isinstance(body, dict) or "events" not in body
                               else "list_type", body.get("events") if isinstance(body, dict)
                               else body)
    parent_links = ParentLinks(call.services)
    with parent_links.guard(call.organization_id, body["events"]) as trees:
        result = ingest_events(IngestEvents(call.organization_id, body["events"],
                                            datetime.now(UTC)), call.services.ledger, trees)
        if result.links and result.entries:
            parent_links.recorded(call.organization_id, result.entries, result.links)
    call.services.runner.poke()
    data: dict[str, Any] = {"inserted": result.inserted, "duplicates": result.duplicates,
                            "conflicts": result.conflicts}
    if call.request.query_params.get("details", "").lower() in ("1", "true", "yes"):
        data["results"] = result.details()
    return json_response(data, headers={POSITION_HEADER: str(result.position)})


class RollupParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    aggregate_fields: list[str] = Field(default_factory=list, description=(
        "Extension (repeatable): numeric metadata paths (`_cost.amount`, `duration_ms`) "
        "replaced by the event's own value plus the exact sum over all its descendants."))

    def paths(self) -> list[tuple[str, ...]]:
        return parse_rollup_paths(self.aggregate_fields, ("query", "aggregate_fields"))


class EventListParams(PageParams, RollupParams):
    filter: str | None = Field(None, description="A meter filter, as a JSON string.")
    meter_id: UUID | None = Field(None, description="Only events matching this meter's filter.")
    start_timestamp: datetime | None = None
    end_timestamp: datetime | None = None
    organization_id: list[UUID] = Field(default_factory=list)
    customer_id: list[UUID] = Field(default_factory=list)
    external_customer_id: list[str] = Field(default_factory=list)
    name: list[str] = Field(default_factory=list)
    source: list[Literal["user", "system"]] = Field(default_factory=list)
    query: str | None = None
    parent_id: UUID | None = None
    depth: int | None = Field(None, ge=0, le=64)
    sorting: list[Literal["timestamp", "-timestamp"]] = Field(
        default_factory=lambda: ["-timestamp"])

    @field_validator("start_timestamp", "end_timestamp")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def _event_query(call: Call, params: EventListParams) -> q.EventQuery:
    spec = None
    if params.filter is not None:
        try:
            spec = loads(params.filter)
        except ValueError:
            raise InvalidInput.one(("query", "filter"), "Invalid JSON", "json_invalid",
                                   params.filter) from None
        spec = parse_filter_param(spec, ("query", "filter"))
    if params.meter_id is not None:
        with call.services.store.engine.connect() as conn:
            meter = meter_filter(conn, call.organization_id, params.meter_id)
        spec = meter if spec is None else {"conjunction": "and", "clauses": [meter, spec]}
    return q.EventQuery(
        customer_id=params.customer_id, external_customer_id=params.external_customer_id,
        name=params.name, source=list(params.source), start_timestamp=params.start_timestamp,
        end_timestamp=params.end_timestamp, metadata=params.metadata, filter=spec,
        query=params.query, parent_id=params.parent_id, depth=params.depth)


def parse_filter_param(spec: Any, loc: tuple[str | int, ...]) -> dict[str, Any]:
    """Validate a filter given as JSON; the full grammar lives in `domain.meter_filter`."""
    from domain.meter_filter import FilterError, parse_filter
    try:
        return parse_filter(spec).to_json()
    except FilterError as e:
        raise InvalidInput.one((*loc, *e.loc), str(e), "filter", spec) from None


@api.route("GET", "/v1/events/", scopes=READ, summary="List Events",
           response=ListResource[Event], query=EventListParams,
           reads=("events", "catalog", "meters"),
           tags=("events",))
def list_events(call: Call) -> Any:
    params: EventListParams = call.query
    with call.services.store.engine.connect() as conn:
        return q.list_events(conn, call.organization_id, _event_query(call, params),
                             sorting=params.sorting, page=params.page, limit=params.limit,
                             aggregate_fields=params.paths())


class EventNameParams(PageParams):
    organization_id: list[UUID] = Field(default_factory=list)
    customer_id: list[UUID] = Field(default_factory=list)
    external_customer_id: list[str] = Field(default_factory=list)
    source: list[Literal["user", "system"]] = Field(default_factory=list)
    query: str | None = None
    sorting: list[str] = Field(default_factory=lambda: ["-last_seen"])


@api.route("GET", "/v1/events/names", scopes=READ, summary="List Event Names",
           response=ListResource[EventName], query=EventNameParams, reads=("events", "catalog"),
           tags=("events",))
def list_event_names(call: Call) -> Any:
    params: EventNameParams = call.query
    with call.services.store.engine.connect() as conn:
        return q.list_event_names(conn, call.organization_id, source=params.source,
                                  query=params.query, customer_ids=params.customer_id,
                                  external_customer_ids=params.external_customer_id,
                                  sorting=params.sorting, page=params.page, limit=params.limit)


@api.route("GET", "/v1/events/{id}", scopes=READ, summary="Get Event", response=Event,
           query=RollupParams, reads=("events", "catalog"), tags=("events",))
def get_event(call: Call) -> Any:
    event_id = parse_uuid(call.path["id"])
    params: RollupParams = call.query
    with call.services.store.engine.connect() as conn:
        return q.get_event(conn, call.organization_id, event_id, params.paths())


__all__ = ["RollupParams", "api", "parse_filter_param"]
