"""Meter quantities from partial aggregates: per bucket, per customer, and the total.

Pure functions shared by the two ways a quantities request is answered (the meter-usage
projection's 15-minute partials, or a scan of the events read table): both reduce the events to
`Partial`s keyed by (bucket index, customer identity) and let `answer` do the rest.

Rules (Polar's, made exact):

- Without a customer aggregation function, a bucket's quantity is the meter's aggregation over all
  its events; with one, the aggregation is computed per (bucket, customer) first and the customers'
  values are then combined with that function (customers without a contributing event in the
  bucket take no part).
- `total`: the sum of the bucket quantities for count and sum meters; the max / min of the
  quantities of the buckets that have data for max / min meters (0 when none has); one aggregate
  over the whole range for avg and unique (per customer over the whole range, then combined, when
  a customer aggregation function is given). Without a customer aggregation function every one of
  these equals the meter's aggregation over all the range's events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from domain.aggregation import (
    Aggregation,
    AggregationFunction,
    Partial,
    canonical_value,
    merge_all,
    value,
)

Partials = Mapping[int, Mapping[str, Partial]]
"""Bucket index -> customer identity -> partial of that customer's events in that bucket."""


class Metered(NamedTuple):
    """What a meter reads from a usage event; `timestamp` is when the event occurred."""

    name: str
    source: str
    timestamp: datetime
    metadata: Mapping[str, Any]


class Answer(NamedTuple):
    quantities: list[Decimal]
    total: Decimal


EXTERNAL = "external:"


def customer_key(customer_id: object, external_customer_id: str | None) -> str:
    """How usage is keyed per customer: the customer id when the event has one, otherwise
    `external:` and its external customer id (empty for neither)."""
    if customer_id is not None:
        return str(customer_id)
    return EXTERNAL + external_customer_id if external_customer_id else ""


def identity(key: str, customer_by_external_id: Mapping[str, str]) -> str:
    """The customer a keyed usage belongs to: events sent under a known customer's external id
    count as that customer's; unknown external ids stand for customers of their own."""
    if key.startswith(EXTERNAL):
        return customer_by_external_id.get(key.removeprefix(EXTERNAL), key)
    return key


def combine(function: AggregationFunction, values: Iterable[Decimal]) -> Decimal:
    """Combine per-customer quantities with a customer aggregation function (exactly)."""
    partial = merge_all(
        Partial(count=1, sum=v, min=v, max=v, distinct=frozenset({canonical_value(v) or ""}))
        for v in values)
    prop = None if function is AggregationFunction.count else "quantity"
    return value(Aggregation(function, prop), partial)


def answer(aggregation: Aggregation, customer_function: AggregationFunction | None,
           buckets: int, partials: Partials) -> Answer:
    """The quantity of each of `buckets` buckets and the total (see the module's rules)."""
    quantities: list[Decimal] = []
    with_data: list[Decimal] = []
    for index in range(buckets):
        by_customer = partials.get(index, {})
        if customer_function is None:
            merged = merge_all(by_customer.values())
            quantity = value(aggregation, merged)
            present = not merged.is_empty
        else:
            values = [value(aggregation, p) for p in by_customer.values() if not p.is_empty]
            quantity = combine(customer_function, values)
            present = bool(values)
        quantities.append(quantity)
        if present:
            with_data.append(quantity)
    return Answer(quantities, _total(aggregation, customer_function, quantities, with_data,
                                     partials))


def _total(aggregation: Aggregation, customer_function: AggregationFunction | None,
           quantities: list[Decimal], with_data: list[Decimal], partials: Partials) -> Decimal:
    func = aggregation.func
    if customer_function is None:
        return value(aggregation, merge_all(p for by in partials.values() for p in by.values()))
    if func in (AggregationFunction.count, AggregationFunction.sum):
        return combine(AggregationFunction.sum, quantities)
    if func in (AggregationFunction.max, AggregationFunction.min):
        return combine(func, with_data)
    per_customer: dict[str, list[Partial]] = {}
    for by_customer in partials.values():
        for customer, partial in by_customer.items():
            per_customer.setdefault(customer, []).append(partial)
    whole_range = [merge_all(ps) for ps in per_customer.values()]
    return combine(customer_function,
                   [value(aggregation, p) for p in whole_range if not p.is_empty])
