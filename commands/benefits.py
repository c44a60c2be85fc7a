"""Credits benefits: create, update, delete."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from commands.ledger import Ledger
from domain.benefit import Benefit
from domain.errors import InvalidInput, NotFound
from domain.meter import Meter

PROPERTIES_LOC = ("body", "properties")


@dataclass(frozen=True)
class CreateBenefit:
    organization_id: UUID
    description: str
    meter_id: UUID
    units: int
    rollover: bool
    metadata: dict[str, Any] = field(default_factory=dict)
    visibility: str = "private"


@dataclass(frozen=True)
class UpdateBenefit:
    organization_id: UUID
    benefit_id: UUID
    changes: dict[str, Any]


@dataclass(frozen=True)
class DeleteBenefit:
    organization_id: UUID
    benefit_id: UUID


def create_benefit(cmd: CreateBenefit, ledger: Ledger) -> tuple[UUID, int]:
    _check_meter(ledger, cmd.organization_id, cmd.meter_id)
    benefit = Benefit(organization_id=cmd.organization_id, description=cmd.description,
                      meter_id=cmd.meter_id, units=cmd.units, rollover=cmd.rollover,
                      metadata=dict(cmd.metadata), visibility=cmd.visibility)
    return benefit.id, ledger.record(benefit)


def update_benefit(cmd: UpdateBenefit, ledger: Ledger) -> int:
    """`changes` may hold description, metadata, visibility, meter_id, units and rollover."""
    benefit = _live(ledger, cmd.organization_id, cmd.benefit_id)
    if "meter_id" in cmd.changes:
        _check_meter(ledger, cmd.organization_id, cmd.changes["meter_id"])
    changes = {k: v for k, v in cmd.changes.items() if getattr(benefit, k) != v}
    if not changes:
        return ledger.position()
    benefit.update(changes)
    return ledger.record(benefit)


def delete_benefit(cmd: DeleteBenefit, ledger: Ledger) -> int:
    benefit = _live(ledger, cmd.organization_id, cmd.benefit_id)
    benefit.delete(at=datetime.now(UTC))
    return ledger.record(benefit)


def _live(ledger: Ledger, organization_id: UUID, benefit_id: UUID) -> Benefit:
    benefit = ledger.load(Benefit, benefit_id, organization_id, "Benefit not found")
    if benefit.is_deleted:
        raise NotFound("Benefit not found")
    return benefit


def _check_meter(ledger: Ledger, organization_id: UUID, meter_id: UUID) -> None:
    meter = ledger.find(Meter, meter_id)
    if meter is None or meter.organization_id != organization_id:
        raise InvalidInput.one((*PROPERTIES_LOC, "meter_id"), "Meter does not exist.",
                               "value_error", str(meter_id))
    if meter.archived_at is not None:
        raise InvalidInput.one((*PROPERTIES_LOC, "meter_id"), "Meter is archived.",
                               "value_error", str(meter_id))
