"""Roll-ups equal a brute-force recomputation, whatever order and batches a forest arrives in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from domain import ids
from tests.conftest import new_token
from tests.hierarchy.tree_helpers import by_external_id, event, ingest, ok
from web.bootstrap import Services


@dataclass(frozen=True)
class Forest:
    parents: list[int | None]  # parent index of each node (always an earlier node)
    costs: list[Decimal | None]
    tokens: list[int | None]
    by_id: list[bool]  # whether the child names its parent by our event id
    order: list[int]  # ingestion order
    cuts: list[int]  # batch boundaries in that order


@st.composite
def forests(draw: st.DrawFn) -> Forest:
    size = draw(st.integers(1, 14))
    parents = [None] + [draw(st.none() | st.integers(0, i - 1)) for i in range(1, size)]
    amounts = st.decimals(min_value=Decimal(-1000), max_value=Decimal(100000), places=12,
                          allow_nan=False, allow_infinity=False)
    order = draw(st.permutations(range(size)))
    return Forest(parents=parents,
                  costs=[draw(st.none() | amounts) for _ in range(size)],
                  tokens=[draw(st.none() | st.integers(0, 10**20)) for _ in range(size)],
                  by_id=[draw(st.booleans()) for _ in range(size)],
                  order=list(order),
                  cuts=sorted(draw(st.sets(st.integers(1, max(size - 1, 1)), max_size=3))))


def _send(client: TestClient, auth: dict[str, str], organization: str, forest: Forest) -> None:
    org = ids.organization_id(organization)

    def payload(i: int) -> dict[str, Any]:
        parent = forest.parents[i]
        ref = None if parent is None else (
            str(ids.keyed_event_id(org, f"n{parent}")) if forest.by_id[i] else f"n{parent}")
        metadata: dict[str, Any] = {}
        if forest.costs[i] is not None:
            metadata["_cost"] = {"amount": str(forest.costs[i]), "currency": "usd"}
        if forest.tokens[i] is not None:
            metadata["tokens"] = forest.tokens[i]
        return event(f"n{i}", ref, metadata=metadata)

    edges = [0, *forest.cuts, len(forest.order)]
    for start, end in pairwise(edges):
        if start < end:
            ok(ingest(client, auth, *[payload(i) for i in forest.order[start:end]]))


def _expected(forest: Forest, node: int) -> tuple[int, Decimal | None, int | None, int]:
    """(descendant count, cost sum, token sum, depth) by brute force."""
    below = [i for i in range(len(forest.parents)) if node in _ancestors(forest, i)]
    costs = [forest.costs[i] for i in [node, *below] if forest.costs[i] is not None]
    tokens = [forest.tokens[i] for i in [node, *below] if forest.tokens[i] is not None]
    return (len(below), sum(costs, Decimal(0)) if costs else None,
            sum(tokens) if tokens else None, len(_ancestors(forest, node)))


def _ancestors(forest: Forest, node: int) -> list[int]:
    found = []
    parent = forest.parents[node]
    while parent is not None:
        found.append(parent)
        parent = forest.parents[parent]
    return found


@settings(max_examples=12, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(forest=forests())
def test_rollups_equal_a_brute_force_sum(client: TestClient, services: Services,
                                         forest: Forest) -> None:
    organization = f"org-{uuid.uuid4().hex[:12]}"
    auth = {"Authorization": f"Bearer {new_token(services, organization)}"}
    _send(client, auth, organization, forest)
    events = by_external_id(client, auth, aggregate_fields=["_cost.amount", "tokens"])
    for node in range(len(forest.parents)):
        got = events[f"n{node}"]
        count, cost, tokens, depth = _expected(forest, node)
        amount = got["metadata"].get("_cost", {}).get("amount")
        assert (got["descendant_count"], None if amount is None else Decimal(amount),
                got["metadata"].get("tokens"), got["depth"]) == (count, cost, tokens, depth)
        children = sum(1 for p in forest.parents if p == node)
        assert got["child_count"] == children
