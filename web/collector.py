"""The garbage collector's settings for the long-running processes (the API, projection workers).

Ingesting and projecting batches of thousands of events allocates containers by the hundred
thousand. With CPython's default thresholds (700, 10, 10) the collector runs thousands of times
per batch stream and, every few batches, walks the whole heap: measured in process on
PostgreSQL, it took a third of the API's CPU per ingested event (26 → 18 µs flat, 47 → 28 µs
in trees). Our own structures hold no reference cycles, so young collections run every 50,000
net allocations instead, and what the process built while starting (modules, table metadata,
the app) is moved out of the collector's sight with `gc.freeze()`.

A projection worker holds a page of decoded ledger entries (up to 40,000, about ten containers
each) for a whole round: every young collection during the round walked all of it, for nothing,
since the page is freed by reference counting once the round is over. So the runner collects
the young generation between rounds (`between_rounds`), when the page is gone, and a worker
process (`WORKER_THRESHOLDS`) collects on its own only in a round that leaves more than 500,000
containers alive.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 10)
WORKER_THRESHOLDS = (500_000, 20, 10)


def settle(thresholds: tuple[int, int, int] = THRESHOLDS) -> None:
    """Call once the process has started (everything alive now lives as long as it does)."""
    gc.freeze()
    gc.set_threshold(*thresholds)


def between_rounds() -> None:
    """Collect the young generation: what a round of projections left, its page released."""
    gc.collect(0)
