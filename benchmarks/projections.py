"""What each projection costs per ledger entry, in CPU.

For each store: a fresh database, an organization with `--meters` of the ingestion benchmark's
meters (default 2: a sum of `tokens` over one event name, a count of everything; 3 adds a
`unique` of `model`), then N events of the ingestion benchmark's shape
(`benchmarks.ingest.make_batches`: 1,000 customers by external id, none of them created, so
customer meters hold the usage as pending; with `--create-customers` all of them are created
first, so customer meters keep balances and history) recorded in process. Then each projection
catches up on its own, reading and decoding every entry itself, and its CPU time per ledger
entry is printed (`time.process_time`), and on PostgreSQL the server's own CPU time beside it
(its processes on this machine, read from /proc). In the
running service, projections at the same position share one read and one decoding of each
page; the first line gives that shared part, and the last line all of them together (a rebuild
of every read model, side by side, as a worker catching up runs them). `--page N` fixes the
pages at N entries (the service's pages grow while behind).

    .venv/bin/python -m benchmarks.projections --events 20000 --database both
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from benchmarks._common import fresh_database, kinds, machine_line, postgres_cpu_seconds
from benchmarks.ingest import METERS, customer_id, make_batches
from commands.customers import CreateCustomer, create_customer
from commands.ingest import IngestEvents, ingest_events
from commands.meters import CreateMeter, create_meter
from commands.tokens import CreateToken, authenticate, create_token
from domain.organization import ALL_SCOPES
from domain.values import loads
from web import collector
from web.bootstrap import bootstrap
from web.config import Settings


def run(kind: str, events: int, customers: bool, meters: int, page: int | None) -> list[str]:
    batches = [loads(body)["events"] for body in make_batches(events, 1000, 1000)]
    with fresh_database(kind) as database:
        services = bootstrap(Settings(database_url=database.url,
                                      database_schema=database.schema))
        try:
            ledger, runner = services.ledger, services.runner
            organization = authenticate(create_token(CreateToken("bench", ALL_SCOPES), ledger),
                                        ledger).organization_id
            for meter in METERS[:meters]:
                create_meter(CreateMeter(organization, meter["name"], meter["filter"],
                                         meter["aggregation"]), ledger)
            if page is not None:
                runner.batch_size = runner.max_batch_size = page
            for number in range(1000 if customers else 0):
                create_customer(CreateCustomer(organization, f"{customer_id(number)}@example.com",
                                               external_id=customer_id(number)), ledger)
            runner.run_until_idle()
            for batch in batches:
                ingest_events(IngestEvents(organization, batch, datetime.now(UTC)), ledger)
            recorder, mapper = ledger.recorder, ledger.mapper
            started = _clock(kind)
            position = 0
            while page := recorder.select_notifications(start=position, limit=1000,
                                                        inclusive_of_start=False):
                for notification in page:
                    mapper.to_domain_event(notification)
                position = page[-1].id
            lines = [f"{kind:<8} reading and decoding the log {_per_event(kind, started, events)}"]
            # One after the other: the runner keeps only the last page it read, so each
            # projection reads and decodes every page itself.
            for name, projection in runner.projections.items():
                started = _clock(kind)
                while runner.catch_up(projection):
                    pass
                lines.append(f"{kind:<8} {name:<16} {_per_event(kind, started, events)}")
            started = _clock(kind)
            runner.rebuild(list(runner.projections))
            lines.append(f"{kind:<8} all together (a rebuild) {_per_event(kind, started, events)}")
            return lines
        finally:
            services.close()


def _clock(kind: str) -> tuple[float, float]:
    """CPU seconds so far: this process's, and the database server's (PostgreSQL only)."""
    return time.process_time(), postgres_cpu_seconds() if kind == "postgres" else 0.0


def _per_event(kind: str, started: tuple[float, float], events: int) -> str:
    ours, server = (now - then for now, then in zip(_clock(kind), started, strict=True))
    text = f"{ours / events * 1e6:6.1f} µs of CPU per ledger entry"
    return text + (f", PostgreSQL {server / events * 1e6:5.1f} µs" if kind == "postgres" else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--create-customers", action="store_true",
                        help="create the 1,000 customers first (else their usage is pending)")
    parser.add_argument("--meters", type=int, default=2, choices=range(len(METERS) + 1),
                        help="meters defined first (sum, count, unique: issue 3's)")
    parser.add_argument("--page", type=int,
                        help="ledger entries per page, fixed (default: the service's pages)")
    args = parser.parse_args()
    collector.settle()  # in-process work runs as in the service's processes
    print(machine_line(), flush=True)
    for kind in kinds(args.database):
        print("\n".join(run(kind, args.events, args.create_customers, args.meters, args.page)),
              flush=True)


if __name__ == "__main__":
    main()
