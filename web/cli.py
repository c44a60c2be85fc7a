"""The `metering` command: serve, token create/revoke, project, rebuild."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from commands.tokens import CreateToken, RevokeToken, create_token, revoke_token
from domain.errors import LedgerError
from domain.organization import ALL_SCOPES
from web.bootstrap import bootstrap
from web.config import Settings


def _settings(args: argparse.Namespace, **overrides: object) -> Settings:
    return Settings.from_env(database_url=args.database_url, **overrides)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from web.app import create_app
    app = create_app(_settings(args))
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                workers=None)
    return 0


def token_create(args: argparse.Namespace) -> int:
    scopes = ALL_SCOPES if args.scopes == "all" else tuple(
        s.strip() for s in args.scopes.split(",") if s.strip())
    services = bootstrap(_settings(args))
    try:
        print(create_token(CreateToken(args.organization, scopes), services.ledger))
    finally:
        services.close()
    return 0


def token_revoke(args: argparse.Namespace) -> int:
    services = bootstrap(_settings(args))
    try:
        revoke_token(RevokeToken(args.token), services.ledger)
    finally:
        services.close()
    print("revoked", file=sys.stderr)
    return 0


def project(args: argparse.Namespace) -> int:
    """Run the projection runner as a worker process until interrupted."""
    services = bootstrap(_settings(args))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    services.runner.start()
    print("projecting; Ctrl-C to stop", file=sys.stderr)
    stop.wait()
    services.close()
    return 0


def rebuild(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    services = bootstrap(_settings(args))
    try:
        names = list(services.runner.projections) if args.all or not args.projection \
            else args.projection
        target = services.ledger.position()
        with Progress() as progress:
            for name in names:
                task = progress.add_task(f"rebuilding {name}", total=target or 1)
                services.runner.rebuild([name], on_progress=lambda pos, t=task: progress.update(
                    t, completed=min(pos, target)))
                progress.update(task, completed=target or 1)
    finally:
        services.close()
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="metering", description=__doc__)
    root.add_argument("--database-url", default=None,
                      help="sqlite:///path.db or postgresql://user@host:port/db "
                           "(env METERING_DATABASE_URL; default sqlite:///./metering.db)")
    sub = root.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the HTTP API and the projections")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=serve)

    token = sub.add_parser("token", help="manage organization access tokens")
    tsub = token.add_subparsers(dest="token_command", required=True)
    p = tsub.add_parser("create", help="create an organization (if missing) and a token")
    p.add_argument("--organization", default="default")
    p.add_argument("--scopes", default="all", help="comma-separated scopes, or 'all'")
    p.set_defaults(func=token_create)
    p = tsub.add_parser("revoke", help="revoke a token")
    p.add_argument("token")
    p.set_defaults(func=token_revoke)

    p = sub.add_parser("project", help="run the projection worker (PostgreSQL deployments)")
    p.set_defaults(func=project)

    p = sub.add_parser("rebuild", help="drop and rebuild read models from the ledger")
    p.add_argument("--projection", action="append", help="a projection name (repeatable)")
    p.add_argument("--all", action="store_true")
    p.set_defaults(func=rebuild)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except LedgerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
