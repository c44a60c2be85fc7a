"""Spans in the read model: which events started and ended each span, and when."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, insert, select, update

from domain.span import START
from domain.usage import UsageRecorded
from projections.tables import spans


def record_spans(conn: Connection, batch: Sequence[UsageRecorded]) -> None:
    """Fold the span marks of a batch of usage events into the `spans` table."""
    marks: dict[UUID, dict[str, dict[str, Any]]] = defaultdict(dict)
    for event in batch:
        if event.span_id is None:
            continue
        entry = marks[event.organization_id].setdefault(event.span_id, {})
        if event.span_action == START:
            entry.update(start_event_id=event.originator_id, started_at=event.occurred_at)
        else:
            entry.update(end_event_id=event.originator_id, ended_at=event.occurred_at)
    for organization_id, by_span in marks.items():
        known = set(conn.execute(select(spans.c.span_id).where(
            spans.c.organization_id == organization_id,
            spans.c.span_id.in_(list(by_span)))).scalars())
        for span_id, values in by_span.items():
            if span_id in known:
                conn.execute(update(spans).where(spans.c.organization_id == organization_id,
                                                 spans.c.span_id == span_id).values(**values))
            else:
                conn.execute(insert(spans).values(organization_id=organization_id,
                                                  span_id=span_id, **values))
