"""The ledger's transcoder writes and reads exactly what the library's JSON transcoder does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoding,
    UUIDAsHex,
)
from eventsourcing.utils import get_topic
from hypothesis import given, settings
from hypothesis import strategies as st

from commands.store_codec import LedgerMapper, LedgerTranscoder
from domain import ids


def _transcoder(cls: type[JSONTranscoder]) -> JSONTranscoder:
    transcoder = cls()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


LIBRARY, LEDGER = _transcoder(JSONTranscoder), _transcoder(LedgerTranscoder)

scalars = st.one_of(
    st.none(), st.booleans(), st.text(max_size=20),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.uuids(),
    st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-5))])),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20)


@settings(max_examples=300)
@given(st.dictionaries(st.text(max_size=8), values, max_size=6))
def test_writes_the_library_bytes_and_reads_them_back_exactly(state: dict[str, Any]) -> None:
    stored = LEDGER.encode(state)
    assert stored == LIBRARY.encode(state)
    assert LEDGER.decode(stored) == LIBRARY.decode(stored) == state


@settings(max_examples=500)
@given(st.datetimes(timezones=st.none() | st.just(UTC) | st.timezones() | st.sampled_from(
    [timezone(timedelta(0), "Z"), timezone(timedelta(seconds=-3661)),
     timezone(timedelta(hours=5, minutes=30, microseconds=1))])))
def test_writes_datetimes_of_every_zone_as_the_library_does(at: datetime) -> None:
    state = {"at": at, "nested": {"at": [at]}}
    assert LEDGER.encode(state) == LIBRARY.encode(state)


def test_keeps_every_digit_of_integers_beyond_64_bits() -> None:
    state = {"tokens": 2**64, "debt": -(2**63) - 1, "nested": [{"x": 10**30}]}
    assert LEDGER.decode(LEDGER.encode(state)) == state


def test_round_trips_a_usage_event_state_with_typed_values() -> None:
    state = {"organization_id": UUID(int=7), "occurred_at": datetime(2026, 1, 1, tzinfo=UTC),
             "metadata": {"tokens": 12, "_cost": {"amount": Decimal("0.000123456789"),
                                                  "currency": "usd"}}}
    decoded = LEDGER.decode(LEDGER.encode(state))
    assert decoded == state
    assert str(decoded["metadata"]["_cost"]["amount"]) == "0.000123456789"


def test_floats_and_tuples_are_handled_as_the_library_handles_them() -> None:
    state = {"ratio": 0.5, "pair": (1, 2)}
    assert LEDGER.encode(state) == LIBRARY.encode(state)
    assert LEDGER.decode(LEDGER.encode(state)) == {"ratio": 0.5, "pair": [1, 2]}


class _Point:
    def __init__(self, x: Decimal) -> None:
        self.x = x

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Point) and other.x == self.x


class _PointAsDict(Transcoding):
    type = _Point
    name = "point"

    def encode(self, obj: _Point) -> dict[str, Decimal]:
        return {"x": obj.x}

    def decode(self, data: dict[str, Decimal]) -> _Point:
        return _Point(data["x"])


def test_other_registered_transcodings_work_with_nested_typed_values() -> None:
    library, ledger = _transcoder(JSONTranscoder), _transcoder(LedgerTranscoder)
    library.register(_PointAsDict())
    ledger.register(_PointAsDict())
    state = {"where": [_Point(Decimal("1.50"))]}
    assert ledger.encode(state) == library.encode(state)
    assert ledger.decode(library.encode(state)) == state


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.text(max_size=20),
              st.integers(min_value=-(2**70), max_value=2**70),
              st.decimals(allow_nan=False, allow_infinity=False)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20)
"""What a validated usage event's metadata holds: JSON parsed exactly (no floats)."""


@settings(max_examples=300)
@given(st.dictionaries(st.text(max_size=8), st.one_of(
    st.uuids(), st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=2))])),
    json_values), max_size=8))
def test_the_exact_json_path_writes_the_same_bytes(state: dict[str, Any]) -> None:
    assert LEDGER.encode_exact_json(state) == LIBRARY.encode(state)  # type: ignore[attr-defined]


@given(st.uuids() | st.text(min_size=30, max_size=34))
def test_ids_are_read_as_the_uuid_constructor_reads_them(text: UUID | str) -> None:
    stored = text.hex if isinstance(text, UUID) else text
    try:
        expected: UUID | type[Exception] = UUID(stored)
    except ValueError:
        expected = ValueError
    try:
        read: UUID | type[Exception] = ids.from_hex(stored)
    except ValueError:
        read = ValueError
    assert read == expected


class _Named(DomainEvent):
    name: str


class _Renamed(DomainEvent):
    """An event class at version 2: version 1 entries called `label` what is now `name`."""

    class_version = 2
    name: str

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["name"] = state.pop("label")


def test_the_mapper_upcasts_and_converts_ids_as_the_library_mapper() -> None:
    ours, library = LedgerMapper(transcoder=LEDGER), Mapper[UUID](transcoder=LEDGER)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    old = StoredEvent(UUID(int=3), 1, get_topic(_Renamed),
                      LEDGER.encode({"timestamp": at, "label": "first"}))
    as_text = StoredEvent(str(UUID(int=4)), 1, get_topic(_Named),  # type: ignore[arg-type]
                          LEDGER.encode({"timestamp": at, "name": "x"}))
    for stored in (old, as_text):
        event = ours.to_domain_event(stored)
        assert event.__dict__ == library.to_domain_event(stored).__dict__
        assert type(event.originator_id) is UUID
    assert ours.to_domain_event(old).name == "first"  # type: ignore[attr-defined]
