"""The events read table (one row per ledger entry) and per-name statistics.

Parent links are resolved here: a `parent_id` given at ingestion may name our event id or an
external id, of an event recorded before, in the same batch, or later. Until the parent arrives
the child keeps its reference as pending and is a root of its own; when the parent arrives the
child (and its subtree) attaches.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic
from sqlalchemy import Connection, Table, and_, insert, or_, select, update

from domain.usage import UsageRecorded
from projections.tables import event_names, events


class EventsProjection:
    name = "events"
    topics = frozenset({get_topic(UsageRecorded)})

    def tables(self) -> Sequence[Table]:
        return (events, event_names)

    def process(self, conn: Connection, batch: Sequence[Any]) -> None:
        rows = [self._row(e) for e in batch]
        self._resolve_parents(conn, rows)
        conn.execute(insert(events), rows)
        self._attach_pending(conn, rows)
        self._count_names(conn, batch)

    @staticmethod
    def _row(event: UsageRecorded) -> dict[str, Any]:
        return {
            "id": event.originator_id,
            "organization_id": event.organization_id, "name": event.name,
            "source": event.source, "timestamp": event.occurred_at,
            "ingested_at": event.timestamp, "customer_id": event.customer_id,
            "external_customer_id": event.external_customer_id, "member_id": event.member_id,
            "external_member_id": event.external_member_id, "external_id": event.external_id,
            "parent_ref": event.parent_ref, "parent_id": None, "root_id": event.originator_id,
            "depth": 0, "child_count": 0, "metadata": event.metadata,
        }

    def _resolve_parents(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Link each child to a parent recorded earlier or earlier in this batch."""
        local: dict[tuple[UUID, str], dict[str, Any]] = {}
        wanted = {(r["organization_id"], r["parent_ref"]) for r in rows if r["parent_ref"]}
        found = self._lookup(conn, wanted) if wanted else {}
        increments: dict[UUID, int] = defaultdict(int)
        for row in rows:
            ref = row["parent_ref"]
            if ref:
                key = (row["organization_id"], ref)
                parent = local.get(key) or found.get(key)
                if parent is not None and parent["id"] != row["id"]:
                    row["parent_id"] = parent["id"]
                    row["root_id"] = parent["root_id"]
                    row["depth"] = parent["depth"] + 1
                    if parent in local.values():
                        parent["child_count"] += 1
                    else:
                        increments[parent["id"]] += 1
            local[(row["organization_id"], str(row["id"]))] = row
            if row["external_id"]:
                local[(row["organization_id"], row["external_id"])] = row
        for parent_id, count in increments.items():
            conn.execute(update(events).where(events.c.id == parent_id)
                         .values(child_count=events.c.child_count + count))

    @staticmethod
    def _lookup(conn: Connection, refs: set[tuple[UUID, str]]) -> dict[tuple[UUID, str],
                                                                       dict[str, Any]]:
        by_org: dict[UUID, set[str]] = defaultdict(set)
        for organization_id, ref in refs:
            by_org[organization_id].add(ref)
        found: dict[tuple[UUID, str], dict[str, Any]] = {}
        columns = (events.c.id, events.c.organization_id, events.c.external_id,
                   events.c.root_id, events.c.depth)
        for organization_id, values in by_org.items():
            as_ids = [UUID(v) for v in values if _is_uuid(v)]
            condition = events.c.external_id.in_(values)
            if as_ids:
                condition = or_(condition, events.c.id.in_(as_ids))
            for row in conn.execute(select(*columns).where(
                    events.c.organization_id == organization_id, condition)).mappings():
                parent = dict(row)
                if str(parent["id"]) in values:
                    found[(organization_id, str(parent["id"]))] = parent
                if parent["external_id"] in values:
                    found[(organization_id, parent["external_id"])] = parent
        return found

    def _attach_pending(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """Children recorded before this batch, waiting for a parent that has now arrived."""
        by_org: dict[UUID, dict[str, dict[str, Any]]] = defaultdict(dict)
        for row in rows:
            refs = by_org[row["organization_id"]]
            refs[str(row["id"])] = row
            if row["external_id"]:
                refs[row["external_id"]] = row
        for organization_id, refs in by_org.items():
            waiting = conn.execute(select(events.c.id, events.c.parent_ref).where(
                events.c.organization_id == organization_id, events.c.parent_id.is_(None),
                events.c.parent_ref.in_(list(refs)))).all()
            for child_id, ref in waiting:
                parent = refs[ref]
                if child_id == parent["id"] or self._is_ancestor(conn, child_id, parent["id"]):
                    continue
                conn.execute(update(events).where(events.c.id == parent["id"])
                             .values(child_count=events.c.child_count + 1))
                conn.execute(update(events).where(events.c.id == child_id)
                             .values(parent_id=parent["id"]))
                self._reroot(conn, child_id, parent["root_id"], parent["depth"] + 1)

    @staticmethod
    def _is_ancestor(conn: Connection, candidate: UUID, of: UUID) -> bool:
        current: UUID | None = of
        while current is not None:
            if current == candidate:
                return True
            current = conn.execute(select(events.c.parent_id)
                                   .where(events.c.id == current)).scalar()
        return False

    @staticmethod
    def _reroot(conn: Connection, event_id: UUID, root_id: UUID, depth: int) -> None:
        level = [event_id]
        while level:
            conn.execute(update(events).where(events.c.id.in_(level))
                         .values(root_id=root_id, depth=depth))
            level = list(conn.execute(select(events.c.id)
                                      .where(events.c.parent_id.in_(level))).scalars())
            depth += 1

    @staticmethod
    def _count_names(conn: Connection, batch: Sequence[Any]) -> None:
        stats: dict[tuple[UUID, str, str], list[Any]] = {}
        for event in batch:
            key = (event.organization_id, event.name, event.source)
            seen: datetime = event.occurred_at
            entry = stats.setdefault(key, [0, seen, seen])
            entry[0] += 1
            entry[1] = min(entry[1], seen)
            entry[2] = max(entry[2], seen)
        for (organization_id, name, source), (count, first, last) in stats.items():
            key_filter = and_(event_names.c.organization_id == organization_id,
                              event_names.c.name == name, event_names.c.source == source)
            existing = conn.execute(select(event_names.c.first_seen, event_names.c.last_seen)
                                    .where(key_filter)).first()
            if existing is None:
                conn.execute(insert(event_names).values(
                    organization_id=organization_id, name=name, source=source,
                    occurrences=count, first_seen=first, last_seen=last))
            else:
                conn.execute(update(event_names).where(key_filter).values(
                    occurrences=event_names.c.occurrences + count,
                    first_seen=min(existing.first_seen, first),
                    last_seen=max(existing.last_seen, last)))


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True
