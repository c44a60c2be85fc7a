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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from uuid import UUID

from sqlalchemy import (
    Connection,
    bindparam,
    func,
    literal,
    or_,
    select,
    update,
)

from domain.hierarchy import Totals, add_totals, as_uuid, numeric_leaves, sum_totals
from projections.bulk import update_rows
from projections.tables import events
from queries.common import chunks
from queries.hierarchy import by_reference, waiting_children

_CHUNK = 900
(ID, ORGANIZATION_ID, EXTERNAL_ID, PARENT_REF, PARENT_ID, ROOT_ID, DEPTH, CHILD_COUNT,
 DESCENDANT_COUNT, SUBTREE_TOTALS, METADATA, PATH) = (
    list(events.columns.keys()).index(name) for name in (
        "id", "organization_id", "external_id", "parent_ref", "parent_id", "root_id", "depth",
        "child_count", "descendant_count", "subtree_totals", "metadata", "path"))
"""Where each column the links read or set is in a row (a list in the table's column order)."""


class _Place(NamedTuple):
    """Where an event sits in its tree: root, depth and `path` ("" for a root)."""

    root_id: UUID
    depth: int
    path: str


@dataclass
class _Delta:
    count: int = 0
    totals: Totals = field(default_factory=dict)

    def add(self, other: _Delta) -> None:
        self.count += other.count
        add_totals(self.totals, other.totals)


class _Batch:
    """The links of one batch, in memory. Events are numbered (ints hash far cheaper than
    UUIDs): the batch's rows by position, then the recorded events the batch names."""

    def __init__(self, rows: list[list[Any]]) -> None:
        self.rows = rows
        self.ids: list[UUID] = [row[ID] for row in rows]
        self.number: dict[UUID, int] = {node_id: i for i, node_id in enumerate(self.ids)}
        self.links: dict[int, int] = {}
        """child -> parent, for every link made by this batch."""
        self.maker: dict[int, int] = {}
        """child -> position in the batch of the event that made the link."""
        self.recorded: dict[int, _Place] = {}
        """recorded parents, where they are now."""
        self.places: dict[int, _Place] = {}
        self.segments: dict[int, tuple[list[UUID], int | None]] = {}
        self.ancestors: dict[str, UUID] = {}

    def node(self, event_id: UUID) -> int:
        """The number of a recorded event, given on first sight."""
        number = self.number.get(event_id)
        if number is None:
            number = self.number[event_id] = len(self.ids)
            self.ids.append(event_id)
        return number

    def moving_root(self, node: int) -> int | None:
        """For a recorded parent: its recorded root, when this batch moves that root."""
        place = self.recorded.get(node)
        if place is None:
            return None
        root = self.number.get(place.root_id)
        return root if root is not None and root != node and root in self.links else None

    def step(self, node: int) -> int | None:
        """The next node up whose place `node`'s place derives from: its new parent, or, for a
        recorded parent, its recorded root when that root is moving."""
        parent = self.links.get(node)
        return parent if parent is not None else self.moving_root(node)

    def place(self, node: int) -> _Place:
        """Where `node` ends up once the batch's links are made."""
        places = self.places
        found = places.get(node)
        if found is not None:
            return found
        walked: list[int] = []
        current: int | None = node
        while current is not None and current not in places:
            walked.append(current)
            current = self.step(current)
        for item in reversed(walked):
            places[item] = self._derive(item)
        return places[node]

    def _derive(self, node: int) -> _Place:
        parent = self.links.get(node)
        if parent is not None:
            above = self.places[parent]
            return _Place(above.root_id, above.depth + 1, f"{above.path}{self.ids[parent].hex}/")
        place = self.recorded.get(node)
        if place is None:
            return _Place(self.ids[node], 0, "")
        root = self.moving_root(node)
        if root is None:
            return place
        new_root = self.places[root]
        return _Place(new_root.root_id, new_root.depth + place.depth, new_root.path + place.path)

    def segment(self, parent: int) -> tuple[list[UUID], int | None]:
        """For a recorded parent: the recorded events from it up to its recorded root, and the
        moving root to continue from (None when the root stays a root)."""
        found = self.segments.get(parent)
        if found is None:
            place = self.recorded[parent]
            chain = [self.ids[parent]]
            if place.root_id != chain[0]:
                chain += [self._ancestor(part) for part in reversed(place.path.split("/")[:-1])]
            root = self.number.get(chain[-1])
            found = self.segments[parent] = (chain[:-1], root) \
                if root is not None and root in self.links else (chain, None)
        return found

    def _ancestor(self, hex_id: str) -> UUID:
        """An ancestor named by recorded paths, parsed once for the batch."""
        ancestor = self.ancestors.get(hex_id)
        if ancestor is None:
            ancestor = self.ancestors[hex_id] = UUID(hex_id)
        return ancestor

    def break_cycles(self) -> None:
        """Drop, from each cycle, the link made last (only a race can record one)."""
        done: set[int] = set()
        links, maker = self.links, self.maker
        for start in sorted(links, key=maker.__getitem__):
            while True:
                on_path: dict[int, int] = {}  # node -> its rank on the walk
                current: int | None = start
                while current is not None and current not in done:
                    if current in on_path:
                        cycle = list(on_path)[on_path[current]:]
                        culprit = max((n for n in cycle if n in links), key=maker.__getitem__)
                        del links[culprit]
                        break
                    on_path[current] = len(on_path)
                    current = self.step(current)
                else:
                    done.update(on_path)
                    break


def link_batch(conn: Connection, rows: Sequence[list[Any]]) -> None:
    """Set `parent_id`, `root_id`, `depth`, `path` and `child_count` of the new rows (not
    inserted yet: lists in the events table's column order) and bring the recorded trees they
    join up to date."""
    by_org: dict[UUID, list[list[Any]]] = defaultdict(list)
    for row in rows:
        by_org[row[ORGANIZATION_ID]].append(row)
    for organization_id, own_rows in by_org.items():
        _link(conn, organization_id, own_rows)


def _link(conn: Connection, organization_id: UUID, rows: list[list[Any]]) -> None:
    batch = _Batch(rows)
    refs = _Refs(batch)
    parents: dict[int, int | str] = {}  # position -> parent in the batch, or its reference
    for position, row in enumerate(rows):
        ref = row[PARENT_REF]
        if ref:
            parent = refs.get(ref)
            parents[position] = ref if parent is None else parent
    found = _lookup(conn, organization_id,
                    {parent for parent in parents.values() if isinstance(parent, str)})
    for event_id, place in found.values():
        batch.recorded[batch.node(event_id)] = place
    for position, parent in parents.items():
        if isinstance(parent, str):
            if parent not in found:
                continue
            parent = batch.number[found[parent][0]]
        if parent != position:
            batch.links[position] = parent
            batch.maker[position] = position
    moved: dict[int, _Waiting] = {}
    for child in _waiting(conn, organization_id, refs):
        parent = refs[child.ref]
        if batch.ids[parent] == child.id:
            continue
        node = batch.node(child.id)
        batch.links[node] = batch.maker[node] = parent
        moved[node] = child
    if not batch.links:
        return
    batch.break_cycles()
    _write(conn, batch, {node: child for node, child in moved.items() if node in batch.links})


class _Refs:
    """The batch's events by reference: our id or external id, the first event either names.

    Few references are our ids, so ids are spelled out only for a reference of their shape
    (`str(UUID)` per event would cost more than the rest of a flat batch's linking)."""

    def __init__(self, batch: _Batch) -> None:
        self.batch = batch
        self.external: dict[str, int] = {}
        for position, row in enumerate(batch.rows):
            if row[EXTERNAL_ID]:
                self.external.setdefault(row[EXTERNAL_ID], position)

    def get(self, ref: str) -> int | None:
        position = self.external.get(ref)
        if len(ref) == 36:  # our ids are referred to as `str(UUID)` gives them
            event_id = as_uuid(ref)
            if event_id is not None and str(event_id) == ref:
                own = self.batch.number.get(event_id)
                if own is not None and own < len(self.batch.rows) \
                        and (position is None or own < position):
                    position = own
        return position

    def __getitem__(self, ref: str) -> int:
        position = self.get(ref)
        if position is None:
            raise KeyError(ref)
        return position

    def __contains__(self, ref: str) -> bool:
        return self.get(ref) is not None

    def __iter__(self) -> Iterator[str]:
        """Every reference, our ids spelled out."""
        return iter({*self.external, *(str(row[ID]) for row in self.batch.rows)})


def _write(conn: Connection, batch: _Batch, moved: Mapping[int, _Waiting]) -> None:
    """Place every new row and moved subtree, then add each subtree's totals to its new
    ancestors, bottom-up: each event's totals travel one step, not once per ancestor."""
    rows, ids, links, place = batch.rows, batch.ids, batch.links, batch.place
    in_batch = len(rows)
    below: dict[int, _Delta] = {}  # what flows into a moving event
    recorded: dict[UUID, _Delta] = defaultdict(_Delta)  # what to add to recorded subtrees
    recorded_children: Counter[UUID] = Counter()
    for node in sorted(links, key=lambda n: -place(n).depth):
        parent = links[node]
        if node < in_batch:
            total = _Delta(1, numeric_leaves(rows[node][METADATA]))
        else:
            waiting = moved[node]
            total = _Delta(1 + waiting.descendant_count, sum_totals((
                numeric_leaves(waiting.metadata), waiting.subtree_totals or {})))
        if node in below:
            total.add(below[node])
        if parent < in_batch:
            rows[parent][CHILD_COUNT] += 1
            if parent in below:
                below[parent].add(total)
            else:  # `total` is not read again: the parent's sum starts as it
                below[parent] = total
            continue
        parent_id = ids[parent]
        recorded_children[parent_id] += 1
        if parent in moved:
            below.setdefault(parent, _Delta()).add(total)
            recorded[parent_id].add(total)
            continue
        chain, moving_root = batch.segment(parent)
        for ancestor in chain:
            recorded[ancestor].add(total)
        if moving_root is not None:
            below.setdefault(moving_root, _Delta()).add(total)
            recorded[ids[moving_root]].add(total)

    for node in links:
        if node < in_batch:
            row, row_place = rows[node], place(node)
            row[PARENT_ID], row[ROOT_ID] = ids[links[node]], row_place.root_id
            row[DEPTH], row[PATH] = row_place.depth, row_place.path or None
    for node, delta in below.items():
        if node < in_batch:
            rows[node][DESCENDANT_COUNT], rows[node][SUBTREE_TOTALS] = delta.count, delta.totals
    for root in moved:
        root_place = place(root)
        # The subtree keeps its relative paths and depths below its new ancestors.
        conn.execute(update(events).where(or_(
            events.c.id == ids[root],
            (events.c.root_id == ids[root]) & events.c.parent_id.is_not(None)))
            .values(root_id=root_place.root_id, depth=events.c.depth + root_place.depth,
                    path=literal(root_place.path) + func.coalesce(events.c.path, "")))
    if moved:
        conn.execute(update(events).where(events.c.id == bindparam("b_id")).values(
            parent_id=bindparam("b_parent")),
            [{"b_id": ids[root], "b_parent": ids[links[root]]} for root in moved])
    _add_to_recorded(conn, recorded, recorded_children)


def _add_to_recorded(conn: Connection, deltas: Mapping[UUID, _Delta],
                     children: Mapping[UUID, int]) -> None:
    """Add new descendants (and children) to recorded events."""
    if not deltas:
        return
    rows = []
    for chunk in chunks(deltas, _CHUNK):
        for node, child_count, descendant_count, totals in conn.execute(
                select(events.c.id, events.c.child_count, events.c.descendant_count,
                       events.c.subtree_totals).where(events.c.id.in_(chunk))):
            delta = deltas[node]
            rows.append((node, child_count + children.get(node, 0),
                         descendant_count + delta.count,
                         add_totals(dict(totals or {}), delta.totals)))
    update_rows(conn, events, ("child_count", "descendant_count", "subtree_totals"), rows)


# --------------------------------------------------------------------------- reads


def _lookup(conn: Connection, organization_id: UUID,
            refs: set[str]) -> dict[str, tuple[UUID, _Place]]:
    """Recorded events named by these references (our id preferred over an external id), with
    their places."""
    return {ref: (row.id, _Place(row.root_id, row.depth, row.path or ""))
            for ref, row in by_reference(conn, organization_id, refs).items()}


@dataclass(frozen=True)
class _Waiting:
    """A recorded child waiting for its parent: the root of a subtree that may now move."""

    id: UUID
    ref: str
    metadata: dict[str, Any]
    descendant_count: int
    subtree_totals: Totals | None


def _waiting(conn: Connection, organization_id: UUID, refs: _Refs) -> list[_Waiting]:
    """Recorded children still waiting for a parent named by one of these references, with
    what moving their subtrees needs."""
    waiting = waiting_children(conn, organization_id, refs)
    return [_Waiting(row.id, waiting[row.id], row.metadata, row.descendant_count,
                     row.subtree_totals)
            for chunk in chunks(waiting, _CHUNK)
            for row in conn.execute(select(events.c.id, events.c.metadata,
                                           events.c.descendant_count, events.c.subtree_totals)
                                    .where(events.c.id.in_(chunk)))]


