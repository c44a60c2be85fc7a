"""Cost statistics over traces (a trace is a root event with all its descendants).

Amounts are exact `Decimal` cents. Percentiles use the nearest-rank rule, so each one is the cost
of an actual trace: p-th percentile = the ceil(p/100 * n)-th smallest trace cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import MAX_EMAX, MIN_EMIN, Decimal, localcontext
from typing import Final

from domain.aggregation import AVG_PRECISION, canonical_decimal
from domain.hierarchy import EXACT

PERCENTILES: Final = (50, 95, 99)


@dataclass(frozen=True)
class CostStatistics:
    total: Decimal
    traces: int
    average: Decimal
    p50: Decimal
    p95: Decimal
    p99: Decimal


def statistics(trace_costs: Sequence[Decimal]) -> CostStatistics:
    """Figures over the cost of each trace; all zero when there is no trace."""
    if not trace_costs:
        zero = Decimal(0)
        return CostStatistics(zero, 0, zero, zero, zero, zero)
    ordered = sorted(trace_costs)
    total = Decimal(0)
    for cost in ordered:
        total = EXACT.add(total, cost)
    with localcontext(prec=AVG_PRECISION, Emax=MAX_EMAX, Emin=MIN_EMIN):
        average = total / len(ordered)
    p50, p95, p99 = (nearest_rank(ordered, p) for p in PERCENTILES)
    return CostStatistics(total, len(ordered), canonical_decimal(average), p50, p95, p99)


def nearest_rank(ordered: Sequence[Decimal], percent: int) -> Decimal:
    """The `percent`-th percentile of a sorted, non-empty sequence."""
    rank = -(-percent * len(ordered) // 100)  # ceil, in integers
    return ordered[max(rank, 1) - 1]
