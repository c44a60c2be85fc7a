"""Settings: read once from the environment (or CLI flags), cast, and checked."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

DEFAULT_DATABASE_URL = "sqlite:///./metering.db"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    database_schema: str | None = None
    read_wait_timeout: float = 5.0
    run_projections: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {
            "database_url": env.get("METERING_DATABASE_URL", DEFAULT_DATABASE_URL),
            "database_schema": env.get("METERING_DATABASE_SCHEMA") or None,
            "read_wait_timeout": float(env.get("METERING_READ_WAIT_TIMEOUT", "5")),
            "run_projections": env.get("METERING_RUN_PROJECTIONS", "1").lower()
            not in ("0", "false", "no"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def ledger_env(self) -> dict[str, str]:
        """The `eventsourcing` persistence settings for this database."""
        if self.is_sqlite:
            path = self.sqlite_path()
            return {"PERSISTENCE_MODULE": "commands.sqlite_ledger:SQLiteLedgerFactory",
                    "SQLITE_DBNAME": path, "SQLITE_LOCK_TIMEOUT": "60"}
        if not self.database_url.startswith(("postgresql://", "postgres://",
                                             "postgresql+psycopg://")):
            msg = ("METERING_DATABASE_URL must be sqlite:///… or postgresql://…, "
                   f"got {self.database_url!r}")
            raise ValueError(msg)
        parts = urlsplit(self.database_url)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parts.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            "POSTGRES_POOL_SIZE": "10",
            "POSTGRES_MAX_OVERFLOW": "20",
            "POSTGRES_LOCK_TIMEOUT": "30",
        }
        if self.database_schema:
            env["POSTGRES_SCHEMA"] = self.database_schema
        return env

    def sqlite_path(self) -> str:
        path = self.database_url.removeprefix("sqlite:///")
        return str(Path(path).expanduser())

    def sqlalchemy_url(self) -> str:
        if self.is_sqlite:
            return f"sqlite:///{self.sqlite_path()}"
        rest = self.database_url.split("://", 1)[1]
        return f"postgresql+psycopg://{rest}"
