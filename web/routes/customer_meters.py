"""/v1/customer-meters: each customer's consumption, credits and balance per meter; extensions:
balance at a past time, balance history, and reconciliation with the ledger."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from projections.reconcile import reconcile
from queries import customer_meters as q
from queries.credit_schemas import BalanceHistory, CustomerMeter, Drift, Reconciliation
from queries.schemas import ListResource
from web.api import Api, Call
from web.params import PageParams, parse_uuid

api = Api()
READ = ("customer_meters:read",)
TAGS = ("customer-meters",)
READS = ("customer_meters", "catalog", "meters", "meter_usage")

SortKey = Literal[
    "created_at", "-created_at", "modified_at", "-modified_at", "customer_id", "-customer_id",
    "customer_name", "-customer_name", "meter_id", "-meter_id", "meter_name", "-meter_name",
    "consumed_units", "-consumed_units", "credited_units", "-credited_units", "balance",
    "-balance"]


class CustomerMeterListParams(PageParams):
    organization_id: list[UUID] = Field(default_factory=list)
    customer_id: list[UUID] = Field(default_factory=list)
    external_customer_id: list[str] = Field(default_factory=list)
    meter_id: list[UUID] = Field(default_factory=list)
    sorting: list[SortKey] = Field(default_factory=lambda: list[SortKey](["-modified_at"]))


class AsOfParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    as_of: AwareDatetime | None = Field(None, description="Extension: the figures as they were "
                                                          "at this time.")


class HistoryParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    start_timestamp: AwareDatetime | None = Field(None, description="Inclusive.")
    end_timestamp: AwareDatetime | None = Field(None, description="Exclusive.")


@api.route("GET", "/v1/customer-meters/", scopes=READ, summary="List Customer Meters",
           response=ListResource[CustomerMeter], query=CustomerMeterListParams, reads=READS,
           tags=TAGS)
def list_customer_meters(call: Call) -> Any:
    p: CustomerMeterListParams = call.query
    with call.services.store.engine.connect() as conn:
        return q.list_customer_meters(
            conn, call.organization_id, customer_ids=p.customer_id,
            external_customer_ids=p.external_customer_id, meter_ids=p.meter_id,
            sorting=p.sorting, page=p.page, limit=p.limit,
            ledger_position=call.services.ledger.position())


@api.route("GET", "/v1/customer-meters/reconciliation", scopes=READ,
           summary="Reconcile Customer Meters", response=Reconciliation,
           reads=("customer_meters",), tags=TAGS)
def reconciliation(call: Call) -> Any:
    """Extension: every customer meter of the organization recomputed from the event store
    (not from read tables) and compared with the read model, at the same ledger position."""
    report = reconcile(call.services.ledger, call.services.store, call.organization_id)
    return Reconciliation(
        position=report.position, customer_meters=report.customer_meters, events=report.events,
        seconds=Decimal(str(round(report.seconds, 6))),
        drifts=[Drift(**vars(d)) for d in report.drifts])


@api.route("GET", "/v1/customer-meters/{id}", scopes=READ, summary="Get Customer Meter",
           response=CustomerMeter, query=AsOfParams, reads=READS, tags=TAGS)
def get_customer_meter(call: Call) -> Any:
    p: AsOfParams = call.query
    with call.services.store.engine.connect() as conn:
        return q.get_customer_meter(conn, call.organization_id, parse_uuid(call.path["id"]),
                                    call.services.ledger.position(), as_of=p.as_of)


@api.route("GET", "/v1/customer-meters/{id}/history", scopes=READ,
           summary="Customer Meter Balance History", response=BalanceHistory,
           query=HistoryParams, reads=READS, tags=TAGS)
def balance_history(call: Call) -> Any:
    """Extension: every ledger entry that moved the balance (credits, resets, revocations, and
    usage per 15-minute bucket), oldest first, with the running balance after each."""
    p: HistoryParams = call.query
    with call.services.store.engine.connect() as conn:
        return q.balance_history(conn, call.organization_id, parse_uuid(call.path["id"]),
                                 start=p.start_timestamp, end=p.end_timestamp)
