"""Meter quantities from the usage projection, side by side with a GROUP BY over raw events.

Dataset: 1,000 customers (by external id), 3 meters (sum of `tokens` over `llm.completion`,
count of everything, unique `model`), N events with timestamps spread at random over 90 days
(so most arrive "late", out of order). For each store, on a fresh database:

1. ingestion: N events recorded in batches of 1,000 (in-process, no projection running), then
   the backlog applied by the meter-usage projection alone (3 live meters: events/s), beside the
   events read table's projection (what the GROUP BY side needs);
2. quantities (after ANALYZE), 30 days x day in Europe/Paris, sum meter, all customers and one
   customer: p50 and p95 of the projection answer (`queries.quantities.from_projection`,
   in-process, connection checkout included, HTTP excluded) against a GROUP BY over the events
   read table (PostgreSQL:
   `date_trunc(..., 'Europe/Paris')`; SQLite: the same bucket edges in a CASE);
3. rebuild of one meter (a new build of the sum meter from the start of the ledger, blue/green)
   in ledger events/s, against the GROUP BY that computes the same 15-minute partials from the
   raw events table.

    .venv/bin/python -m benchmarks.quantities --events 100000 --database both
    .venv/bin/python -m benchmarks.quantities --events 1000000 --database postgres \\
        --postgres-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import text

from benchmarks import _common as common
from benchmarks._common import Database, fresh_database, kinds
from commands.customers import CreateCustomer, create_customer
from commands.ingest import IngestEvents, ingest_events
from commands.meters import CreateMeter, create_meter
from commands.tokens import CreateToken, authenticate, create_token
from domain.calendar import TimeInterval
from domain.organization import ALL_SCOPES
from projections.meter_builds import MeterBuilds
from projections.meter_tables import BUILDING, meter_builds
from queries.quantities import Buckets, QuantitiesQuery, from_projection
from web import collector
from web.bootstrap import Services, bootstrap
from web.config import Settings

DAYS = 90
PARIS = ZoneInfo("Europe/Paris")
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet", "llama-3-70b")
NAMES = ("llm.completion", "llm.embedding", "api.request")
SUM_FILTER = {"conjunction": "and", "clauses": [
    {"property": "name", "operator": "eq", "value": "llm.completion"}]}


def batches(events: int, customers: int, end: datetime, seed: int = 11
            ) -> Iterator[list[dict[str, Any]]]:
    """The events, 1,000 per batch, made as they are ingested (10M at once would not fit)."""
    rng = random.Random(seed)
    for start in range(0, events, 1000):
        yield [{
            "name": rng.choice(NAMES),
            "external_customer_id": f"customer-{rng.randrange(customers):04d}",
            "timestamp": (end - timedelta(seconds=rng.randrange(DAYS * 86400))).isoformat(),
            "metadata": {"tokens": rng.randint(10, 8000), "model": rng.choice(MODELS)},
        } for _ in range(start, min(start + 1000, events))]


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered) * 1000:8.2f} ms  p95 {p95 * 1000:8.2f} ms"


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    samples, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - began)
    return samples, result


def group_by_sql(kind: str, buckets: Buckets, customer: str | None) -> tuple[str, dict[str, Any]]:
    """The quantities of the sum meter by a GROUP BY over the events read table."""
    edges: list[Any] = buckets.edges
    if kind == "sqlite":   # how SQLAlchemy stores UTC datetimes there
        edges = [e.strftime("%Y-%m-%d %H:%M:%S.%f") for e in edges]
    params: dict[str, Any] = {"start": edges[0], "end": edges[-1]}
    where = ("organization_id = :org AND name = 'llm.completion' AND timestamp >= :start "
             "AND timestamp < :end")
    if customer:
        where += " AND external_customer_id = :customer"
        params["customer"] = customer
    if kind == "postgres":
        sql = (f"SELECT date_trunc('day', timestamp, 'Europe/Paris') AS day, "
               f"sum((metadata->>'tokens')::numeric) FROM events WHERE {where} "
               f"AND jsonb_typeof(metadata->'tokens') = 'number' GROUP BY day ORDER BY day")
        return sql, params
    cases = " ".join(f"WHEN timestamp < :e{i} THEN {i - 1}" for i in range(1, len(edges)))
    params.update({f"e{i}": e for i, e in enumerate(edges)})
    sql = (f"SELECT CASE {cases} END AS day, sum(json_extract(metadata, '$.tokens')) "
           f"FROM events WHERE {where} AND json_type(metadata, '$.tokens') = 'integer' "
           f"GROUP BY day ORDER BY day")
    return sql, params


def partials_sql(kind: str) -> str:
    """What a rebuild of the sum meter computes, as one GROUP BY over the raw events."""
    if kind == "postgres":
        bucket = ("to_timestamp(floor(extract(epoch FROM timestamp) / 900) * 900)")
        tokens = "(metadata->>'tokens')::numeric"
        typed = "jsonb_typeof(metadata->'tokens') = 'number'"
    else:
        bucket = "(CAST(strftime('%s', timestamp) AS INTEGER) / 900)"
        tokens = "json_extract(metadata, '$.tokens')"
        typed = "json_type(metadata, '$.tokens') = 'integer'"
    return (f"SELECT count(*) FROM (SELECT external_customer_id, {bucket} AS bucket, count(*), "
            f"sum({tokens}), min({tokens}), max({tokens}) FROM events "
            f"WHERE organization_id = :org AND name = 'llm.completion' AND {typed} "
            f"GROUP BY external_customer_id, bucket) AS partials")


def _catch_up(services: Services, name: str) -> float:
    """Seconds one projection takes to apply the whole backlog."""
    projection = services.runner.projections[name]
    began = time.perf_counter()
    while services.runner.catch_up(projection):
        pass
    return time.perf_counter() - began


def run(kind: str, database: Database, events: int, customers: int, repeat: int) -> None:
    settings = Settings(database_url=database.url, database_schema=database.schema)
    services = bootstrap(settings)
    try:
        _run(kind, services, events, customers, repeat)
    finally:
        services.close()


def _run(kind: str, services: Services, events: int, customers: int, repeat: int) -> None:
    ledger = services.ledger
    organization = authenticate(create_token(CreateToken("bench", ALL_SCOPES), ledger),
                                ledger).organization_id
    for i in range(customers):
        create_customer(CreateCustomer(organization, f"c{i}@example.com",
                                       external_id=f"customer-{i:04d}"), ledger)
    meter_id, _ = create_meter(CreateMeter(organization, "tokens", SUM_FILTER,
                                           {"func": "sum", "property": "tokens"}), ledger)
    create_meter(CreateMeter(organization, "requests", {"conjunction": "and", "clauses": []},
                             {"func": "count"}), ledger)
    create_meter(CreateMeter(organization, "models", {"conjunction": "and", "clauses": []},
                             {"func": "unique", "property": "model"}), ledger)
    services.runner.run_until_idle()
    org = organization.hex if kind == "sqlite" else organization   # as the Uuid type stores it

    end = datetime.now(UTC)
    bodies = batches(events, customers, end)
    began = time.perf_counter()
    for body in bodies:
        ingest_events(IngestEvents(organization, body, datetime.now(UTC)), ledger)
    ingested = time.perf_counter() - began
    rates = {name: events / _catch_up(services, name)
             for name in ("events", "meter_usage", "catalog", "meters")}
    with services.store.writer.begin() as conn:   # fresh planner statistics for both sides
        conn.execute(text("ANALYZE"))
    print(f"{kind:<8} ingest {events / ingested:>7,.0f} events/s | projection catch-up: "
          f"meter_usage (3 meters) {rates['meter_usage']:>7,.0f} events/s, events read table "
          f"{rates['events']:>7,.0f} events/s", flush=True)

    query = QuantitiesQuery(start=end - timedelta(days=30), end=end, interval=TimeInterval.day,
                            timezone=PARIS)
    buckets = Buckets.of(query)
    one = "customer-0042"
    for label, q, customer in (("all customers", query, None), ("one customer", QuantitiesQuery(
            start=query.start, end=query.end, interval=query.interval, timezone=PARIS,
            external_customer_id=[one]), one)):
        ours, answer = timed(lambda q=q: _projection(services, organization, meter_id, q,
                                                     buckets), repeat)
        sql, params = group_by_sql(kind, buckets, customer)
        raw, rows = timed(lambda sql=sql, params=params: _raw(services, sql, {
            **params, "org": org}), repeat)
        same = sorted(Decimal(str(r[1])) for r in rows) == sorted(
            x.quantity for x in answer.quantities if x.quantity)
        print(f"{kind:<8} quantities 30 d x day Europe/Paris, {label:<13}: projection "
              f"{percentiles(ours)} | GROUP BY raw {percentiles(raw)} | ratio "
              f"{statistics.median(raw) / statistics.median(ours):6.1f}x | same: {same}",
              flush=True)

    builds = MeterBuilds(ledger, services.store)
    began = time.perf_counter()
    builds.rebuild(meter_id)
    while builds.step():
        pass
    rebuilt = time.perf_counter() - began
    with services.store.engine.connect() as conn:
        assert not conn.execute(meter_builds.select().where(
            meter_builds.c.state == BUILDING)).first()
    notifications = ledger.position()
    raw_time, _ = timed(lambda: _raw(services, partials_sql(kind), {"org": org}), 1)
    print(f"{kind:<8} rebuild of one meter: {notifications / rebuilt:>9,.0f} ledger events/s "
          f"({rebuilt:.1f} s for {notifications:,}) | GROUP BY raw into 15-min partials "
          f"{raw_time[0]:.1f} s ({events / raw_time[0]:,.0f} events/s)")


def _projection(services: Services, organization: UUID, meter_id: UUID, q: QuantitiesQuery,
                buckets: Buckets) -> Any:
    with services.store.engine.connect() as conn:
        return from_projection(conn, organization, meter_id, q, buckets)


def _raw(services: Services, sql: str, params: dict[str, Any]) -> list[Any]:
    with services.store.engine.connect() as conn:
        return list(conn.execute(text(sql), params))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=50, help="samples per latency figure")
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", default=None,
                        help="PostgreSQL database to use (default: METERING_BENCH_POSTGRES_URL "
                             "or the local test database); a fresh schema is created, then "
                             "dropped")
    args = parser.parse_args(argv)
    collector.settle()  # in-process work runs as in the service's processes
    print(common.machine_line(), flush=True)
    if args.postgres_url:
        common.POSTGRES_URL = args.postgres_url   # where `fresh_database` creates its schema
    print(f"{args.events:,} events over {DAYS} days, {args.customers:,} customers, 3 meters")
    for kind in kinds(args.database):
        with fresh_database(kind) as database:
            run(kind, database, args.events, args.customers, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
