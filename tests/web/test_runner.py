"""The projection runner: pages grow while the ledger is ahead of a projection and come back to
their base size once it has caught up; a projection that keeps what it read between batches is
told which batches were committed and which failed, and to forget what it kept when another
runner applied a batch in between."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import pytest
from eventsourcing.utils import get_topic
from sqlalchemy import Connection, Table, func, select
from starlette.testclient import TestClient

from domain.usage import UsageRecorded
from projections.runner import ProjectionRunner
from projections.tables import events as events_table
from tests.meters.helpers import ingest
from web.bootstrap import Services


def _usage(count: int) -> list[dict[str, object]]:
    return [{"name": "ai", "external_customer_id": "c1"} for _ in range(count)]


def test_pages_double_while_full_and_shrink_when_caught_up(
        client: TestClient, services: Services, auth: dict[str, str]) -> None:
    services.runner.run_until_idle()
    services.runner.stop()
    events = services.runner.projections["events"]
    start = services.runner.positions()["events"]
    ingest(client, auth, _usage(30))
    runner = ProjectionRunner(services.ledger, services.store, [events], batch_size=2,
                              max_batch_size=8)
    pages = []
    while consumed := runner.catch_up(events):
        pages.append(consumed)
    assert pages[:4] == [2, 4, 8, 8]
    assert sum(pages) == services.ledger.position() - start
    ingest(client, auth, _usage(3))
    pages = []
    while consumed := runner.catch_up(events):
        pages.append(consumed)
    assert pages == [2, 1]
    with services.store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(events_table)).scalar() == 33


class Keeping:
    """A projection recording what the runner tells it."""

    name = "keeping"
    topics = frozenset({get_topic(UsageRecorded)})

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail = False

    def tables(self) -> Sequence[Table]:
        return ()

    def process(self, conn: Connection, events: Sequence[Any]) -> None:
        self.calls.append(("process", len(events)))
        if self.fail:
            raise RuntimeError("failed batch")

    def committed(self, start: int, end: int) -> None:
        self.calls.append(("committed", end - start))

    def forget(self) -> None:
        self.calls.append(("forget",))


def test_a_keeping_projection_hears_of_commits_and_failures(
        client: TestClient, services: Services, auth: dict[str, str]) -> None:
    services.runner.run_until_idle()
    keeping = Keeping()
    runner = ProjectionRunner(services.ledger, services.store, [keeping], batch_size=1000)
    runner.ensure_positions()
    runner.run_until_idle()
    keeping.calls.clear()
    ingest(client, auth, _usage(2))
    keeping.fail = True
    with pytest.raises(RuntimeError):
        runner.catch_up(keeping)
    keeping.fail = False
    assert runner.catch_up(keeping) > 0
    assert keeping.calls[0] == ("process", 2) and keeping.calls[1] == ("forget",)
    assert keeping.calls[2] == ("process", 2) and keeping.calls[3][0] == "committed"


def test_a_keeping_projection_forgets_when_another_runner_applied_a_batch(
        client: TestClient, services: Services, auth: dict[str, str]) -> None:
    services.runner.run_until_idle()
    mine, theirs = Keeping(), Keeping()   # two workers' copies of one projection
    runner = ProjectionRunner(services.ledger, services.store, [mine], batch_size=1000)
    other = ProjectionRunner(services.ledger, services.store, [theirs], batch_size=1000)
    runner.ensure_positions()
    runner.run_until_idle()
    ingest(client, auth, _usage(1))
    assert runner.catch_up(mine) > 0
    assert [c[0] for c in mine.calls[-2:]] == ["process", "committed"]
    mine.calls.clear()
    ingest(client, auth, _usage(1))
    assert other.catch_up(theirs) > 0
    ingest(client, auth, _usage(1))
    assert runner.catch_up(mine) > 0
    assert [c[0] for c in mine.calls] == ["forget", "process", "committed"]


class Watching:
    """A projection keeping a weak reference to each event it was given."""

    name = "watching"
    topics = frozenset({get_topic(UsageRecorded)})

    def __init__(self) -> None:
        self.seen: list[weakref.ref[Any]] = []

    def tables(self) -> Sequence[Table]:
        return ()

    def process(self, conn: Connection, events: Sequence[Any]) -> None:
        self.seen += [weakref.ref(event) for event in events]


def test_each_round_releases_its_page_before_the_hook_between_rounds(
        client: TestClient, services: Services, auth: dict[str, str]) -> None:
    """The worker's young collection runs between rounds (`web.collector`): it walks nothing
    of a page only if the runner no longer holds it."""
    services.runner.run_until_idle()
    watching = Watching()
    alive_at_hook: list[int] = []
    runner = ProjectionRunner(
        services.ledger, services.store, [watching], batch_size=4,
        between_rounds=lambda: alive_at_hook.append(sum(r() is not None for r in watching.seen)))
    runner.ensure_positions()
    runner.run_until_idle()
    ingest(client, auth, _usage(10))
    alive_at_hook.clear()
    watching.seen.clear()
    runner.run_until_idle()
    assert len(watching.seen) == 10
    assert len(alive_at_hook) >= 3  # pages of at most 4: at least three rounds, then an idle one
    assert alive_at_hook == [0] * len(alive_at_hook)
