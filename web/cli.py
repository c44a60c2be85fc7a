"""The `metering` command: serve, token create/revoke, project, rebuild."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from commands.tokens import CreateToken, RevokeToken, create_token, revoke_token
from domain.errors import LedgerError
from domain.organization import ALL_SCOPES
from projections.meter_builds import MeterBuilds
from projections.meter_usage import NAME
from web import collector
from web.bootstrap import PROJECTION_NAMES, Services, bootstrap, projection_runner
from web.config import Settings


def _settings(args: argparse.Namespace, **overrides: object) -> Settings:
    return Settings.from_env(database_url=args.database_url, **overrides)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from web.app import create_app
    if args.workers > 1:
        # Workers build the app from the environment; the schemas are created once, here.
        if args.database_url:
            os.environ["METERING_DATABASE_URL"] = args.database_url
        if args.no_projections:
            os.environ["METERING_RUN_PROJECTIONS"] = "0"
        bootstrap(_settings(args)).close()
        uvicorn.run("web.app:app_from_env", factory=True, workers=args.workers,
                    host=args.host, port=args.port, log_level=args.log_level)
        return 0
    app = create_app(_settings(args, run_projections=False if args.no_projections else None))
    collector.settle()
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
    """Run the projection runner, or its share of the projections (`--projection`), as a
    worker process until interrupted."""
    services = bootstrap(_settings(args))
    runner = services.runner
    if args.projection:
        runner = projection_runner(services.ledger, services.store, args.projection)
    collector.settle(collector.WORKER_THRESHOLDS)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    runner.start()
    print(f"projecting {', '.join(runner.projections)}; Ctrl-C to stop", file=sys.stderr)
    stop.wait()
    runner.stop()
    services.close()
    return 0


def rebuild(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    services = bootstrap(_settings(args))
    collector.settle()
    try:
        everything = args.all or not (args.projection or args.meter)
        names = list(services.runner.projections) if everything else args.projection or []
        target = services.ledger.position()
        with Progress() as progress:
            tasks = {name: progress.add_task(f"rebuilding {name}", total=target or 1)
                     for name in names}

            def advanced(positions: dict[str, int]) -> None:
                for name, position in positions.items():
                    progress.update(tasks[name], completed=min(position, target))

            services.runner.rebuild(names, on_progress=advanced)
            for task in tasks.values():
                progress.update(task, completed=target or 1)
            builds = MeterBuilds(services.ledger, services.store)
            for meter_id in args.meter or ():
                builds.rebuild(meter_id)
            _finish_meter_builds(services, builds, progress)
    finally:
        services.close()
    return 0


def _finish_meter_builds(services: Services, builds: MeterBuilds, progress: Any) -> None:
    """Run the meter usage projection and its background builds until every build is live
    (blue/green: quantities keep answering from the old builds meanwhile)."""
    target = services.ledger.position() or 1
    task = progress.add_task("building meter usage", total=target)
    usage = services.runner.projections[NAME]
    while services.runner.catch_up(usage) + builds.step():
        pending = builds.in_progress()
        progress.update(task, completed=min((p.position for p in pending), default=target))
    progress.update(task, completed=target)


def reconcile(args: argparse.Namespace) -> int:
    from web import reconcile as report

    services = bootstrap(_settings(args))
    try:
        return report.run(services, args)
    finally:
        services.close()


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
    p.add_argument("--no-projections", action="store_true",
                   help="serve the API only; run `metering project` as a separate process")
    p.add_argument("--workers", type=int, default=1,
                   help="API worker processes (with several, prefer --no-projections and one "
                        "`metering project`)")
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
    p.add_argument("--projection", action="append", choices=PROJECTION_NAMES,
                   help="run only this projection (repeatable; default: all): workers "
                        "sharing the projections out run on several cores")
    p.set_defaults(func=project)

    p = sub.add_parser("rebuild", help="drop and rebuild read models from the ledger")
    p.add_argument("--projection", action="append", choices=PROJECTION_NAMES,
                   help="a projection to rebuild (repeatable)")
    p.add_argument("--all", action="store_true")
    p.add_argument("--meter", action="append", type=UUID, metavar="ID",
                   help="rebuild one meter's usage in the background (repeatable)")
    p.set_defaults(func=rebuild)

    p = sub.add_parser("reconcile", help="recompute customer meters from the ledger and compare "
                                         "(exit 1 on any drift)")
    p.add_argument("--organization", help="an organization name (default: all)")
    p.set_defaults(func=reconcile)
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
