"""Meters: create, update, archive. A definition change starts a rebuild of the meter's usage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from commands.ledger import Ledger
from domain.aggregation import AggregationError, parse_aggregation
from domain.errors import FieldError, InvalidInput
from domain.meter import Meter
from domain.meter_filter import FilterError, parse_filter

UNITS = ("scalar", "token", "custom")
MIN_NAME = 3


@dataclass(frozen=True)
class CreateMeter:
    organization_id: UUID
    name: str
    filter: Any
    aggregation: Any
    unit: str = "scalar"
    custom_label: str | None = None
    custom_multiplier: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UpdateMeter:
    """`changes` holds the fields sent (a missing key changes nothing); `is_archived` archives
    or unarchives."""

    organization_id: UUID
    meter_id: UUID
    changes: dict[str, Any]
    used_by_benefits: list[UUID] = field(default_factory=list)
    """The live Credits benefits granting this meter's units: archiving is refused while any
    is left (as Polar does)."""


def create_meter(cmd: CreateMeter, ledger: Ledger) -> tuple[UUID, int]:
    fields = _validated({"name": cmd.name, "unit": cmd.unit, "custom_label": cmd.custom_label,
                         "custom_multiplier": cmd.custom_multiplier, "filter": cmd.filter,
                         "aggregation": cmd.aggregation})
    meter = Meter(organization_id=cmd.organization_id, metadata=dict(cmd.metadata), **fields)
    return meter.id, ledger.record(meter)


def update_meter(cmd: UpdateMeter, ledger: Ledger) -> int:
    meter = ledger.load(Meter, cmd.meter_id, cmd.organization_id, "Meter not found")
    sent = {k: v for k, v in cmd.changes.items()
            if v is not None or k in ("custom_label", "custom_multiplier")}
    archive = sent.pop("is_archived", None)
    current = {"name": meter.name, "unit": meter.unit, "custom_label": meter.custom_label,
               "custom_multiplier": _int(meter.custom_multiplier), "filter": meter.filter,
               "aggregation": meter.aggregation}
    validated = _validated({**current, **{k: v for k, v in sent.items() if k in current}})
    changes = {k: validated[k] for k in current if k in sent and validated[k] != getattr(
        meter, k)}
    if "metadata" in sent and sent["metadata"] != meter.metadata:
        changes["metadata"] = dict(sent["metadata"])
    if changes:
        meter.update(changes)
    if archive is True and meter.archived_at is None:
        if cmd.used_by_benefits:
            raise InvalidInput.one(
                ("body", "is_archived"), "The meter is used by Credits benefits "
                f"({', '.join(map(str, cmd.used_by_benefits))}); delete them before archiving "
                "it.", "value_error", True)
        meter.archive(at=datetime.now(UTC))
    elif archive is False and meter.archived_at is not None:
        meter.unarchive()
    if not meter.pending_events:
        return ledger.position()
    return ledger.record(meter)


def _validated(fields: dict[str, Any]) -> dict[str, Any]:
    """Check a meter's fields together; the filter and aggregation in their normal JSON form."""
    errors: list[FieldError] = []
    name = fields["name"]
    if not isinstance(name, str) or len(name) < MIN_NAME:
        errors.append(FieldError(("body", "name"), f"String should have at least {MIN_NAME} "
                                 "characters", "string_too_short", name))
    if fields["unit"] not in UNITS:
        errors.append(FieldError(("body", "unit"), "Input should be 'scalar', 'token' or "
                                 "'custom'", "enum", fields["unit"]))
    if fields["unit"] == "custom" and not fields["custom_label"]:
        errors.append(FieldError(("body", "custom_label"), "custom_label is required when unit "
                                 "is 'custom'", "missing", fields["custom_label"]))
    multiplier = fields["custom_multiplier"]
    if multiplier is not None and (isinstance(multiplier, bool) or not isinstance(
            multiplier, int) or multiplier <= 0):
        errors.append(FieldError(("body", "custom_multiplier"), "Input should be greater than 0",
                                 "greater_than", multiplier))
    filter_json = aggregation_json = None
    try:
        filter_json = parse_filter(fields["filter"]).to_json()
    except FilterError as e:
        errors += e.prefixed(("body", "filter"))
    try:
        aggregation_json = parse_aggregation(fields["aggregation"]).to_json()
    except AggregationError as e:
        errors += e.prefixed(("body", "aggregation"))
    if errors:
        raise InvalidInput(errors)
    return {**fields, "filter": filter_json, "aggregation": aggregation_json,
            "custom_multiplier": None if multiplier is None else Decimal(multiplier)}


def _int(value: Decimal | None) -> int | None:
    return None if value is None else int(value)
