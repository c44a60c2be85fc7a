"""Wake a projection runner as soon as any process records ledger entries.

A runner in a `metering project` worker, or beside one of several API processes, is not poked
by the requests of the others and would only look again at its idle tick. The listener wakes it
when another connection commits: on PostgreSQL through the `NOTIFY` the event store's recorder
sends in every insert, on SQLite by polling `PRAGMA data_version` (which changes when another
connection commits to the file). Entries are then applied as soon as they are committed, and
reads waiting for their own writes (`Metering-Ledger-Position`) wait that much less.

The recorder names its channel after the events table, not its schema: runners of other
schemas in the same PostgreSQL database are woken too, and find nothing new (a look at their
positions).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from psycopg import Connection, sql
from sqlalchemy import Engine

log = logging.getLogger(__name__)
RETRY = 1.0
"""Seconds before listening again after the connection failed."""
POLL = 0.02
"""Seconds between two looks at SQLite's data version (a pragma: no I/O)."""
TIMEOUT = 0.05
"""Seconds a PostgreSQL listener waits for a notification before it checks `stop` (waiting on
the socket: no query is sent)."""


class LedgerListener:
    def __init__(self, engine: Engine, channel: str, on_notify: Callable[[], None]) -> None:
        """`channel`: the PostgreSQL recorder's notification channel (unused on SQLite)."""
        self.engine = engine
        self.channel = channel
        self.on_notify = on_notify
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="ledger-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception:
                log.exception("listening for ledger entries failed; retrying in %.0f s", RETRY)
                self._stop.wait(RETRY)

    def _listen(self) -> None:
        """Listen on a connection of its own (taken out of the engine's pool for good)."""
        pooled = self.engine.raw_connection()
        conn = pooled.driver_connection
        pooled.detach()
        try:
            if self.engine.dialect.name == "postgresql":
                self._notifications(conn)
            else:
                self._data_versions(conn)
        finally:
            pooled.close()

    def _notifications(self, conn: Connection[Any]) -> None:
        conn.autocommit = True
        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        while not self._stop.is_set():
            for _ in conn.notifies(timeout=TIMEOUT, stop_after=1):
                self.on_notify()

    def _data_versions(self, conn: sqlite3.Connection) -> None:
        seen = conn.execute("PRAGMA data_version").fetchone()[0]
        while not self._stop.wait(POLL):
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version != seen:
                seen = version
                self.on_notify()
