"""Exact decimal functions for SQLite, which stores our decimals as text (`ExactDecimal`).

PostgreSQL's NUMERIC adds and compares exactly; SQLite would turn decimal text into floats. These
functions give SQL over `ExactDecimal` columns the same meaning on both stores:

    exact_add(a, b), exact_least(a, b), exact_greatest(a, b)   -- NULL-ignoring, as PostgreSQL
    exact_sum(x), exact_min(x), exact_max(x)                   -- aggregates
"""

from __future__ import annotations

from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from typing import Final

from sqlalchemy import Connection

_EXACT: Final = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
"""Additions never round in this context (as in `domain.aggregation`)."""


def register(conn: Connection) -> None:
    """Make the functions available on this connection (cheap; idempotent)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    raw.create_function("exact_add", 2, _add, deterministic=True)
    raw.create_function("exact_least", 2, _least, deterministic=True)
    raw.create_function("exact_greatest", 2, _greatest, deterministic=True)
    raw.create_aggregate("exact_sum", 1, _Sum)
    raw.create_aggregate("exact_min", 1, _Min)
    raw.create_aggregate("exact_max", 1, _Max)


def _add(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a if b is None else b
    return str(_EXACT.add(Decimal(a), Decimal(b)))


def _least(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a if b is None else b
    return a if Decimal(a) <= Decimal(b) else b


def _greatest(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a if b is None else b
    return a if Decimal(a) >= Decimal(b) else b


class _Sum:
    def __init__(self) -> None:
        self.total: Decimal | None = None

    def step(self, value: str | None) -> None:
        if value is not None:
            number = Decimal(value)
            self.total = number if self.total is None else _EXACT.add(self.total, number)

    def finalize(self) -> str | None:
        return None if self.total is None else str(self.total)


class _Min:
    def __init__(self) -> None:
        self.best: Decimal | None = None

    def step(self, value: str | None) -> None:
        if value is not None and (self.best is None or Decimal(value) < self.best):
            self.best = Decimal(value)

    def finalize(self) -> str | None:
        return None if self.best is None else str(self.best)


class _Max(_Min):
    def step(self, value: str | None) -> None:
        if value is not None and (self.best is None or Decimal(value) > self.best):
            self.best = Decimal(value)
