"""Taking and releasing unique values (emails, external ids) through `Claim` aggregates."""

from __future__ import annotations

from uuid import UUID

from commands.ledger import Ledger
from domain import ids
from domain.claim import Claim
from domain.errors import Conflict, FieldError


def take(ledger: Ledger, scope: UUID, kind: str, value: str, owner_id: UUID,
         loc: tuple[str | int, ...], msg: str) -> Claim:
    """The claim on `value`, now owned by `owner_id`; Conflict when someone else holds it."""
    claim = ledger.find(Claim, ids.claim_id(scope, kind, value))
    if claim is None:
        return Claim(scope=scope, kind=kind, value=value, owner_id=owner_id)
    if claim.owner_id == owner_id:
        return claim
    if claim.is_free:
        claim.take(owner_id)
        return claim
    raise Conflict([FieldError(loc, msg, "value_error", value)])


def release(ledger: Ledger, scope: UUID, kind: str, value: str | None, owner_id: UUID) -> list[Claim]:
    if value is None:
        return []
    claim = ledger.find(Claim, ids.claim_id(scope, kind, value))
    if claim is None or claim.owner_id != owner_id:
        return []
    claim.release()
    return [claim]
