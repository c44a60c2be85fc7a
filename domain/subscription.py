"""Subscriptions to recurring products: start, renew (cycle), cancel at period end, revoke.

There is no billing clock here: a renewal happens when `cycle` is called (the extension endpoint
`POST /v1/subscriptions/{id}/cycle`), and moves the period forward by one interval.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ids
from domain.credits import Grant
from domain.errors import Forbidden

ACTIVE, CANCELED = "active", "canceled"


def add_interval(start: datetime, interval: str, count: int = 1) -> datetime:
    """`start` moved by `count` intervals; months and years keep the day, clamped to the month's
    last day (Jan 31 + 1 month = Feb 28 or 29). Periods are counted from the start, so a
    clamped month does not shift the next ones."""
    if interval == "day":
        return start + timedelta(days=count)
    if interval == "week":
        return start + timedelta(weeks=count)
    months = count * (12 if interval == "year" else 1)
    year, month = divmod(start.month - 1 + months, 12)
    year += start.year
    day = min(start.day, calendar.monthrange(year, month + 1)[1])
    return start.replace(year=year, month=month + 1, day=day)


class Subscription(Aggregate):
    """`grants` are the credits granted at the start or at the last cycle (what a revoke takes
    back)."""

    @staticmethod
    def create_id() -> UUID:
        return ids.new_id()

    @event("Started")
    def __init__(self, organization_id: UUID, customer_id: UUID, product_id: UUID, amount: int,
                 currency: str, recurring_interval: str, recurring_interval_count: int,
                 started_at: datetime, metadata: dict[str, Any],
                 grants: list[dict[str, Any]]) -> None:
        self.organization_id = organization_id
        self.customer_id = customer_id
        self.product_id = product_id
        self.amount = amount
        self.currency = currency
        self.recurring_interval = recurring_interval
        self.recurring_interval_count = recurring_interval_count
        self.started_at = started_at
        self.cycles = 0
        self.current_period_start = started_at
        self.current_period_end = add_interval(started_at, recurring_interval,
                                               recurring_interval_count)
        self.metadata = metadata
        self.grants = grants
        self.status = ACTIVE
        self.cancel_at_period_end = False
        self.canceled_at: datetime | None = None
        self.ended_at: datetime | None = None

    @property
    def ends_at(self) -> datetime | None:
        return self.current_period_end if self.cancel_at_period_end else self.ended_at

    def granted(self) -> list[Grant]:
        return [Grant.from_json(g) for g in self.grants]

    def _require_active(self) -> None:
        if self.status != ACTIVE:
            msg = "This subscription is already canceled."
            raise Forbidden(msg)

    def cycle(self, grants: list[Grant]) -> None:
        """Renew for one more period, granting `grants` (the benefits as they are now)."""
        self._require_active()
        period_end = add_interval(self.started_at, self.recurring_interval,
                                  self.recurring_interval_count * (self.cycles + 2))
        self._cycled(self.current_period_end, period_end, [g.to_json() for g in grants])

    @event("Cycled")
    def _cycled(self, period_start: datetime, period_end: datetime,
                grants: list[dict[str, Any]]) -> None:
        self.cycles += 1
        self.current_period_start = period_start
        self.current_period_end = period_end
        self.grants = grants

    def cancel(self, at: datetime) -> None:
        """Cancel at the end of the current period (the next cycle ends the subscription)."""
        self._require_active()
        if not self.cancel_at_period_end:
            self._canceled(at)

    @event("Canceled")
    def _canceled(self, at: datetime) -> None:
        self.cancel_at_period_end = True
        self.canceled_at = at

    def uncancel(self) -> None:
        self._require_active()
        if self.cancel_at_period_end:
            self._uncanceled()

    @event("Uncanceled")
    def _uncanceled(self) -> None:
        self.cancel_at_period_end = False
        self.canceled_at = None

    def revoke(self, at: datetime) -> None:
        """End now (also what a cycle does to a subscription canceled at period end)."""
        self._require_active()
        self._revoked(at)

    @event("Revoked")
    def _revoked(self, at: datetime) -> None:
        self.status = CANCELED
        self.cancel_at_period_end = False
        self.canceled_at = self.canceled_at or at
        self.ended_at = at
