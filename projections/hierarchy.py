"""Event trees in the read model: parent links, ancestor paths and per-subtree roll-ups.

Called by the events projection for each batch, before the batch's rows are inserted. A child
names its parent by our id or by external id; the parent may be in this batch (before or after
the child), recorded earlier, or still to come. A child whose parent has not arrived stays a
root of its own (its `parent_ref` pending); when the parent arrives, the child's whole subtree
attaches: its paths, root and depths are rewritten and its totals added to every new ancestor.
Everything is computed for the batch in memory and written in a few statements.

Each child row keeps its ancestors in `path` (root first), so descendants are a prefix match
within the tree (`root_id`, indexed for children only), and the ancestors of a recorded parent
come with its row. Each event with descendants has an `event_subtrees` row: how many, and the
exact sums of every numeric metadata path over them.

Ingestion rejects links that would close a cycle; should one still reach the ledger (two
processes racing), the link recorded last stays pending and never attaches.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import Connection, bindparam, func, insert, literal, or_, select, update

from domain.hierarchy import Totals, add_totals, as_uuid, numeric_leaves, sum_totals
from projections.tables import event_subtrees, events

_CHUNK = 900
T = TypeVar("T")
Ref = tuple[UUID, str]


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
    batch = _Batch({row["id"]: row for row in rows})
    position = {row["id"]: i for i, row in enumerate(rows)}
    by_ref: dict[Ref, UUID] = {}
    for row in rows:
        for ref in (str(row["id"]), row["external_id"]):
            if ref:
                by_ref.setdefault((row["organization_id"], ref), row["id"])

    unresolved = {(r["organization_id"], r["parent_ref"]) for r in rows
                  if r["parent_ref"] and (r["organization_id"], r["parent_ref"]) not in by_ref}
    found = _lookup(conn, unresolved)
    for row in rows:
        if not row["parent_ref"]:
            continue
        key = (row["organization_id"], row["parent_ref"])
        parent = by_ref.get(key) or found.get(key, (None,))[0]
        if parent is not None and parent != row["id"]:
            batch.links[row["id"]] = parent
            batch.maker[row["id"]] = position[row["id"]]
    waiting = _waiting(conn, by_ref)
    for child_id, key, _metadata in waiting:
        batch.links[child_id] = by_ref[key]
        batch.maker[child_id] = position[by_ref[key]]
    if not batch.links:
        return
    batch.recorded = {node: place for node, place in found.values()}
    batch.break_cycles()
    _write(conn, batch, {child_id: metadata for child_id, _key, metadata in waiting
                         if child_id in batch.links})


def _write(conn: Connection, batch: _Batch, moved: Mapping[UUID, dict[str, Any]]) -> None:
    """Place every new row and moved subtree, then add each subtree's totals to its new
    ancestors, bottom-up: each event's totals travel one step, not once per ancestor."""
    stats = _stats(conn, moved)
    own = {node: _Delta(1, numeric_leaves(batch.rows[node]["metadata"]))
           for node in batch.links if node in batch.rows}
    for root, metadata in moved.items():
        count, totals = stats.get(root, (0, {}))
        own[root] = _Delta(1 + count, sum_totals((numeric_leaves(metadata), totals)))
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

    inserts: list[dict[str, Any]] = []
    for node, row in batch.rows.items():
        place = batch.place(node)
        row.update(parent_id=batch.links.get(node), root_id=place.root_id, depth=place.depth,
                   path=place.path or None)
        if node in below:
            inserts.append({"event_id": node, "descendant_count": below[node].count,
                            "totals": below[node].totals})
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
    if recorded_children:
        conn.execute(update(events).where(events.c.id == bindparam("b_id")).values(
            child_count=events.c.child_count + bindparam("b_count")),
            [{"b_id": k, "b_count": v} for k, v in recorded_children.items()])
    for chunk in _chunks(inserts, 5000):
        conn.execute(insert(event_subtrees), chunk)
    _add_to_recorded(conn, recorded)


def _add_to_recorded(conn: Connection, deltas: Mapping[UUID, _Delta]) -> None:
    existing = _stats(conn, deltas)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for node, delta in deltas.items():
        if node in existing:
            count, totals = existing[node]
            updates.append({"b_id": node, "b_count": count + delta.count,
                            "b_totals": add_totals(dict(totals), delta.totals)})
        else:
            inserts.append({"event_id": node, "descendant_count": delta.count,
                            "totals": delta.totals})
    for chunk in _chunks(inserts, 5000):
        conn.execute(insert(event_subtrees), chunk)
    if updates:
        conn.execute(update(event_subtrees).where(event_subtrees.c.event_id == bindparam("b_id"))
                     .values(descendant_count=bindparam("b_count"),
                             totals=bindparam("b_totals", type_=event_subtrees.c.totals.type)),
                     updates)


# --------------------------------------------------------------------------- reads


def _lookup(conn: Connection, refs: set[Ref]) -> dict[Ref, tuple[UUID, _Place]]:
    """Recorded events named by these references (our id preferred over an external id), with
    their places."""
    found: dict[Ref, tuple[UUID, _Place]] = {}
    for organization_id, values in _by_org(refs).items():
        for chunk in _chunks(sorted(values), _CHUNK):
            as_ids = [u for u in map(as_uuid, chunk) if u is not None]
            condition = events.c.external_id.in_(chunk)
            if as_ids:
                condition = or_(condition, events.c.id.in_(as_ids))
            for row in conn.execute(select(events.c.id, events.c.external_id, events.c.root_id,
                                           events.c.depth, events.c.path).where(
                    events.c.organization_id == organization_id, condition)):
                entry = (row.id, _Place(row.root_id, row.depth, row.path or ""))
                if row.external_id in values:
                    found.setdefault((organization_id, row.external_id), entry)
                if str(row.id) in values:
                    found[(organization_id, str(row.id))] = entry
    return found


def _waiting(conn: Connection, refs: Mapping[Ref, UUID]
             ) -> list[tuple[UUID, Ref, dict[str, Any]]]:
    """Recorded children still waiting for a parent named by one of these references."""
    result = []
    for organization_id, values in _by_org(refs).items():
        for chunk in _chunks(sorted(values), _CHUNK):
            for child_id, ref, metadata in conn.execute(
                    select(events.c.id, events.c.parent_ref, events.c.metadata).where(
                        events.c.organization_id == organization_id,
                        events.c.parent_ref.in_(chunk), events.c.parent_id.is_(None))):
                if refs[(organization_id, ref)] != child_id:
                    result.append((child_id, (organization_id, ref), metadata))
    return result


def _stats(conn: Connection, nodes: Iterable[UUID]) -> dict[UUID, tuple[int, Totals]]:
    found: dict[UUID, tuple[int, Totals]] = {}
    for chunk in _chunks(sorted(nodes), _CHUNK):
        for node, count, totals in conn.execute(select(
                event_subtrees.c.event_id, event_subtrees.c.descendant_count,
                event_subtrees.c.totals).where(event_subtrees.c.event_id.in_(chunk))):
            found[node] = (count, totals)
    return found


def _by_org(refs: Iterable[Ref]) -> dict[UUID, set[str]]:
    grouped: dict[UUID, set[str]] = defaultdict(set)
    for organization_id, ref in refs:
        grouped[organization_id].add(ref)
    return grouped


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
