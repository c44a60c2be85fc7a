"""Batch look-ups of what the ledger already holds, by stream id.

The recorder reads one stream at a time; ingestion needs to know, for a whole batch at once, which
idempotency keys are already recorded and with which payload fingerprint. This reads the
recorder's own table with one query (never writes it: all writes go through the recorder).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier

from commands.ledger import Ledger

_CHUNK = 900


def first_states(ledger: Ledger, stream_ids: Iterable[UUID]) -> dict[UUID, dict[str, Any]]:
    """The decoded first event of each given stream that exists."""
    wanted = list(dict.fromkeys(stream_ids))
    found: dict[UUID, dict[str, Any]] = {}
    recorder = ledger.recorder
    transcoder = ledger.mapper.transcoder
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start:start + _CHUNK]
        for originator_id, state in _select(recorder, chunk):
            found[originator_id] = transcoder.decode(bytes(state))
    return found


def _select(recorder: Any, chunk: list[UUID]) -> list[tuple[UUID, bytes]]:
    if isinstance(recorder, PostgresApplicationRecorder):
        statement = SQL(
            "SELECT originator_id, state FROM {schema}.{table} "
            "WHERE originator_id = ANY(%s) AND originator_version = 1"
        ).format(schema=Identifier(recorder.datastore.schema),
                 table=Identifier(recorder.events_table_name))
        with recorder.datastore.transaction(commit=False) as curs:
            curs.execute(statement, [chunk], binary=True)
            return [(row["originator_id"], row["state"]) for row in curs.fetchall()]
    if isinstance(recorder, SQLiteApplicationRecorder):
        marks = ",".join("?" * len(chunk))
        statement = (f"SELECT originator_id, state FROM {recorder.events_table_name} "
                     f"WHERE originator_id IN ({marks}) AND originator_version = 1")
        with recorder.datastore.transaction(commit=False) as c:
            c.execute(statement, [u.hex for u in chunk])
            return [(UUID(row["originator_id"]), row["state"]) for row in c.fetchall()]
    msg = f"Unsupported recorder {type(recorder).__name__}"
    raise TypeError(msg)
