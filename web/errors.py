"""HTTP errors and their mapping to Polar's error bodies."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import IntegrityError
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from domain.errors import FieldError, Forbidden, InvalidInput, NotFound
from domain.values import dumps


class HTTPError(Exception):
    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


class Unauthorized(HTTPError):
    def __init__(self, detail: str = "Invalid or missing access token") -> None:
        super().__init__(401, "Unauthorized", detail)


class PayloadTooLarge(HTTPError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, "RequestEntityTooLarge",
                         f"Request body exceeds the limit of {limit} bytes")


class ReadModelsBehind(HTTPError):
    """Nothing found while the read models had not yet applied the ledger position the request
    waited for: what it looks for may be recorded (a write's own result, say) and not readable
    yet. A 404 would tell a client to write it again."""

    def __init__(self, position: int) -> None:
        super().__init__(503, "ServiceUnavailable",
                         f"The read models have not caught up with ledger position {position} "
                         "yet (are the projections running?). Anything written is recorded: "
                         "do not send it again; read it once they have caught up.")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(data), status_code=status, headers=headers,
                    media_type="application/json")


def from_pydantic(error: ValidationError, prefix: tuple[str | int, ...]) -> InvalidInput:
    return InvalidInput([
        FieldError((*prefix, *e["loc"]), e["msg"], e["type"], _jsonable(e.get("input")))
        for e in error.errors(include_url=False)
    ])


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict | list | str | int | float | bool) or value is None:
        return value
    return str(value)


def error_response(_request: Request, exc: Exception) -> Response:
    match exc:
        case InvalidInput():
            return json_response({"detail": [e.as_json() for e in exc.errors]}, 422)
        case NotFound():
            return json_response({"error": "ResourceNotFound", "detail": exc.what}, 404)
        case Forbidden():
            return json_response({"error": "NotPermitted", "detail": str(exc)}, 403)
        case IntegrityError():
            return json_response({"error": "Conflict", "detail": "A concurrent request changed "
                                  "this resource first; retry the request."}, 409)
        case ReadModelsBehind():
            return json_response({"error": exc.error, "detail": exc.detail}, exc.status,
                                 {"Retry-After": "1"})
        case HTTPError():
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
            return json_response({"error": exc.error, "detail": exc.detail}, exc.status, headers)
    raise exc
