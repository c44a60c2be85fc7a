"""Polar's own SDK against the ledger's HTTP API (uvicorn in a thread): events, customers,
members, event types, errors and isolation."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from polar.base import PolarClientError
from polar.v2026_10.client import Polar
from polar.v2026_10.errors import HTTPValidationError, ResourceNotFound

from tests.conftest import new_token
from web.bootstrap import Services


@pytest.fixture
def globex(server_url: str, services: Services) -> Iterator[Polar]:
    """A client of another organization."""
    with Polar(access_token=new_token(services, "globex"), base_url=server_url,
               timeout=30) as client:
        yield client


def test_sdk_concurrent_ingests_of_one_external_id_insert_it_once(
        polar: Polar, server_url: str, token: str) -> None:
    rounds = 4
    barrier = threading.Barrier(2)
    results: list[tuple[int, int]] = []
    lock = threading.Lock()

    def post(client: Polar, key: str) -> None:
        barrier.wait()
        result = client.events.ingest(events=[{"name": "race", "external_customer_id": "c",
                                               "external_id": key}])
        with lock:
            results.append((result.inserted, result.duplicates))

    with Polar(access_token=token, base_url=server_url, timeout=30) as second:
        for round_ in range(rounds):
            threads = [threading.Thread(target=post, args=(client, f"k{round_}"))
                       for client in (polar, second)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

    assert sorted(results) == [(0, 1)] * rounds + [(1, 0)] * rounds
    assert polar.events.list(limit=100).pagination.total_count == rounds


def test_sdk_dedups_within_and_across_batches(polar: Polar) -> None:
    first = polar.events.ingest(events=[
        {"name": "a", "external_customer_id": "c", "external_id": "k1"},
        {"name": "a", "external_customer_id": "c", "external_id": "k1"}])
    second = polar.events.ingest(events=[
        {"name": "a", "external_customer_id": "c", "external_id": "k1"},
        {"name": "a", "external_customer_id": "c", "external_id": "k2"}])
    assert [(r.inserted, r.duplicates) for r in (first, second)] == [(1, 1), (1, 1)]


def test_sdk_links_parents_and_members(polar: Polar) -> None:
    customer = polar.customers.create(email="team@example.com", type="team",
                                      external_id="team")
    member = polar.customers.members.create(customer.id, email="bob@example.com",
                                            external_id="bob")
    polar.events.ingest(events=[
        {"name": "job", "customer_id": customer.id, "external_id": "job-1",
         "timestamp": "2026-01-01T00:00:00Z"},
        {"name": "step", "customer_id": customer.id, "member_id": member.id,
         "parent_id": "job-1", "timestamp": "2026-01-01T00:00:01Z"}])
    job, step = polar.events.list(sorting=["timestamp"]).items
    assert (job.child_count, step.parent_id, step.member_id) == (1, job.id, member.id)
    children = polar.events.list(parent_id=job.id)
    assert [e.id for e in children.items] == [step.id]


def test_sdk_event_filters(polar: Polar) -> None:
    ada = polar.customers.create(email="ada@example.com", external_id="ada")
    polar.events.ingest(events=[
        {"name": "api", "external_customer_id": "ada", "timestamp": "2026-01-01T00:00:00Z",
         "metadata": {"region": "eu"}},
        {"name": "api", "customer_id": ada.id, "timestamp": "2026-01-01T01:00:00Z",
         "metadata": {"region": "us"}},
        {"name": "llm", "external_customer_id": "bob", "timestamp": "2026-01-01T02:00:00Z",
         "metadata": {"region": "eu", "model": "gpt-5"}}])

    def stamps(**filters: Any) -> list[str]:
        listed = polar.events.list(sorting=["timestamp"], limit=100, **filters)
        return [e.timestamp[11:13] for e in listed.items]

    assert stamps(customer_id=ada.id) == ["00", "01"]
    assert stamps(external_customer_id="ada") == ["00", "01"]
    assert stamps(external_customer_id=["ada", "bob"]) == ["00", "01", "02"]
    assert stamps(name=["llm"]) == ["02"]
    assert stamps(source="user") == ["00", "01", "02"]
    assert stamps(start_timestamp="2026-01-01T00:00:00Z",
                  end_timestamp="2026-01-01T02:00:00Z") == ["01"]
    assert stamps(metadata={"region": "eu"}) == ["00", "02"]
    assert stamps(filter=json.dumps({"conjunction": "and", "clauses": [
        {"property": "model", "operator": "eq", "value": "gpt-5"}]})) == ["02"]
    assert stamps(query="gpt") == ["02"]
    assert stamps(depth=0) == ["00", "01", "02"]


def test_sdk_pages_through_events(polar: Polar) -> None:
    polar.events.ingest(events=[{"name": f"e{i}", "external_customer_id": "c",
                                 "timestamp": f"2026-01-01T00:00:0{i}Z"} for i in range(5)])
    pages = [polar.events.list(limit=2, page=page, sorting=["timestamp"]) for page in (1, 2, 3)]
    assert [[e.name for e in p.items] for p in pages] == [["e0", "e1"], ["e2", "e3"], ["e4"]]
    assert [(p.pagination.total_count, p.pagination.max_page) for p in pages] == [(5, 3)] * 3


def test_sdk_gets_one_event_and_names(polar: Polar) -> None:
    polar.events.ingest(events=[{"name": "a", "external_customer_id": "c"}])
    listed = polar.events.list().items[0]
    assert polar.events.get(listed.id) == listed
    assert [(n.name, n.label, n.occurrences) for n in polar.events.list_names().items] == \
        [("a", "a", 1)]


def test_sdk_rejects_an_invalid_batch_with_the_field_location(polar: Polar) -> None:
    with pytest.raises(HTTPValidationError) as raised:
        polar.events.ingest(events=[{"name": "ok", "external_customer_id": "c"},
                                    {"name": "", "external_customer_id": "c"}])
    assert raised.value.status_code == 422
    assert [d.loc for d in raised.value.error.detail or []] == [["body", "events", 1, "name"]]
    assert polar.events.list().pagination.total_count == 0


def test_sdk_body_over_ten_mebibytes_is_413(polar: Polar) -> None:
    events = [{"name": "big", "external_customer_id": "c", "metadata": {"p": "x" * 500}}]
    with pytest.raises(PolarClientError) as raised:
        polar.events.ingest(events=events * (10 * 1024 * 1024 // 500 + 1))
    assert raised.value.status_code == 413


def test_sdk_unknown_event_is_resource_not_found(polar: Polar) -> None:
    with pytest.raises(ResourceNotFound):
        polar.events.get("00000000-0000-4000-8000-000000000001")


def test_sdk_with_a_bad_token_is_401(server_url: str) -> None:
    with Polar(access_token="polar_oat_wrong", base_url=server_url) as stranger, \
            pytest.raises(PolarClientError) as raised:
        stranger.events.list()
    assert raised.value.status_code == 401


def test_sdk_without_the_scope_is_403(server_url: str, services: Services) -> None:
    with Polar(access_token=new_token(services, "acme", "events:read"),
               base_url=server_url) as reader, pytest.raises(PolarClientError) as raised:
        reader.events.ingest(events=[{"name": "a", "external_customer_id": "c"}])
    assert raised.value.status_code == 403


def test_sdk_organizations_are_isolated(polar: Polar, globex: Polar) -> None:
    theirs = globex.customers.create(email="x@globex.com", external_id="x")
    globex.events.ingest(events=[{"name": "secret", "customer_id": theirs.id}])
    event = globex.events.list().items[0]
    with pytest.raises(ResourceNotFound):
        polar.events.get(event.id)
    with pytest.raises(ResourceNotFound):
        polar.customers.get(theirs.id)
    with pytest.raises(ResourceNotFound):
        polar.customers.get_external("x")
    assert (polar.events.list().pagination.total_count,
            polar.customers.list().pagination.total_count,
            polar.event_types.list().pagination.total_count) == (0, 0, 0)


def test_sdk_customer_lifecycle(polar: Polar) -> None:
    created = polar.customers.create(email="ada@example.com", external_id="ada", name="Ada",
                                     metadata={"plan": "pro", "seats": 3})
    assert (created.email, created.external_id, created.metadata) == (
        "ada@example.com", "ada", {"plan": "pro", "seats": 3})
    assert polar.customers.get(created.id) == created
    assert polar.customers.get_external("ada") == created
    updated = polar.customers.update(created.id, name="Ada L.")
    assert (updated.name, updated.email) == ("Ada L.", "ada@example.com")
    assert polar.customers.update_external("ada", metadata={"plan": "team"}).metadata == \
        {"plan": "team"}
    listed = polar.customers.list(query="ada", metadata={"plan": "team"})
    assert [c.id for c in listed.items] == [created.id]
    polar.customers.delete(created.id)
    with pytest.raises(ResourceNotFound):
        polar.customers.get_external("ada")


def test_sdk_customer_external_id_is_frozen(polar: Polar) -> None:
    created = polar.customers.create(email="ada@example.com", external_id="ada")
    with pytest.raises(HTTPValidationError) as raised:
        polar.customers.update(created.id, external_id="other")
    assert [d.loc for d in raised.value.error.detail or []] == [["body", "external_id"]]


def test_sdk_duplicate_customer_email_is_422(polar: Polar) -> None:
    polar.customers.create(email="ada@example.com")
    with pytest.raises(HTTPValidationError):
        polar.customers.create(email="ada@example.com")


def test_sdk_delete_customer_by_external_id(polar: Polar) -> None:
    polar.customers.create(email="ada@example.com", external_id="ada")
    polar.customers.delete_external("ada")
    assert polar.customers.list().pagination.total_count == 0


def test_sdk_member_lifecycle(polar: Polar) -> None:
    team = polar.customers.create(email="owner@example.com", type="team", external_id="t")
    member = polar.customers.members.create(team.id, email="bob@example.com",
                                            external_id="bob", name="Bob")
    assert polar.customers.members.get(team.id, member.id) == member
    assert polar.customers.members.get_external("t", "bob") == member
    assert polar.customers.members.update(team.id, member.id,
                                          role="billing_manager").role == "billing_manager"
    assert polar.customers.members.update_external("t", "bob", name="Robert").name == "Robert"
    assert sorted(m.email for m in polar.customers.members.list(team.id).items) == \
        ["bob@example.com", "owner@example.com"]
    assert polar.customers.members.list_external("t").pagination.total_count == 2
    polar.customers.members.delete(team.id, member.id)
    with pytest.raises(ResourceNotFound):
        polar.customers.members.get(team.id, member.id)


def test_sdk_member_delete_by_external_ids(polar: Polar) -> None:
    polar.customers.create(email="owner@example.com", type="team", external_id="t")
    polar.customers.members.create_external("t", email="bob@example.com", external_id="bob")
    polar.customers.members.delete_external("t", "bob")
    assert polar.customers.members.list_external("t").pagination.total_count == 1


def test_sdk_event_types_relabel(polar: Polar) -> None:
    polar.events.ingest(events=[{"name": "chat", "external_customer_id": "c",
                                 "metadata": {"topic": "refunds"}}])
    (chat,) = polar.event_types.list().items
    assert (chat.name, chat.label, chat.occurrences) == ("chat", "chat", 1)
    assert chat.id is not None
    updated = polar.event_types.update(chat.id, label=" Chat ",
                                       label_property_selector="topic")
    assert (updated.label, updated.label_property_selector) == ("Chat", "topic")
    assert polar.events.list().items[0].label == "refunds"
