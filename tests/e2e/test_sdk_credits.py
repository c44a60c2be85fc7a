"""Polar's own SDK buys credits, burns them and reads the customer meter and system events."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from polar.v2026_10.client import Polar
from polar.v2026_10.outputs import BenefitMeterCredit, MeterCreditEvent, MeterResetEvent

README = Path(__file__).resolve().parents[2] / "README.md"


def test_sdk_grants_credits_and_reads_balances(polar: Polar) -> None:
    meter = polar.meters.create(name="AI tokens", filter={"conjunction": "and", "clauses": [
        {"property": "name", "operator": "eq", "value": "ai"}]},
        aggregation={"func": "sum", "property": "tokens"})
    customer = polar.customers.create(email="ada@example.com", external_id="ada")
    benefit = polar.benefits.create(type="meter_credit", description="1,000 tokens",
                                    properties={"meter_id": meter.id, "units": 1000,
                                                "rollover": True})
    assert isinstance(benefit, BenefitMeterCredit) and benefit.properties.units == 1000
    plan = polar.products.create(name="Monthly", recurring_interval="month",
                                 prices=[{"amount_type": "fixed", "price_amount": 2500}])
    plan = polar.products.update_benefits(plan.id, benefits=[benefit.id])
    assert [b.id for b in plan.benefits] == [benefit.id]

    subscription = polar.subscriptions.create(external_customer_id="ada", product_id=plan.id)
    polar.events.ingest(events=[{"name": "ai", "external_customer_id": "ada",
                                 "metadata": {"tokens": 250}}])
    (item,) = polar.customer_meters.list(customer_id=customer.id).items
    assert (item.consumed_units, item.credited_units, item.balance) == (250, 1000, 750)
    assert item.meter.id == meter.id and item.customer.id == customer.id
    assert polar.customer_meters.get(item.id).balance == 750

    revoked = polar.subscriptions.revoke(subscription.id)
    assert revoked.status == "canceled"
    assert polar.customer_meters.get(item.id).balance == -250

    system = polar.events.list(source="system", sorting=["timestamp"]).items
    assert [type(e) for e in system] == [MeterCreditEvent, MeterCreditEvent]
    assert [e.metadata.units for e in system if isinstance(e, MeterCreditEvent)] == [1000, -1000]
    assert not any(isinstance(e, MeterResetEvent) for e in system)


def test_readme_credits_snippet_runs(polar: Polar, server_url: str, token: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    text = README.read_text()
    section = text[text.index("## Credits and customer meters"):]
    (snippet,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    polar.customers.create(email="ada@example.com", external_id="ada")
    exec(compile(snippet.replace("http://127.0.0.1:8000", server_url), "README", "exec"),  # noqa: S102
         {"TOKEN": token})
    assert capsys.readouterr().out.split() == ["250.0", "1000", "750.0"]
