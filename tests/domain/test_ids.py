"""Name-based ids: the same UUIDs as `uuid.uuid5`, which existing ledgers were keyed with."""

from __future__ import annotations

import uuid
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from domain import ids


@settings(max_examples=1000)
@given(st.uuids(), st.text())
def test_name_based_ids_are_uuid5(namespace: UUID, name: str) -> None:
    assert ids.keyed_event_id(namespace, name) == uuid.uuid5(namespace, f"event:{name}")
    assert ids.event_type_id(namespace, name) == uuid.uuid5(namespace, f"event-type:{name}")
    assert ids.claim_id(namespace, "email", name) == uuid.uuid5(namespace, f"claim:email:{name}")
    assert ids.organization_id(name) == uuid.uuid5(ids.LEDGER_NAMESPACE, f"organization:{name}")
    assert ids.access_token_id(name) == uuid.uuid5(ids.LEDGER_NAMESPACE, f"access-token:{name}")


@settings(max_examples=200)
@given(st.uuids(), st.text())
def test_name_based_ids_are_ordinary_uuids(namespace: UUID, name: str) -> None:
    made, expected = ids.keyed_event_id(namespace, name), uuid.uuid5(namespace, f"event:{name}")
    assert (type(made), made.version, made.variant, made.is_safe, str(made), hash(made)) == \
        (UUID, 5, uuid.RFC_4122, expected.is_safe, str(expected), hash(expected))
