"""The Starlette application: routes, error mapping, OpenAPI, and the in-process projector."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from typing import Any

from eventsourcing.persistence import IntegrityError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.errors import LedgerError
from web import collector
from web.api import Api, Operation
from web.bootstrap import Services, bootstrap
from web.config import Settings
from web.errors import HTTPError, error_response, json_response
from web.openapi import build_openapi
from web.routes import (
    benefits,
    customer_meters,
    customers,
    event_types,
    events,
    hierarchy,
    meters,
    orders,
    products,
    subscriptions,
)

# hierarchy first: its /v1/events/costs must match before /v1/events/{id}.
API_MODULES: tuple[Api, ...] = (hierarchy.api, events.api, event_types.api, customers.api,
                                meters.api, benefits.api, products.api, orders.api,
                                subscriptions.api, customer_meters.api)
VERSION = "0.1.0"


def operations() -> list[Operation]:
    return [op for api in API_MODULES for op in api.operations]


@cache
def openapi_document() -> dict[str, Any]:
    """Built once per process, on first use: the operations never change at run time, and
    building the document costs more than the rest of `create_app`."""
    return build_openapi(operations(), "Metering ledger (Polar-compatible API)", VERSION)


def app_from_env() -> Starlette:
    """The app configured by the environment: uvicorn's factory in each worker process."""
    app = create_app(Settings.from_env())
    collector.settle()
    return app


def create_app(settings: Settings, services: Services | None = None) -> Starlette:
    """Build the app. With `services` given, the caller owns them (and their lifecycle)."""
    owned = services is None
    services = services or bootstrap(settings)

    async def healthz(_request: Request) -> Response:
        return json_response({"status": "ok", "ledger_position": services.ledger.position()})

    async def openapi(_request: Request) -> Response:
        return json_response(openapi_document())

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if settings.run_projections and owned:
            services.runner.start()
        try:
            yield
        finally:
            if owned:
                services.close()

    routes: list[Any] = [Route("/healthz", healthz), Route("/openapi.json", openapi)]
    for api in API_MODULES:
        routes.extend(api.routes(services))
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={LedgerError: error_response, HTTPError: error_response,
                                        IntegrityError: error_response})
    app.state.services = services
    return app
