"""Bearer tokens: 401, 403, organization isolation, and the `metering token` CLI."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from commands.tokens import RevokeToken, revoke_token
from tests.conftest import new_token
from web.bootstrap import Services
from web.cli import main
from web.config import Settings

ROUTES = [
    ("POST", "/v1/events/ingest"), ("GET", "/v1/events/"), ("GET", "/v1/events/names"),
    ("GET", "/v1/events/00000000-0000-4000-8000-000000000001"), ("GET", "/v1/event-types/"),
    ("PATCH", "/v1/event-types/00000000-0000-4000-8000-000000000001"),
    ("GET", "/v1/customers/"), ("POST", "/v1/customers/"),
    ("GET", "/v1/customers/external/x"), ("DELETE", "/v1/customers/external/x"),
    ("GET", "/v1/customers/external/x/members"),
]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def status(client: TestClient, headers: dict[str, str], method: str = "GET",
           path: str = "/v1/events/", **kwargs: Any) -> int:
    return client.request(method, path, headers=headers, **kwargs).status_code


# 401 -------------------------------------------------------------------------------------

@pytest.mark.usefixtures("services")
def test_every_v1_route_needs_a_token(client: TestClient) -> None:
    assert [status(client, {}, method, path) for method, path in ROUTES] == [401] * len(ROUTES)


def test_missing_token_is_401_with_a_bearer_challenge(client: TestClient) -> None:
    response = client.get("/v1/events/")
    assert (response.status_code, response.headers["www-authenticate"]) == (401, "Bearer")


def test_unknown_token_is_401(client: TestClient) -> None:
    assert status(client, bearer("polar_oat_not-a-real-token")) == 401


def test_other_scheme_than_bearer_is_401(client: TestClient, token: str) -> None:
    assert status(client, {"Authorization": f"Basic {token}"}) == 401


def test_revoked_token_is_401(client: TestClient, auth: dict[str, str], token: str,
                             services: Services) -> None:
    assert status(client, auth) == 200
    revoke_token(RevokeToken(token), services.ledger)
    assert status(client, auth) == 401


def test_revoking_one_token_keeps_the_others(client: TestClient, token: str,
                                             services: Services) -> None:
    other = new_token(services)
    revoke_token(RevokeToken(token), services.ledger)
    assert status(client, bearer(other)) == 200


def test_health_and_openapi_need_no_token(client: TestClient) -> None:
    assert (client.get("/healthz").status_code, client.get("/openapi.json").status_code) == \
        (200, 200)


# 403 -------------------------------------------------------------------------------------

def test_read_scope_cannot_ingest(client: TestClient, services: Services) -> None:
    reader = bearer(new_token(services, "acme", "events:read"))
    position = services.ledger.position()
    response = client.post("/v1/events/ingest", headers=reader, json={"events": [
        {"name": "a", "external_customer_id": "c"}]})
    assert response.status_code == 403
    assert services.ledger.position() == position
    assert client.get("/v1/events/", headers=reader).json()["pagination"]["total_count"] == 0


def test_write_scope_can_also_read_events(client: TestClient, services: Services) -> None:
    writer = bearer(new_token(services, "acme", "events:write"))
    assert status(client, writer) == 200


def test_events_scope_cannot_reach_customers(client: TestClient, services: Services) -> None:
    events_only = bearer(new_token(services, "acme", "events:read,events:write"))
    assert (status(client, events_only, "GET", "/v1/customers/"),
            status(client, events_only, "POST", "/v1/customers/",
                   json={"email": "a@example.com"})) == (403, 403)


def test_customers_read_scope_cannot_create_customers(client: TestClient,
                                                      services: Services) -> None:
    reader = bearer(new_token(services, "acme", "customers:read"))
    assert status(client, reader, "POST", "/v1/customers/", json={"email": "a@b.c"}) == 403


def test_events_read_scope_cannot_relabel_event_types(client: TestClient,
                                                      services: Services) -> None:
    reader = bearer(new_token(services, "acme", "events:read"))
    assert status(client, reader, "PATCH",
                  "/v1/event-types/00000000-0000-4000-8000-000000000001",
                  json={"label": "x"}) == 403


# Isolation -------------------------------------------------------------------------------

def test_other_organizations_events_are_absent_from_every_list(client: TestClient,
                                                               auth: dict[str, str],
                                                               services: Services) -> None:
    other = bearer(new_token(services, "globex"))
    client.post("/v1/events/ingest", headers=other, json={"events": [
        {"name": "secret", "external_customer_id": "c", "external_id": "k"}]})
    client.post("/v1/events/ingest", headers=auth, json={"events": [
        {"name": "mine", "external_customer_id": "c"}]})
    assert [e["name"] for e in client.get("/v1/events/", headers=auth).json()["items"]] == \
        ["mine"]
    assert [n["name"] for n in client.get("/v1/events/names",
                                          headers=auth).json()["items"]] == ["mine"]
    assert [t["name"] for t in client.get("/v1/event-types/",
                                          headers=auth).json()["items"]] == ["mine"]


def test_idempotency_keys_are_per_organization(client: TestClient, auth: dict[str, str],
                                               services: Services) -> None:
    other = bearer(new_token(services, "globex"))
    batch = {"events": [{"name": "a", "external_customer_id": "c", "external_id": "k"}]}
    client.post("/v1/events/ingest", headers=other, json=batch)
    assert client.post("/v1/events/ingest", headers=auth, json=batch).json()["inserted"] == 1


def test_parent_external_id_of_another_organization_is_not_linked(client: TestClient,
                                                                  auth: dict[str, str],
                                                                  services: Services) -> None:
    other = bearer(new_token(services, "globex"))
    client.post("/v1/events/ingest", headers=other, json={"events": [
        {"name": "root", "external_customer_id": "c", "external_id": "p"}]})
    client.post("/v1/events/ingest", headers=auth, json={"events": [
        {"name": "child", "external_customer_id": "c", "parent_id": "p"}]})
    child = client.get("/v1/events/", headers=auth).json()["items"][0]
    assert (child["parent_id"], child["depth"]) == (None, 0)


def test_customer_filter_by_external_id_stays_in_the_organization(client: TestClient,
                                                                  auth: dict[str, str],
                                                                  services: Services) -> None:
    other = bearer(new_token(services, "globex"))
    theirs = client.post("/v1/customers/", headers=other,
                         json={"email": "x@globex.com", "external_id": "shared"}).json()
    client.post("/v1/events/ingest", headers=other, json={"events": [
        {"name": "secret", "customer_id": theirs["id"]}]})
    listed = client.get("/v1/events/", headers=auth,
                        params={"external_customer_id": "shared"}).json()
    assert listed["items"] == []


# CLI -------------------------------------------------------------------------------------

def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    if settings.database_schema:
        monkeypatch.setenv("METERING_DATABASE_SCHEMA", settings.database_schema)
    return main(["--database-url", settings.database_url, *args])


def test_cli_token_create_prints_only_a_working_token(client: TestClient, settings: Settings,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    assert cli(settings, monkeypatch, "token", "create", "--organization", "x") == 0
    out = capsys.readouterr().out
    token = out.strip()
    assert out == token + "\n"
    assert token.startswith("polar_oat_") and " " not in token
    assert status(client, bearer(token)) == 200


def test_cli_token_with_scopes_is_limited_to_them(client: TestClient, settings: Settings,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    cli(settings, monkeypatch, "token", "create", "--organization", "x",
        "--scopes", "events:read")
    token = bearer(capsys.readouterr().out.strip())
    assert (status(client, token), status(client, token, "POST", "/v1/events/ingest",
                                          json={"events": []})) == (200, 403)


def test_cli_tokens_of_one_organization_see_the_same_data(client: TestClient,
                                                          settings: Settings,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    cli(settings, monkeypatch, "token", "create", "--organization", "x")
    cli(settings, monkeypatch, "token", "create", "--organization", "x")
    first, second = (bearer(t) for t in capsys.readouterr().out.split())
    client.post("/v1/events/ingest", headers=first, json={"events": [
        {"name": "a", "external_customer_id": "c"}]})
    assert client.get("/v1/events/", headers=second).json()["pagination"]["total_count"] == 1


def test_cli_token_revoke_makes_it_401(client: TestClient, settings: Settings,
                                       monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    cli(settings, monkeypatch, "token", "create", "--organization", "x")
    token = capsys.readouterr().out.strip()
    assert status(client, bearer(token)) == 200
    assert cli(settings, monkeypatch, "token", "revoke", token) == 0
    assert capsys.readouterr().out == ""
    assert status(client, bearer(token)) == 401


def test_cli_revoking_an_unknown_token_fails(settings: Settings,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(settings, monkeypatch, "token", "revoke", "polar_oat_nope") == 2
    assert capsys.readouterr().out == ""
