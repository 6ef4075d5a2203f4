"""The OpenAPI document tells the truth: each sampled answer has a status the document declares for its operation,
and its body matches the schema declared for that status (issue 8)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from devstack.openapi import build_document
from devstack.template import Template

from ledgersync.config import get_settings
from ledgersync.routes.service import ANSWERS, declare_answers
from tests.conftest import ADMIN_KEY
from tests.support.events import Api, ApiResponse

ROOT = Path(__file__).resolve().parents[2]


def served(api: Api) -> dict[str, Any]:
    answer = api.get("/v1/openapi.json")
    assert answer.status == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def operation_of(document: dict[str, Any], method: str, url: str) -> dict[str, Any]:
    path = url.split("?", maxsplit=1)[0]
    for template, operations in document["paths"].items():
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path) and method.lower() in operations:
            return operations[method.lower()]  # type: ignore[no-any-return]
    raise AssertionError(f"{method} {path} is not in the document")


def assert_documented(document: dict[str, Any], method: str, url: str, answer: ApiResponse, status: int) -> None:
    assert answer.status == status, answer.text
    responses = operation_of(document, method, url)["responses"]
    assert str(status) in responses, f"{method} {url} answered {status}, the document declares {sorted(responses)}"
    content = responses[str(status)].get("content") or {}
    if status == 204:
        assert not content and not answer.text
        return
    schema = content["application/json"]["schema"]
    jsonschema.validate(answer.json(), {**schema, "components": document["components"]})


def test_every_declared_error_has_the_error_schema_and_no_422_when_the_document_is_served(api: Api) -> None:
    document = served(api)
    assert set(document["components"]["securitySchemes"]) == {"bearer", "authenticationToken", "adminKey"}
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert "422" not in operation["responses"], f"{method} {path}"
            expected = "KometError" if path.startswith("/api/") else "Error"
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref == f"#/components/schemas/{expected}", f"{method} {path} {status}"
            if path.startswith("/api/"):
                assert {"authenticationToken": []} in operation["security"] and {"bearer": []} in operation["security"]


def test_sampled_answers_match_the_document_when_called(api: Api, company: dict[str, Any]) -> None:
    # Given the served document and a company with its Admin token
    document = served(api)
    stranger = Api(token="lsk_not-a-token")
    limited = api.post("/v1/tokens", {"userId": company["userId"], "apiMethods": ["invoice.list"]}).json()["token"]
    issued = api.post("/v1/tokens", {"userId": company["userId"], "apiMethods": ["*"]})
    too_big = json.dumps({"records": [{"name": "x" * (get_settings().max_bulk_body_bytes + 1)}]})
    samples: list[tuple[str, str, ApiResponse, int]] = [
        ("POST", "/v1/tokens", issued, 201),
        ("DELETE", f"/v1/tokens/{issued.json()['tokenId']}", api.delete(f"/v1/tokens/{issued.json()['tokenId']}"), 204),
        ("DELETE", "/v1/tokens/a%C3%B1%C2%9Ab", api.delete("/v1/tokens/a%C3%B1%C2%9Ab"), 404),
        ("GET", "/v1/invoices", stranger.get("/v1/invoices"), 401),
        ("GET", "/v1/invoices?limit=0", api.get("/v1/invoices?limit=0"), 400),
        ("GET", "/v1/invoices/999", api.get("/v1/invoices/999"), 404),
        ("GET", "/v1/directory/customers", api.get("/v1/directory/customers", token=limited), 403),
        ("PUT", "/v1/directory/customers", api.put("/v1/directory/customers", raw_body=too_big), 413),
        ("GET", "/v1/webhooks/po-reconciliation", api.get("/v1/webhooks/po-reconciliation"), 404),
        ("POST", "/api/customer.list", api.komet("customer.list", {}, token="lsk_not-a-token"), 401),
        ("POST", "/api/customer.list", api.komet("customer.list", {"id": 0}), 400),
        ("POST", "/api/invoice.checkout", api.komet("invoice.checkout", {"invoiceNumber": 424242}), 404),
        ("POST", "/v1/companies", api.post("/v1/companies", {"name": "B"}, headers={"X-Admin-Key": ADMIN_KEY}), 201),
        ("POST", "/v1/companies", api.post("/v1/companies", {"name": "B"}, headers={"X-Admin-Key": "no"}), 401),
        ("GET", "/v1/accounting/settings", api.get("/v1/accounting/settings"), 200),
    ]
    # Then each answer is one the document declares, with a body its schema accepts
    for method, url, answer, status in samples:
        assert_documented(document, method, url, answer, status)


def test_path_parameters_outside_the_route_pattern_get_the_api_error_when_no_route_matches(
    api: Api, company: dict[str, Any]
) -> None:
    answer = api.post("/v1/purchase-orders/\x04\U0006a412/approvals")
    assert answer.status == 404
    assert answer.json()["code"] == "NotFound" and "/approvals" in answer.json()["message"]


def test_a_route_missing_from_the_table_is_refused_when_the_document_is_built() -> None:
    document = {"paths": {"/v1/new": {"get": {"responses": {}}}}, "components": {"schemas": {}}}
    with pytest.raises(LookupError, match="GET /v1/new"):
        declare_answers(document)
    assert "GET /v1/health" in ANSWERS


def test_docs_openapi_json_is_the_generated_document_when_compared() -> None:
    document, _ = build_document(Template.load())
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    assert committed == json.loads(json.dumps(document)), "run `make openapi` and commit docs/openapi.json"
