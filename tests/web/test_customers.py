"""/v1/customers: create, read, update, soft delete, list."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.testclient import TestClient

from tests.conftest import new_token
from web.bootstrap import Services

CUSTOMER_KEYS = {"id", "created_at", "modified_at", "metadata", "external_id", "email",
                 "email_verified", "type", "name", "billing_name", "billing_address", "tax_id",
                 "locale", "organization_id", "default_payment_method_id", "deleted_at",
                 "first_user_event_at", "avatar_url"}


def create(client: TestClient, auth: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/customers/", json=fields, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def locs(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    return [d["loc"] for d in response.json()["detail"]]


def emails(client: TestClient, auth: dict[str, str], **params: Any) -> list[str]:
    response = client.get("/v1/customers/", params={"sorting": "email", **params}, headers=auth)
    assert response.status_code == 200, response.text
    return [c["email"] for c in response.json()["items"]]


def test_create_returns_the_customer_with_201(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post("/v1/customers/", json={
        "email": "ada@example.com", "name": "Ada", "external_id": "ada",
        "metadata": {"plan": "pro", "seats": 3}}, headers=auth)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == CUSTOMER_KEYS
    assert {k: body[k] for k in ("email", "name", "external_id", "metadata", "type",
                                 "deleted_at", "modified_at", "first_user_event_at")} == {
        "email": "ada@example.com", "name": "Ada", "external_id": "ada",
        "metadata": {"plan": "pro", "seats": 3}, "type": "individual", "deleted_at": None,
        "modified_at": None, "first_user_event_at": None}


def test_individual_customer_needs_an_email(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post("/v1/customers/", json={"name": "Nobody"}, headers=auth)
    assert locs(response) == [["body", "email"]]


def test_duplicate_email_is_rejected(client: TestClient, auth: dict[str, str]) -> None:
    create(client, auth, email="ada@example.com")
    response = client.post("/v1/customers/", json={"email": "ADA@example.com"}, headers=auth)
    assert locs(response) == [["body", "email"]]


def test_duplicate_external_id_is_rejected(client: TestClient, auth: dict[str, str]) -> None:
    create(client, auth, email="a@example.com", external_id="same")
    response = client.post("/v1/customers/", json={"email": "b@example.com",
                                                   "external_id": "same"}, headers=auth)
    assert locs(response) == [["body", "external_id"]]


def test_rejected_create_records_nothing(client: TestClient, auth: dict[str, str],
                                         services: Services) -> None:
    create(client, auth, email="a@example.com", external_id="same")
    position = services.ledger.position()
    client.post("/v1/customers/", json={"email": "b@example.com", "external_id": "same"},
                headers=auth)
    assert services.ledger.position() == position
    assert emails(client, auth) == ["a@example.com"]


def test_same_email_is_allowed_in_another_organization(client: TestClient,
                                                       auth: dict[str, str],
                                                       services: Services) -> None:
    other = {"Authorization": f"Bearer {new_token(services, 'globex')}"}
    create(client, auth, email="ada@example.com", external_id="ada")
    assert create(client, other, email="ada@example.com", external_id="ada")["email"] == \
        "ada@example.com"


def test_get_by_id_returns_the_created_customer(client: TestClient,
                                                auth: dict[str, str]) -> None:
    customer = create(client, auth, email="ada@example.com")
    assert client.get(f"/v1/customers/{customer['id']}", headers=auth).json() == customer


def test_get_by_external_id_returns_the_customer(client: TestClient,
                                                 auth: dict[str, str]) -> None:
    customer = create(client, auth, email="ada@example.com", external_id="ada")
    assert client.get("/v1/customers/external/ada", headers=auth).json() == customer


def test_get_unknown_customer_is_404(client: TestClient, auth: dict[str, str]) -> None:
    assert client.get("/v1/customers/00000000-0000-4000-8000-000000000001",
                      headers=auth).status_code == 404
    assert client.get("/v1/customers/external/nobody", headers=auth).status_code == 404
    assert client.get("/v1/customers/not-a-uuid", headers=auth).status_code == 404


def test_get_customer_of_another_organization_is_404(client: TestClient, auth: dict[str, str],
                                                     services: Services) -> None:
    other = {"Authorization": f"Bearer {new_token(services, 'globex')}"}
    customer = create(client, other, email="x@globex.com", external_id="x")
    assert client.get(f"/v1/customers/{customer['id']}", headers=auth).status_code == 404
    assert client.get("/v1/customers/external/x", headers=auth).status_code == 404


def test_first_user_event_at_is_the_earliest_event_under_either_reference(
        client: TestClient, auth: dict[str, str]) -> None:
    customer = create(client, auth, email="ada@example.com", external_id="ada")
    client.post("/v1/events/ingest", json={"events": [
        {"name": "a", "customer_id": customer["id"], "timestamp": "2026-01-02T00:00:00Z"},
        {"name": "a", "external_customer_id": "ada", "timestamp": "2026-01-01T00:00:00Z"}]},
                headers=auth)
    fetched = client.get(f"/v1/customers/{customer['id']}", headers=auth).json()
    assert fetched["first_user_event_at"] == "2026-01-01T00:00:00+00:00"


# Update -----------------------------------------------------------------------------------

def test_patch_changes_only_the_given_fields(client: TestClient, auth: dict[str, str]) -> None:
    customer = create(client, auth, email="ada@example.com", name="Ada", metadata={"a": 1})
    response = client.patch(f"/v1/customers/{customer['id']}", json={"name": "Ada L."},
                            headers=auth)
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["email"], body["metadata"]) == ("Ada L.", "ada@example.com",
                                                                {"a": 1})
    assert body["modified_at"] is not None


def test_patch_replaces_metadata(client: TestClient, auth: dict[str, str]) -> None:
    customer = create(client, auth, email="ada@example.com", metadata={"a": 1})
    body = client.patch(f"/v1/customers/{customer['id']}", json={"metadata": {"b": "x"}},
                        headers=auth).json()
    assert body["metadata"] == {"b": "x"}


def test_patch_sets_an_external_id_that_was_unset(client: TestClient,
                                                  auth: dict[str, str]) -> None:
    customer = create(client, auth, email="ada@example.com")
    client.patch(f"/v1/customers/{customer['id']}", json={"external_id": "ada"}, headers=auth)
    assert client.get("/v1/customers/external/ada", headers=auth).json()["id"] == customer["id"]


def test_external_id_cannot_change_once_set(client: TestClient, auth: dict[str, str]) -> None:
    customer = create(client, auth, email="ada@example.com", external_id="ada")
    response = client.patch(f"/v1/customers/{customer['id']}", json={"external_id": "other"},
                            headers=auth)
    assert locs(response) == [["body", "external_id"]]


def test_patch_to_an_email_already_taken_is_rejected(client: TestClient,
                                                     auth: dict[str, str]) -> None:
    create(client, auth, email="taken@example.com")
    customer = create(client, auth, email="ada@example.com")
    response = client.patch(f"/v1/customers/{customer['id']}",
                            json={"email": "taken@example.com"}, headers=auth)
    assert locs(response) == [["body", "email"]]


def test_email_given_up_by_a_patch_can_be_reused(client: TestClient,
                                                 auth: dict[str, str]) -> None:
    customer = create(client, auth, email="old@example.com")
    client.patch(f"/v1/customers/{customer['id']}", json={"email": "new@example.com"},
                 headers=auth)
    assert create(client, auth, email="old@example.com")["email"] == "old@example.com"


def test_patch_by_external_id(client: TestClient, auth: dict[str, str]) -> None:
    create(client, auth, email="ada@example.com", external_id="ada")
    response = client.patch("/v1/customers/external/ada", json={"name": "Ada"}, headers=auth)
    assert (response.status_code, response.json()["name"]) == (200, "Ada")


def test_patch_customer_of_another_organization_is_404(client: TestClient,
                                                       auth: dict[str, str],
                                                       services: Services) -> None:
    other = {"Authorization": f"Bearer {new_token(services, 'globex')}"}
    customer = create(client, other, email="x@globex.com")
    response = client.patch(f"/v1/customers/{customer['id']}", json={"name": "pwned"},
                            headers=auth)
    assert response.status_code == 404
    assert client.get(f"/v1/customers/{customer['id']}", headers=other).json()["name"] is None


# Delete -----------------------------------------------------------------------------------

def test_delete_answers_204(client: TestClient, auth: dict[str, str]) -> None:
    customer = create(client, auth, email="ada@example.com", external_id="ada")
    response = client.delete(f"/v1/customers/{customer['id']}", headers=auth)
    assert (response.status_code, response.content) == (204, b"")


def test_deleted_customer_is_not_found_by_external_id(client: TestClient,
                                                      auth: dict[str, str]) -> None:
    customer = create(client, auth, email="ada@example.com", external_id="ada")
    client.delete(f"/v1/customers/{customer['id']}", headers=auth)
    assert client.get("/v1/customers/external/ada", headers=auth).status_code == 404


def test_deleted_customer_is_not_found_by_id(client: TestClient, auth: dict[str, str]) -> None:
    """As Polar: a deleted customer is gone from reads (its events and orders stay)."""
    customer = create(client, auth, email="ada@example.com")
    client.delete(f"/v1/customers/{customer['id']}", headers=auth)
    response = client.get(f"/v1/customers/{customer['id']}", headers=auth)
    assert (response.status_code, response.json()) == (404, {
        "error": "ResourceNotFound", "detail": "Customer not found"})


def test_deleted_customer_leaves_the_list(client: TestClient, auth: dict[str, str]) -> None:
    customer = create(client, auth, email="ada@example.com")
    create(client, auth, email="bob@example.com")
    client.delete(f"/v1/customers/{customer['id']}", headers=auth)
    assert emails(client, auth) == ["bob@example.com"]


def test_events_of_a_deleted_customer_are_still_listed(client: TestClient,
                                                       auth: dict[str, str]) -> None:
    customer = create(client, auth, email="ada@example.com", external_id="ada")
    client.post("/v1/events/ingest", json={"events": [
        {"name": "a", "customer_id": customer["id"]},
        {"name": "a", "external_customer_id": "ada"}]}, headers=auth)
    client.delete(f"/v1/customers/{customer['id']}", headers=auth)
    listed = client.get("/v1/events/", headers=auth).json()
    assert listed["pagination"]["total_count"] == 2


def test_delete_by_external_id_frees_the_external_id_and_email(client: TestClient,
                                                               auth: dict[str, str]) -> None:
    create(client, auth, email="ada@example.com", external_id="ada")
    assert client.delete("/v1/customers/external/ada", headers=auth).status_code == 204
    again = create(client, auth, email="ada@example.com", external_id="ada")
    assert client.get("/v1/customers/external/ada", headers=auth).json()["id"] == again["id"]


def test_deleting_twice_is_404(client: TestClient, auth: dict[str, str]) -> None:
    customer = create(client, auth, email="ada@example.com")
    client.delete(f"/v1/customers/{customer['id']}", headers=auth)
    assert client.delete(f"/v1/customers/{customer['id']}", headers=auth).status_code == 404


def test_patch_of_a_deleted_customer_is_404(client: TestClient, auth: dict[str, str]) -> None:
    customer = create(client, auth, email="ada@example.com")
    client.delete(f"/v1/customers/{customer['id']}", headers=auth)
    response = client.patch(f"/v1/customers/{customer['id']}", json={"name": "x"},
                            headers=auth)
    assert response.status_code == 404


# List -------------------------------------------------------------------------------------

def test_list_filters_by_exact_email_ignoring_case(client: TestClient,
                                                   auth: dict[str, str]) -> None:
    create(client, auth, email="ada@example.com")
    create(client, auth, email="ada@example.org")
    assert emails(client, auth, email="ADA@example.com") == ["ada@example.com"]


def test_list_query_matches_name_email_or_external_id(client: TestClient,
                                                      auth: dict[str, str]) -> None:
    create(client, auth, email="a@example.com", name="Grace Hopper")
    create(client, auth, email="b@example.com", external_id="hopper-2")
    create(client, auth, email="hopper@example.com")
    create(client, auth, email="d@example.com", name="Ada")
    assert emails(client, auth, query="HOPPER") == ["a@example.com", "b@example.com",
                                                    "hopper@example.com"]


def test_list_metadata_filter_ors_values_and_ands_keys(client: TestClient,
                                                       auth: dict[str, str]) -> None:
    create(client, auth, email="a@example.com", metadata={"plan": "pro", "region": "eu"})
    create(client, auth, email="b@example.com", metadata={"plan": "free", "region": "eu"})
    create(client, auth, email="c@example.com", metadata={"plan": "pro", "region": "us"})
    assert emails(client, auth, **{"metadata[plan]": ["pro", "free"],
                                   "metadata[region]": "eu"}) == ["a@example.com",
                                                                  "b@example.com"]


def test_list_pages_newest_first_by_default(client: TestClient, auth: dict[str, str]) -> None:
    for letter in "abc":
        create(client, auth, email=f"{letter}@example.com")
    first = client.get("/v1/customers/", params={"limit": 2}, headers=auth).json()
    second = client.get("/v1/customers/", params={"limit": 2, "page": 2}, headers=auth).json()
    assert [c["email"] for c in first["items"] + second["items"]] == \
        ["c@example.com", "b@example.com", "a@example.com"]
    assert first["pagination"] == {"total_count": 3, "max_page": 2}


def test_list_hides_other_organizations_customers(client: TestClient, auth: dict[str, str],
                                                  services: Services) -> None:
    other = {"Authorization": f"Bearer {new_token(services, 'globex')}"}
    create(client, other, email="x@globex.com")
    create(client, auth, email="ada@example.com")
    assert emails(client, auth) == ["ada@example.com"]
