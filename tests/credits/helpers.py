"""HTTP helpers for the credits tests: a metered product with a Credits benefit, purchases."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from starlette.testclient import TestClient

from tests.meters.helpers import create_meter, named, ok, send

__all__ = ["Shop", "named", "ok", "send"]


class Shop:
    """One organization's meter, customer and products, driven over HTTP."""

    def __init__(self, client: TestClient, auth: dict[str, str]) -> None:
        self.client, self.auth = client, auth
        self.meter = create_meter(client, auth, "AI tokens", named("ai"),
                                  {"func": "sum", "property": "tokens"})

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        return ok(send(self.client, self.auth, method, path, body, **params))

    def customer(self, email: str = "ada@example.com", external_id: str | None = "ada") -> Any:
        return self.call("POST", "/v1/customers/", {"email": email, "external_id": external_id,
                                                    "name": email.split("@")[0].title()})

    def benefit(self, units: int, rollover: bool = False, meter_id: str | None = None) -> Any:
        return self.call("POST", "/v1/benefits/", {
            "type": "meter_credit", "description": f"{units} credits",
            "properties": {"meter_id": meter_id or self.meter["id"], "units": units,
                           "rollover": rollover}})

    def product(self, *benefits: Any, recurring_interval: str | None = None) -> Any:
        product = self.call("POST", "/v1/products/", {
            "name": "Credits pack", "recurring_interval": recurring_interval,
            "prices": [{"amount_type": "fixed", "price_amount": 1900}]})
        return self.call("POST", f"/v1/products/{product['id']}/benefits",
                         {"benefits": [b["id"] for b in benefits]})

    def order(self, customer: Any, product: Any) -> Any:
        return self.call("POST", "/v1/orders/", {"customer_id": customer["id"],
                                                 "product_id": product["id"]})

    def subscribe(self, customer: Any, product: Any) -> Any:
        return self.call("POST", "/v1/subscriptions/", {"customer_id": customer["id"],
                                                        "product_id": product["id"]})

    def use(self, tokens: str | int, external_customer_id: str = "ada", **fields: Any) -> None:
        result = self.call("POST", "/v1/events/ingest", {"events": [{
            "name": "ai", "external_customer_id": external_customer_id,
            "metadata": {"tokens": Decimal(str(tokens))}, **fields}]})
        assert result["inserted"] == 1

    def meters_of(self, customer: Any) -> list[Any]:
        return self.call("GET", "/v1/customer-meters/", customer_id=customer["id"])["items"]

    def balance(self, customer: Any) -> tuple[Decimal, int, Decimal]:
        """(consumed, credited, balance) of the customer on the shop's meter."""
        (item,) = self.meters_of(customer)
        return Decimal(item["consumed_units"]), item["credited_units"], Decimal(item["balance"])
