"""The pure fold of a customer meter: credits, resets, usage, carry-over, history entries."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

from domain.aggregation import Partial, parse_aggregation
from domain.credits import (
    ZERO,
    Balance,
    Grant,
    carried_over,
    consume,
    credit,
    cycle_credits,
    entry,
    merge_usage,
)

SUM = parse_aggregation({"func": "sum", "property": "tokens"})
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def used(amount: str) -> Partial:
    value = Decimal(amount)
    return Partial(count=1, sum=value, min=value, max=value)


def test_balance_is_credited_minus_consumed_and_may_go_negative() -> None:
    state = consume(credit(ZERO, 100, False), SUM, used("100.25"))
    assert (state.credited, state.consumed, state.balance) == (100, Decimal("100.25"),
                                                               Decimal("-0.25"))


def test_credits_never_go_below_zero() -> None:
    state = credit(credit(ZERO, 300, False), -500, False)
    assert state.credited == 0
    assert credit(state, 50, False).credited == 50


def test_carry_over_is_capped_at_rollover_credits_so_other_credits_are_used_first() -> None:
    state = credit(credit(ZERO, 500, False), 1000, True)
    assert carried_over(consume(state, SUM, used("600"))) == 900
    assert carried_over(consume(state, SUM, used("200"))) == 1000
    assert carried_over(consume(state, SUM, used("1600"))) == 0


def test_carry_over_is_whole_units_and_never_negative() -> None:
    state = consume(credit(ZERO, 10, True), SUM, used("2.5"))
    assert carried_over(state) == 7
    assert carried_over(consume(state, SUM, used("100"))) == 0


def test_revoking_a_rollover_credit_lowers_what_may_roll_over() -> None:
    state = credit(credit(ZERO, 1000, True), -1000, True)
    assert (state.credited, state.rollover_units, carried_over(state)) == (0, 0, 0)


def test_cycle_credits_carry_over_then_grant_each_benefit_of_the_meter() -> None:
    meter, other = uuid4(), uuid4()
    grants = [Grant(uuid4(), meter, 1000, True), Grant(uuid4(), other, 5, False),
              Grant(uuid4(), meter, 10, False)]
    state = consume(credit(ZERO, 1000, True), SUM, used("400"))
    assert cycle_credits(state, grants, meter) == [(600, True), (1000, True), (10, False)]
    assert cycle_credits(Balance(), grants, other) == [(5, False)]


def test_usage_entries_of_one_bucket_merge_into_one_line() -> None:
    first = consume(ZERO, SUM, used("1.5"))
    second = consume(first, SUM, used("2"))
    a = entry("usage", T0, ZERO, first, events=1, bucket=T0)
    b = entry("usage", T0 + timedelta(minutes=3), first, second, events=1,
              bucket=T0)
    merged = merge_usage(a, b)
    assert merged is not None
    assert (merged.units, merged.change, merged.events, merged.balance) == (
        Decimal("3.5"), Decimal("-3.5"), 2, Decimal("-3.5"))
    assert merged.started_at == T0 and merged.timestamp == T0 + timedelta(minutes=3)


def test_a_merged_usage_line_keeps_every_field_of_the_first_it_does_not_add_up() -> None:
    """`merge_usage` builds the line field by field (cheaper than `dataclasses.replace`): a
    field added to `Entry` must not be dropped there."""
    first = consume(ZERO, SUM, used("1"))
    a = replace(entry("usage", T0, ZERO, first, events=1, bucket=T0), rollover=True,
                event_id=uuid4())
    b = entry("usage", T0 + timedelta(minutes=1), first, consume(first, SUM, used("2")),
              events=3, bucket=T0)
    merged = merge_usage(a, b)
    assert merged == replace(a, timestamp=b.timestamp, change=Decimal(-3), units=Decimal(3),
                             consumed=b.consumed, credited=b.credited, balance=b.balance,
                             events=4)


def test_usage_of_another_bucket_or_after_a_credit_starts_a_new_line() -> None:
    after = consume(ZERO, SUM, used("1"))
    a = entry("usage", T0, ZERO, after, events=1, bucket=T0)
    later = entry("usage", T0, after, after, events=1, bucket=T0 + timedelta(minutes=15))
    granted = entry("credit", T0, after, credit(after, 5, False), units=5, rollover=False)
    assert merge_usage(a, later) is None
    assert merge_usage(a, granted) is None
    assert merge_usage(granted, a) is None
