"""Benefits, products, purchases and customer meters: auth, other organizations, validation,
listing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from starlette.testclient import TestClient

from tests.conftest import new_token
from tests.credits.helpers import Shop, named, send
from tests.meters.helpers import create_meter, detail
from web.bootstrap import Services


def _world(shop: Shop) -> dict[str, Any]:
    ada = shop.customer()
    benefit = shop.benefit(100)
    one_time = shop.product(benefit)
    monthly = shop.product(benefit, recurring_interval="month")
    order = shop.order(ada, one_time)
    subscription = shop.subscribe(ada, monthly)
    (customer_meter,) = shop.meters_of(ada)
    return {"ada": ada, "benefit": benefit, "product": one_time, "order": order,
            "subscription": subscription, "customer_meter": customer_meter}


def _paths(w: dict[str, Any]) -> list[tuple[str, str]]:
    b, p, o, s, cm = (w[k]["id"] for k in ("benefit", "product", "order", "subscription",
                                           "customer_meter"))
    return [("GET", f"/v1/benefits/{b}"), ("PATCH", f"/v1/benefits/{b}"),
            ("DELETE", f"/v1/benefits/{b}"), ("GET", f"/v1/products/{p}"),
            ("PATCH", f"/v1/products/{p}"), ("POST", f"/v1/products/{p}/benefits"),
            ("GET", f"/v1/orders/{o}"), ("POST", f"/v1/orders/{o}/refund"),
            ("GET", f"/v1/subscriptions/{s}"), ("POST", f"/v1/subscriptions/{s}/cycle"),
            ("POST", f"/v1/subscriptions/{s}/cancel"), ("POST", f"/v1/subscriptions/{s}/revoke"),
            ("PATCH", f"/v1/subscriptions/{s}"), ("DELETE", f"/v1/subscriptions/{s}"),
            ("GET", f"/v1/customer-meters/{cm}"), ("GET", f"/v1/customer-meters/{cm}/history")]


BODIES = {"PATCH": {"type": "meter_credit", "name": "renamed", "description": "renamed",
                    "cancel_at_period_end": True},
          "POST": {"benefits": []}}


def test_credit_endpoints_require_a_token(client: TestClient, auth: dict[str, str]) -> None:
    world = _world(Shop(client, auth))
    lists = [("GET", "/v1/benefits/"), ("POST", "/v1/benefits/"), ("GET", "/v1/products/"),
             ("POST", "/v1/products/"), ("POST", "/v1/orders/"), ("POST", "/v1/subscriptions/"),
             ("GET", "/v1/customer-meters/"), ("GET", "/v1/customer-meters/reconciliation")]
    for method, path in lists + _paths(world):
        assert client.request(method, path).status_code == 401, (method, path)
        bad = {"Authorization": "Bearer nope"}
        assert client.request(method, path, headers=bad).status_code == 401, (method, path)


def test_resources_of_another_organization_are_not_found(
        client: TestClient, services: Services, auth: dict[str, str]) -> None:
    shop = Shop(client, auth)
    world = _world(shop)
    other = {"Authorization": f"Bearer {new_token(services, 'globex')}"}
    position = services.ledger.position()
    for method, path in _paths(world):
        response = send(client, other, method, path, BODIES.get(method))
        assert response.status_code == 404, (method, path, response.text)
    assert services.ledger.position() == position
    for path in ("/v1/benefits/", "/v1/products/", "/v1/customer-meters/"):
        assert shop.call("GET", path)["items"] and \
            send(client, other, "GET", path).json()["items"] == []
    assert send(client, auth, "GET", "/v1/customer-meters/nope").status_code == 404


def test_scopes_are_enforced(client: TestClient, services: Services,
                             auth: dict[str, str]) -> None:
    world = _world(Shop(client, auth))
    reader = {"Authorization": f"Bearer {new_token(services, 'acme', 'benefits:read')}"}
    assert send(client, reader, "GET", f"/v1/benefits/{world['benefit']['id']}") \
        .status_code == 200
    assert send(client, reader, "DELETE", f"/v1/benefits/{world['benefit']['id']}") \
        .status_code == 403
    for path in ("/v1/customer-meters/", "/v1/customer-meters/reconciliation"):
        assert send(client, reader, "GET", path).status_code == 403


def test_benefits_other_than_credits_are_not_supported(
        client: TestClient, services: Services, auth: dict[str, str]) -> None:
    shop = Shop(client, auth)
    position = services.ledger.position()
    [error] = detail(send(client, auth, "POST", "/v1/benefits/", {
        "type": "license_keys", "description": "Keys", "properties": {}}))
    assert (error["loc"], error["input"]) == (["body", "type"], "license_keys")
    assert "not supported" in error["msg"]
    meter_id = shop.meter["id"]
    cases = [({"units": 0, "rollover": False, "meter_id": meter_id}, ["units"]),
             ({"units": 2 ** 31, "rollover": False, "meter_id": meter_id}, ["units"]),
             ({"units": 5, "meter_id": meter_id}, ["rollover"]),
             ({"units": 5, "rollover": False}, ["meter_id"])]
    for properties, loc in cases:
        errors = detail(send(client, auth, "POST", "/v1/benefits/", {
            "type": "meter_credit", "description": "Credits", "properties": properties}))
        assert [e["loc"] for e in errors] == [["body", "properties", *loc]], properties
    [error] = detail(send(client, auth, "POST", "/v1/benefits/", {
        "type": "meter_credit", "description": "Go", "properties": {
            "units": 1, "rollover": False, "meter_id": meter_id}}))
    assert error["loc"] == ["body", "description"]
    foreign = create_meter(client, {"Authorization": f"Bearer {new_token(services, 'globex')}"})
    [error] = detail(send(client, auth, "POST", "/v1/benefits/", {
        "type": "meter_credit", "description": "Credits", "properties": {
            "units": 1, "rollover": False, "meter_id": foreign["id"]}}))
    assert error["loc"] == ["body", "properties", "meter_id"]
    assert services.ledger.position() == position + 3  # the other organization, token, meter


def test_purchases_are_validated_and_recorded_once(
        client: TestClient, services: Services, auth: dict[str, str]) -> None:
    shop = Shop(client, auth)
    world = _world(shop)
    position = services.ledger.position()
    monthly = world["subscription"]["product"]
    [error] = detail(send(client, auth, "POST", "/v1/products/", {
        "name": "Seats", "prices": [{"amount_type": "seat_based", "price_per_seat": 10}]}))
    assert error["loc"] == ["body", "prices", 0, "amount_type"]
    [error] = detail(send(client, auth, "POST", f"/v1/products/{monthly['id']}/benefits",
                          {"benefits": [world["benefit"]["id"], world["ada"]["id"]]}))
    assert error["loc"] == ["body", "benefits", 1]
    [error] = detail(send(client, auth, "POST", "/v1/orders/", {
        "customer_id": world["ada"]["id"], "product_id": monthly["id"]}))
    assert error["loc"] == ["body", "product_id"]
    [error] = detail(send(client, auth, "POST", "/v1/subscriptions/", {
        "external_customer_id": "ada", "product_id": world["product"]["id"]}))
    assert error["loc"] == ["body", "product_id"]
    [error] = detail(send(client, auth, "POST", "/v1/orders/", {
        "customer_id": world["product"]["id"], "product_id": world["product"]["id"]}))
    assert error["loc"] == ["body", "customer_id"]
    [error] = detail(send(client, auth, "POST", "/v1/subscriptions/", {
        "external_customer_id": "nobody", "product_id": monthly["id"]}))
    assert error["loc"] == ["body", "external_customer_id"]
    assert services.ledger.position() == position

    order, subscription = world["order"]["id"], world["subscription"]["id"]
    shop.call("POST", f"/v1/orders/{order}/refund")
    assert send(client, auth, "POST", f"/v1/orders/{order}/refund").status_code == 403
    shop.call("DELETE", f"/v1/subscriptions/{subscription}")
    for method, path in (("DELETE", ""), ("POST", "/cycle"), ("POST", "/cancel")):
        response = send(client, auth, method, f"/v1/subscriptions/{subscription}{path}")
        assert response.status_code == 403, path
    assert shop.balance(world["ada"]) == (0, 0, 0)


def test_benefit_changes_apply_from_the_next_grant(client: TestClient,
                                                   auth: dict[str, str]) -> None:
    shop = Shop(client, auth)
    ada = shop.customer()
    benefit = shop.benefit(100)
    product = shop.product(benefit)
    shop.order(ada, product)
    updated = shop.call("PATCH", f"/v1/benefits/{benefit['id']}", {
        "type": "meter_credit", "description": "More credits",
        "properties": {"meter_id": shop.meter["id"], "units": 300, "rollover": True}})
    assert (updated["description"], updated["properties"]["units"]) == ("More credits", 300)
    assert updated["modified_at"] is not None
    shop.order(ada, product)
    assert shop.balance(ada) == (0, 400, 400)
    listed = shop.call("GET", "/v1/benefits/", query="more")
    assert [b["id"] for b in listed["items"]] == [benefit["id"]]

    assert send(client, shop.auth, "DELETE", f"/v1/benefits/{benefit['id']}").status_code == 204
    assert send(client, shop.auth, "GET", f"/v1/benefits/{benefit['id']}").status_code == 404
    assert shop.call("GET", f"/v1/products/{product['id']}")["benefits"] == []
    shop.order(ada, product)
    assert shop.balance(ada) == (0, 400, 400)


def test_products_keep_prices_and_filter_by_billing_type(client: TestClient,
                                                         auth: dict[str, str]) -> None:
    shop = Shop(client, auth)
    benefit = shop.benefit(5)
    one_time = shop.product(benefit)
    monthly = shop.product(recurring_interval="month")
    [price] = one_time["prices"]
    assert (price["amount_type"], price["price_amount"], price["price_currency"]) == (
        "fixed", 1900, "usd")
    assert (one_time["is_recurring"], monthly["is_recurring"], monthly["recurring_interval"],
            monthly["recurring_interval_count"]) == (False, True, "month", 1)
    updated = shop.call("PATCH", f"/v1/products/{one_time['id']}", {
        "name": "Bigger pack", "prices": [
            {"id": price["id"]}, {"amount_type": "custom", "minimum_amount": 500}]})
    assert updated["name"] == "Bigger pack"
    assert [(p["amount_type"], p["is_archived"]) for p in updated["prices"]] == [
        ("fixed", False), ("custom", False)]
    assert updated["prices"][0]["created_at"] == price["created_at"]
    recurring = shop.call("GET", "/v1/products/", is_recurring="true")["items"]
    assert [p["id"] for p in recurring] == [monthly["id"]]
    with_benefit = shop.call("GET", "/v1/products/", benefit_id=benefit["id"])
    assert [p["id"] for p in with_benefit["items"]] == [one_time["id"]]
    [error] = detail(send(client, auth, "PATCH", f"/v1/products/{monthly['id']}",
                          {"recurring_interval": None}))
    assert error["loc"] == ["body", "recurring_interval"]


def test_customer_meters_filter_sort_and_paginate(client: TestClient,
                                                  auth: dict[str, str]) -> None:
    shop = Shop(client, auth)
    requests = create_meter(client, auth, "Requests", named("ai"), {"func": "count"})
    people = [shop.customer(f"{n}@example.com", n) for n in ("cy", "al", "bo")]
    for person, tokens in zip(people, ("9", "100", "10.5"), strict=True):
        shop.use(tokens, external_customer_id=person["external_id"])
    items = shop.call("GET", "/v1/customer-meters/", limit=100)["items"]
    assert len(items) == 6

    def order(*sorting: str, **params: Any) -> list[tuple[str, str]]:
        page = shop.call("GET", "/v1/customer-meters/", sorting=list(sorting), limit=100,
                         **params)
        return [(i["customer"]["external_id"], i["meter"]["name"]) for i in page["items"]]

    assert order("consumed_units", meter_id=shop.meter["id"]) == [
        ("cy", "AI tokens"), ("bo", "AI tokens"), ("al", "AI tokens")]
    assert order("-balance", "customer_name") == [
        ("al", "Requests"), ("bo", "Requests"), ("cy", "Requests"),
        ("cy", "AI tokens"), ("bo", "AI tokens"), ("al", "AI tokens")]
    assert order("meter_name", "-customer_id", customer_id=people[0]["id"]) == [
        ("cy", "AI tokens"), ("cy", "Requests")]
    assert order("credited_units", "-consumed_units", external_customer_id="al") == [
        ("al", "AI tokens"), ("al", "Requests")]
    for key in ("created_at", "-modified_at", "meter_id", "customer_id"):
        assert len(order(key)) == 6
    page = shop.call("GET", "/v1/customer-meters/", limit=4, page=2)
    assert (len(page["items"]), page["pagination"]) == (2, {"total_count": 6, "max_page": 2})
    [error] = detail(send(client, auth, "GET", "/v1/customer-meters/", sorting="-color"))
    assert error["loc"][:2] == ["query", "sorting"]

    shop.call("PATCH", f"/v1/meters/{requests['id']}", {"is_archived": True})
    assert len(shop.call("GET", "/v1/customer-meters/")["items"]) == 3
    assert len(order("balance", meter_id=requests["id"])) == 3
    one = shop.call("GET", f"/v1/customer-meters/{items[0]['id']}")
    assert {k: v for k, v in one.items() if k != "meter"} == {
        k: v for k, v in items[0].items() if k != "meter"}
    assert Decimal(one["balance"]) == -Decimal(one["consumed_units"])


def test_reconciliation_reports_no_drift(client: TestClient, auth: dict[str, str]) -> None:
    world = _world(Shop(client, auth))
    report = send(client, auth, "GET", "/v1/customer-meters/reconciliation").json()
    assert (report["customer_meters"], report["drifts"]) == (1, [])
    assert report["events"] > 0 and report["position"] > 0
    assert world["customer_meter"]["credited_units"] == 200  # the order and the subscription


def test_a_meter_granted_by_a_credits_benefit_cannot_be_archived(
        client: TestClient, auth: dict[str, str]) -> None:
    """As Polar: archiving is refused while a (not deleted) Credits benefit grants the meter."""
    shop = Shop(client, auth)
    benefit = shop.benefit(100)
    path = f"/v1/meters/{shop.meter['id']}"
    response = send(client, auth, "PATCH", path, {"is_archived": True, "name": "Old tokens"})
    [error] = detail(response)
    assert (response.status_code, error["loc"], error["type"]) == (
        422, ["body", "is_archived"], "value_error")
    assert benefit["id"] in error["msg"]
    assert shop.call("GET", path)["name"] == "AI tokens"   # nothing of the request applied
    assert send(client, auth, "DELETE", f"/v1/benefits/{benefit['id']}").status_code == 204
    assert shop.call("PATCH", path, {"is_archived": True})["archived_at"] is not None
