"""Reads over the event trees: what ingestion checks links against, descendants, subtree
roll-ups and spans. Nothing here walks a tree recursively: the closure table and the per-event
subtree totals kept by the events projection answer in a few indexed queries."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Connection, and_, false, func, or_, select

from domain.hierarchy import BatchLink, RecordedNode, RecordedTrees, as_uuid
from domain.ids import keyed_event_id
from domain.span import duration_ms
from projections.tables import events, spans
from queries.common import chunks, one_of, order_by, paginate
from queries.schemas import ListResource, Pagination, Span

_CHUNK = 900


def recorded_trees(conn: Connection, organization_id: UUID, links: Sequence[BatchLink],
                   unprojected: Sequence[BatchLink] = ()) -> RecordedTrees:
    """What ingestion needs to check a batch's parent links (see `domain.hierarchy`), given
    the recorded events this read model does not hold yet (`unprojected`)."""
    refs = {link.parent_ref for link in (*unprojected, *links) if link.parent_ref}
    refs -= {ref for link in unprojected for ref in link.refs}   # not in the read model
    # Nor are new events' external ids (id-shaped ones may still be a recorded event's id).
    refs -= {link.external_id for link in links
             if link.new and link.external_id and as_uuid(link.external_id) is None}
    found = by_reference(conn, organization_id, refs)
    root_refs: dict[UUID, str | None] = {}
    for chunk in chunks(sorted({row.root_id for row in found.values()}), _CHUNK):
        root_refs.update(conn.execute(select(events.c.id, events.c.parent_ref).where(
            one_of(conn, events.c.id, chunk), events.c.parent_id.is_(None))).all())
    nodes = {ref: RecordedNode(row.id, row.root_id, row.depth, root_refs.get(row.root_id))
             for ref, row in found.items()}
    waiting = waiting_children(conn, organization_id,
                       {ref for link in links if link.parent_ref for ref in link.refs})
    heights: dict[UUID, int] = {}
    for chunk in chunks(sorted(waiting), _CHUNK):
        heights.update(conn.execute(
            select(events.c.root_id, func.max(events.c.depth))
            .where(one_of(conn, events.c.root_id, chunk), events.c.parent_id.is_not(None))
            .group_by(events.c.root_id)).all())
    pending: dict[str, int] = {}
    for child, ref in waiting.items():
        pending[ref] = max(pending.get(ref, 0), 1 + heights.get(child, 0))
    return RecordedTrees(nodes, pending, unprojected)


def by_reference(conn: Connection, organization_id: UUID, refs: set[str]) -> dict[str, Any]:
    """Recorded events by reference: our id (preferred) or external id; rows of `id`,
    `external_id`, `root_id`, `depth` and `path`.

    An event sent with an external id has the id that external id names
    (`domain.ids.keyed_event_id`), so both kinds of reference are looked up by primary key."""
    found: dict[str, Any] = {}
    keys = {keyed_event_id(organization_id, ref) for ref in refs}
    keys |= {u for u in map(as_uuid, refs) if u is not None}
    for chunk in chunks(sorted(keys), _CHUNK):
        for row in conn.execute(select(events.c.id, events.c.external_id, events.c.root_id,
                                       events.c.depth, events.c.path).where(
                events.c.organization_id == organization_id, one_of(conn, events.c.id, chunk))):
            if row.external_id in refs:
                found.setdefault(row.external_id, row)
            if str(row.id) in refs:
                found[str(row.id)] = row
    return found


def waiting_children(conn: Connection, organization_id: UUID,
                     refs: Collection[str]) -> dict[UUID, str]:
    """Recorded children still waiting for a parent named by one of `refs`, with that reference.

    Usually few events wait, if any: they are all read and matched here, and only a large
    backlog is searched by reference (a long list of references costs more to send than to
    run)."""
    pending = (events.c.organization_id == organization_id, events.c.parent_id.is_(None),
               events.c.parent_ref.is_not(None))
    few = conn.execute(select(events.c.id, events.c.parent_ref).where(*pending)
                       .limit(_CHUNK + 1)).all()
    if len(few) <= _CHUNK:
        return {child: ref for child, ref in few if ref in refs}
    waiting: dict[UUID, str] = {}
    for chunk in chunks(sorted(refs), _CHUNK):
        waiting.update(conn.execute(select(events.c.id, events.c.parent_ref).where(
            *pending, one_of(conn, events.c.parent_ref, chunk))).all())
    return waiting


def below(anchor: Any, levels: int | None = None) -> ColumnElement[bool]:
    """The events under `anchor` (a row with `id`, `root_id`, `depth`, `path`), down to
    `levels` levels (all when None): children of its tree whose path extends its own."""
    condition = and_(events.c.root_id == anchor["root_id"], events.c.parent_id.is_not(None))
    if anchor["path"] is not None:  # under a root, every child of the tree is a descendant
        condition = and_(condition,
                         events.c.path.like(f"{anchor['path']}{anchor['id'].hex}/%"))
    if levels is not None:
        condition = and_(condition, events.c.depth <= anchor["depth"] + levels)
    return condition


def descendants(conn: Connection, organization_id: UUID, event_id: UUID,
                levels: int) -> ColumnElement[bool]:
    """The events 1..levels below `event_id` (none when it does not exist)."""
    anchor = conn.execute(select(events.c.id, events.c.root_id, events.c.depth, events.c.path)
                          .where(events.c.organization_id == organization_id,
                                 events.c.id == event_id)).mappings().first()
    return false() if anchor is None else below(anchor, levels)


def subtree_members(conn: Connection, anchor: Any) -> list[Any]:
    """The event rows below `anchor` (an events row)."""
    return list(conn.execute(select(events).where(below(anchor))).mappings())


def spans_by_id(conn: Connection, organization_id: UUID,
                span_ids: Iterable[str]) -> dict[str, Span]:
    """The spans with these ids, with the child counts of their start events."""
    rows = []
    for chunk in chunks(sorted(set(span_ids)), _CHUNK):
        rows += list(conn.execute(select(spans).where(spans.c.organization_id == organization_id,
                                                      spans.c.span_id.in_(chunk))).mappings())
    return to_spans(conn, rows)


def list_spans(conn: Connection, organization_id: UUID, *, ids: Sequence[str],
               state: str | None, sorting: Sequence[str], page: int,
               limit: int) -> ListResource[Span]:
    stmt = select(spans).where(spans.c.organization_id == organization_id)
    if ids:
        stmt = stmt.where(spans.c.span_id.in_(ids))
    if state == "closed":
        stmt = stmt.where(spans.c.started_at.is_not(None), spans.c.ended_at.is_not(None))
    elif state == "open":
        stmt = stmt.where(or_(spans.c.started_at.is_(None), spans.c.ended_at.is_(None)))
    stmt = stmt.order_by(*order_by(sorting, {"started_at": spans.c.started_at,
                                             "ended_at": spans.c.ended_at}, spans.c.span_id))
    rows, total = paginate(conn, stmt, page, limit)
    found = to_spans(conn, rows)
    return ListResource[Span](items=[found[r["span_id"]] for r in rows],
        pagination=Pagination.of(total, limit))


def to_spans(conn: Connection, rows: Sequence[Any]) -> dict[str, Span]:
    starts = [r["start_event_id"] for r in rows if r["start_event_id"]]
    counts: dict[UUID, tuple[int, int]] = {}
    for chunk in chunks(starts, _CHUNK):
        for event_id, children, descendants in conn.execute(
                select(events.c.id, events.c.child_count, events.c.descendant_count)
                .where(events.c.id.in_(chunk))):
            counts[event_id] = (children, descendants)
    result = {}
    for row in rows:
        start = row["start_event_id"]
        closed = row["started_at"] is not None and row["ended_at"] is not None
        result[row["span_id"]] = Span(
            id=row["span_id"], state="closed" if closed else "open",
            start_event_id=start, started_at=row["started_at"],
            end_event_id=row["end_event_id"], ended_at=row["ended_at"],
            duration_ms=duration_ms(row["started_at"], row["ended_at"]) if closed else None,
            child_count=counts.get(start, (0, 0))[0] if start else 0,
            descendant_count=counts.get(start, (0, 0))[1] if start else 0)
    return result


__all__ = ["below", "descendants", "list_spans", "recorded_trees", "spans_by_id",
           "subtree_members", "to_spans"]
