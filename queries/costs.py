"""Cost summary: exact `_cost.amount` totals and per-trace statistics by period and group.

A trace is a root event with all its descendants; it belongs to the period (and, for
`customer` / `root_name`, the group) of its root. Children still waiting for their parent are
not roots of a trace and are left out until they attach. Only traces holding at least one cost
count. With `group_by=name`, each event's cost goes to its own name and a trace counts once in
every name group it has a cost in, with the cost of those events.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from domain.calendar import TimeInterval, bucket_starts
from domain.costs import statistics
from domain.hierarchy import EXACT, numeric_leaves
from projections.tables import events
from queries.common import chunks
from queries.customers import customers_by_reference
from queries.jsonsql import json_kind
from queries.schemas import CostGroup, CostPeriod, CostStatistics, CostSummary

GroupBy = Literal["customer", "name", "root_name"]
COST = "_cost.amount"
_COST_PATH = ("_cost", "amount")

TraceCosts = dict[str | None, Decimal]
"""One trace's cost by group key (a single None key when not grouped)."""


def cost_summary(conn: Connection, organization_id: UUID, *, start: datetime, end: datetime,
                 interval: TimeInterval, tz: ZoneInfo, group_by: GroupBy | None) -> CostSummary:
    buckets = bucket_starts(start, end, interval, tz)
    edges = [b.astimezone(UTC) for b in buckets]
    roots = list(conn.execute(select(
        events.c.id, events.c.timestamp, events.c.name, events.c.customer_id,
        events.c.external_customer_id, events.c.metadata, events.c.child_count,
        events.c.subtree_totals).where(
        events.c.organization_id == organization_id, events.c.parent_id.is_(None),
        events.c.parent_ref.is_(None), events.c.timestamp >= start,
        events.c.timestamp < end)).mappings())
    keys = _group_keys(conn, organization_id, roots, group_by)
    traces: list[tuple[int, TraceCosts]] = []
    by_name = _descendant_costs(conn, [r["id"] for r in roots if r["child_count"]]) \
        if group_by == "name" else {}
    for root in roots:
        own = numeric_leaves(root["metadata"]).get(COST)
        if group_by == "name":
            costs = _add({}, root["name"], own)
            for name, amount in by_name.get(root["id"], ()):
                _add(costs, name, amount)
        else:
            costs = _add({}, keys.get(root["id"]), own)
            _add(costs, keys.get(root["id"]), (root["subtree_totals"] or {}).get(COST))
        if costs:
            traces.append((bisect_right(edges, root["timestamp"]) - 1, costs))
    return _summary(buckets, traces, grouped=group_by is not None)


def _summary(buckets: Sequence[datetime], traces: Sequence[tuple[int, TraceCosts]], *,
             grouped: bool) -> CostSummary:
    whole: dict[int, list[Decimal]] = defaultdict(list)
    parts: dict[int, dict[str | None, list[Decimal]]] = defaultdict(lambda: defaultdict(list))
    overall: dict[str | None, list[Decimal]] = defaultdict(list)
    for bucket, costs in traces:
        total = Decimal(0)
        for key, amount in costs.items():
            total = EXACT.add(total, amount)
            parts[bucket][key].append(amount)
            overall[key].append(amount)
        whole[bucket].append(total)
    periods = [CostPeriod(timestamp=start, **_figures(whole[i]),
                          groups=_groups(parts[i]) if grouped else [])
               for i, start in enumerate(buckets)]
    every = [cost for costs in whole.values() for cost in costs]
    return CostSummary(periods=periods, totals=CostStatistics(**_figures(every)),
                       groups=_groups(overall) if grouped else [])


def _groups(by_key: Mapping[str | None, list[Decimal]]) -> list[CostGroup]:
    return [CostGroup(key=key, **_figures(costs))
            for key, costs in sorted(by_key.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))]


def _figures(costs: Sequence[Decimal]) -> dict[str, Any]:
    figures = statistics(costs)
    return {"total": figures.total, "traces": figures.traces, "average": figures.average,
            "p50": figures.p50, "p95": figures.p95, "p99": figures.p99}


def _add(costs: TraceCosts, key: str | None, amount: Decimal | None) -> TraceCosts:
    if amount is not None:
        costs[key] = EXACT.add(costs.get(key, Decimal(0)), amount)
    return costs


def _group_keys(conn: Connection, organization_id: UUID, roots: Sequence[Any],
                group_by: GroupBy | None) -> dict[UUID, str | None]:
    if group_by == "root_name":
        return {r["id"]: r["name"] for r in roots}
    if group_by != "customer":
        return {}
    by_id, by_external = customers_by_reference(
        conn, organization_id, [r["customer_id"] for r in roots if r["customer_id"]],
        [r["external_customer_id"] for r in roots if r["external_customer_id"]])
    keys: dict[UUID, str | None] = {}
    for root in roots:
        customer = by_id.get(root["customer_id"]) if root["customer_id"] else \
            by_external.get(root["external_customer_id"])
        keys[root["id"]] = str(customer.id) if customer else (
            str(root["customer_id"]) if root["customer_id"] else root["external_customer_id"])
    return keys


def _descendant_costs(conn: Connection, roots: Sequence[UUID]
                      ) -> dict[UUID, list[tuple[str, Decimal]]]:
    """(name, cost) of each costed descendant of these roots."""
    found: dict[UUID, list[tuple[str, Decimal]]] = defaultdict(list)
    for chunk in chunks(roots, 900):
        for root, name, metadata in conn.execute(
                select(events.c.root_id, events.c.name, events.c.metadata)
                .where(events.c.root_id.in_(chunk),
                       events.c.parent_id.is_not(None),
                       json_kind(events.c.metadata, _COST_PATH) == "number")):
            amount = numeric_leaves(metadata).get(COST)
            if amount is not None:
                found[root].append((name, amount))
    return found
