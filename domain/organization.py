"""Organizations (tenants) and their access tokens."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain import ids
from domain.errors import Forbidden

ALL_SCOPES: tuple[str, ...] = (
    "events:read", "events:write",
    "customers:read", "customers:write",
    "meters:read", "meters:write",
    "customer_meters:read",
    "benefits:read", "benefits:write",
    "products:read", "products:write",
    "orders:read", "orders:write",
    "subscriptions:read", "subscriptions:write",
)


class Organization(Aggregate):
    @staticmethod
    def create_id(name: str) -> UUID:
        return ids.organization_id(name)

    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name


class AccessToken(Aggregate):
    """An organization access token. Only the token's SHA-256 is ever recorded."""

    @staticmethod
    def create_id(token_hash: str) -> UUID:
        return ids.access_token_id(token_hash)

    @event("Created")
    def __init__(self, token_hash: str, organization_id: UUID, scopes: list[str]) -> None:
        self.token_hash = token_hash
        self.organization_id = organization_id
        self.scopes = list(scopes)
        self.revoked = False

    @event("Revoked")
    def revoke(self) -> None:
        self.revoked = True

    def require(self, scopes: tuple[str, ...]) -> None:
        """Pass when the token holds any one of `scopes` (as Polar lists alternatives)."""
        if scopes and not set(scopes) & set(self.scopes):
            msg = f"The access token lacks the required scope: {' or '.join(scopes)}"
            raise Forbidden(msg)
