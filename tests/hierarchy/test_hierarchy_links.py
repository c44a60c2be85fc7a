"""Which parent links a batch may add (pure: `domain.hierarchy.link_errors`)."""

from __future__ import annotations

from uuid import UUID, uuid4

from domain.hierarchy import (
    MAX_DEPTH,
    NOTHING_RECORDED,
    BatchLink,
    RecordedNode,
    RecordedTrees,
    link_errors,
)


def batch(*pairs: tuple[str, str | None]) -> list[BatchLink]:
    """(external id, parent reference) per event, in order."""
    return [BatchLink(i, uuid4(), external_id, parent) for i, (external_id, parent)
            in enumerate(pairs)]


def kinds(links: list[BatchLink], recorded: RecordedTrees = NOTHING_RECORDED) -> list[tuple]:
    return [(e.loc, e.type) for e in link_errors(links, recorded)]


def recorded(ref: str, *, depth: int = 0, root_parent_ref: str | None = None,
             root: UUID | None = None) -> dict[str, RecordedNode]:
    node_id = uuid4()
    return {ref: RecordedNode(node_id, root or node_id, depth, root_parent_ref)}


def test_an_event_naming_itself_as_parent_is_a_cycle() -> None:
    assert kinds(batch(("a", "a"))) == [(("body", "events", 0, "parent_id"), "parent_cycle")]


def test_an_event_naming_its_own_id_as_parent_is_a_cycle() -> None:
    links = batch(("a", None))
    own = BatchLink(0, links[0].event_id, None, str(links[0].event_id))
    assert kinds([own]) == [(("body", "events", 0, "parent_id"), "parent_cycle")]


def test_two_events_naming_each_other_are_both_rejected() -> None:
    assert [t for _loc, t in kinds(batch(("a", "b"), ("b", "a")))] == ["parent_cycle"] * 2


def test_a_cycle_through_a_recorded_pending_event_is_rejected() -> None:
    # Recorded: x waits for "b". The batch adds b under x.
    trees = RecordedTrees(nodes=recorded("x", root_parent_ref="b"))
    assert kinds(batch(("b", "x")), trees) == [
        (("body", "events", 0, "parent_id"), "parent_cycle")]


def test_a_cycle_through_a_recorded_subtree_is_rejected() -> None:
    # Recorded: r waits for "b"; y sits two levels below r. The batch adds b under y.
    root = uuid4()
    trees = RecordedTrees(nodes=recorded("y", depth=2, root=root, root_parent_ref="b"))
    assert kinds(batch(("b", "y")), trees)[0][1] == "parent_cycle"


def test_parents_in_the_batch_or_recorded_make_no_error() -> None:
    trees = RecordedTrees(nodes=recorded("old", depth=3))
    assert kinds(batch(("a", "old"), ("b", "a"), ("c", "later"), ("d", None)), trees) == []


def test_a_chain_reaching_the_maximum_depth_is_accepted() -> None:
    chain = [("n0", None)] + [(f"n{i}", f"n{i - 1}") for i in range(1, MAX_DEPTH + 1)]
    assert kinds(batch(*chain)) == []


def test_one_level_more_than_the_maximum_depth_is_rejected() -> None:
    chain = [("n0", None)] + [(f"n{i}", f"n{i - 1}") for i in range(1, MAX_DEPTH + 2)]
    assert kinds(batch(*chain)) == [(("body", "events", MAX_DEPTH + 1, "parent_id"),
                                     "parent_depth")]


def test_a_missing_parent_counts_as_one_level() -> None:
    chain = [("n1", "missing")] + [(f"n{i}", f"n{i - 1}") for i in range(2, MAX_DEPTH + 2)]
    assert [loc[2] for loc, _t in kinds(batch(*chain))] == [MAX_DEPTH]


def test_depth_counts_the_recorded_ancestors() -> None:
    trees = RecordedTrees(nodes=recorded("deep", depth=MAX_DEPTH - 1))
    assert kinds(batch(("ok", "deep"))) == []
    assert kinds(batch(("ok", "deep")), trees) == []
    assert kinds(batch(("ok", "deep"), ("no", "ok")), trees)[0][0][2] == 1


def test_a_parent_arriving_under_a_parent_counts_the_subtree_waiting_for_it() -> None:
    trees = RecordedTrees(nodes=recorded("root"), pending_heights={"mid": MAX_DEPTH - 1})
    assert kinds(batch(("mid", "root")), trees) == []
    taller = RecordedTrees(nodes=recorded("root"), pending_heights={"mid": MAX_DEPTH})
    assert kinds(batch(("mid", "root")), taller) == [
        (("body", "events", 0, "parent_id"), "parent_depth")]


def test_unprojected_events_count_as_coming_first_in_the_batch() -> None:
    tail = batch(("t0", None), *[(f"t{i}", f"t{i - 1}") for i in range(1, MAX_DEPTH)])
    trees = RecordedTrees(unprojected=tail)
    assert kinds(batch(("x", f"t{MAX_DEPTH - 1}")), trees) == []
    assert kinds(batch(("x", f"t{MAX_DEPTH - 1}"), ("y", "x")), trees) == [
        (("body", "events", 1, "parent_id"), "parent_depth")]
