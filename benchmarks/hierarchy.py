"""What event trees cost: ingestion of trees against the same events sent flat, and roll-up reads.

For each store: a fresh database and `metering serve` (with `--projector process`, `serve
--no-projections` beside a `metering project` worker), then N events (tokens and `_cost`
metadata) posted in batches of 1,000 by one keep-alive client, twice on separate databases:
flat (no `parent_id`) and as trees of 1 to 1,000 nodes (each node's parent drawn among the
earlier nodes of its tree; trees sent in order, so most parents are in the same batch and the
rest in an earlier one). Reported for each: acknowledged events/s, and end-to-end events/s
(until the events projection, which keeps the trees, has applied every batch), and the
hierarchy/flat ratio (with `--rounds N`, N rounds of flat then trees, and the median ratio:
the machine's speed drifts from minute to minute). Then one tree of `--tree-nodes` nodes and
the p50 of roll-up reads on it: its root with `aggregate_fields`, the first page of its
children with roll-ups, and the whole tree endpoint.

    .venv/bin/python -m benchmarks.hierarchy --events 20000 --database both --projector both
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from benchmarks import _common
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
    running,
    serve,
)
from domain.values import dumps

BATCH = 1000
ROLLUP = "aggregate_fields=_cost.amount&aggregate_fields=tokens"


def tree_sizes(events: int, smallest: int, largest: int, rng: random.Random) -> Iterator[int]:
    left = events
    while left > 0:
        size = min(left, rng.randint(smallest, largest))
        left -= size
        yield size


def make_events(events: int, smallest: int, largest: int, *, linked: bool,
                seed: int = 11) -> list[dict[str, Any]]:
    """The same events either way; with `linked`, each non-root names a parent of its tree."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    out: list[dict[str, Any]] = []
    for tree, size in enumerate(tree_sizes(events, smallest, largest, rng)):
        for node in range(size):
            tokens = rng.randint(10, 8000)
            event: dict[str, Any] = {
                "name": "agent.run" if node == 0 else "llm.call",
                "external_customer_id": f"customer-{tree % 500:03d}",
                "external_id": f"t{tree}-n{node}",
                "timestamp": (now - timedelta(seconds=rng.randrange(86400))).isoformat(),
                "metadata": {"tokens": tokens, "_cost": {
                    "amount": Decimal(tokens) * Decimal("0.000125"), "currency": "usd"}}}
            if node and linked:
                event["parent_id"] = f"t{tree}-n{rng.randrange(node)}"
            out.append(event)
    return out


def bodies(events: list[dict[str, Any]]) -> list[bytes]:
    return [dumps({"events": events[i:i + BATCH]}) for i in range(0, len(events), BATCH)]


@dataclass
class Rate:
    events: int
    acknowledged: float
    projected: float
    cpu: tuple[float, float, float]
    """CPU seconds until the events were projected: the API process, the worker, PostgreSQL."""

    def line(self, label: str) -> str:
        api, worker, database = (seconds / self.events * 1e6 for seconds in self.cpu)
        return (f"  {label:<10} {self.events / self.acknowledged:>9,.0f} ev/s acknowledged "
                f"{self.events / self.projected:>9,.0f} ev/s end-to-end (events projected)"
                f" | CPU us/ev: API {api:5.1f}, worker {worker:5.1f}, PostgreSQL {database:5.1f}")


def ingest(database: Database, server: Server, token: str, payloads: list[bytes],
           events: int, workers: Sequence[Process] = ()) -> Rate:
    """Post the payloads and wait until the events projection has applied them."""
    client = Client(server, token)
    processes = [server, *workers]
    cpu = cpu_seconds(database.kind, processes)
    start = time.perf_counter()
    for body in payloads:
        client.post("/v1/events/ingest", body)
    acknowledged = time.perf_counter() - start
    target = client.get("/healthz")["ledger_position"]
    while database.projection_positions()["events"] < target:
        time.sleep(0.01)  # polling another process's progress
    client.close()
    return Rate(events, acknowledged, time.perf_counter() - start,
                cpu_since(database.kind, processes, cpu))


def p50(client: Client, path: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        client.get(path)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def rollup_reads(database: Database, server: Server, token: str, nodes: int,
                 repeats: int) -> list[str]:
    client = Client(server, token)
    for body in bodies(make_events(nodes, nodes, nodes, linked=True, seed=5)):
        client.post("/v1/events/ingest", body)
    target = client.get("/healthz")["ledger_position"]
    client.close()
    while min(database.projection_positions().values()) < target:
        time.sleep(0.05)  # reads are timed once every projection is idle
    # A new connection: the server closes one left idle for 5 s, as this wait may.
    client = Client(server, token)
    root = client.get("/v1/events/?depth=0&limit=1")["items"][0]
    assert root["descendant_count"] == nodes - 1, root
    base = f"/v1/events/{root['id']}"
    timed = [("GET /v1/events/{root} (no roll-up, for reference)", base, repeats),
             (f"GET /v1/events/{{root}}?{ROLLUP}", f"{base}?{ROLLUP}", repeats),
             (f"GET /v1/events/?parent_id={{root}}&limit=100&{ROLLUP}",
              f"/v1/events/?parent_id={root['id']}&limit=100&{ROLLUP}", repeats),
             (f"GET /v1/events/{{root}}/tree (all {nodes:,} nodes)", f"{base}/tree",
              max(3, repeats // 10))]
    rolled = client.get(f"{base}?{ROLLUP}")["metadata"]
    lines = [(f"  tree of {nodes:,} nodes: root cost {rolled['_cost']['amount']} cents, "
              f"tokens {rolled['tokens']:,}")]
    lines += [f"  {label}: p50 {p50(client, path, count):.1f} ms"
              for label, path, count in timed]
    client.close()
    return lines


def run(kind: str, projector: str, args: argparse.Namespace) -> list[str]:
    """`args.rounds` rounds of flat then trees, each on fresh databases: alternating them
    spreads the machine's drift (its speed varies by a quarter from minute to minute) over
    both; the roll-up reads once, after the first round of trees."""
    where = "in the API process" if projector == "inline" else "in a worker"
    lines = [f"{kind}: {args.events:,} events, trees of {args.smallest}-{args.largest} nodes, "
             + f"projections {where}"]
    payloads = {linked: bodies(make_events(args.events, args.smallest, args.largest,
                                           linked=linked)) for linked in (False, True)}
    ratios: list[tuple[float, float]] = []
    reads: list[str] = []
    for _ in range(args.rounds):
        rates = {}
        for label, linked in (("flat", False), ("trees", True)):
            with fresh_database(kind) as database, ExitStack() as stack:
                server = stack.enter_context(serve(database, *(
                    () if projector == "inline" else ("--no-projections",))))
                workers = [stack.enter_context(running(database, "project"))] \
                    if projector == "process" else []
                rates[label] = ingest(database, server, create_token(database),
                                      payloads[linked], args.events, workers)
                if linked and not reads:
                    reads = rollup_reads(database, server, create_token(database, "rollups"),
                                         args.tree_nodes, args.repeats)
            lines.append(rates[label].line(label))
        flat, trees = rates["flat"], rates["trees"]
        ratios.append((flat.acknowledged / trees.acknowledged, flat.projected / trees.projected))
        lines.append(f"  trees/flat: {ratios[-1][0]:.2f} acknowledged, "
                     f"{ratios[-1][1]:.2f} end-to-end")
    if len(ratios) > 1:
        acknowledged, projected = zip(*ratios, strict=True)
        lines.append(f"  trees/flat, median of {len(ratios)} rounds: "
                     f"{statistics.median(acknowledged):.2f} acknowledged, "
                     f"{statistics.median(projected):.2f} end-to-end")
    return lines + reads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--smallest", type=int, default=1, help="fewest nodes in a tree")
    parser.add_argument("--largest", type=int, default=1000, help="most nodes in a tree")
    parser.add_argument("--tree-nodes", type=int, default=10_000,
                        help="size of the tree the roll-up reads are timed on")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of flat then trees ingestion (the median ratio is printed)")
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--projector", choices=("inline", "process", "both"), default="inline",
                        help="projections in the API process (`metering serve`), in a "
                        "`metering project` worker beside `serve --no-projections`, or both")
    parser.add_argument("--postgres-url", default=_common.POSTGRES_URL,
                        help="a PostgreSQL database; each run gets a fresh schema in it")
    args = parser.parse_args(argv)
    _common.POSTGRES_URL = args.postgres_url
    print(_common.machine_line(), flush=True)
    projectors = ("inline", "process") if args.projector == "both" else (args.projector,)
    for kind in kinds(args.database):
        for projector in projectors:
            print("\n".join(run(kind, projector, args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
