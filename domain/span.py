"""Spans: operations with a start and an end, recorded as two ordinary usage events.

An event opens a span with `"span": {"id": "job-42", "action": "start"}` and another closes it
with `"span": {"id": "job-42", "action": "end"}`, in any order and in any requests. The span's
duration is the difference of the two events' timestamps. The event that completes the pair
(the end event, or the start event when the end was recorded first) is recorded with the
duration in its metadata under `DURATION_KEY`, so meters and roll-ups sum it like any number.

A `Span` aggregate per (organization, span id) keeps at most one start and one end: its id is
derived from the span id, so two requests racing to mark the same span collide on the event
store's primary key and one of them is planned again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Literal
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import FieldError

START: Final = "start"
END: Final = "end"
Action = Literal["start", "end"]
DURATION_KEY: Final = "_span_duration_ms"
MAX_SPAN_ID: Final = 256


@dataclass(frozen=True)
class SpanMark:
    """What an ingested event says about a span."""

    span_id: str
    action: Action


def parse_span(value: Any, loc: tuple[str | int, ...],
               errors: list[FieldError]) -> SpanMark | None:
    """The optional `span` field of an ingested event."""
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.append(FieldError(loc, "Input should be a valid dictionary", "dict_type", value))
        return None
    before = len(errors)
    span_id, action = value.get("id"), value.get("action")
    if not isinstance(span_id, str) or not 1 <= len(span_id) <= MAX_SPAN_ID:
        errors.append(FieldError((*loc, "id"), f"Input should be a string of 1 to {MAX_SPAN_ID} "
                                               "characters", "string_type", span_id))
    if action not in (START, END):
        errors.append(FieldError((*loc, "action"), "Input should be 'start' or 'end'", "enum",
                                 action))
    for key in sorted(set(value) - {"id", "action"}):
        errors.append(FieldError((*loc, key), "Extra inputs are not permitted",
                                 "extra_forbidden", value[key]))
    if len(errors) > before or not isinstance(span_id, str):
        return None
    return SpanMark(span_id, START if action == START else END)


def duration_ms(started_at: datetime, ended_at: datetime) -> Decimal:
    """Exact milliseconds between two instants (microsecond resolution)."""
    delta = ended_at - started_at
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return Decimal(micros).scaleb(-3)


def span_stream_id(organization_id: UUID, span_id: str) -> UUID:
    return uuid5(organization_id, f"span:{span_id}")


class SpanError(ValueError):
    """A mark the span cannot take; `field` is the event field to blame."""

    def __init__(self, field: str, msg: str) -> None:
        super().__init__(msg)
        self.field = field


class Span(Aggregate):
    """The marks recorded for one span id: when and by which event it started and ended."""

    @staticmethod
    def create_id(organization_id: UUID, span_id: str) -> UUID:
        return span_stream_id(organization_id, span_id)

    @event("Marked")
    def __init__(self, organization_id: UUID, span_id: str, action: str, event_id: UUID,
                 at: datetime) -> None:
        self.organization_id = organization_id
        self.span_id = span_id
        self.marks: dict[str, tuple[UUID, datetime]] = {action: (event_id, at)}

    def check(self, action: str, at: datetime) -> None:
        """Raise SpanError unless `complete(action, ...)` may be called."""
        if action in self.marks:
            raise SpanError("span", f"Span {self.span_id!r} already has a {action} event.")
        started = self.marks[START][1] if action == END else at
        ended = at if action == END else self.marks[END][1]
        if ended < started:
            raise SpanError("timestamp", f"Span {self.span_id!r} would end before it starts.")

    @event("Completed")
    def complete(self, action: str, event_id: UUID, at: datetime) -> None:
        self.marks[action] = (event_id, at)

    @property
    def duration_ms(self) -> Decimal | None:
        if START not in self.marks or END not in self.marks:
            return None
        return duration_ms(self.marks[START][1], self.marks[END][1])
