"""Event trees over HTTP: out-of-order arrival, cycle and depth rejection, depth listing,
roll-ups and the tree endpoint."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from domain import ids
from domain.hierarchy import MAX_DEPTH
from tests.conftest import new_token
from tests.hierarchy.tree_helpers import by_external_id, cost, event, ingest, locs, ok, total
from web.bootstrap import Services


def shape(events: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """external id -> (parent external id, root external id, depth, children, descendants)."""
    names = {e["id"]: key for key, e in events.items()}
    return {key: (names.get(e["parent_id"]), names[e["root_id"]], e["depth"], e["child_count"],
                  e["descendant_count"]) for key, e in events.items()}


# Out of order --------------------------------------------------------------------------------

def test_a_tree_sent_leaves_first_across_batches_ends_up_whole(client: TestClient,
                                                              auth: dict[str, str]) -> None:
    ok(ingest(client, auth, event("leaf1", "mid"), event("leaf2", "mid")))
    assert shape(by_external_id(client, auth))["leaf1"] == (None, "leaf1", 0, 0, 0)
    ok(ingest(client, auth, event("mid", "root"), event("side", "root")))
    assert shape(by_external_id(client, auth))["leaf1"] == ("mid", "mid", 1, 0, 0)
    ok(ingest(client, auth, event("root")))
    assert shape(by_external_id(client, auth)) == {
        "root": (None, "root", 0, 2, 4),
        "mid": ("root", "root", 1, 2, 2),
        "side": ("root", "root", 1, 0, 0),
        "leaf1": ("mid", "root", 2, 0, 0),
        "leaf2": ("mid", "root", 2, 0, 0)}


def test_a_child_sent_before_its_parent_in_one_batch_is_linked(client: TestClient,
                                                               auth: dict[str, str]) -> None:
    ok(ingest(client, auth, event("child", "parent"), event("parent")))
    assert shape(by_external_id(client, auth))["child"] == ("parent", "parent", 1, 0, 0)


def test_a_resent_tree_batch_is_all_duplicates_and_leaves_the_tree_as_it_was(
        client: TestClient, auth: dict[str, str]) -> None:
    batch = (event("r"), event("a", "r"), event("b", "a"))
    ok(ingest(client, auth, *batch))
    before = shape(by_external_id(client, auth))
    assert ok(ingest(client, auth, *batch)) == {"inserted": 0, "duplicates": 3, "conflicts": 0}
    # resent with a new event under a resent one: only the new event is recorded
    assert ok(ingest(client, auth, event("b", "a"), event("c", "b"))) == {
        "inserted": 1, "duplicates": 1, "conflicts": 0}
    assert shape(by_external_id(client, auth)) == {
        **before, "b": ("a", "r", 2, 1, 1), "c": ("b", "r", 3, 0, 0),
        "r": (None, "r", 0, 1, 3), "a": ("r", "r", 1, 1, 2)}
    assert total(client, auth) == 4


def test_a_parent_named_by_our_event_id_adopts_a_waiting_subtree(
        client: TestClient, auth: dict[str, str]) -> None:
    parent_id = str(ids.keyed_event_id(ids.organization_id("acme"), "p"))
    ok(ingest(client, auth, event("c", parent_id), event("gc", "c")))
    ok(ingest(client, auth, event("p")))
    assert shape(by_external_id(client, auth)) == {
        "p": (None, "p", 0, 1, 2), "c": ("p", "p", 1, 1, 1), "gc": ("c", "p", 2, 0, 0)}


def test_a_backlog_of_waiting_children_larger_than_a_look_up_attaches_to_its_parents(
        client: TestClient, auth: dict[str, str]) -> None:
    """Past 900 waiting children, ingestion's check and the projection search them by
    reference instead of reading them all."""
    ok(ingest(client, auth, *(event(f"c{n}", f"p{n}", metadata=cost("0.5"))
                              for n in range(950))))
    ok(ingest(client, auth, *(event(f"p{n}") for n in range(0, 950, 2))))
    events = by_external_id(client, auth)
    assert {key for key, e in events.items() if e["parent_id"] is not None} == {
        f"c{n}" for n in range(0, 950, 2)}
    assert {events[f"p{n}"]["child_count"] for n in range(0, 950, 2)} == {1}
    rolled = ok(client.get(f"/v1/events/{events['p10']['id']}",
                           params={"aggregate_fields": "_cost.amount"}, headers=auth))
    assert rolled["metadata"]["_cost"]["amount"] == "0.5"


# Cycles and depth ----------------------------------------------------------------------------

def test_a_cycle_closing_on_an_earlier_batch_is_rejected_and_nothing_recorded(
        client: TestClient, auth: dict[str, str]) -> None:
    ok(ingest(client, auth, event("a", "b")))
    response = ingest(client, auth, event("ok"), event("b", "a"))
    assert locs(response) == [["body", "events", 1, "parent_id"]]
    assert response.json()["detail"][0]["type"] == "parent_cycle"
    assert total(client, auth) == 1


def test_a_cycle_within_one_batch_is_rejected(client: TestClient, auth: dict[str, str]) -> None:
    response = ingest(client, auth, event("a", "b"), event("b", "c"), event("c", "a"))
    assert locs(response) == [["body", "events", i, "parent_id"] for i in range(3)]
    assert total(client, auth) == 0


def test_an_event_naming_itself_as_parent_is_rejected(client: TestClient,
                                                      auth: dict[str, str]) -> None:
    assert locs(ingest(client, auth, event("a", "a"))) == [["body", "events", 0, "parent_id"]]
    assert total(client, auth) == 0


def test_a_tree_deeper_than_64_levels_is_rejected(client: TestClient,
                                                  auth: dict[str, str]) -> None:
    chain = [event("n0")] + [event(f"n{i}", f"n{i - 1}") for i in range(1, MAX_DEPTH + 1)]
    ok(ingest(client, auth, *chain))
    response = ingest(client, auth, event("too-deep", f"n{MAX_DEPTH}"))
    assert locs(response) == [["body", "events", 0, "parent_id"]]
    assert response.json()["detail"][0]["type"] == "parent_depth"
    assert by_external_id(client, auth)[f"n{MAX_DEPTH}"]["depth"] == MAX_DEPTH


def test_a_resent_event_names_its_recorded_place_to_its_new_children(
        client: TestClient, auth: dict[str, str], services: Services) -> None:
    last = f"n{MAX_DEPTH - 1}"
    ok(ingest(client, auth, event("n0"),
              *[event(f"n{i}", f"n{i - 1}") for i in range(1, MAX_DEPTH)]))
    services.runner.run_until_idle()
    # The last link again, without its parent (a conflict: the recorded one stays 63 deep).
    response = ingest(client, auth, event(last), event("z1", last), event("z2", "z1"))
    assert [(e["loc"][2], e["type"]) for e in response.json()["detail"]] == [(2, "parent_depth")]


def test_a_parent_that_would_push_a_waiting_subtree_too_deep_is_rejected(
        client: TestClient, auth: dict[str, str]) -> None:
    chain = [event("c1", "top")] + [event(f"c{i}", f"c{i - 1}") for i in range(2, MAX_DEPTH + 1)]
    ok(ingest(client, auth, *chain))
    ok(ingest(client, auth, event("base")))
    assert locs(ingest(client, auth, event("top", "base"))) == [
        ["body", "events", 0, "parent_id"]]
    ok(ingest(client, auth, event("top")))
    assert by_external_id(client, auth)[f"c{MAX_DEPTH}"]["depth"] == MAX_DEPTH


def test_flat_batches_are_not_checked_against_trees(client: TestClient,
                                                    auth: dict[str, str]) -> None:
    assert ok(ingest(client, auth, event("x"), event("y")))["inserted"] == 2


# Depth listing -------------------------------------------------------------------------------

def _tree(client: TestClient, auth: dict[str, str]) -> dict[str, dict[str, Any]]:
    ok(ingest(client, auth, *[event(x, p, timestamp=f"2026-01-01T00:00:0{i}Z") for i, (x, p) in
                              enumerate([("r", None), ("a", "r"), ("a1", "a"), ("a11", "a1"),
                                         ("b", "r"), ("lone", None)])]))
    return by_external_id(client, auth)


def listed(client: TestClient, auth: dict[str, str], **params: Any) -> list[str]:
    body = ok(client.get("/v1/events/", params={"limit": 100, "sorting": "timestamp", **params},
                         headers=auth))
    return [e["external_id"] for e in body["items"]]


def test_depth_zero_lists_roots_only(client: TestClient, auth: dict[str, str]) -> None:
    _tree(client, auth)
    assert listed(client, auth, depth=0) == ["r", "lone"]


def test_depth_alone_lists_roots_and_levels_below(client: TestClient,
                                                  auth: dict[str, str]) -> None:
    _tree(client, auth)
    assert listed(client, auth, depth=2) == ["r", "a", "a1", "b", "lone"]


def test_parent_id_with_depth_lists_descendants_down_to_that_level(
        client: TestClient, auth: dict[str, str]) -> None:
    ids = {k: e["id"] for k, e in _tree(client, auth).items()}
    assert listed(client, auth, parent_id=ids["r"]) == ["a", "b"]
    assert listed(client, auth, parent_id=ids["r"], depth=2) == ["a", "a1", "b"]
    assert listed(client, auth, parent_id=ids["a"], depth=64) == ["a1", "a11"]
    assert listed(client, auth, parent_id=ids["lone"], depth=3) == []


# Roll-ups ------------------------------------------------------------------------------------

def test_aggregate_fields_sum_own_and_descendant_values(client: TestClient,
                                                        auth: dict[str, str]) -> None:
    ok(ingest(client, auth,
              event("r", metadata={**cost("0.1"), "duration_ms": 5}),
              event("a", "r", metadata={**cost("0.2"), "duration_ms": 7}),
              event("a1", "a", metadata={**cost("0.000000000001")}),
              event("b", "r", metadata={"duration_ms": 1, "label": "x"})))
    events = by_external_id(client, auth, aggregate_fields=["_cost.amount", "duration_ms"])
    assert events["r"]["metadata"] == {"_cost": {"amount": "0.300000000001", "currency": "usd"},
                                       "duration_ms": 13}
    assert events["a"]["metadata"]["_cost"]["amount"] == "0.200000000001"
    assert events["b"]["metadata"] == {"duration_ms": 1, "label": "x"}
    root = ok(client.get(f"/v1/events/{events['r']['id']}", headers=auth,
                         params={"aggregate_fields": "metadata._cost.amount"}))
    assert root["metadata"] == {"_cost": {"amount": "0.300000000001", "currency": "usd"},
                                "duration_ms": 5}


def test_aggregate_fields_add_a_sum_the_event_itself_lacks(client: TestClient,
                                                           auth: dict[str, str]) -> None:
    ok(ingest(client, auth, event("r"), event("a", "r", metadata={**cost("2.5"), "tokens": 4})))
    root = by_external_id(client, auth, aggregate_fields=["_cost.amount", "tokens"])["r"]
    assert root["metadata"] == {"_cost": {"currency": "usd", "amount": "2.5"}, "tokens": 4}


def test_aggregate_fields_must_be_metadata_paths(client: TestClient,
                                                 auth: dict[str, str]) -> None:
    response = client.get("/v1/events/", headers=auth,
                          params={"aggregate_fields": ["tokens", "timestamp", "a.b.c"]})
    assert locs(response) == [["query", "aggregate_fields", 1], ["query", "aggregate_fields", 2]]


def test_the_tree_endpoint_nests_children_with_their_totals(client: TestClient,
                                                            auth: dict[str, str]) -> None:
    events = _tree(client, auth)
    ok(ingest(client, auth, event("a12", "a1", metadata=cost("1.25"), timestamp=
                                  "2026-01-01T00:00:09Z")))
    tree = ok(client.get(f"/v1/events/{events['r']['id']}/tree", headers=auth))

    def outline(node: dict[str, Any]) -> Any:
        return (node["external_id"], node["totals"], [outline(c) for c in node["children"]])

    one = {"_cost.amount": 1.25}
    assert outline(tree) == ("r", one, [("a", one, [("a1", one, [("a11", {}, []),
                                                                 ("a12", one, [])])]),
                                        ("b", {}, [])])
    assert tree["descendant_count"] == 5


def test_the_tree_of_an_event_of_another_organization_is_not_found(
        client: TestClient, auth: dict[str, str], services: Services) -> None:
    events = _tree(client, auth)
    other = {"Authorization": f"Bearer {new_token(services, 'other')}"}
    assert client.get(f"/v1/events/{events['r']['id']}/tree", headers=other).status_code == 404
    assert client.get(f"/v1/events/{events['r']['id']}/tree").status_code == 401


def test_rebuilding_the_events_projection_gives_the_same_trees(
        client: TestClient, auth: dict[str, str], services: Services) -> None:
    ok(ingest(client, auth, event("gc", "c", metadata=cost("0.5")), event("x", "y")))
    ok(ingest(client, auth, event("c", "r", metadata={"tokens": 3},
                                  span={"id": "s", "action": "end"})))
    ok(ingest(client, auth, event("r", metadata=cost("1"), span={"id": "s", "action": "start"},
                                  timestamp="2026-01-01T00:00:00Z")))
    params = {"aggregate_fields": ["_cost.amount", "tokens"]}
    before = by_external_id(client, auth, **params)
    tree = client.get(f"/v1/events/{before['r']['id']}/tree", headers=auth).json()
    services.runner.rebuild(["events"])
    assert by_external_id(client, auth, **params) == before
    assert client.get(f"/v1/events/{before['r']['id']}/tree", headers=auth).json() == tree


def test_a_child_joining_a_waiting_subtree_as_it_attaches_is_placed_under_it(
        client: TestClient, auth: dict[str, str]) -> None:
    ok(ingest(client, auth, event("b", "a", metadata=cost("1")), event("c", "b")))
    ok(ingest(client, auth, event("d", "c", metadata=cost("2")), event("a", metadata=cost("4"))))
    events = by_external_id(client, auth, aggregate_fields="_cost.amount")
    assert shape(events) == {"a": (None, "a", 0, 1, 3), "b": ("a", "a", 1, 1, 2),
                             "c": ("b", "a", 2, 1, 1), "d": ("c", "a", 3, 0, 0)}
    assert [events[k]["metadata"]["_cost"]["amount"] for k in "abcd"] == ["7", "3", "2", "2"]


def test_a_parent_arriving_after_a_thousand_children_adopts_them_all(
        client: TestClient, auth: dict[str, str]) -> None:
    ok(ingest(client, auth, *[event(f"c{i}", "p", metadata={"tokens": i}) for i in range(1000)]))
    ok(ingest(client, auth, event("p")))
    parent = by_external_id(client, auth, depth=0, aggregate_fields="tokens")["p"]
    assert (parent["child_count"], parent["descendant_count"], parent["metadata"]) == (
        1000, 1000, {"tokens": sum(range(1000))})
