"""A whole event tree in one response, each node with its roll-ups."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Connection

from domain.hierarchy import add_totals, numeric_leaves
from queries.events import event_fields, event_row
from queries.hierarchy import subtree_members
from queries.schemas import EventTreeNode


def event_tree(conn: Connection, organization_id: UUID, event_id: UUID,
               aggregate_fields: Sequence[tuple[str, ...]] = ()) -> EventTreeNode:
    """The event and everything below it (the whole tree when it is a root)."""
    top = event_row(conn, organization_id, event_id)
    rows = [top, *subtree_members(conn, top)]
    fields = event_fields(conn, organization_id, rows, aggregate_fields)
    children: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
    for row, node in zip(rows, fields, strict=True):
        node["totals"] = add_totals(numeric_leaves(row["metadata"]), row["subtree_totals"] or {})
        if row["parent_id"] is not None:
            children[row["parent_id"]].append(node)
    built: dict[UUID, EventTreeNode] = {}
    for row, node in sorted(zip(rows, fields, strict=True), key=lambda p: -p[0]["depth"]):
        kids = sorted(children.get(row["id"], []), key=lambda n: (n["timestamp"], n["id"]))
        built[row["id"]] = EventTreeNode(**node, children=[built[k["id"]] for k in kids])
    return built[event_id]
