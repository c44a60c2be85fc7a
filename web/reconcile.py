"""`metering reconcile`: customer meters recomputed from the event store, compared with the read
model; prints the drifts and exits 1 when there is any."""

from __future__ import annotations

import argparse
import logging

from rich.console import Console
from rich.table import Table

from domain import ids
from projections.customer_meters import CustomerMetersProjection
from projections.reconcile import Report, reconcile
from web.bootstrap import Services

log = logging.getLogger(__name__)


def run(services: Services, args: argparse.Namespace, console: Console | None = None) -> int:
    console = console or Console()
    projection = services.runner.projections[CustomerMetersProjection.name]
    try:
        while services.runner.catch_up(projection):
            pass
    except Exception:  # the comparison still runs at the position reached
        log.exception("the customer meters projection could not catch up")
    organization_id = ids.organization_id(args.organization) if args.organization else None
    report = reconcile(services.ledger, services.store, organization_id)
    render(report, console)
    return 1 if report.drifts else 0


def render(report: Report, console: Console) -> None:
    rate = report.events / report.seconds if report.seconds else 0.0
    console.print(f"ledger position {report.position}: {report.customer_meters} customer meters,"
                  f" {report.events} events replayed in {report.seconds:.3f} s "
                  f"({rate:,.0f} events/s)")
    if not report.drifts:
        console.print("[green]no drift[/green]")
        return
    table = Table(title=f"{len(report.drifts)} drifts")
    for column in ("customer meter", "customer", "meter"):
        table.add_column(column, overflow="fold")
    for column in ("field", "projected", "recomputed"):
        table.add_column(column, no_wrap=True, min_width=len(column))
    for d in report.drifts:
        table.add_row(str(d.customer_meter_id), str(d.customer_id), str(d.meter_id), d.field,
                      "-" if d.projected is None else str(d.projected),
                      "-" if d.recomputed is None else str(d.recomputed))
    console.print(table)
