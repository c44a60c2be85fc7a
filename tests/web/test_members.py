"""/v1/customers/{id}/members and /v1/customers/external/{external_id}/members."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import new_token
from web.bootstrap import Services

MEMBER_KEYS = {"id", "created_at", "modified_at", "customer_id", "email", "name", "external_id",
               "role"}


@pytest.fixture
def team(client: TestClient, auth: dict[str, str]) -> dict[str, Any]:
    response = client.post("/v1/customers/", json={"email": "owner@acme.test", "type": "team",
                                                   "external_id": "acme-team", "name": "Acme"},
                           headers=auth)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def add(client: TestClient, auth: dict[str, str], customer_id: str,
        **fields: Any) -> dict[str, Any]:
    response = client.post(f"/v1/customers/{customer_id}/members", json=fields, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def member_emails(client: TestClient, auth: dict[str, str], path: str, **params: Any) -> list[str]:
    response = client.get(path, params=params, headers=auth)
    assert response.status_code == 200, response.text
    return sorted(m["email"] for m in response.json()["items"])


def test_create_member_returns_it_with_201(client: TestClient, auth: dict[str, str],
                                           team: dict[str, Any]) -> None:
    response = client.post(f"/v1/customers/{team['id']}/members",
                           json={"email": "bob@acme.test", "name": "Bob", "external_id": "bob"},
                           headers=auth)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == MEMBER_KEYS
    assert {k: body[k] for k in ("customer_id", "email", "name", "external_id", "role")} == {
        "customer_id": team["id"], "email": "bob@acme.test", "name": "Bob",
        "external_id": "bob", "role": "member"}


def test_customer_is_created_with_its_owner_member(client: TestClient, auth: dict[str, str],
                                                   team: dict[str, Any]) -> None:
    members = client.get(f"/v1/customers/{team['id']}/members", headers=auth).json()["items"]
    assert [(m["email"], m["role"]) for m in members] == [("owner@acme.test", "owner")]


def test_list_members_by_customer_external_id(client: TestClient, auth: dict[str, str],
                                              team: dict[str, Any]) -> None:
    add(client, auth, team["id"], email="bob@acme.test")
    assert member_emails(client, auth, "/v1/customers/external/acme-team/members") == \
        ["bob@acme.test", "owner@acme.test"]


def test_list_members_filters_by_role(client: TestClient, auth: dict[str, str],
                                      team: dict[str, Any]) -> None:
    add(client, auth, team["id"], email="bob@acme.test", role="billing_manager")
    add(client, auth, team["id"], email="eve@acme.test")
    assert member_emails(client, auth, f"/v1/customers/{team['id']}/members",
                         role="billing_manager") == ["bob@acme.test"]


def test_create_member_by_customer_external_id(client: TestClient, auth: dict[str, str],
                                               team: dict[str, Any]) -> None:
    response = client.post("/v1/customers/external/acme-team/members",
                           json={"email": "bob@acme.test"}, headers=auth)
    assert (response.status_code, response.json()["customer_id"]) == (201, team["id"])


def test_duplicate_member_email_is_rejected(client: TestClient, auth: dict[str, str],
                                            team: dict[str, Any]) -> None:
    add(client, auth, team["id"], email="bob@acme.test")
    response = client.post(f"/v1/customers/{team['id']}/members",
                           json={"email": "BOB@acme.test"}, headers=auth)
    assert response.status_code == 422
    assert [d["loc"] for d in response.json()["detail"]] == [["body", "email"]]


def test_duplicate_member_external_id_is_rejected(client: TestClient, auth: dict[str, str],
                                                  team: dict[str, Any]) -> None:
    add(client, auth, team["id"], email="bob@acme.test", external_id="m1")
    response = client.post(f"/v1/customers/{team['id']}/members",
                           json={"email": "eve@acme.test", "external_id": "m1"}, headers=auth)
    assert [d["loc"] for d in response.json()["detail"]] == [["body", "external_id"]]


def test_get_member_by_id(client: TestClient, auth: dict[str, str],
                          team: dict[str, Any]) -> None:
    member = add(client, auth, team["id"], email="bob@acme.test")
    response = client.get(f"/v1/customers/{team['id']}/members/{member['id']}", headers=auth)
    assert response.json() == member


def test_get_member_by_external_ids(client: TestClient, auth: dict[str, str],
                                    team: dict[str, Any]) -> None:
    member = add(client, auth, team["id"], email="bob@acme.test", external_id="bob")
    response = client.get("/v1/customers/external/acme-team/members/bob", headers=auth)
    assert response.json() == member


def test_update_member_by_id(client: TestClient, auth: dict[str, str],
                             team: dict[str, Any]) -> None:
    member = add(client, auth, team["id"], email="bob@acme.test")
    response = client.patch(f"/v1/customers/{team['id']}/members/{member['id']}",
                            json={"name": "Robert", "role": "billing_manager"}, headers=auth)
    body = response.json()
    assert (response.status_code, body["name"], body["role"], body["email"]) == (
        200, "Robert", "billing_manager", "bob@acme.test")


def test_update_member_by_external_ids(client: TestClient, auth: dict[str, str],
                                       team: dict[str, Any]) -> None:
    add(client, auth, team["id"], email="bob@acme.test", external_id="bob")
    response = client.patch("/v1/customers/external/acme-team/members/bob",
                            json={"email": "robert@acme.test"}, headers=auth)
    assert response.json()["email"] == "robert@acme.test"


def test_member_email_given_up_by_an_update_can_be_reused(client: TestClient,
                                                          auth: dict[str, str],
                                                          team: dict[str, Any]) -> None:
    member = add(client, auth, team["id"], email="bob@acme.test")
    client.patch(f"/v1/customers/{team['id']}/members/{member['id']}",
                 json={"email": "robert@acme.test"}, headers=auth)
    assert add(client, auth, team["id"], email="bob@acme.test")["email"] == "bob@acme.test"


def test_delete_member_answers_204_and_hides_it(client: TestClient, auth: dict[str, str],
                                                team: dict[str, Any]) -> None:
    member = add(client, auth, team["id"], email="bob@acme.test")
    path = f"/v1/customers/{team['id']}/members/{member['id']}"
    assert client.delete(path, headers=auth).status_code == 204
    assert client.get(path, headers=auth).status_code == 404
    assert member_emails(client, auth, f"/v1/customers/{team['id']}/members") == \
        ["owner@acme.test"]


def test_delete_member_by_external_ids(client: TestClient, auth: dict[str, str],
                                       team: dict[str, Any]) -> None:
    add(client, auth, team["id"], email="bob@acme.test", external_id="bob")
    path = "/v1/customers/external/acme-team/members/bob"
    assert client.delete(path, headers=auth).status_code == 204
    assert client.get(path, headers=auth).status_code == 404


def test_member_of_another_customer_is_404(client: TestClient, auth: dict[str, str],
                                           team: dict[str, Any]) -> None:
    member = add(client, auth, team["id"], email="bob@acme.test")
    other = client.post("/v1/customers/", json={"email": "z@zeta.test"}, headers=auth).json()
    path = f"/v1/customers/{other['id']}/members/{member['id']}"
    assert client.get(path, headers=auth).status_code == 404
    assert client.patch(path, json={"name": "x"}, headers=auth).status_code == 404
    assert client.delete(path, headers=auth).status_code == 404


def test_members_of_another_organizations_customer_are_404(client: TestClient,
                                                           auth: dict[str, str],
                                                           services: Services) -> None:
    other = {"Authorization": f"Bearer {new_token(services, 'globex')}"}
    customer = client.post("/v1/customers/", json={"email": "x@globex.test"},
                           headers=other).json()
    base = f"/v1/customers/{customer['id']}/members"
    assert client.get(base, headers=auth).status_code == 404
    assert client.post(base, json={"email": "spy@acme.test"}, headers=auth).status_code == 404


def test_members_of_a_deleted_customer_are_404(client: TestClient, auth: dict[str, str],
                                               team: dict[str, Any]) -> None:
    client.delete(f"/v1/customers/{team['id']}", headers=auth)
    response = client.get(f"/v1/customers/{team['id']}/members", headers=auth)
    assert response.status_code == 404
