"""Polar's own SDK, pointed at the ledger, ingests and reads events."""

from __future__ import annotations

from polar.v2026_10.client import Polar


def test_sdk_ingests_and_lists_events_with_exact_cost(polar: Polar) -> None:
    customer = polar.customers.create(email="ada@example.com", external_id="ada", name="Ada")
    result = polar.events.ingest(events=[
        {"name": "llm.call", "external_customer_id": "ada", "external_id": "call-1",
         "timestamp": "2026-11-01T10:00:00+01:00",
         "metadata": {"tokens": 1200, "_cost": {"amount": "0.000123456789", "currency": "usd"}}},
        {"name": "llm.call", "customer_id": customer.id, "external_id": "call-2",
         "timestamp": "2026-11-01T09:00:01Z", "parent_id": "call-1", "metadata": {"tokens": 30}},
    ])
    assert (result.inserted, result.duplicates) == (2, 0)

    again = polar.events.ingest(events=[{"name": "llm.call", "external_customer_id": "ada",
                                         "external_id": "call-1", "metadata": {
                                             "tokens": 1200, "_cost": {
                                                 "amount": "0.000123456789",
                                                 "currency": "usd"}}}])
    assert (again.inserted, again.duplicates) == (0, 1)

    listed = polar.events.list(customer_id=customer.id, sorting=["timestamp"])
    assert listed.pagination.total_count == 2
    first, second = listed.items
    assert first.metadata["_cost"].amount == "0.000123456789"
    assert first.customer is not None and first.customer.id == customer.id
    assert first.child_count == 1
    assert second.parent_id == first.id

    names = polar.events.list_names()
    assert [(n.name, n.occurrences) for n in names.items] == [("llm.call", 2)]
