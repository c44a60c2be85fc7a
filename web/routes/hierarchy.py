"""Extensions over event trees: a whole tree with roll-ups, spans, and the cost summary.

Registered before `web.routes.events`, whose `/v1/events/{id}` would otherwise take
`/v1/events/costs`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.calendar import CalendarError, parse_interval, parse_timezone
from domain.errors import NotFound
from queries.costs import GroupBy, cost_summary
from queries.hierarchy import list_spans as list_spans_query
from queries.hierarchy import spans_by_id
from queries.schemas import CostSummary, EventTreeNode, ListResource, Span
from queries.trees import event_tree
from web.api import Api, Call
from web.params import PageParams, parse_uuid
from web.routes.events import READ, RollupParams

api = Api()
TAGS = ("events",)


@api.route("GET", "/v1/events/{id}/tree", scopes=READ, summary="Get Event Tree",
           response=EventTreeNode, query=RollupParams, reads=("events", "catalog"), tags=TAGS)
def get_event_tree(call: Call) -> Any:
    """Extension: the event and all its descendants, nested, with per-node `totals`."""
    event_id = parse_uuid(call.path["id"])
    params: RollupParams = call.query
    with call.services.store.engine.connect() as conn:
        return event_tree(conn, call.organization_id, event_id, params.paths())


class CostParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    start_timestamp: AwareDatetime = Field(description="Traces whose root is at or after this.")
    end_timestamp: AwareDatetime = Field(description="... and before this.")
    interval: str = Field(description="hour, day, week (from Monday), month or year.")
    timezone: str = Field("UTC", description="An IANA time zone; buckets are its calendar "
                                             "periods.")
    group_by: GroupBy | None = Field(None, description=(
        "customer: the root event's customer; root_name: the root event's name; name: each "
        "event's own name."))


@api.route("GET", "/v1/events/costs", scopes=READ, summary="Get Cost Summary",
           response=CostSummary, query=CostParams, reads=("events", "catalog"), tags=TAGS)
def get_costs(call: Call) -> Any:
    """Extension: exact `_cost.amount` totals and statistics per trace, by period."""
    p: CostParams = call.query
    try:
        interval, tz = parse_interval(p.interval), parse_timezone(p.timezone)
        with call.services.store.engine.connect() as conn:
            return cost_summary(conn, call.organization_id, start=p.start_timestamp,
                                end=p.end_timestamp, interval=interval, tz=tz,
                                group_by=p.group_by)
    except CalendarError as e:
        raise e.as_invalid_input() from None


SpanSorting = Literal["started_at", "-started_at", "ended_at", "-ended_at"]
_NEWEST_FIRST: list[SpanSorting] = ["-started_at"]


class SpanListParams(PageParams):
    id: list[str] = Field(default_factory=list, description="Only these span ids (any text, "
                                                            "including `/`).")
    state: Literal["open", "closed"] | None = Field(None, description="Only spans in this state.")
    sorting: list[SpanSorting] = Field(default_factory=lambda: _NEWEST_FIRST.copy())


@api.route("GET", "/v1/events/spans/", scopes=READ, summary="List Spans",
           response=ListResource[Span], query=SpanListParams, reads=("events",), tags=TAGS)
def list_spans(call: Call) -> Any:
    """Extension: spans with their start, end, duration and state."""
    p: SpanListParams = call.query
    with call.services.store.engine.connect() as conn:
        return list_spans_query(conn, call.organization_id, ids=p.id, state=p.state,
                                sorting=p.sorting, page=p.page, limit=p.limit)


@api.route("GET", "/v1/events/spans/{span_id}", scopes=READ, summary="Get Span",
           response=Span, reads=("events",), tags=TAGS)
def get_span(call: Call) -> Any:
    span_id = call.path["span_id"]
    with call.services.store.engine.connect() as conn:
        found = spans_by_id(conn, call.organization_id, [span_id])
    if span_id not in found:
        raise NotFound("Span not found")
    return found[span_id]
