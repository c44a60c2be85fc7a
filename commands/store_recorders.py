"""Event store recorders tuned for large batches (ingestion writes 1,000 events at a time).

`PostgresCopyRecorder` keeps every guarantee of the library's recorder: one transaction per
batch, the EXCLUSIVE table lock that makes notification ids visible in commit order, NOTIFY,
the primary key on (originator_id, originator_version) that rejects a duplicate stream with an
IntegrityError, and the notification ids returned in event order. Only the transfer changes: the
library binds the batch as one array of a composite type, which psycopg renders as text in Python
(most of the insert time); this streams it with binary COPY straight into the events table,
under the lock. COPY takes each row's notification id from the table's sequence in stream order,
and nobody else draws from that sequence while the lock is held, so the batch's ids are the
`len(batch)` consecutive values ending at `lastval()`. (It used to stream into a temporary
table before taking the lock, then move the rows with INSERT ... SELECT ... RETURNING: the rows
were written twice, which cost the database server more than the lock saves.)

Reading the notification log (what every projection does) runs the library's query, but reads the
rows in binary into tuples: decoding each state from hex text, and building a dict row and a
dataclass per notification, were most of a projection's read time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    InterfaceError,
    Notification,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier


class PostgresCopyRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *,
                 events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self._id_type = datastore.originator_id_type
        self._copy_events = SQL(
            "COPY {schema}.{table} (originator_id, originator_version, topic, state) "
            "FROM STDIN (FORMAT BINARY)"
        ).format(schema=Identifier(datastore.schema), table=Identifier(events_table_name))
        self._select_log = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {schema}.{table}"
        ).format(schema=Identifier(datastore.schema), table=Identifier(events_table_name))

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        with self.datastore.get_connection() as conn, conn.transaction(), \
                conn.cursor() as curs:
            self._insert_events(curs, stored_events, **kwargs)
            if not stored_events:
                return []
            self._lock_table(curs)
            self._notify_channel(curs)
            with curs.copy(self._copy_events) as copy:
                copy.set_types([self._id_type, "bigint", "text", "bytea"])
                for event in stored_events:
                    copy.write_row((event.originator_id, event.originator_version, event.topic,
                                    event.state))
            last = curs.execute("SELECT lastval()").fetchone()
            assert last is not None
            return list(range(last["lastval"] - len(stored_events) + 1, last["lastval"] + 1))

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *,
                             inclusive_of_start: bool = True) -> Sequence[Notification]:
        conditions: list[Composed | SQL] = []
        params: list[Any] = []
        if start is not None:
            conditions.append(SQL("notification_id >= %s") if inclusive_of_start
                              else SQL("notification_id > %s"))
            params.append(start)
        if stop is not None:
            conditions.append(SQL("notification_id <= %s"))
            params.append(stop)
        if topics:
            conditions.append(SQL("topic = ANY(%s)"))
            params.append(list(topics))
        statement = self._select_log
        if conditions:
            statement += SQL(" WHERE ") + SQL(" AND ").join(conditions)
        statement += SQL(" ORDER BY notification_id LIMIT %s")
        params.append(limit)
        with self.datastore.get_connection() as conn, \
                conn.cursor(row_factory=tuple_row, binary=True) as curs:
            curs.execute(statement, params, prepare=True)
            return [_notification(*row) for row in curs.fetchall()]


def _notification(position: int, originator_id: UUID, originator_version: int, topic: str,
                  state: bytes) -> Notification:
    """`Notification(...)` without the frozen dataclass constructor (a thousand per page)."""
    notification = object.__new__(Notification)
    object.__setattr__(notification, "__dict__", {
        "originator_id": originator_id, "originator_version": originator_version,
        "topic": topic, "state": state, "id": position})
    return notification
