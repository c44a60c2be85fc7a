"""Fixtures: every storage test runs on SQLite and on PostgreSQL (never skipped)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from starlette.testclient import TestClient

from commands.tokens import CreateToken, create_token
from web.app import create_app
from web.bootstrap import Services, bootstrap
from web.config import Settings

POSTGRES_URL = os.environ.get("METERING_TEST_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    if request.param == "sqlite":
        yield Settings(database_url=f"sqlite:///{tmp_path / 'ledger.db'}", read_wait_timeout=10)
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(POSTGRES_URL.replace("postgresql://", "postgresql://", 1),
                         autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield Settings(database_url=POSTGRES_URL, database_schema=schema, read_wait_timeout=10)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    services = bootstrap(settings)
    try:
        yield services
    finally:
        services.close()


@pytest.fixture
def client(settings: Settings, services: Services) -> Iterator[TestClient]:
    services.runner.start()
    app = create_app(settings, services)
    with TestClient(app) as client:
        yield client


def new_token(services: Services, organization: str = "acme", scopes: str = "all") -> str:
    from domain.organization import ALL_SCOPES
    chosen = ALL_SCOPES if scopes == "all" else tuple(scopes.split(","))
    return create_token(CreateToken(organization, chosen), services.ledger)


@pytest.fixture
def token(services: Services) -> str:
    return new_token(services)


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
