"""Customer meters: listing latency and reconciliation throughput.

For each store: a fresh database (or `--database-url`), N customers x M meters populated in
process through the commands (customers, a Credits product bought by some of them, usage events
matching every meter), the projections caught up (their rate is reported), then `metering serve`
in its own process answers `GET /v1/customer-meters/` (p50 / p95 over R requests, default sort and
page size, then sorted by balance and filtered by customer), and finally a reconciliation
recomputes every customer meter from the event store (events/s).

    .venv/bin/python -m benchmarks.customer_meters --customers 10000 --meters 3 --database both
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from benchmarks._common import (
    Client,
    Database,
    create_token,
    fresh_database,
    kinds,
    machine_line,
    serve,
)
from commands.benefits import CreateBenefit, create_benefit
from commands.customers import CreateCustomer, create_customer
from commands.ingest import IngestEvents, ingest_events
from commands.meters import CreateMeter, create_meter
from commands.orders import CreateOrder, create_order
from commands.products import (
    CreateProduct,
    SetProductBenefits,
    create_product,
    set_product_benefits,
)
from domain import ids
from projections.reconcile import reconcile
from web import collector
from web.bootstrap import Services, bootstrap
from web.config import Settings

AGGREGATIONS = ({"func": "sum", "property": "tokens"}, {"func": "count"},
                {"func": "max", "property": "tokens"}, {"func": "avg", "property": "tokens"})
AI = {"conjunction": "and", "clauses": [{"property": "name", "operator": "eq", "value": "ai"}]}


def _timed(label: str, work: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = work()
    print(f"  {label}: {time.perf_counter() - started:.1f} s", flush=True)
    return result


def populate(services: Services, organization: str, customers: int, meters: int,
             events_per_customer: int, buyers: int) -> tuple[UUID, list[str]]:
    ledger = services.ledger
    organization_id = ids.organization_id(organization)
    meter_ids = [create_meter(CreateMeter(organization_id, f"Meter {m}", AI,
                                          AGGREGATIONS[m % len(AGGREGATIONS)]), ledger)[0]
                 for m in range(meters)]
    benefits = [create_benefit(CreateBenefit(organization_id, "Credits", m, 1000, True),
                               ledger)[0] for m in meter_ids]
    product, _ = create_product(CreateProduct(
        organization_id, "Credits pack", [{"amount_type": "fixed", "price_amount": 900}]), ledger)
    set_product_benefits(SetProductBenefits(organization_id, product, benefits), ledger)

    def customers_() -> list[UUID]:
        return [create_customer(CreateCustomer(organization_id, f"c{i}@example.com",
                                               name=f"Customer {i:05d}",
                                               external_id=f"c{i}"), ledger)[0]
                for i in range(customers)]

    people = _timed(f"{customers} customers", customers_)
    _timed(f"{buyers} orders", lambda: [
        create_order(CreateOrder(organization_id, c, product), ledger) for c in people[:buyers]])
    rng = random.Random(11)

    def usage() -> None:
        events = [{"name": "ai", "external_customer_id": f"c{i % customers}",
                   "metadata": {"tokens": Decimal(rng.randint(1, 5000)) / 100}}
                  for i in range(customers * events_per_customer)]
        for start in range(0, len(events), 1000):
            ingest_events(IngestEvents(organization_id, events[start:start + 1000],
                                       datetime.now(UTC)), ledger)

    _timed(f"{customers * events_per_customer} usage events", usage)
    return organization_id, [str(p) for p in people]


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"p50 {statistics.median(ordered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"


def measure(client: Client, path: str, requests: int) -> str:
    client.get(path)  # warm up
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        client.get(path)
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


def run(database: Database, args: argparse.Namespace) -> None:
    print(f"{database.kind}: {args.customers} customers x {args.meters} meters", flush=True)
    token = create_token(database, "bench")
    services = bootstrap(Settings(database_url=database.url, database_schema=database.schema,
                                  run_projections=False))
    try:
        organization_id, people = populate(services, "bench", args.customers, args.meters,
                                           args.events_per_customer, args.buyers)
        position = services.ledger.position()
        started = time.perf_counter()
        services.runner.run_until_idle()
        seconds = time.perf_counter() - started
        print(f"  projections caught up with {position} notifications in {seconds:.1f} s "
              f"({position / seconds:,.0f} notifications/s)", flush=True)
        report = reconcile(services.ledger, services.store, organization_id)
        assert not report.drifts, report.drifts[:5]
        print(f"  reconcile: {report.customer_meters} customer meters, {report.events} events "
              f"in {report.seconds:.2f} s = {report.events / report.seconds:,.0f} events/s, "
              f"{len(report.drifts)} drifts", flush=True)
    finally:
        services.close()
    with serve(database) as server:
        client = Client(server, token)
        try:
            total = client.get("/v1/customer-meters/?limit=1")["pagination"]["total_count"]
            print(f"  GET /v1/customer-meters/ over {total} customer meters "
                  f"({args.requests} requests):", flush=True)
            for label, path in (
                    ("default (-modified_at, limit 10)", "/v1/customer-meters/"),
                    ("sorted by balance, limit 100",
                     "/v1/customer-meters/?sorting=balance&limit=100"),
                    ("one customer", f"/v1/customer-meters/?customer_id={people[-1]}")):
                print(f"    {label}: {measure(client, path, args.requests)}", flush=True)
        finally:
            client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--meters", type=int, default=3)
    parser.add_argument("--events-per-customer", type=int, default=3)
    parser.add_argument("--buyers", type=int, default=1_000,
                        help="customers who buy the Credits product (one order each)")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--database-url", default=None,
                        help="an empty database to use instead of a fresh one "
                             "(sqlite:///path or postgresql://...)")
    args = parser.parse_args()
    collector.settle()  # in-process work runs as in the service's processes
    print(machine_line(), flush=True)
    for kind in kinds(args.database) if args.database_url is None else ("given",):
        context: AbstractContextManager[Database] = fresh_database(kind) \
            if args.database_url is None else nullcontext(Database(
                "sqlite" if args.database_url.startswith("sqlite") else "postgres",
                args.database_url))
        with context as database:
            run(database, args)


if __name__ == "__main__":
    main()
