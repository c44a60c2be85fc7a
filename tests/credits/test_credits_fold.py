"""The pure fold of a customer meter: credits, resets, usage, carry-over, history entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

from domain.aggregation import Partial, parse_aggregation
from domain.credits import (
    ZERO,
    Balance,
    Entry,
    Grant,
    carried_over,
    consume,
    credit,
    cycle_credits,
    entry,
    usage_entry,
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
    a, merged_a = usage_entry(None, T0, ZERO, first, events=1, bucket=T0)
    merged, merged_b = usage_entry(a, T0 + timedelta(minutes=3), first, second, events=1,
                                   bucket=T0)
    assert (merged_a, merged_b) == (False, True)
    assert (merged.units, merged.change, merged.events, merged.balance) == (
        Decimal("3.5"), Decimal("-3.5"), 2, Decimal("-3.5"))
    assert merged.started_at == T0 and merged.timestamp == T0 + timedelta(minutes=3)


def test_a_usage_line_is_the_run_it_records() -> None:
    credited = credit(ZERO, 10, False)
    after = consume(credited, SUM, used("2.50"))
    line, merged = usage_entry(None, T0, credited, after, events=4, bucket=T0,
                               until=T0 + timedelta(minutes=2))
    assert not merged
    assert line == Entry(kind="usage", started_at=T0, timestamp=T0 + timedelta(minutes=2),
                         change=Decimal("-2.5"), consumed=Decimal("2.5"), credited=10,
                         balance=Decimal("7.5"), units=Decimal("2.5"), events=4, bucket=T0)
    assert (str(line.units), str(line.change)) == ("2.5", "-2.5")


def test_a_merged_usage_line_keeps_every_field_of_the_first_it_does_not_add_up() -> None:
    """`usage_entry` builds the merged line field by field (cheaper than `Entry._replace`): a
    field added to `Entry` must not be dropped there."""
    first = consume(ZERO, SUM, used("1"))
    a = usage_entry(None, T0, ZERO, first, events=1, bucket=T0)[0]._replace(
        rollover=True, event_id=uuid4())
    after = consume(first, SUM, used("2"))
    merged, _ = usage_entry(a, T0 + timedelta(minutes=1), first, after, events=3, bucket=T0)
    assert merged == a._replace(timestamp=T0 + timedelta(minutes=1), change=Decimal(-3),
                                units=Decimal(3), consumed=after.consumed,
                                credited=after.credited, balance=after.balance, events=4)


def test_usage_of_another_bucket_or_after_a_credit_starts_a_new_line() -> None:
    after = consume(ZERO, SUM, used("1"))
    a, _ = usage_entry(None, T0, ZERO, after, events=1, bucket=T0)
    assert not usage_entry(a, T0, after, after, events=1, bucket=T0 + timedelta(minutes=15))[1]
    granted = entry("credit", T0, after, credit(after, 5, False), units=5, rollover=False)
    line, merged = usage_entry(granted, T0, after, after, events=1, bucket=T0)
    assert not merged and line.kind == "usage" and line.started_at == T0
