"""Polar's SDK drives meters and their quantities; the README's meter walk-through runs."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from polar.v2026_10.client import Polar

from web.bootstrap import Services

README = Path(__file__).resolve().parents[2] / "README.md"


def _shell_blocks(section: str) -> list[str]:
    text = README.read_text()
    start = text.index(section)
    end = text.find("\n## ", start + len(section))
    return re.findall(r"```sh\n(.*?)```", text[start:end if end >= 0 else len(text)], re.DOTALL)


def test_sdk_creates_meters_and_reads_exact_quantities(polar: Polar,
                                                       services: Services) -> None:
    meter = polar.meters.create(
        name="LLM tokens", unit="token", metadata={"team": "ml"},
        filter={"conjunction": "and", "clauses": [
            {"property": "name", "operator": "eq", "value": "llm.call"}]},
        aggregation={"func": "sum", "property": "tokens"})
    assert (meter.unit, meter.metadata, meter.archived_at) == ("token", {"team": "ml"}, None)
    polar.events.ingest(events=[
        {"name": "llm.call", "external_customer_id": "ada", "timestamp": ts,
         "metadata": {"tokens": tokens}}
        for ts, tokens in (("2026-03-28T23:30:00Z", 1), ("2026-03-29T21:59:00Z", 2),
                           ("2026-03-29T22:00:00Z", 4))])
    services.runner.run_until_idle()
    result = polar.meters.quantities(meter.id, start_timestamp="2026-03-29T00:00:00+01:00",
                                     end_timestamp="2026-03-30T00:00:00+02:00",
                                     interval="day", timezone="Europe/Paris",
                                     external_customer_id="ada")
    assert [(q.timestamp, q.quantity) for q in result.quantities] == [
        ("2026-03-29T00:00:00+01:00", 3), ("2026-03-30T00:00:00+02:00", 4)]
    assert result.total == 7

    renamed = polar.meters.update(meter.id, name="Tokens", is_archived=True)
    assert renamed.name == "Tokens" and renamed.archived_at is not None
    assert polar.meters.get(meter.id).name == "Tokens"
    assert [m.id for m in polar.meters.list(is_archived=True).items] == [meter.id]


def test_readme_meter_walkthrough_runs(server_url: str, token: str,
                                       services: Services) -> None:
    blocks = _shell_blocks("## Meters and quantities")
    script = "\n".join(blocks).replace("localhost:8000", server_url.removeprefix("http://"))
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], check=True,
                         capture_output=True, text=True, env={**os.environ, "TOKEN": token},
                         timeout=60).stdout
    assert '{"timestamp":"2026-03-29T00:00:00+01:00","quantity":1200.000001}' in out
    assert '"total":1200.000001}' in out
    assert '"definition_version":2' in out
