"""Event trees: which parent links a batch may add, and exact roll-ups of numeric metadata.

A usage event names its parent with `parent_id`: our event id or another event's `external_id`.
The parent may be recorded earlier, in the same batch, or later; until it arrives the child is
*pending*: the root of its own subtree, waiting for that reference. Ingestion rejects a batch
whose links would close a cycle or make a tree deeper than `MAX_DEPTH`, checked against what is
already recorded (`RecordedTrees`, read by the caller) and the batch itself.

Depth is counted pessimistically for pending subtrees: a pending root counts as depth 1 (its
parent, whenever it arrives, is at depth 0 or more), so a subtree accepted while pending can
never end up deeper than `MAX_DEPTH` when its parent arrives as a root; a parent arriving with
a parent of its own is checked against the height of the subtrees waiting for it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from typing import Any, Final
from uuid import UUID

from domain.errors import FieldError, InvalidInput
from domain.meter_filter import metadata_path
from domain.usage import metadata_number

MAX_DEPTH: Final = 64

EXACT: Final = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
"""Additions in this context never round."""

Totals = dict[str, Decimal]


@dataclass(frozen=True)
class BatchLink:
    """One event of a batch being ingested, as far as its tree is concerned."""

    index: int
    event_id: UUID
    external_id: str | None
    parent_ref: str | None
    new: bool = False
    """Not recorded before: no recorded event holds its external id (it would be this very
    event, a duplicate)."""

    refs: tuple[str, ...] = field(init=False, repr=False, compare=False)
    """The references other events may use to name this one as their parent (kept: a check
    reads them several times)."""

    def __post_init__(self) -> None:
        own = str(self.event_id)
        object.__setattr__(self, "refs", (own, self.external_id)
                           if self.external_id and self.external_id != own else (own,))


@dataclass(frozen=True)
class RecordedNode:
    """A recorded event: its depth below its current root, and that root's pending reference
    (set when the root is itself a child waiting for its parent)."""

    id: UUID
    root_id: UUID
    depth: int
    root_parent_ref: str | None


@dataclass(frozen=True)
class RecordedTrees:
    """What ingestion needs to know of the recorded trees, for one batch.

    `nodes`: the recorded events the batch names as parents, by reference. `pending_heights`:
    for a reference of a batch event, the height of the tallest recorded subtree waiting for it
    (1 for a lone pending child). `unprojected`: recorded events the read model that answered
    does not hold yet, in ledger order; they count as if they came first in the batch (their
    own links are not checked again).
    """

    nodes: Mapping[str, RecordedNode] = field(default_factory=dict)
    pending_heights: Mapping[str, int] = field(default_factory=dict)
    unprojected: Sequence[BatchLink] = ()


NOTHING_RECORDED: Final = RecordedTrees()


def link_errors(batch: Sequence[BatchLink], recorded: RecordedTrees) -> list[FieldError]:
    """One error per event whose `parent_id` would close a cycle or exceed `MAX_DEPTH`."""
    depths = _Depths((*recorded.unprojected, *batch), recorded)
    heights = recorded.pending_heights
    errors: list[FieldError] = []
    for link in batch:
        if link.parent_ref is None:
            continue
        loc = ("body", "events", link.index, "parent_id")
        depth = depths.of(link)
        if depth is None:
            errors.append(FieldError(loc, "The parent reference would make the event its own "
                                          "ancestor (a cycle).", "parent_cycle",
                                     link.parent_ref))
            continue
        height = max((heights.get(ref, 0) for ref in link.refs), default=0) if heights else 0
        if depth + height > MAX_DEPTH:
            errors.append(FieldError(loc, f"The event tree would be deeper than {MAX_DEPTH} "
                                          "levels.", "parent_depth", link.parent_ref))
    return errors


class _Depths:
    """`_depth` of the links of a batch, each derived from its parent's where that is exact.

    It is when the event's id is its own alone (no other link and no recorded node holds it):
    its ancestry can then reach it again only through its parent's ancestry looping, so its
    depth is its parent's plus one, and None with it. Otherwise the ancestry is walked.

    Ids are keyed by their integer: a UUID hashes in Python, and a batch hashes each id several
    times."""

    def __init__(self, links: Sequence[BatchLink], recorded: RecordedTrees) -> None:
        self.recorded = recorded
        self.by_ref: dict[str, BatchLink] = {}
        counts: Counter[int] = Counter()
        for link in links:
            counts[link.event_id.int] += 1
            for ref in link.refs:
                self.by_ref.setdefault(ref, link)
        self.shared = {event_id for event_id, count in counts.items() if count > 1}
        self.shared.update(i.int for node in recorded.nodes.values()
                           for i in (node.id, node.root_id))
        self.known: dict[int, int | None] = {}

    def of(self, link: BatchLink) -> int | None:
        chain: dict[int, None] = {}  # links whose depth is the next one's plus one, in order
        current = link
        while True:
            event_id = current.event_id.int
            if event_id in self.shared:
                depth = _depth(current, self.by_ref, self.recorded)
                break
            if event_id in self.known:
                depth = self.known[event_id]
                break
            if event_id in chain:
                depth = None
                break
            parent = None if current.parent_ref is None \
                or current.parent_ref in self.recorded.nodes \
                else self.by_ref.get(current.parent_ref)
            if parent is None:
                depth = self.known[event_id] = _depth(current, self.by_ref, self.recorded)
                break
            chain[event_id] = None
            current = parent
        for event_id in reversed(chain):
            depth = self.known[event_id] = None if depth is None else depth + 1
        return depth


def _depth(link: BatchLink, by_ref: Mapping[str, BatchLink],
           recorded: RecordedTrees) -> int | None:
    """The least depth `link` can end up at, or None when its ancestry loops back to it."""
    seen: set[UUID] = {link.event_id}
    depth = 0
    ref = link.parent_ref
    while ref is not None:
        node = recorded.nodes.get(ref)
        if node is not None:
            # A recorded event is the same event as a batch duplicate: its recorded link counts.
            if node.id in seen or node.root_id in seen:
                return None
            seen.update((node.id, node.root_id))
            depth += 1 + node.depth
            ref = node.root_parent_ref
            continue
        parent = by_ref.get(ref)
        if parent is None:
            return depth + 1  # not recorded yet: it will sit at depth 0 or more
        if parent.event_id in seen:
            return None
        seen.add(parent.event_id)
        depth += 1
        ref = parent.parent_ref
    return depth


def as_uuid(ref: str) -> UUID | None:
    """A parent reference as our event id, when it has that shape (it may still be an
    external id)."""
    if len(ref) < 32:  # every spelling of a UUID holds its 32 hex digits
        return None
    try:
        return UUID(ref)
    except ValueError:
        return None


# --------------------------------------------------------------------------- roll-ups


MAX_ROLLUP_FIELDS: Final = 20


def parse_rollup_paths(values: Sequence[str], loc: tuple[str | int, ...]
                       ) -> list[tuple[str, ...]]:
    """The metadata paths of `aggregate_fields` (`_cost.amount`, `metadata.duration_ms`).

    Metadata holds flat values plus the `_cost` / `_llm` objects, so a path has one or two keys.
    """
    if len(values) > MAX_ROLLUP_FIELDS:
        raise InvalidInput.one(loc, f"At most {MAX_ROLLUP_FIELDS} fields can be aggregated",
                               "too_long", list(values))
    paths: list[tuple[str, ...]] = []
    errors = []
    for index, value in enumerate(values):
        path = metadata_path(value)
        if path is None or not 1 <= len(path) <= 2 or not all(path):
            errors.append(FieldError((*loc, index), "Input should be a numeric metadata path "
                                     "such as `_cost.amount` or `duration_ms`", "value_error",
                                     value))
        elif path not in paths:
            paths.append(path)
    if errors:
        raise InvalidInput(errors)
    return paths


def numeric_leaves(metadata: Mapping[str, Any]) -> Totals:
    """Every number in an event's metadata by dotted path (`tokens`, `_cost.amount`,
    `_llm.total_tokens`); booleans and text are not numbers. Keys holding a dot cannot be
    named by a dotted path and are left out."""
    found: Totals = {}
    for key, value in metadata.items():
        if "." in key:
            continue
        kind = type(value)
        if kind is dict or (kind not in _SCALARS and isinstance(value, Mapping)):
            for inner, item in value.items():
                number = metadata_number(item)
                if number is not None and "." not in inner:
                    found[f"{key}.{inner}"] = number
            continue
        number = metadata_number(value)
        if number is not None:
            found[key] = number
    return found


_SCALARS: Final = frozenset({str, int, Decimal, bool, float, type(None)})


def add_totals(into: Totals, values: Mapping[str, Decimal]) -> Totals:
    """Add `values` to `into` in place, exactly; returns `into`."""
    for path, value in values.items():
        current = into.get(path)
        into[path] = value if current is None else EXACT.add(current, value)
    return into


def sum_totals(parts: Iterable[Mapping[str, Decimal]]) -> Totals:
    result: Totals = {}
    for part in parts:
        add_totals(result, part)
    return result


def rolled_up(metadata: Mapping[str, Any], below: Mapping[str, Decimal],
              paths: Sequence[tuple[str, ...]]) -> dict[str, Any]:
    """`metadata` with each numeric path replaced by its own value plus `below` (the sum over the
    descendants). A path neither the event nor any descendant holds a number at is left as is;
    `_cost.amount` created on an event without `_cost` comes with currency usd."""
    result = dict(metadata)
    own = numeric_leaves(metadata)
    for path in paths:
        dotted = ".".join(path)
        if dotted not in own and dotted not in below:
            continue
        total = EXACT.add(own.get(dotted, Decimal(0)), below.get(dotted, Decimal(0))) \
            if dotted in below else own[dotted]
        _put(result, path, total)
    return result


def _put(metadata: dict[str, Any], path: tuple[str, ...], value: Decimal) -> None:
    if len(path) == 1:
        metadata[path[0]] = value
        return
    inner = metadata.get(path[0])
    inner = dict(inner) if isinstance(inner, Mapping) else {}
    if path[0] == "_cost":
        inner.setdefault("currency", "usd")
    inner[path[1]] = value
    metadata[path[0]] = inner
