"""End to end over HTTP: a Credits benefit, purchases and renewals, usage burning credits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from starlette.testclient import TestClient

from tests.credits.helpers import Shop


def test_an_order_grants_the_benefit_and_usage_burns_it_down_exactly(
        client: TestClient, auth: dict[str, str]) -> None:
    shop = Shop(client, auth)
    ada = shop.customer()
    product = shop.product(shop.benefit(1000))
    shop.order(ada, product)
    assert shop.balance(ada) == (0, 1000, 1000)

    shop.use("120.5")
    shop.use("0.000000000001", customer_id=ada["id"], external_customer_id=None)
    assert shop.balance(ada) == (Decimal("120.500000000001"), 1000, Decimal("879.499999999999"))

    shop.use(900)
    assert shop.balance(ada) == (Decimal("1020.500000000001"), 1000,
                                 Decimal("-20.500000000001"))


def test_a_refund_revokes_what_the_order_granted(client: TestClient,
                                                 auth: dict[str, str]) -> None:
    shop = Shop(client, auth)
    ada = shop.customer()
    order = shop.order(ada, shop.product(shop.benefit(1000)))
    shop.use(300)
    refunded = shop.call("POST", f"/v1/orders/{order['id']}/refund")
    assert (refunded["status"], refunded["refunded_amount"]) == ("refunded", 1900)
    assert shop.balance(ada) == (300, 0, -300)


def test_a_cycle_without_rollover_resets_and_grants_again(client: TestClient,
                                                          auth: dict[str, str]) -> None:
    shop = Shop(client, auth)
    ada = shop.customer()
    subscription = shop.subscribe(ada, shop.product(shop.benefit(1000), recurring_interval="month"))
    shop.use(400)
    cycled = shop.call("POST", f"/v1/subscriptions/{subscription['id']}/cycle")
    assert cycled["current_period_start"] == subscription["current_period_end"]
    assert shop.balance(ada) == (0, 1000, 1000)


def test_a_cycle_with_rollover_carries_the_rest_over(client: TestClient,
                                                     auth: dict[str, str]) -> None:
    shop = Shop(client, auth)
    ada = shop.customer()
    subscription = shop.subscribe(ada, shop.product(shop.benefit(1000, rollover=True),
                                                    recurring_interval="month"))
    shop.use("400.5")
    shop.call("POST", f"/v1/subscriptions/{subscription['id']}/cycle")
    assert shop.balance(ada) == (0, 1599, 1599)  # 599 carried over (whole units) + 1000

    shop.use(1700)
    shop.call("POST", f"/v1/subscriptions/{subscription['id']}/cycle")
    assert shop.balance(ada) == (0, 1000, 1000)  # overdrawn: nothing to carry


def test_non_rollover_credits_are_used_before_rollover_ones(client: TestClient,
                                                            auth: dict[str, str]) -> None:
    shop = Shop(client, auth)
    ada = shop.customer()
    subscription = shop.subscribe(ada, shop.product(shop.benefit(1000, rollover=True),
                                                    recurring_interval="month"))
    shop.order(ada, shop.product(shop.benefit(500)))
    shop.use(200)
    shop.call("POST", f"/v1/subscriptions/{subscription['id']}/cycle")
    assert shop.balance(ada) == (0, 2000, 2000)  # min(1300, 1000) carried + 1000


def test_revoking_a_subscription_takes_back_its_last_grant(client: TestClient,
                                                           auth: dict[str, str]) -> None:
    shop = Shop(client, auth)
    ada = shop.customer()
    subscription = shop.subscribe(ada, shop.product(shop.benefit(1000),
                                                    recurring_interval="year"))
    shop.order(ada, shop.product(shop.benefit(250)))
    shop.use(100)
    revoked = shop.call("DELETE", f"/v1/subscriptions/{subscription['id']}")
    assert (revoked["status"], revoked["ended_at"] is not None) == ("canceled", True)
    assert shop.balance(ada) == (100, 250, 150)


def test_a_subscription_canceled_at_period_end_ends_at_the_next_cycle(
        client: TestClient, auth: dict[str, str]) -> None:
    shop = Shop(client, auth)
    ada = shop.customer()
    subscription = shop.subscribe(ada, shop.product(shop.benefit(1000),
                                                    recurring_interval="month"))
    canceled = shop.call("POST", f"/v1/subscriptions/{subscription['id']}/cancel")
    assert canceled["cancel_at_period_end"] and canceled["ends_at"] == \
        subscription["current_period_end"]
    ended = shop.call("POST", f"/v1/subscriptions/{subscription['id']}/cycle")
    assert ended["status"] == "canceled"
    assert shop.balance(ada) == (0, 0, 0)


def test_a_late_event_received_after_a_reset_counts_in_the_new_period(
        client: TestClient, auth: dict[str, str]) -> None:
    shop = Shop(client, auth)
    ada = shop.customer()
    subscription = shop.subscribe(ada, shop.product(shop.benefit(1000),
                                                    recurring_interval="month"))
    shop.use(10)
    shop.call("POST", f"/v1/subscriptions/{subscription['id']}/cycle")
    long_ago = (datetime.now(UTC) - timedelta(days=45)).isoformat()
    shop.use(7, timestamp=long_ago)
    assert shop.balance(ada) == (7, 1000, 993)


def test_usage_sent_before_the_customer_exists_counts_once_it_does(
        client: TestClient, auth: dict[str, str]) -> None:
    shop = Shop(client, auth)
    shop.use(42, external_customer_id="grace")
    assert shop.call("GET", "/v1/customer-meters/")["items"] == []
    grace = shop.customer("grace@example.com", "grace")
    assert shop.balance(grace) == (42, 0, -42)


def test_history_lists_every_movement_with_the_running_balance(
        client: TestClient, auth: dict[str, str]) -> None:
    shop = Shop(client, auth)
    ada = shop.customer()
    subscription = shop.subscribe(ada, shop.product(shop.benefit(100, rollover=True),
                                                    recurring_interval="month"))
    shop.use(30)
    shop.use(5)
    shop.call("POST", f"/v1/subscriptions/{subscription['id']}/cycle")
    (item,) = shop.meters_of(ada)
    history = shop.call("GET", f"/v1/customer-meters/{item['id']}/history")["items"]
    assert [(h["kind"], Decimal(h["units"]), Decimal(h["balance"])) for h in history] == [
        ("credit", 100, 100), ("usage", 35, 65), ("reset", 0, 0), ("credit", 65, 65),
        ("credit", 100, 165)]
    assert history[1]["events"] == 2
    assert [h["seq"] for h in history] == [1, 2, 3, 4, 5]

    after_usage = history[1]["timestamp"]
    then = shop.call("GET", f"/v1/customer-meters/{item['id']}", as_of=after_usage)
    assert (Decimal(then["consumed_units"]), then["credited_units"], Decimal(then["balance"])) \
        == (35, 100, 65)
    window = shop.call("GET", f"/v1/customer-meters/{item['id']}/history",
                       start_timestamp=history[2]["timestamp"])["items"]
    assert [h["seq"] for h in window] == [3, 4, 5]


def test_system_events_are_listed_with_the_contract_shapes(client: TestClient,
                                                           auth: dict[str, str]) -> None:
    shop = Shop(client, auth)
    ada = shop.customer()
    subscription = shop.subscribe(ada, shop.product(shop.benefit(10),
                                                    recurring_interval="month"))
    shop.call("POST", f"/v1/subscriptions/{subscription['id']}/cycle")
    events = shop.call("GET", "/v1/events/", source="system", sorting="timestamp")["items"]
    assert [(e["name"], e["label"], e["metadata"]) for e in events] == [
        ("meter.credited", "Meter Credited",
         {"meter_id": shop.meter["id"], "units": 10, "rollover": False}),
        ("meter.reset", "Meter Reset", {"meter_id": shop.meter["id"]}),
        ("meter.credited", "Meter Credited",
         {"meter_id": shop.meter["id"], "units": 10, "rollover": False})]
    assert all(e["customer_id"] == ada["id"] and e["source"] == "system" for e in events)
