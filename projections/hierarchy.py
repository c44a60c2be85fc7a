"""Event trees in the read model: parent links, ancestor paths and per-subtree roll-ups.

Called by the events projection for each batch, before the batch's rows are inserted. A child
names its parent by our id or by external id; the parent may be in this batch (before or after
the child), recorded earlier, or still to come. A child whose parent has not arrived stays a
root of its own (its `parent_ref` pending); when the parent arrives, the child's whole subtree
attaches: its paths, root and depths are rewritten and its totals added to every new ancestor.
Everything is computed for the batch in memory and written in a few statements.

Each child row keeps its ancestors in `path` (root first), so descendants are a prefix match
within the tree (`root_id`, indexed for children only), and the ancestors of a recorded parent
come with its row. Each event with descendants keeps how many (`descendant_count`) and the exact
sums of every numeric metadata path over them (`subtree_totals`).

Ingestion rejects links that would close a cycle; should one still reach the ledger (two
processes racing), the link recorded last stays pending and never attaches.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Connection,
    bindparam,
    func,
    literal,
    or_,
    select,
    update,
)

from domain.hierarchy import Totals, add_totals, as_uuid, numeric_leaves, sum_totals
from projections.tables import events

_CHUNK = 900
T = TypeVar("T")


def ancestors_in(path: str | None) -> list[UUID]:
    """The ancestors a `path` holds, nearest first."""
    return [UUID(part) for part in reversed(path.split("/")[:-1])] if path else []


@dataclass
class _Delta:
    count: int = 0
    totals: Totals = field(default_factory=dict)

    def add(self, other: _Delta) -> None:
        self.count += other.count
        add_totals(self.totals, other.totals)


@dataclass(frozen=True)
class _Place:
    """Where an event sits in its tree: root, depth and `path` ("" for a root)."""

    root_id: UUID
    depth: int
    path: str


@dataclass
class _Batch:
    """The links of one batch, in memory."""

    rows: dict[UUID, dict[str, Any]]
    links: dict[UUID, UUID] = field(default_factory=dict)
    """child -> parent, for every link made by this batch."""
    maker: dict[UUID, int] = field(default_factory=dict)
    """child -> position in the batch of the event that made the link."""
    recorded: dict[UUID, _Place] = field(default_factory=dict)
    """recorded parents, where they are now."""
    places: dict[UUID, _Place] = field(default_factory=dict)

    def step(self, node: UUID) -> UUID | None:
        """The next node up whose place `node`'s place derives from: its new parent, or, for a
        recorded parent, its recorded root when that root is moving."""
        parent = self.links.get(node)
        if parent is not None:
            return parent
        place = self.recorded.get(node)
        if place is not None and place.root_id != node and place.root_id in self.links:
            return place.root_id
        return None

    def place(self, node: UUID) -> _Place:
        """Where `node` ends up once the batch's links are made."""
        walked: list[UUID] = []
        current: UUID | None = node
        while current is not None and current not in self.places:
            walked.append(current)
            current = self.step(current)
        for item in reversed(walked):
            self.places[item] = self._derive(item)
        return self.places[node]

    def _derive(self, node: UUID) -> _Place:
        parent = self.links.get(node)
        if parent is not None:
            above = self.places[parent]
            return _Place(above.root_id, above.depth + 1, f"{above.path}{parent.hex}/")
        place = self.recorded.get(node)
        if place is None:
            return _Place(node, 0, "")
        if place.root_id in self.links and place.root_id != node:
            root = self.places[place.root_id]
            return _Place(root.root_id, root.depth + place.depth, root.path + place.path)
        return place

    def segment(self, parent: UUID) -> tuple[list[UUID], UUID | None]:
        """For a recorded parent: the recorded events from it up to its recorded root, and the
        moving root to continue from (None when the root stays a root)."""
        place = self.recorded[parent]
        chain = [parent, *ancestors_in(place.path)] if place.root_id != parent else [parent]
        root = chain[-1]
        return (chain[:-1], root) if root in self.links else (chain, None)

    def break_cycles(self) -> None:
        """Drop, from each cycle, the link made last (only a race can record one)."""
        done: set[UUID] = set()
        for start in sorted(self.links, key=self.maker.__getitem__):
            while True:
                path: list[UUID] = []
                on_path: set[UUID] = set()
                current: UUID | None = start
                cycle: list[UUID] | None = None
                while current is not None and current not in done:
                    if current in on_path:
                        cycle = path[path.index(current):]
                        break
                    on_path.add(current)
                    path.append(current)
                    current = self.step(current)
                if cycle is None:
                    done.update(path)
                    break
                culprit = max((n for n in cycle if n in self.links), key=self.maker.__getitem__)
                del self.links[culprit]


def link_batch(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Set `parent_id`, `root_id`, `depth`, `path` and `child_count` of the new rows (not
    inserted yet) and bring the recorded trees they join up to date."""
    by_org: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_org[row["organization_id"]].append(row)
    for organization_id, own_rows in by_org.items():
        _link(conn, organization_id, own_rows)


def _link(conn: Connection, organization_id: UUID, rows: list[dict[str, Any]]) -> None:
    batch = _Batch({row["id"]: row for row in rows})
    by_ref: dict[str, UUID] = {}
    for row in rows:
        by_ref.setdefault(str(row["id"]), row["id"])
        if row["external_id"]:
            by_ref.setdefault(row["external_id"], row["id"])
    found = _lookup(conn, organization_id, {r["parent_ref"] for r in rows
                                            if r["parent_ref"] and r["parent_ref"] not in by_ref})
    for position, row in enumerate(rows):
        if not row["parent_ref"]:
            continue
        parent = by_ref.get(row["parent_ref"]) or found.get(row["parent_ref"], (None,))[0]
        if parent is not None and parent != row["id"]:
            batch.links[row["id"]] = parent
            batch.maker[row["id"]] = position
    waiting = _waiting(conn, organization_id, by_ref)
    if waiting:
        position_of = {row["id"]: i for i, row in enumerate(rows)}
        for child in waiting:
            batch.links[child.id] = by_ref[child.ref]
            batch.maker[child.id] = position_of[by_ref[child.ref]]
    if not batch.links:
        return
    batch.recorded = {node: place for node, place in found.values()}
    batch.break_cycles()
    _write(conn, batch, {child.id: child for child in waiting if child.id in batch.links})


def _write(conn: Connection, batch: _Batch, moved: Mapping[UUID, _Waiting]) -> None:
    """Place every new row and moved subtree, then add each subtree's totals to its new
    ancestors, bottom-up: each event's totals travel one step, not once per ancestor."""
    own = {node: _Delta(1, numeric_leaves(batch.rows[node]["metadata"]))
           for node in batch.links if node in batch.rows}
    for root, waiting in moved.items():
        own[root] = _Delta(1 + waiting.descendant_count, sum_totals((
            numeric_leaves(waiting.metadata), waiting.subtree_totals or {})))
    below: dict[UUID, _Delta] = defaultdict(_Delta)  # what flows into a moving event
    recorded: dict[UUID, _Delta] = defaultdict(_Delta)  # what to add to recorded subtrees
    recorded_children: Counter[UUID] = Counter()
    for node in sorted(batch.links, key=lambda n: -batch.place(n).depth):
        parent = batch.links[node]
        total = own[node]
        if node in below:
            total.add(below[node])  # own[node] is not read again
        if parent in batch.rows:
            batch.rows[parent]["child_count"] += 1
            below[parent].add(total)
            continue
        recorded_children[parent] += 1
        if parent in moved:
            below[parent].add(total)
            recorded[parent].add(total)
            continue
        chain, moving_root = batch.segment(parent)
        for ancestor in chain:
            recorded[ancestor].add(total)
        if moving_root is not None:
            below[moving_root].add(total)
            recorded[moving_root].add(total)

    for node, row in batch.rows.items():
        place = batch.place(node)
        row.update(parent_id=batch.links.get(node), root_id=place.root_id, depth=place.depth,
                   path=place.path or None)
        if node in below:
            row.update(descendant_count=below[node].count, subtree_totals=below[node].totals)
    for root in moved:
        place = batch.place(root)
        # The subtree keeps its relative paths and depths below its new ancestors.
        conn.execute(update(events).where(or_(
            events.c.id == root, (events.c.root_id == root) & events.c.parent_id.is_not(None)))
            .values(root_id=place.root_id, depth=events.c.depth + place.depth,
                    path=literal(place.path) + func.coalesce(events.c.path, "")))
    if moved:
        conn.execute(update(events).where(events.c.id == bindparam("b_id")).values(
            parent_id=bindparam("b_parent")),
            [{"b_id": root, "b_parent": batch.links[root]} for root in moved])
    _add_to_recorded(conn, recorded, recorded_children)


def _add_to_recorded(conn: Connection, deltas: Mapping[UUID, _Delta],
                     children: Mapping[UUID, int]) -> None:
    """Add new descendants (and children) to recorded events."""
    if not deltas:
        return
    existing: dict[UUID, Totals] = {}
    for chunk in _chunks(sorted(deltas), _CHUNK):
        existing.update(conn.execute(select(events.c.id, events.c.subtree_totals)
                                     .where(events.c.id.in_(chunk))).all())
    conn.execute(update(events).where(events.c.id == bindparam("b_id")).values(
        child_count=events.c.child_count + bindparam("b_children"),
        descendant_count=events.c.descendant_count + bindparam("b_count"),
        subtree_totals=bindparam("b_totals", type_=events.c.subtree_totals.type)),
        [{"b_id": node, "b_children": children.get(node, 0), "b_count": delta.count,
          "b_totals": add_totals(dict(existing.get(node) or {}), delta.totals)}
         for node, delta in deltas.items()])


# --------------------------------------------------------------------------- reads


def _lookup(conn: Connection, organization_id: UUID,
            refs: set[str]) -> dict[str, tuple[UUID, _Place]]:
    """Recorded events named by these references (our id preferred over an external id), with
    their places."""
    found: dict[str, tuple[UUID, _Place]] = {}
    for chunk in _chunks(sorted(refs), _CHUNK):
        as_ids = [u for u in map(as_uuid, chunk) if u is not None]
        condition: ColumnElement[bool] = events.c.external_id.in_(chunk)
        if as_ids:
            condition = or_(condition, events.c.id.in_(as_ids))
        for row in conn.execute(select(events.c.id, events.c.external_id, events.c.root_id,
                                       events.c.depth, events.c.path).where(
                events.c.organization_id == organization_id, condition)):
            entry = (row.id, _Place(row.root_id, row.depth, row.path or ""))
            if row.external_id in refs:
                found.setdefault(row.external_id, entry)
            if str(row.id) in refs:
                found[str(row.id)] = entry
    return found


@dataclass(frozen=True)
class _Waiting:
    """A recorded child waiting for its parent: the root of a subtree that may now move."""

    id: UUID
    ref: str
    metadata: dict[str, Any]
    descendant_count: int
    subtree_totals: Totals | None


def _waiting(conn: Connection, organization_id: UUID, refs: Mapping[str, UUID]
             ) -> list[_Waiting]:
    """Recorded children still waiting for a parent named by one of these references.

    Usually few events wait, if any: they are read whole and matched here, and only a large
    backlog of waiting children is searched by reference (a long IN list costs more to send
    than to run)."""
    pending = events.c.organization_id == organization_id, events.c.parent_id.is_(None), \
        events.c.parent_ref.is_not(None)
    few = conn.execute(select(events.c.id, events.c.parent_ref).where(*pending)
                       .limit(_CHUNK + 1)).all()
    if len(few) <= _CHUNK:
        matches = [child for child, ref in few if ref in refs]
        found = _waiting_rows(conn, [events.c.id.in_(matches)] if matches else [])
    else:
        found = [row for chunk in _chunks(sorted(refs), _CHUNK) for row in _waiting_rows(
            conn, [*pending, events.c.parent_ref.in_(chunk)])]
    return [_Waiting(row.id, row.parent_ref, row.metadata, row.descendant_count,
                     row.subtree_totals) for row in found if refs[row.parent_ref] != row.id]


def _waiting_rows(conn: Connection, where: list[Any]) -> list[Any]:
    if not where:
        return []
    return list(conn.execute(select(events.c.id, events.c.parent_ref, events.c.metadata,
                                    events.c.descendant_count, events.c.subtree_totals)
                             .where(*where)))


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
