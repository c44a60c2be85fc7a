"""A small declarative layer over Starlette routes: auth, scopes, body and query validation,
read-your-writes waits, JSON with exact numbers, and the OpenAPI document, in one place."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from commands.tokens import Principal, authenticate
from domain.errors import InvalidInput, NotFound
from domain.values import loads
from web.bootstrap import Services
from web.errors import (
    PayloadTooLarge,
    ReadModelsBehind,
    Unauthorized,
    from_pydantic,
    json_response,
)

MAX_BODY = 10 * 1024 * 1024
POSITION_HEADER = "Metering-Ledger-Position"
STALE_HEADER = "Metering-Stale"


@dataclass
class Call:
    """What an endpoint receives."""

    services: Services
    principal: Principal
    path: dict[str, str]
    query: Any
    body: Any
    request: Request
    stale_at: int | None = None
    """The ledger position the read models did not reach in time (None: they did)."""

    @property
    def organization_id(self) -> Any:
        return self.principal.organization_id

    def fresh(self, position: int, projections: tuple[str, ...] | None = None) -> None:
        """Wait until the read models reflect `position` (read-your-writes).

        If they do not get there in time the answer is served anyway, marked stale; an answer
        that would be "not found" is a 503 instead (`ReadModelsBehind`)."""
        self.services.runner.poke()
        if not self.services.runner.wait(position, projections,
                                         self.services.settings.read_wait_timeout):
            self.stale_at = position


@dataclass
class Operation:
    method: str
    path: str
    endpoint: Callable[[Call], Any]
    scopes: tuple[str, ...]
    summary: str
    response: Any
    body: Any = None
    query: type[BaseModel] | None = None
    status: int = 200
    reads: tuple[str, ...] | None = ()
    raw_body: bool = False
    tags: tuple[str, ...] = ()


@dataclass
class Api:
    operations: list[Operation] = field(default_factory=list)

    def route(self, method: str, path: str, *, scopes: tuple[str, ...], summary: str,
              response: Any, body: Any = None, query: type[BaseModel] | None = None,
              status: int = 200, reads: tuple[str, ...] | None = (), raw_body: bool = False,
              tags: tuple[str, ...] = ()) -> Callable[[Callable[[Call], Any]],
                                                     Callable[[Call], Any]]:
        """Declare an endpoint. `reads` names the projections it reads (None: all of them);
        before answering, they are caught up with the ledger as it was when the request came."""
        def register(endpoint: Callable[[Call], Any]) -> Callable[[Call], Any]:
            self.operations.append(Operation(method, path, endpoint, scopes, summary, response,
                                             body, query, status, reads, raw_body, tags))
            return endpoint
        return register

    def routes(self, services: Services) -> list[Route]:
        by_path: dict[str, dict[str, Operation]] = {}
        for op in self.operations:
            by_path.setdefault(op.path, {})[op.method] = op
        return [Route(path, _dispatcher(services, ops), methods=list(ops))
                for path, ops in by_path.items()]


def _dispatcher(services: Services, ops: dict[str, Operation]) -> Callable[[Request], Any]:
    async def dispatch(request: Request) -> Response:
        op = ops[request.method]
        principal = await run_in_threadpool(_principal, services, request)
        principal.require(*op.scopes)
        body: Any = None
        if op.body is not None or op.raw_body:
            body = _parse_body(await _read_body(request), op)
        query = _parse_query(request, op.query) if op.query is not None else None
        call = Call(services, principal, dict(request.path_params), query, body, request)
        try:
            result = await run_in_threadpool(_run, op, call)
        except NotFound:
            if call.stale_at is None:
                raise
            raise ReadModelsBehind(call.stale_at) from None
        if not isinstance(result, Response):
            data = result.model_dump(mode="python", by_alias=True) \
                if isinstance(result, BaseModel) else result
            result = json_response(data, op.status)
        if call.stale_at is not None:
            result.headers[STALE_HEADER] = "true"
        return result
    return dispatch


def _run(op: Operation, call: Call) -> Any:
    if op.reads is None or op.reads:
        target = int(call.request.headers.get(POSITION_HEADER) or 0)
        call.fresh(max(target, call.services.ledger.position()), op.reads)
    return op.endpoint(call)


def _principal(services: Services, request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized
    try:
        return authenticate(token.strip(), services.ledger)
    except NotFound:
        raise Unauthorized from None


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise PayloadTooLarge(MAX_BODY)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise PayloadTooLarge(MAX_BODY)
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_body(raw: bytes, op: Operation) -> Any:
    try:
        data = loads(raw) if raw else None
    except ValueError as e:
        raise InvalidInput.one(("body",), f"JSON decode error: {e}", "json_invalid") from None
    if op.raw_body:
        return data
    try:
        return TypeAdapter(op.body).validate_python(data)
    except ValidationError as e:
        raise from_pydantic(e, ("body",)) from None


_DEEP = re.compile(r"^(\w+)\[([^\]]*)\]$")


def _parse_query(request: Request, model: type[BaseModel]) -> BaseModel:
    data: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        match = _DEEP.match(key)
        if match:
            data.setdefault(match.group(1), {}).setdefault(match.group(2), []).append(value)
            continue
        annotation = model.model_fields[key].annotation if key in model.model_fields else None
        if _is_list(annotation):
            data.setdefault(key, []).append(value)
        else:
            data[key] = value
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise from_pydantic(e, ("query",)) from None


def _is_list(annotation: Any) -> bool:
    if get_origin(annotation) is list:
        return True
    return any(_is_list(a) for a in get_args(annotation))
