"""Processes starting together on a new database (an API and its projection worker) create the
schemas once, one after the other, and none of them fails."""

from __future__ import annotations

import threading

from web.bootstrap import Services, bootstrap
from web.config import Settings

STARTING = 4


def test_services_starting_together_on_a_new_database_all_start(settings: Settings) -> None:
    started: list[Services] = []
    failures: list[BaseException] = []
    gate = threading.Barrier(STARTING)

    def start() -> None:
        gate.wait()
        try:
            started.append(bootstrap(settings))
        except BaseException as e:  # noqa: BLE001 - reported below
            failures.append(e)

    threads = [threading.Thread(target=start) for _ in range(STARTING)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert failures == []
        positions = {tuple(sorted(s.runner.positions().items())) for s in started}
        assert len(positions) == 1    # one set of projection positions, seen by all
    finally:
        for services in started:
            services.close()
