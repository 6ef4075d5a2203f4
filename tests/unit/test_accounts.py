"""Companies, users, roles and tokens through the API."""

from __future__ import annotations

from typing import Any

from tests.conftest import ADMIN_KEY
from tests.support.events import Api


def test_company_is_created_with_an_admin_token_when_the_admin_key_is_right(api: Api) -> None:
    # When
    answer = api.post("/v1/companies", {"name": "Rosa Farms", "currency": "COP"}, headers={"X-Admin-Key": ADMIN_KEY})
    # Then
    assert answer.status == 201
    body = answer.json()
    assert body["companyId"].startswith("co_")
    assert api.get("/v1/directory/customers", token=body["adminToken"]).status == 200


def test_company_creation_is_refused_when_the_admin_key_is_wrong_or_missing(api: Api) -> None:
    assert api.post("/v1/companies", {"name": "X"}, headers={"X-Admin-Key": "nope"}).status == 401
    assert api.post("/v1/companies", {"name": "X"}).status == 401


def test_company_creation_names_the_field_when_the_currency_is_not_an_iso_code(api: Api) -> None:
    answer = api.post("/v1/companies", {"name": "X", "currency": "dollars"}, headers={"X-Admin-Key": ADMIN_KEY})
    assert answer.status == 400
    assert answer.json()["errors"][0]["field"] == "currency"


def test_admin_creates_users_with_roles_and_their_tokens_work(api: Api, company: dict[str, Any]) -> None:
    answer = api.post("/v1/users", {"name": "Ana", "email": "ana@example.com", "roles": ["Accounting"]})
    assert answer.status == 201
    user_token = answer.json()["token"]
    assert api.get("/v1/invoices", token=user_token).status == 200


def test_user_creation_is_refused_when_a_role_is_unknown(api: Api, company: dict[str, Any]) -> None:
    answer = api.post("/v1/users", {"name": "Ana", "email": "ana@example.com", "roles": ["Janitor"]})
    assert answer.status == 400
    assert answer.json()["errors"][0]["field"] == "roles[0]"


def test_non_admin_cannot_create_users(api: Api, company: dict[str, Any]) -> None:
    sales = api.post("/v1/users", {"name": "S", "email": "s@example.com", "roles": ["Sales"]}).json()["token"]
    answer = api.post("/v1/users", {"name": "T", "email": "t@example.com", "roles": ["Admin"]}, token=sales)
    assert answer.status == 403


def test_token_limited_to_methods_is_refused_for_other_methods(api: Api, company: dict[str, Any]) -> None:
    limited = api.post("/v1/tokens", {"userId": company["userId"], "apiMethods": ["customer.list"]}).json()["token"]
    assert api.komet("customer.list", {}, token=limited).status == 200
    refused = api.komet(
        "invoice.create",
        {
            "customerId": 1,
            "carrierId": 1,
            "shipDate": "2026-01-01",
            "items": [{"orderItemId": 1, "boxes": 1, "price": 1}],
        },
        token=limited,
    )
    assert refused.status == 403
    assert refused.json()["status"] == "0"


def test_token_with_no_method_is_only_a_web_connector_password(api: Api, company: dict[str, Any]) -> None:
    created = api.post("/v1/tokens", {"userId": company["userId"], "apiMethods": []})
    assert created.status == 201
    answer = api.get("/v1/invoices", token=created.json()["token"])
    assert answer.status == 403
    assert "Web Connector" in answer.json()["message"]


def test_revoked_token_is_refused(api: Api, company: dict[str, Any]) -> None:
    created = api.post("/v1/tokens", {"userId": company["userId"], "apiMethods": ["*"]}).json()
    assert api.delete(f"/v1/tokens/{created['tokenId']}").status == 204
    assert api.get("/v1/invoices", token=created["token"]).status == 401
    assert api.delete(f"/v1/tokens/{created['tokenId']}").status == 404


def test_tokens_are_stored_only_as_hashes(api: Api, company: dict[str, Any]) -> None:
    import boto3

    items = boto3.resource("dynamodb").Table("ledgersync-test").scan()["Items"]
    assert company["adminToken"] not in repr(items)


def test_komet_methods_take_the_token_from_the_query_string(api: Api, company: dict[str, Any]) -> None:
    answer = api.call("POST", f"/api/customer.list?authenticationToken={company['adminToken']}", {}, token="")
    assert answer.status == 200


def test_no_token_of_one_company_reads_or_changes_another(api: Api, company: dict[str, Any]) -> None:
    # Given two companies, the first with a customer
    first = company["adminToken"]
    api.put("/v1/directory/customers", {"records": [{"id": 7, "code": "ANG", "name": "Ang Flowers"}]}, token=first)
    other = api.post("/v1/companies", {"name": "Other", "currency": "USD"}, headers={"X-Admin-Key": ADMIN_KEY})
    second = other.json()["adminToken"]
    # When the second company reads and writes
    listed = api.get("/v1/directory/customers", token=second).json()["records"]
    api.put("/v1/directory/customers", {"records": [{"id": 7, "code": "ANG", "name": "Hijacked"}]}, token=second)
    # Then nothing of the first is seen or changed
    assert listed == []
    mine = api.get("/v1/directory/customers", token=first).json()["records"]
    assert [c["name"] for c in mine] == ["Ang Flowers"]
    assert api.delete(f"/v1/tokens/{company['userId']}", token=second).status == 404


def test_a_tokenless_request_is_refused_when_another_requests_principal_sits_in_the_shared_resolver(
    api: Api, company: dict[str, Any]
) -> None:
    # Given the management resolver's context and every router's still holding another request's Admin principal
    from ledgersync import bootstrap

    admin = bootstrap.services().accounts.authenticate(company["adminToken"])
    module = api.module("/v1/users")
    module.app.append_context(principal=admin)
    # When a request without a token asks for a new Admin user
    answer = api.post("/v1/users", {"name": "Mallory", "email": "m@example.com", "roles": ["Admin"]}, token="")
    # Then it is refused, and nothing of the other caller is left behind
    assert answer.status == 401
    assert "principal" not in module.app.context


def test_a_komet_principal_does_not_outlive_its_request_when_the_route_fails(api: Api, company: dict[str, Any]) -> None:
    # Given a Komet call whose body the route refuses after authentication
    refused = api.komet("customer.list", {"id": "not a number"})
    assert refused.status == 400
    # When the next request carries no token, Then it is refused
    assert api.post("/v1/users", {"name": "T", "email": "t@example.com", "roles": ["Admin"]}, token="").status == 401


# ---------------------------------------------------------------- the token-issuing rule


def _user(api: Api, roles: list[str]) -> dict[str, Any]:
    answer = api.post("/v1/users", {"name": "U", "email": "u@example.com", "roles": roles})
    assert answer.status == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def _issue(api: Api, token: str, user_id: str, methods: list[str]) -> Any:
    return api.post("/v1/tokens", {"userId": user_id, "apiMethods": methods}, token=token)


def test_a_token_limited_to_token_create_cannot_mint_an_all_methods_token(api: Api, company: dict[str, Any]) -> None:
    # Given an Admin's token limited to token.create
    limited = _issue(api, company["adminToken"], company["userId"], ["token.create"]).json()["token"]
    # When it asks for '*' or for a method it does not have
    everything = _issue(api, limited, company["userId"], ["*"])
    more = _issue(api, limited, company["userId"], ["token.create", "user.create"])
    # Then both are refused, naming the field; the same methods or fewer are fine
    assert everything.status == 403 and everything.json()["message"].startswith("apiMethods:")
    assert more.status == 403 and "user.create" in more.json()["message"]
    assert _issue(api, limited, company["userId"], ["token.create"]).status == 201
    assert _issue(api, limited, company["userId"], []).status == 201


def test_an_admin_token_limited_to_some_methods_cannot_issue_all_methods(api: Api, company: dict[str, Any]) -> None:
    limited = _issue(api, company["adminToken"], company["userId"], ["token.create", "customer.list"]).json()["token"]
    assert _issue(api, limited, company["userId"], ["*"]).status == 403
    assert _issue(api, limited, company["userId"], ["customer.list"]).status == 201


def test_a_non_admin_issues_tokens_for_itself_within_its_methods_but_never_all_methods(
    api: Api, company: dict[str, Any]
) -> None:
    # Given a Sales user whose token allows every method
    sales = _user(api, ["Sales"])
    # Then it may issue itself a narrower token or a Web Connector password, but not '*'
    narrower = _issue(api, sales["token"], sales["userId"], ["customer.list", "token.create"])
    assert narrower.status == 201
    assert _issue(api, sales["token"], sales["userId"], []).status == 201
    refused = _issue(api, sales["token"], sales["userId"], ["*"])
    assert refused.status == 403 and "Admin" in refused.json()["message"]
    # And its narrower token cannot widen itself again
    assert _issue(api, narrower.json()["token"], sales["userId"], ["invoice.create"]).status == 403


def test_a_non_admin_cannot_issue_a_token_for_another_user(api: Api, company: dict[str, Any]) -> None:
    sales = _user(api, ["Sales"])
    assert _issue(api, sales["token"], company["userId"], ["customer.list"]).status == 403
    assert _issue(api, sales["token"], company["userId"], ["*"]).status == 403


def test_an_admin_with_an_all_methods_token_issues_any_token_for_any_user(api: Api, company: dict[str, Any]) -> None:
    sales = _user(api, ["Sales"])
    issued = _issue(api, company["adminToken"], sales["userId"], ["*"])
    assert issued.status == 201
    assert api.get("/v1/invoices", token=issued.json()["token"]).status == 200


def test_a_user_created_with_a_limited_admin_token_gets_no_more_than_that_token(
    api: Api, company: dict[str, Any]
) -> None:
    # Given an Admin token limited to user.create
    limited = _issue(api, company["adminToken"], company["userId"], ["user.create"]).json()["token"]
    # When it creates an Admin user
    created = api.post("/v1/users", {"name": "A", "email": "a@example.com", "roles": ["Admin"]}, token=limited)
    # Then the new user's token allows only user.create, not everything
    assert created.status == 201
    assert created.json()["apiMethods"] == ["user.create"]
    assert api.get("/v1/invoices", token=created.json()["token"]).status == 403
    assert _issue(api, created.json()["token"], company["userId"], ["*"]).status == 403


def test_a_user_created_with_an_all_methods_admin_token_gets_all_methods(api: Api, company: dict[str, Any]) -> None:
    assert _user(api, ["Accounting"])["apiMethods"] == ["*"]


# ---------------------------------------------------------------- revocation by exact id


def test_revoking_a_prefix_of_a_token_id_revokes_nothing(api: Api, company: dict[str, Any]) -> None:
    # Given a second token of the Admin
    created = _issue(api, company["adminToken"], company["userId"], ["*"]).json()
    # When its id is cut short, even to the bare "t"
    for prefix in ("t", "tok_", created["tokenId"][:-1]):
        answer = api.delete(f"/v1/tokens/{prefix}")
        # Then nothing is revoked: the id is unknown
        assert answer.status == 404, prefix
        assert answer.json()["code"] == "NotFound"
    assert api.get("/v1/invoices").status == 200
    assert api.get("/v1/invoices", token=created["token"]).status == 200
    assert api.delete(f"/v1/tokens/{created['tokenId']}").status == 204
    assert api.get("/v1/invoices", token=created["token"]).status == 401


def test_another_companys_token_id_is_not_found_and_stays_valid(api: Api, company: dict[str, Any]) -> None:
    # Given a token of another company
    other = api.post("/v1/companies", {"name": "Other"}, headers={"X-Admin-Key": ADMIN_KEY}).json()
    theirs = _issue(api, other["adminToken"], other["userId"], ["*"]).json()
    # When this company's Admin revokes it by its exact id
    answer = api.delete(f"/v1/tokens/{theirs['tokenId']}")
    # Then it is not found here and still works there
    assert answer.status == 404
    assert api.get("/v1/invoices", token=theirs["token"]).status == 200
