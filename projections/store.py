"""The read-model database: engines over the same database as the event store."""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, create_engine, delete, event, insert, select, text

from commands.sqlite_ledger import CACHE_PRAGMA
from domain.values import dumps_str, loads
from projections.tables import READ_MODEL_VERSION, metadata, read_model_version


@dataclass
class Store:
    """`engine` serves reads (autocommit on PostgreSQL); `writer` serves projection
    transactions.

    On SQLite the writer starts transactions with BEGIN IMMEDIATE, so a projection takes the write
    lock before it reads its position and two workers can never apply the same batch.
    """

    engine: Engine
    writer: Engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def advisory_lock(self, namespace: int, key: int) -> Iterator[None]:
        """Hold a lock across processes (a PostgreSQL session advisory lock on the 32-bit pair
        `namespace`, `key`); on SQLite, nothing: its writers are serialised by the database."""
        if self.dialect != "postgresql":
            yield
            return
        ids = {"c": namespace, "k": key}
        # The lock belongs to the session; reads autocommit, so it is not left idle in a
        # transaction while it is held.
        with self.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(CAST(:c AS integer), "
                              "CAST(:k AS integer))"), ids)
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(CAST(:c AS integer), "
                                  "CAST(:k AS integer))"), ids)

    def schema_lock(self, schema: str | None) -> AbstractContextManager[None]:
        """Held while tables are created: an API process and its projection worker starting
        together on a new database would otherwise both create the event store's tables and
        types, and one of them fail. On SQLite both would switch the new file to WAL, and SQLite
        refuses one of them at once (`database is locked`, whatever the busy timeout)."""
        if self.dialect == "sqlite":
            return _startup_lock(self.writer.url.database)
        return self.advisory_lock(_SCHEMA_LOCK_CLASS, zlib.crc32((schema or "").encode()) - 2**31)

    def create_tables(self) -> None:
        """Create the read tables; read models of another `READ_MODEL_VERSION` are dropped first
        (they are derived data: the projections rebuild them from the ledger)."""
        with self.writer.begin() as conn:
            read_model_version.create(conn, checkfirst=True)
            if conn.dialect.name == "postgresql":  # one process at a time decides
                conn.exec_driver_sql("LOCK TABLE read_model_version IN EXCLUSIVE MODE")
            found = conn.execute(select(read_model_version.c.version)).scalar()
            if found != READ_MODEL_VERSION:
                metadata.drop_all(conn)
                conn.execute(delete(read_model_version))
                conn.execute(insert(read_model_version).values(version=READ_MODEL_VERSION))
            metadata.create_all(conn)

    def drop_tables(self) -> None:
        metadata.drop_all(self.writer)

    def dispose(self) -> None:
        self.engine.dispose()
        self.writer.dispose()


_SCHEMA_LOCK_CLASS = 0x6D657472  # "metr": our namespace among advisory locks


def create_store(url: str, schema: str | None = None) -> Store:
    if url.startswith("sqlite"):
        return Store(engine=_sqlite(url, "BEGIN"), writer=_sqlite(url, "BEGIN IMMEDIATE"))
    connect_args: dict[str, Any] = {"prepare_threshold": None}
    if schema:
        connect_args["options"] = f"-csearch_path={schema}"
    writer = create_engine(url, json_serializer=dumps_str, json_deserializer=loads,
                           connect_args=connect_args, pool_size=10, max_overflow=20,
                           pool_pre_ping=True)
    # Reads autocommit (same pool): no BEGIN and ROLLBACK round trips around each one. Under
    # PostgreSQL's READ COMMITTED every statement takes its own snapshot anyway.
    return Store(engine=writer.execution_options(isolation_level="AUTOCOMMIT"), writer=writer)


@contextmanager
def _startup_lock(path: str | None) -> Iterator[None]:
    """A lock across processes on a SQLite database's start-up: an exclusive transaction on a
    file beside it. That file stays in SQLite's default journal mode, where a connection waiting
    for the lock waits (up to 60 s) instead of failing."""
    if not path or path == ":memory:":
        yield
        return
    lock = sqlite3.connect(f"{path}-startup-lock", timeout=60, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        lock.close()  # the transaction is rolled back: the lock is released


def decimal_cmp(left: str | None, right: str | None) -> int | None:
    """Exact comparison of two decimal texts, for SQLite (which compares numbers as floats)."""
    if left is None or right is None:
        return None
    a, b = Decimal(left), Decimal(right)
    return (a > b) - (a < b)


def _sqlite(url: str, begin: str) -> Engine:
    engine = create_engine(url, json_serializer=dumps_str, json_deserializer=loads,
                           connect_args={"timeout": 60, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(CACHE_PRAGMA)
        cursor.close()
        dbapi_connection.create_function("metering_decimal_cmp", 2, decimal_cmp,
                                         deterministic=True)

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine


__all__ = ["Store", "create_store"]
