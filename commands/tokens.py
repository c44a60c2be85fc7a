"""Organizations and access tokens (created from the CLI)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from uuid import UUID

from commands.ledger import Ledger
from domain import ids
from domain.errors import InvalidInput, NotFound
from domain.organization import ALL_SCOPES, AccessToken, Organization

TOKEN_PREFIX = "polar_oat_"


@dataclass(frozen=True)
class CreateToken:
    organization: str
    scopes: tuple[str, ...] = ALL_SCOPES


@dataclass(frozen=True)
class RevokeToken:
    token: str


@dataclass(frozen=True)
class Principal:
    """Who is calling: the organization behind a valid token, and what it may do."""

    organization_id: UUID
    token: AccessToken

    def require(self, *scopes: str) -> None:
        self.token.require(scopes)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(cmd: CreateToken, ledger: Ledger) -> str:
    unknown = sorted(set(cmd.scopes) - set(ALL_SCOPES))
    if unknown:
        raise InvalidInput.one(("scopes",), f"Unknown scopes: {', '.join(unknown)}")
    organization_id = ids.organization_id(cmd.organization)
    organization = ledger.find(Organization, organization_id)
    new = [] if organization else [Organization(name=cmd.organization)]
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    access = AccessToken(token_hash=hash_token(token), organization_id=organization_id,
                         scopes=list(cmd.scopes))
    ledger.record(*new, access)
    return token


def revoke_token(cmd: RevokeToken, ledger: Ledger) -> None:
    access = ledger.load(AccessToken, ids.access_token_id(hash_token(cmd.token)),
                         what="Token not found")
    access.revoke()
    ledger.record(access)


def authenticate(token: str, ledger: Ledger) -> Principal:
    access = ledger.find(AccessToken, ids.access_token_id(hash_token(token)))
    if access is None or access.revoked:
        raise NotFound("Invalid or revoked token")
    return Principal(organization_id=access.organization_id, token=access)


__all__ = ["CreateToken", "Principal", "RevokeToken", "authenticate",
           "create_token", "revoke_token"]
