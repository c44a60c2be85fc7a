"""The live meter-usage projection: applies each page of usage to the meters' live builds, and
registers a new build whenever a meter is created or its definition changes (see
`projections.meter_usage` and `projections.meter_builds`).

On PostgreSQL, once the events read table holds a page, the builds SQL can aggregate exactly
(count, and sum/max/min/avg of a metadata number) take the page from it by one GROUP BY each
(`projections.meter_backfill`, as builds do), instead of matching every event in Python; the
others, and every build when the events projection has not reached the page (another worker
runs it), take the decoded events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.utils import get_topic
from sqlalchemy import Connection, Table

from domain.meter import DEFINITION_FIELDS, Meter
from projections.meter_backfill import backfill, can_backfill, events_reached
from projections.meter_tables import LIVE, USAGE_TABLES, meter_builds
from projections.meter_usage import (
    NAME,
    USAGE_TOPIC,
    apply_usage,
    builds,
    latest_build,
    start_build,
)


class MeterUsageProjection:
    name = NAME
    topics = frozenset({USAGE_TOPIC, get_topic(Meter.Created), get_topic(Meter.Updated)})

    def tables(self) -> Sequence[Table]:
        return (*USAGE_TABLES, meter_builds)

    def process_at(self, conn: Connection, events: Sequence[Any],
                   positions: Sequence[int]) -> None:
        live = builds(conn, LIVE)
        if live and conn.dialect.name == "postgresql" and events_reached(conn) >= positions[-1]:
            in_python = []
            for build in live:
                if can_backfill(build, conn.dialect.name):
                    backfill(conn, build, positions[0] - 1, positions[-1])
                else:
                    in_python.append(build)
            live = in_python
        apply_usage(conn, live, events)
        for event in events:
            match event:
                case Meter.Created():
                    start_build(conn, event.originator_id, event.organization_id, 1,
                                event.filter, event.aggregation, event.timestamp)
                case Meter.Updated() if DEFINITION_FIELDS & set(event.changes):
                    latest = latest_build(conn, event.originator_id)
                    start_build(conn, event.originator_id, latest["organization_id"],
                                latest["definition_version"] + 1,
                                event.changes.get("filter", latest["filter"]),
                                event.changes.get("aggregation", latest["aggregation"]),
                                event.timestamp)

