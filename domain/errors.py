"""The ledger's error tree.

    LedgerError
    ├── NotFound            a resource is missing or belongs to another organization
    ├── Forbidden           the caller may not do this (missing scope, locked field)
    ├── Conflict            a uniqueness rule would be broken (email, external_id)
    └── InvalidInput        one or more fields are invalid; carries Polar-shaped details
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class LedgerError(Exception):
    """Base of every error the ledger raises on purpose."""


class NotFound(LedgerError):
    def __init__(self, what: str = "Not found") -> None:
        super().__init__(what)
        self.what = what


class Forbidden(LedgerError):
    pass


@dataclass(frozen=True)
class FieldError:
    """One entry of Polar's 422 `detail` list."""

    loc: tuple[str | int, ...]
    msg: str
    type: str = "value_error"
    input: Any = None

    def as_json(self) -> dict[str, Any]:
        return {"type": self.type, "loc": list(self.loc), "msg": self.msg, "input": self.input}


@dataclass
class InvalidInput(LedgerError):
    errors: list[FieldError] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in self.errors))

    @classmethod
    def one(cls, loc: tuple[str | int, ...], msg: str, type: str = "value_error",
            input: Any = None) -> InvalidInput:
        return cls([FieldError(loc, msg, type, input)])


class Conflict(InvalidInput):
    """A uniqueness rule: reported as a 422 on the field, as Polar does."""
