"""The OpenAPI document covers every route the app serves."""

from __future__ import annotations

from starlette.routing import Route
from starlette.testclient import TestClient


def test_openapi_documents_every_route_and_method(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    served = {(route.path, method.lower())
              for route in client.app.routes  # type: ignore[attr-defined]
              if isinstance(route, Route) and route.path not in ("/healthz", "/openapi.json")
              for method in (route.methods or ()) if method != "HEAD"}
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert served == documented
    assert len(served) > 40
