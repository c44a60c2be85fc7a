"""Customer meters recomputed from the event store alone, never from a read table.

The same fold as the projection (`domain.credit_book.Book`) over the ledger's notifications up to
a position, with each meter's definition as of that position: what a meter change rebuilds, and
what reconciliation compares the projection with.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from commands.ledger import Ledger
from domain.credit_book import Book, MeterDefinition
from domain.customer import Customer
from domain.meter import Meter
from domain.usage import UsageRecorded

BOOK_TOPICS = tuple(get_topic(cls) for cls in (
    UsageRecorded, Customer.Created, Customer.Updated, Customer.Deleted, Meter.Created))
DEFINITION_TOPICS = tuple(get_topic(cls) for cls in (Meter.Created, Meter.Updated))
PAGE = 2000


def notifications(ledger: Ledger, topics: Sequence[str], up_to: int,
                  start: int = 0) -> Iterator[Notification]:
    """The ledger's notifications of these topics after `start`, up to `up_to` included."""
    while start < up_to:
        page = ledger.recorder.select_notifications(start, PAGE, stop=up_to, topics=topics,
                                                    inclusive_of_start=False)
        if not page:
            return
        yield from page
        start = page[-1].id


def definitions_at(ledger: Ledger, up_to: int) -> dict[UUID, MeterDefinition]:
    """Every meter's definition as it was at ledger position `up_to`."""
    found: dict[UUID, MeterDefinition] = {}
    for notification in notifications(ledger, DEFINITION_TOPICS, up_to):
        event: Any = ledger.mapper.to_domain_event(notification)
        if isinstance(event, Meter.Created):
            found[event.originator_id] = MeterDefinition(
                id=event.originator_id, organization_id=event.organization_id, name=event.name,
                created_at=event.timestamp, filter=event.filter, aggregation=event.aggregation)
        elif event.originator_id in found:
            found[event.originator_id].redefine(event.changes)
    return found


@dataclass
class Replay:
    book: Book
    position: int
    events: int
    """How many ledger events were folded."""


def replay(ledger: Ledger, up_to: int, *, organization_id: UUID | None = None,
           meter_id: UUID | None = None, history: bool = False) -> Replay:
    """Fold the ledger up to `up_to` (optionally one organization, or one meter) into a book."""
    book = Book(history=history, definitions=definitions_at(ledger, up_to))
    count = 0
    for notification in notifications(ledger, BOOK_TOPICS, up_to):
        event: Any = ledger.mapper.to_domain_event(notification)
        if organization_id is not None and getattr(event, "organization_id",
                                                   organization_id) != organization_id:
            continue
        if meter_id is not None and isinstance(event, Meter.Created) \
                and event.originator_id != meter_id:
            continue
        book.apply(event)
        count += 1
    book.settle()
    return Replay(book, up_to, count)
