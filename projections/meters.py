"""The meters read table: each meter as Polar returns it, plus its definition version."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.utils import get_topic
from sqlalchemy import Connection, Table, insert, update

from domain.meter import DEFINITION_FIELDS, Meter
from projections.meter_tables import meters


class MetersProjection:
    name = "meters"
    topics = frozenset(get_topic(cls) for cls in (
        Meter.Created, Meter.Updated, Meter.Archived, Meter.Unarchived))

    def tables(self) -> Sequence[Table]:
        return (meters,)

    def process(self, conn: Connection, events: Sequence[Any]) -> None:
        for event in events:
            self._apply(conn, event)

    @staticmethod
    def _apply(conn: Connection, event: Any) -> None:
        row = meters.c.id == event.originator_id
        match event:
            case Meter.Created():
                conn.execute(insert(meters).values(
                    id=event.originator_id, organization_id=event.organization_id,
                    created_at=event.timestamp, modified_at=None, name=event.name,
                    unit=event.unit, custom_label=event.custom_label,
                    custom_multiplier=event.custom_multiplier, filter=event.filter,
                    aggregation=event.aggregation, metadata=event.metadata, archived_at=None,
                    definition_version=1))
            case Meter.Updated():
                values: dict[str, Any] = {"modified_at": event.timestamp, **event.changes}
                if DEFINITION_FIELDS & set(event.changes):
                    values["definition_version"] = meters.c.definition_version + 1
                conn.execute(update(meters).where(row).values(values))
            case Meter.Archived():
                conn.execute(update(meters).where(row).values(
                    modified_at=event.timestamp, archived_at=event.at))
            case Meter.Unarchived():
                conn.execute(update(meters).where(row).values(
                    modified_at=event.timestamp, archived_at=None))
