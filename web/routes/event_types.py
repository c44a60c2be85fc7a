"""/v1/event-types."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, field_validator

from commands.event_types import RelabelEventType, relabel_event_type
from queries.event_types import get_event_type, list_event_types
from queries.schemas import EventType, EventTypeWithStats, ListResource
from web.api import Api, Call
from web.params import PageParams, parse_uuid

api = Api()


class EventTypeParams(PageParams):
    organization_id: list[UUID] = Field(default_factory=list)
    customer_id: list[UUID] = Field(default_factory=list)
    external_customer_id: list[str] = Field(default_factory=list)
    query: str | None = None
    root_events: bool = False
    parent_id: UUID | None = None
    source: Literal["user", "system"] | None = None
    sorting: list[str] = Field(default_factory=lambda: ["-last_seen"])


class EventTypeUpdate(BaseModel):
    label: str = Field(min_length=1, max_length=128)
    label_property_selector: str | None = None

    @field_validator("label")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            msg = "String should have at least 1 character"
            raise ValueError(msg)
        return value


@api.route("GET", "/v1/event-types/", scopes=("events:read", "events:write"),
           summary="List Event Types", response=ListResource[EventTypeWithStats],
           query=EventTypeParams, reads=("events", "catalog"), tags=("event-types",))
def list_types(call: Call) -> Any:
    p: EventTypeParams = call.query
    with call.services.store.engine.connect() as conn:
        return list_event_types(conn, call.organization_id, query=p.query, source=p.source,
                                sorting=p.sorting, page=p.page, limit=p.limit)


@api.route("PATCH", "/v1/event-types/{id}", scopes=("events:write",),
           summary="Update Event Type", response=EventType, body=EventTypeUpdate,
           reads=("catalog",), tags=("event-types",))
def update_type(call: Call) -> Any:
    body: EventTypeUpdate = call.body
    event_type_id = parse_uuid(call.path["id"])
    position = relabel_event_type(RelabelEventType(
        call.organization_id, event_type_id, body.label, body.label_property_selector),
        call.services.ledger)
    call.fresh(position, ("catalog",))
    with call.services.store.engine.connect() as conn:
        return get_event_type(conn, call.organization_id, event_type_id)
