"""Parent links checked while the events projection lags behind the ledger: the unprojected
entries are read from the ledger, and a batch waits for the projection only when one of them
waits for an event of the batch (`web.parent_links`)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.conftest import new_token
from tests.hierarchy.tree_helpers import event, ingest, ok
from web import parent_links
from web.bootstrap import Services


def _lag(services: Services) -> int:
    return services.ledger.position() - services.runner.positions()["events"]


def test_a_batch_unrelated_to_the_unprojected_entries_does_not_wait(
        client: TestClient, auth: dict[str, str], services: Services) -> None:
    services.runner.stop()
    ok(ingest(client, auth, event("a1"), event("a2", "a1")))
    lag = _lag(services)
    assert lag > 0
    other = {"Authorization": f"Bearer {new_token(services, 'globex')}"}
    ok(ingest(client, other, event("a1", "missing")))   # another organization's tail
    result = ok(ingest(client, auth, event("b1"), event("b2", "b1"), event("b3", "old")))
    assert result["inserted"] == 3
    assert _lag(services) > lag                           # nothing was projected meanwhile


def test_unprojected_parents_count_without_waiting(
        client: TestClient, auth: dict[str, str], services: Services) -> None:
    services.runner.stop()
    chain = [event("n0")] + [event(f"n{i}", f"n{i - 1}") for i in range(1, 61)]
    ok(ingest(client, auth, *chain))
    lag = _lag(services)
    deeper = [event(f"n{i}", f"n{i - 1}") for i in range(61, 66)]
    response = ingest(client, auth, *deeper)   # n65 would sit 65 levels deep
    assert response.status_code == 422
    assert [(e["loc"][2], e["type"]) for e in response.json()["detail"]] == [(4, "parent_depth")]
    assert ok(ingest(client, auth, *deeper[:4]))["inserted"] == 4
    assert _lag(services) == lag + 4           # neither batch waited for the projection
    services.runner.run_until_idle()
    deepest = ok(client.get("/v1/events/", params={"depth": 64, "limit": 1,
                                                   "sorting": "-timestamp"}, headers=auth))
    assert deepest["pagination"]["total_count"] == 65


def test_a_cycle_through_an_unprojected_pending_child_is_rejected(
        client: TestClient, auth: dict[str, str], services: Services) -> None:
    services.runner.stop()
    ok(ingest(client, auth, event("x", "b")))            # x waits for b
    response = ingest(client, auth, event("b", "x"))     # b under x: a cycle
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "parent_cycle"


def test_a_cycle_through_an_unprojected_parent_of_a_recorded_root_is_rejected(
        client: TestClient, auth: dict[str, str], services: Services) -> None:
    ok(ingest(client, auth, event("r", "q"), event("y", "r")))   # r waits for q; y under r
    services.runner.run_until_idle()
    services.runner.stop()
    ok(ingest(client, auth, event("q", "z")))            # q (unprojected) waits for z
    response = ingest(client, auth, event("z", "y"))     # z under y: z > y > r > q > z
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "parent_cycle"


def test_a_chain_over_several_unprojected_batches_keeps_its_depth(
        client: TestClient, auth: dict[str, str], services: Services) -> None:
    services.runner.stop()   # each batch reads the earlier ones from the ledger (decoded once)
    ok(ingest(client, auth, event("c0")))
    for start in range(1, 61, 15):
        ok(ingest(client, auth, *[event(f"c{i}", f"c{i - 1}") for i in range(start, start + 15)]))
    response = ingest(client, auth, event("c61", "c60"), event("c62", "c61"),
                      event("c63", "c62"), event("c64", "c63"), event("c65", "c64"))
    assert [(e["loc"][2], e["type"]) for e in response.json()["detail"]] == [(4, "parent_depth")]
    assert _lag(services) > 60


def test_a_recorded_root_waiting_for_an_unprojected_chain_counts_its_depth(
        client: TestClient, auth: dict[str, str], services: Services) -> None:
    ok(ingest(client, auth, event("r", "q60"), event("y", "r")))   # r waits for q60; y under r
    services.runner.run_until_idle()
    services.runner.stop()
    ok(ingest(client, auth, event("q0"), *[event(f"q{i}", f"q{i - 1}") for i in range(1, 61)]))
    lag = _lag(services)     # q60 (60 deep) and its ancestors are only in the ledger
    below = [event("z1", "y"), event("z2", "z1"), event("z3", "z2")]   # y is 62 deep
    response = ingest(client, auth, *below)
    assert [(e["loc"][2], e["type"]) for e in response.json()["detail"]] == [(2, "parent_depth")]
    assert ok(ingest(client, auth, *below[:2]))["inserted"] == 2
    assert _lag(services) == lag + 2            # checked against the tail, without waiting


def test_a_resent_unprojected_event_keeps_its_recorded_parent(
        client: TestClient, auth: dict[str, str], services: Services) -> None:
    services.runner.stop()
    ok(ingest(client, auth, event("d", "p")))           # d waits for p, unprojected
    lag = _lag(services)
    # d again, now naming e, and e under d: e's parent is the recorded d (waiting for p), so
    # only the resent d's link closes a cycle.
    response = ingest(client, auth, event("d", "e"), event("e", "d"))
    assert [(e["loc"][2], e["type"]) for e in response.json()["detail"]] == [(0, "parent_cycle")]
    assert _lag(services) == lag


def test_a_tail_too_long_to_hold_or_read_is_caught_up_instead(
        client: TestClient, auth: dict[str, str], services: Services,
        monkeypatch: pytest.MonkeyPatch) -> None:
    services.runner.stop()
    monkeypatch.setattr(parent_links, "MAX_HELD", 40)
    ok(ingest(client, auth, event("n0"), *[event(f"n{i}", f"n{i - 1}") for i in range(1, 61)]))
    response = ingest(client, auth, *[event(f"n{i}", f"n{i - 1}") for i in range(61, 66)])
    assert [(e["loc"][2], e["type"]) for e in response.json()["detail"]] == [(4, "parent_depth")]
    assert _lag(services) == 0                 # 61 links held: the projection caught up
    monkeypatch.setattr(parent_links, "MAX_TAIL", 20)
    ok(ingest(client, auth, *[event(f"flat{i}") for i in range(30)]))   # not held: no links
    ok(ingest(client, auth, event("m1", "n60"), event("m2", "m1"), event("m3", "m2")))
    assert _lag(services) == 3                 # 30 entries to read: caught up first
    ok(ingest(client, auth, event("m4", "m3")))
    assert _lag(services) == 4                 # 3 links held, 1 entry read: no catching up
