"""Ingestion throughput through HTTP, and how fast the read models follow.

For each store and each client count: a fresh database, `metering serve` in its own process, a
token, then N Polar-shaped events in batches of 1,000 (each with a unique `external_id`, one of
1,000 customers by `external_customer_id`, metadata with tokens, model, endpoint and `_cost`)
posted to `/v1/events/ingest` by one or several concurrent keep-alive clients. Reported: events/s,
the server's peak RSS, the projections' lag when the last batch was acknowledged and their
catch-up rate, and finally a rebuild of every read model from the ledger (events/s). With
`--rate`, batches are sent at that pace instead of as fast as possible, and the projections' lag
behind the ledger is sampled while ingesting: whether they keep up with that rate.

    .venv/bin/python -m benchmarks.ingest --events 200000 --database both
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from contextlib import ExitStack, closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Self

from eventsourcing.persistence import StoredEvent

from benchmarks._common import (
    Client,
    Database,
    Process,
    Server,
    cpu_seconds,
    cpu_since,
    create_token,
    fresh_database,
    kinds,
    machine_line,
    mib,
    running,
    serve,
)
from commands.ingest import IngestEvents, ingest_events
from commands.ledger import Ledger
from domain import ids
from domain.values import dumps, loads
from web import collector
from web.bootstrap import bootstrap
from web.config import Settings

MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet", "llama-3-70b")
ENDPOINTS = ("/v1/chat/completions", "/v1/embeddings", "/v1/responses")
NAMES = ("llm.completion", "llm.embedding", "api.request")
METERS = (  # the quantities benchmark's three meters (issue 3's dataset)
    {"name": "tokens", "aggregation": {"func": "sum", "property": "tokens"},
     "filter": {"conjunction": "and", "clauses": [
         {"property": "name", "operator": "eq", "value": "llm.completion"}]}},
    {"name": "requests", "aggregation": {"func": "count"},
     "filter": {"conjunction": "and", "clauses": []}},
    {"name": "models", "aggregation": {"func": "unique", "property": "model"},
     "filter": {"conjunction": "and", "clauses": []}},
)


def customer_id(number: int) -> str:
    """The external id of the benchmark's customer `number`."""
    return f"customer-{number:04d}"


def make_batches(events: int, batch_size: int, customers: int, *, backfill: bool = False,
                 seed: int = 7) -> list[bytes]:
    """Request bodies, serialised before the clock starts. Timestamps follow the clock as in
    live traffic (a millisecond apart, with jitter, ending now), or with `backfill` are spread
    at random over the last 30 days (random positions in every time index)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    bodies = []
    for start in range(0, events, batch_size):
        batch = []
        for i in range(start, min(start + batch_size, events)):
            tokens = rng.randint(10, 8000)
            ago = rng.randrange(30 * 86400) if backfill \
                else (events - i) / 1000 + rng.random() / 100
            batch.append({
                "name": rng.choice(NAMES),
                "external_customer_id": customer_id(rng.randrange(customers)),
                "external_id": f"evt-{seed}-{i:09d}",
                "timestamp": (now - timedelta(seconds=ago)).isoformat(),
                "metadata": {
                    "tokens": tokens,
                    "model": rng.choice(MODELS),
                    "endpoint": rng.choice(ENDPOINTS),
                    "_cost": {"amount": Decimal(tokens) * Decimal("0.000125"),
                              "currency": "usd"},
                },
            })
        bodies.append(dumps({"events": batch}))
    return bodies


@dataclass
class Run:
    database: str
    projector: str
    clients: int
    events: int
    seconds: float
    cpu_per_event: tuple[float, float, float]
    """CPU time per event while ingesting: the API process, the projection workers (with
    `process`), and the PostgreSQL server (0 on SQLite)."""
    peak_rss: int
    lag_at_end: int
    catch_up_seconds: float
    rebuild_per_second: float | None
    lag_seconds: tuple[float, float] | None = None
    """With a paced rate: the projections' lag behind the ledger while ingesting, p95 and max."""
    usage_lag_seconds: tuple[float, float] | None = None
    """The same for the meter-usage projection alone (what quantities answer from)."""
    split_cpu_per_event: tuple[float, ...] = ()
    """With split workers: each worker's CPU time per event while ingesting, in `SPLIT`'s
    order (the sum is `cpu_per_event`'s second figure)."""

    def line(self) -> str:
        catch_up = f"{self.lag_at_end / self.catch_up_seconds:>8,.0f} ev/s" \
            if self.catch_up_seconds > 0 else "       - ev/s"
        api, workers, database = self.cpu_per_event
        return (f"{self.database:<8} {self.projector:<10} {self.clients} "
                f"client{'s' if self.clients > 1 else ' '} "
                f"{self.events:>8} events {self.seconds:7.2f} s {self.events / self.seconds:>8,.0f}"
                f" ev/s | CPU us/ev: API {api * 1e6:5.1f}, workers {workers * 1e6:5.1f}"
                + (" ({})".format(", ".join(
                    f"{names[0] if len(names) == 1 else 'the rest'} {cpu * 1e6:.1f}"
                    for names, cpu in zip(SPLIT, self.split_cpu_per_event, strict=True)))
                   if self.split_cpu_per_event else "")
                + f", PostgreSQL {database * 1e6:5.1f}"
                f" | peak RSS {mib(self.peak_rss):>8} | projections: lag at end "
                f"{self.lag_at_end:>7}, caught up in {self.catch_up_seconds:6.2f} s ({catch_up})"
                + (f" | rebuild {self.rebuild_per_second:>8,.0f} ev/s"
                   if self.rebuild_per_second is not None else "")
                + (" | lag while ingesting: p95 {:.2f} s, max {:.2f} s".format(
                    *self.lag_seconds) if self.lag_seconds is not None else "")
                + (" (meter usage: p95 {:.2f} s, max {:.2f} s)".format(
                    *self.usage_lag_seconds) if self.usage_lag_seconds is not None else ""))


def post_all(server: Server, token: str, bodies: list[bytes], clients: int,
             every: float = 0.0) -> None:
    """Post every body, spread over `clients` keep-alive connections, one thread each; with
    `every` (seconds), body i is not sent before i * `every` after the start."""
    failures: list[BaseException] = []
    lock = threading.Lock()
    queue = enumerate(bodies)
    started = time.perf_counter()

    def work() -> None:
        client = Client(server, token)
        try:
            while not failures:
                with lock:
                    number, body = next(queue, (0, None))
                if body is None:
                    return
                time.sleep(max(0.0, started + number * every - time.perf_counter()))
                result = client.post("/v1/events/ingest", body)
                if result["inserted"] + result["duplicates"] == 0:
                    msg = f"nothing recorded: {result}"
                    raise RuntimeError(msg)
        except Exception as e:  # noqa: BLE001 - re-raised by the caller
            failures.append(e)
        finally:
            client.close()

    threads = [threading.Thread(target=work) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def ledger_batches(bodies: list[bytes], organization: str = "bench") -> list[list[StoredEvent]]:
    """Each body's ledger entries, byte for byte as ingestion writes them for `organization`
    (its id is derived from its name, as a token's is), made before the clock starts: each body
    is ingested into a scratch SQLite ledger and read back."""
    batches: list[list[StoredEvent]] = []
    with fresh_database("sqlite") as scratch:
        services = bootstrap(Settings(database_url=scratch.url))
        try:
            ledger = services.ledger
            organization_id = ids.organization_id(organization)
            for body in bodies:
                before = ledger.position()
                ingest_events(IngestEvents(organization_id, loads(body)["events"],
                                           datetime.now(UTC)), ledger)
                after = ledger.position()
                batches.append([
                    StoredEvent(n.originator_id, n.originator_version, n.topic, n.state)
                    for n in ledger.recorder.select_notifications(
                        start=before, limit=after - before, inclusive_of_start=False)])
        finally:
            services.close()
    return batches


def record_all(ledger: Ledger, batches: list[list[StoredEvent]], every: float) -> None:
    """Record each batch of entries straight into the ledger, batch i not before i * `every`
    after the start: ingestion's database work without the API's (an API on other cores)."""
    started = time.perf_counter()
    for number, batch in enumerate(batches):
        time.sleep(max(0.0, started + number * every - time.perf_counter()))
        ledger.recorder.insert_events(batch)


class LagMonitor:
    """Samples, every `period` seconds, the ledger's position and each projection's; the lag
    at a sample is the time since the ledger held the first entry not applied yet (by the
    slowest projection, or by the one named)."""

    def __init__(self, database: Database, server: Server, token: str,
                 period: float = 0.1) -> None:
        self.database, self.client, self.period = database, Client(server, token), period
        self.samples: list[tuple[float, int, dict[str, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.client.close()

    def _sample(self) -> None:
        while not self._stop.wait(self.period):
            ledger = self.client.get("/healthz")["ledger_position"]
            self.samples.append((time.perf_counter(), ledger,
                                 self.database.projection_positions()))

    def lags(self, projection: str | None = None) -> tuple[float, float] | None:
        """The lag's p95 and max over the samples, None without samples."""
        lags = []
        for at, ledger, positions in self.samples:
            applied = min(positions.values()) if projection is None else positions[projection]
            if applied >= ledger:
                lags.append(0.0)
                continue
            since = next(t for t, held, _ in self.samples if held > applied)
            lags.append(at - since)
        lags.sort()
        return (lags[int(0.95 * (len(lags) - 1))], lags[-1]) if lags else None


def wait_projected(database: Database, position: int, timeout: float = 1800) -> float:
    """Seconds until every projection has applied `position`."""
    started = time.perf_counter()
    while min(database.projection_positions().values()) < position:
        if time.perf_counter() - started > timeout:
            msg = f"projections did not reach {position} in {timeout} s"
            raise RuntimeError(msg)
        time.sleep(0.05)  # polling another process's progress
    return time.perf_counter() - started


def run(kind: str, projector: str, bodies: list[bytes], events: int, clients: int,
        workers: int = 1, *, rebuild: bool = True, meters: int = 0, customers: int = 0,
        split: bool = False, rate: float | None = None,
        direct: list[list[StoredEvent]] | None = None) -> Run:
    """One measurement on a fresh database. `projector`: "inline" runs the projections in the
    API process (plain `metering serve`); "process" runs them in `metering project` beside
    `metering serve --no-projections` (peak RSS is then the sum over all processes); "none"
    measures the API alone (projections on other machines) and starts the worker once the last
    batch is acknowledged, for the catch-up figure. `meters`: how many of `METERS` exist before
    the first batch (their usage and customer meters are then projected too); `customers`: how
    many of the events' customers exist before it (the others' usage is held pending). `split`:
    two projection workers instead of one, customer meters in one and the rest in the other.
    `rate`: events/s to send at (default: as fast as the clients go), the lag then sampled.
    `direct`: the bodies' ledger entries (`ledger_batches`), recorded straight into the ledger
    instead of posted (`clients` is then ignored)."""
    with fresh_database(kind) as database, ExitStack() as stack:
        token = create_token(database)
        options = ("--workers", str(workers)) if workers > 1 else ()
        if projector == "inline":
            server = stack.enter_context(serve(database, *options))
            processes: list[Process] = [server]
        else:
            server = stack.enter_context(serve(database, "--no-projections", *options))
            processes = [server]
        workers_args = [[f"--projection={name}" for name in names] for names in SPLIT] \
            if split else [[]]
        if projector == "process":
            processes += [stack.enter_context(running(database, "project", *args))
                          for args in workers_args]
        if meters or customers:
            prepare(database, server, token, meters, customers, projector)
        every = events / len(bodies) / rate if rate else 0.0
        # The ledger the batches go straight into, opened before the clock starts.
        recording = None if direct is None else (stack.enter_context(closing(Ledger(
            env=Settings(database_url=database.url,
                         database_schema=database.schema).ledger_env()))), direct)
        monitor = LagMonitor(database, server, token)
        started, cpu = time.perf_counter(), cpu_seconds(kind, processes)
        split_cpu = [p.cpu_seconds() for p in processes[1:]] if split else []
        try:
            with monitor if rate else ExitStack():
                if recording is None:
                    post_all(server, token, bodies, clients, every)
                else:
                    record_all(*recording, every)
        except Exception:
            print(server.log_tail(), file=sys.stderr)
            raise
        seconds, cpu = time.perf_counter() - started, cpu_since(kind, processes, cpu)
        split_cpu = [(p.cpu_seconds() - then) / events
                     for p, then in zip(processes[1:], split_cpu, strict=True)]
        position = Client(server, token).get("/healthz")["ledger_position"]
        lag = position - min(database.projection_positions().values())
        if projector == "none":  # the read models are another machine's work
            for args in workers_args:
                stack.enter_context(running(database, "project", *args))
        catch_up = wait_projected(database, position)
        peak = sum(p.peak_rss() for p in processes)
        stack.close()
        label = projector if workers == 1 else f"{projector}/{workers}w"
        label += "/split" if split else ""
        label += "/direct" if direct is not None else ""
        return Run(kind, label, clients, events, seconds,
                   (cpu[0] / events, cpu[1] / events, cpu[2] / events), peak, lag, catch_up,
                   rebuild_rate(database) if rebuild else None, monitor.lags(),
                   monitor.lags("meter_usage") if meters else None, tuple(split_cpu))


SPLIT = (("customer_meters",), ("catalog", "events", "meters", "meter_usage", "commerce"))
"""The projections of each worker with `--split-workers`."""


def prepare(database: Database, server: Server, token: str, meters: int, customers: int,
            projector: str) -> None:
    """Create the first `meters` of `METERS` and the first `customers` customers, and wait
    until they are projected, so that the meters' builds are live before the first batch. The
    API answers a creation once the projections show it: with `projector` "none", a worker
    runs meanwhile."""
    with ExitStack() as stack:
        if projector == "none":
            stack.enter_context(running(database, "project"))
        setup = Client(server, token)
        for meter in METERS[:meters]:
            setup.post("/v1/meters/", dumps(meter))
        for number in range(customers):
            setup.post("/v1/customers/", dumps({"external_id": customer_id(number),
                                                "email": f"{customer_id(number)}@example.com"}))
        wait_projected(database, setup.get("/healthz")["ledger_position"])
        setup.close()


def rebuild_rate(database: Database) -> float:
    """Events/s of a rebuild of every read model from the ledger (no ingestion running)."""
    services = bootstrap(Settings(database_url=database.url, database_schema=database.schema))
    try:
        total = services.ledger.position()
        started = time.perf_counter()
        services.runner.rebuild(list(services.runner.projections))
        return total / (time.perf_counter() - started)
    finally:
        services.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--clients", default="1,4", help="comma-separated client counts")
    parser.add_argument("--projector", choices=("inline", "process", "both", "none"),
                        default="both",
                        help="projections in the API process, in their own process, or both; "
                        "none: the API alone while ingesting (the projections run elsewhere; "
                        "a worker started afterwards catches up)")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--no-rebuild", action="store_true",
                        help="skip the rebuild measurement (slow with many read models)")
    parser.add_argument("--workers", type=int, default=1,
                        help="API worker processes (`metering serve --workers N`)")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--create-customers", action="store_true",
                        help="create the customers before ingesting (else their usage is held "
                        "pending under their external ids)")
    parser.add_argument("--rate", type=float,
                        help="events/s to send at; the projections' lag is then sampled")
    parser.add_argument("--split-workers", action="store_true",
                        help="two projection workers (customer meters; the rest) instead of one")
    parser.add_argument("--meters", type=int, default=0, choices=range(len(METERS) + 1),
                        help="meters defined before ingesting (sum, count, unique: issue 3's)")
    parser.add_argument("--direct", action="store_true",
                        help="record the batches straight into the ledger from this process, "
                        "one after the other (encoded before the clock starts), instead of "
                        "posting them: the projections' figures without the API's CPU on this "
                        "machine (`--clients` is ignored)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each set-up; with --rate, a last line sums up their lag")
    parser.add_argument("--backfill", action="store_true",
                        help="timestamps at random over 30 days instead of following the clock")
    args = parser.parse_args(argv)
    collector.settle()  # in-process work runs as in the service's processes
    print(machine_line(), flush=True)
    bodies = make_batches(args.events, args.batch_size, args.customers, backfill=args.backfill)
    print(f"{args.events} events in {len(bodies)} batches of {args.batch_size}, "
          f"{sum(map(len, bodies)) / args.events:.0f} bytes/event", flush=True)
    direct = ledger_batches(bodies) if args.direct else None
    failed = 0
    projectors = ("inline", "process") if args.projector == "both" else (args.projector,)
    for kind in kinds(args.database):
        for projector in projectors:
            # Recorded straight into the ledger, the batches go one after the other.
            for clients in [1] if direct else (int(c) for c in args.clients.split(",")):
                runs = []
                for _ in range(args.repeat):
                    try:
                        runs.append(run(kind, projector, bodies, args.events, clients,
                                        args.workers, rebuild=not args.no_rebuild,
                                        meters=args.meters,
                                        customers=args.customers if args.create_customers
                                        else 0, split=args.split_workers, rate=args.rate,
                                        direct=direct))
                        print(runs[-1].line(), flush=True)
                    except Exception as e:  # noqa: BLE001 - one failure must not hide the others
                        failed += 1
                        print(f"{kind:<8} {projector:<7} {clients} clients: FAILED: {e}",
                              flush=True)
                if len(runs) > 1 and runs[0].lag_seconds is not None:
                    print(lag_summary(runs), flush=True)
    return 1 if failed else 0


def lag_summary(runs: list[Run]) -> str:
    """The lag p95 of repeated runs of one set-up: it varies more from run to run than a
    change of code moves it on a machine near saturation, so one run says little."""
    p95 = sorted(r.lag_seconds[0] for r in runs if r.lag_seconds is not None)
    usage = sorted(r.usage_lag_seconds[0] for r in runs if r.usage_lag_seconds is not None)
    cpu = [r.cpu_per_event[1] * 1e6 for r in runs]
    return (f"{len(runs)} runs: lag p95 median {statistics.median(p95):.2f} s, "
            f"{p95[0]:.2f}–{p95[-1]:.2f} s, under 1 s in {sum(v < 1 for v in p95)}"
            + (f" (meter usage: median {statistics.median(usage):.2f} s)" if usage else "")
            + f" | workers' CPU median {statistics.median(cpu):.1f} us/ev")


if __name__ == "__main__":
    raise SystemExit(main())
