"""The ledger's recorders keep the event store's guarantees (binary COPY on PostgreSQL), and
its SQLite connections a larger page cache."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError, Mapper
from eventsourcing.utils import get_topic

from commands.customers import CreateCustomer, create_customer
from commands.ledger import Ledger
from commands.sqlite_ledger import PAGE_CACHE_KIB
from commands.store_codec import LedgerMapper
from commands.store_recorders import PostgresCopyRecorder
from domain import ids
from domain.customer import Customer
from domain.usage import USER, UsageRecorded
from web.bootstrap import Services, bootstrap
from web.config import Settings


def _usage(event_id: UUID, n: int) -> UsageRecorded:
    return UsageRecorded(
        originator_id=event_id, originator_version=1, timestamp=datetime.now(UTC),
        organization_id=UUID(int=1), name="api.call", occurred_at=datetime.now(UTC),
        source=USER, customer_id=None, external_customer_id="ada", member_id=None,
        external_member_id=None, external_id=f"call-{n}", parent_ref=None,
        metadata={"n": n}, fingerprint="f")


def _stored(ledger: Ledger, event_id: UUID) -> bool:
    return bool(ledger.recorder.select_events(event_id))


def test_postgres_ledger_uses_the_copy_recorder(services: Services) -> None:
    expected = services.settings.database_url.startswith("postgres")
    assert isinstance(services.ledger.recorder, PostgresCopyRecorder) == expected


def test_a_batch_gets_increasing_positions_in_event_order(services: Services) -> None:
    ledger = services.ledger
    before = ledger.position()
    events = [_usage(uuid4(), n) for n in range(50)]
    position = ledger.record(*events)
    assert position == ledger.position() > before
    notifications = ledger.recorder.select_notifications(start=before, limit=100,
                                                         inclusive_of_start=False)
    assert [n.originator_id for n in notifications] == [e.originator_id for e in events]
    assert notifications[-1].id == position
    decoded = ledger.mapper.to_domain_event(notifications[7])
    assert decoded == events[7]


def test_a_batch_with_a_recorded_stream_records_nothing(services: Services) -> None:
    ledger = services.ledger
    taken = uuid4()
    ledger.record(_usage(taken, 0))
    before = ledger.position()
    fresh = [_usage(uuid4(), n) for n in range(1, 20)]
    with pytest.raises(IntegrityError):
        ledger.record(*fresh[:10], _usage(taken, 99), *fresh[10:])
    assert ledger.position() == before
    assert not any(_stored(ledger, e.originator_id) for e in fresh)
    assert ledger.record(*fresh) > before  # the same connection is usable afterwards


def test_concurrent_batches_are_all_recorded_exactly_once(services: Services) -> None:
    ledger = services.ledger
    batches = [[_usage(uuid4(), n) for n in range(100)] for _ in range(4)]
    before = ledger.position()
    threads = [threading.Thread(target=ledger.record, args=batch) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    notifications = ledger.recorder.select_notifications(start=before, limit=1000,
                                                         inclusive_of_start=False)
    recorded = [n.originator_id for n in notifications]
    assert sorted(recorded) == sorted(e.originator_id for b in batches for e in b)
    for batch in batches:  # each batch's events are contiguous: one transaction each
        start = recorded.index(batch[0].originator_id)
        assert recorded[start:start + 100] == [e.originator_id for e in batch]


def test_the_notification_log_reads_as_the_library_reads_it(services: Services) -> None:
    ledger = services.ledger
    if not isinstance(ledger.recorder, PostgresCopyRecorder):
        pytest.skip("the log is read by the library's own recorder")
    before = ledger.position()
    ledger.record(*[_usage(uuid4(), n) for n in range(30)])
    library = super(PostgresCopyRecorder, ledger.recorder)
    topics = ["domain.usage:UsageRecorded"]
    for query in ({"start": before, "limit": 10}, {"start": before, "limit": 100,
                                                    "inclusive_of_start": False},
                  {"start": before + 3, "limit": 100, "stop": before + 12},
                  {"start": None, "limit": 5, "topics": topics},
                  {"start": before, "limit": 50, "topics": ["nothing:Else"]}):
        ours = ledger.recorder.select_notifications(**query)  # type: ignore[arg-type]
        assert ours == library.select_notifications(**query)  # type: ignore[arg-type]
    first = ledger.recorder.select_notifications(start=before, limit=1,
                                                 inclusive_of_start=False)
    assert ledger.mapper.to_domain_event(first[0]).metadata == {"n": 0}


def test_sqlite_connections_keep_a_larger_page_cache(tmp_path: Path) -> None:
    """The ledger's and the read store's SQLite connections both take `CACHE_PRAGMA` (with
    SQLite's default, 2 MiB, each insert into a random-keyed index read its page back). A
    setting of SQLite alone: PostgreSQL has no counterpart to check."""
    services = bootstrap(Settings(database_url=f"sqlite:///{tmp_path / 'ledger.db'}"))
    try:
        with services.ledger.recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute("PRAGMA cache_size")
            assert cursor.fetchone()[0] == -PAGE_CACHE_KIB
        with services.store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == -PAGE_CACHE_KIB
    finally:
        services.close()


def test_the_ledger_mapper_reads_every_entry_as_the_library_mapper(services: Services) -> None:
    ledger = services.ledger
    organization = ids.organization_id("mapper")
    create_customer(CreateCustomer(organization, "ada@example.com", external_id="ada"), ledger)
    ledger.record(*(_usage(uuid4(), n) for n in range(5)))
    library = Mapper[UUID](transcoder=ledger.mapper.transcoder)
    notifications = ledger.recorder.select_notifications(start=1, limit=1000)
    assert isinstance(ledger.mapper, LedgerMapper)
    assert {n.topic for n in notifications} >= {get_topic(UsageRecorded),
                                                 get_topic(Customer.Created)}
    for notification in notifications:
        ours, theirs = (ledger.mapper.to_domain_event(notification),
                        library.to_domain_event(notification))
        assert type(ours) is type(theirs)
        assert ours.__dict__ == theirs.__dict__
