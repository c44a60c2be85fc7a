"""Children of one batch joining a tree recorded in an earlier batch."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.hierarchy.tree_helpers import by_external_id, cost, event, ingest, ok


def test_children_under_several_recorded_ancestors_add_up_once_each(
        client: TestClient, auth: dict[str, str]) -> None:
    ok(ingest(client, auth, event("r", metadata=cost("1")), event("a", "r", metadata=cost("2")),
              event("b", "a", metadata=cost("4"))))
    ok(ingest(client, auth, event("c", "b", metadata=cost("8")),
              event("d", "b", metadata={"tokens": 5}), event("e", "a", metadata=cost("16")),
              event("f", "r", metadata=cost("32"))))
    events = by_external_id(client, auth, aggregate_fields=["_cost.amount", "tokens"])
    assert {key: (events[key]["child_count"], events[key]["descendant_count"],
                  events[key]["metadata"]["_cost"]["amount"], events[key]["metadata"]["tokens"])
            for key in "rab"} == {"r": (2, 6, "63", 5), "a": (2, 4, "30", 5),
                                  "b": (2, 2, "12", 5)}
