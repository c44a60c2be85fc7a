"""Meters, read from the meters table, with the state of their usage builds."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, func, select

from domain.errors import NotFound
from projections.meter_tables import BUILDING, LIVE, meter_builds, meters
from queries.common import order_by, paginate
from queries.jsonsql import json_text
from queries.schemas import ListResource, Meter, MeterRebuild, Pagination

_SORT = {"name": meters.c.name, "created_at": meters.c.created_at}
_PROGRESS = Decimal("0.0001")


def meter_row(conn: Connection, organization_id: UUID, meter_id: UUID) -> Any:
    row = conn.execute(select(meters).where(meters.c.organization_id == organization_id,
                                            meters.c.id == meter_id)).mappings().first()
    if row is None:
        raise NotFound("Meter not found")
    return row


def get_meter(conn: Connection, organization_id: UUID, meter_id: UUID,
              ledger_position: int) -> Meter:
    return _to_meters(conn, [meter_row(conn, organization_id, meter_id)], ledger_position)[0]


def list_meters(conn: Connection, organization_id: UUID, *, query: str | None,
                is_archived: bool | None, metadata: dict[str, list[str]],
                sorting: Sequence[str], page: int, limit: int,
                ledger_position: int) -> ListResource[Meter]:
    stmt = select(meters).where(meters.c.organization_id == organization_id)
    if query:
        stmt = stmt.where(func.lower(meters.c.name).like(f"%{query.lower()}%"))
    if is_archived is not None:
        stmt = stmt.where(meters.c.archived_at.is_not(None) if is_archived
                          else meters.c.archived_at.is_(None))
    for key, values in metadata.items():
        stmt = stmt.where(json_text(meters.c.metadata, (key,)).in_(values))
    stmt = stmt.order_by(*order_by(sorting, _SORT, meters.c.id))
    rows, total = paginate(conn, stmt, page, limit)
    return ListResource[Meter](items=_to_meters(conn, rows, ledger_position),
                               pagination=Pagination.of(total, limit))


def meter_filter(conn: Connection, organization_id: UUID, meter_id: UUID) -> dict[str, Any]:
    """The meter's current filter (JSON form)."""
    return dict(meter_row(conn, organization_id, meter_id)["filter"])


def _to_meters(conn: Connection, rows: Sequence[Any], ledger_position: int) -> list[Meter]:
    found: dict[UUID, dict[str, Any]] = {}
    if rows:
        for build in conn.execute(select(meter_builds).where(
                meter_builds.c.meter_id.in_([r["id"] for r in rows]))).mappings():
            found.setdefault(build["meter_id"], {})[build["state"]] = build
    return [_to_meter(row, found.get(row["id"], {}), ledger_position) for row in rows]


def _to_meter(row: Any, builds: dict[str, Any], ledger_position: int) -> Meter:
    live, building = builds.get(LIVE), builds.get(BUILDING)
    position = building["position"] if building else None
    progress = None
    if position is not None:
        progress = min(Decimal(1), (Decimal(position) / Decimal(ledger_position or 1))
                       .quantize(_PROGRESS))
    multiplier = row["custom_multiplier"]
    return Meter(
        metadata=row["metadata"] or {}, created_at=row["created_at"],
        modified_at=row["modified_at"], id=row["id"], name=row["name"], unit=row["unit"],
        custom_label=row["custom_label"],
        custom_multiplier=None if multiplier is None else int(multiplier),
        filter=row["filter"], aggregation=row["aggregation"],
        organization_id=row["organization_id"], archived_at=row["archived_at"],
        definition_version=row["definition_version"],
        skipped_events=live["skipped_events"] if live else 0,
        rebuild=MeterRebuild(
            state="rebuilding" if building else "idle",
            serving_definition_version=live["definition_version"] if live else None,
            building_definition_version=building["definition_version"] if building else None,
            position=position, target_position=ledger_position, progress=progress,
            started_at=(building or live or {}).get("started_at"),
            finished_at=live["finished_at"] if live else None))
