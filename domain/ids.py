"""Identifiers: random time-ordered ids for new things, name-based ids for natural keys.

Name-based ids (uuid5) turn uniqueness rules into the event store's primary key: two requests that
create the same organization, event type or idempotency key collide on `(originator_id, version)`,
so exactly one of them is recorded.
"""

from __future__ import annotations

import os
import time
from functools import lru_cache
from hashlib import sha1
from uuid import UUID, SafeUUID

LEDGER_NAMESPACE = UUID("6f1c4f9e-5a0b-4c1e-9d57-3b8a1f0e2c44")


def new_id() -> UUID:
    """A UUIDv7: time-ordered, so the store's indexes grow at their right edge."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return UUID(int=value)


_VERSION_BITS = ~(0xF000 << 64) & ~(0xC000 << 48)
_VERSION_5 = 5 << 76 | 0x8000 << 48
_UNKNOWN = SafeUUID.unknown


def _uuid5(namespace: UUID, name: str) -> UUID:
    """`uuid.uuid5(namespace, name)`: ingestion derives one id per event."""
    digest = sha1(namespace.bytes + bytes(name, "utf-8")).digest()
    return _uuid_of(int.from_bytes(digest[:16]) & _VERSION_BITS | _VERSION_5)


@lru_cache(maxsize=1 << 14)
def from_hex(text: str) -> UUID:
    """`UUID(text)` for the 32 hex digits of `UUID.hex` (how the ledger stores ids), without
    the constructor's other spellings; anything else goes through the constructor.

    Remembered: the ids inside ledger entries are mostly the same few (an entry's organization,
    its customer), and a look-up costs a tenth of building the UUID. UUIDs are immutable, so
    entries may share one."""
    return _uuid_of(int(text, 16)) if len(text) == 32 and text.isalnum() else UUID(text)


def _uuid_of(value: int) -> UUID:
    """`UUID(int=value)`, built the way `UUID.__init__` builds it but without its argument
    checks (most of its time): ids are made and read thousands of times per batch."""
    uid = object.__new__(UUID)
    object.__setattr__(uid, "int", value)
    object.__setattr__(uid, "is_safe", _UNKNOWN)
    return uid


def organization_id(name: str) -> UUID:
    return _uuid5(LEDGER_NAMESPACE, f"organization:{name}")


def access_token_id(token_hash: str) -> UUID:
    return _uuid5(LEDGER_NAMESPACE, f"access-token:{token_hash}")


def event_type_id(organization: UUID, name: str) -> UUID:
    return _uuid5(organization, f"event-type:{name}")


def keyed_event_id(organization: UUID, external_id: str) -> UUID:
    """The ledger id of a usage event sent with an idempotency key."""
    return _uuid5(organization, f"event:{external_id}")


def claim_id(scope: UUID, kind: str, value: str) -> UUID:
    """The id of the claim on a unique value (an email, an external id) within a scope."""
    return _uuid5(scope, f"claim:{kind}:{value}")
