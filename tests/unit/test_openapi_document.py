"""The OpenAPI document tells the truth: each sampled answer has a status the document declares for its operation,
and its body matches the schema declared for that status (issue 8)."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from devstack.openapi import api_operations, build_document
from devstack.template import Template

from ledgersync.config import get_settings
from ledgersync.routes.service import ANSWERS, ASSETS, EXAMPLES, TAGS, declare_answers, tag_of
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
                if path == "/qbwc" and int(status) >= 400:  # SOAP: its faults are SOAP envelopes, never JSON
                    assert set(response["content"]) == {"text/xml", "application/soap+xml"}, f"{method} {status}"
                elif int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    ref = schema.get("$ref") or schema["anyOf"][0]["$ref"]  # anyOf: the route's own body as well
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


def test_the_served_document_is_the_committed_one_and_describes_the_web_connector_when_both_are_read(
    api: Api,
) -> None:
    # Given the document the API serves and the one docs/openapi.json holds
    document = served(api)
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))

    # Then they are one document (one rule), and it has the Web Connector's two operations with their SOAP bodies
    assert document == committed
    qbwc = document["paths"]["/qbwc"]
    assert set(qbwc) == {"get", "post"}
    assert set(qbwc["post"]["requestBody"]["content"]) == {"text/xml", "application/soap+xml"}
    assert "authenticate" in qbwc["post"]["requestBody"]["content"]["text/xml"]["examples"]
    assert qbwc["get"]["parameters"][0]["name"] == "wsdl"
    assert qbwc["post"]["security"] == [] and set(qbwc["post"]["responses"]) == {"200", "500"}


def test_every_template_route_is_described_when_the_document_is_built() -> None:
    document, warnings = build_document(Template.load())
    described = {(m.upper(), re.sub(r"\{[^}]+\}", "{}", p)) for p, ops in document["paths"].items() for m in ops}
    routes = {(r.method, re.sub(r"\{[^}]+\}", "{}", r.path)) for r in api_operations(Template.load())}
    assert routes == described, routes ^ described
    assert warnings == []
    # the ANY routes (405 for a method a path does not take) are in the template but are no operation
    assert {r.method for r in Template.load().routes} - {m for m, _ in described} == {"ANY"}


def test_each_operation_has_one_area_tag_and_the_tags_are_listed_when_served(api: Api) -> None:
    document = served(api)
    listed = [tag["name"] for tag in document["tags"]]
    assert listed == [name for name, _, _ in TAGS]
    assert all(tag["description"] for tag in document["tags"])
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert len(operation["tags"]) == 1 and operation["tags"][0] in listed, f"{method} {path}"
    assert document["paths"]["/qbwc"]["post"]["tags"] == ["QuickBooks Desktop (Web Connector)"]
    assert document["paths"]["/v1/accounting/quickbooks-desktop/qwc"]["get"]["tags"] == [
        "QuickBooks Desktop (Web Connector)"
    ]
    assert document["paths"]["/api/invoice.create"]["post"]["tags"] == ["Invoices"]
    assert document["paths"]["/v1/purchase-orders/{po_id}"]["put"]["tags"] == ["Purchase orders"]


def test_a_path_in_no_area_is_refused_when_tagged() -> None:
    with pytest.raises(LookupError, match="/v2/unknown"):
        tag_of("/v2/unknown")


# The records the seeds' samples name (seed 002's customer, carrier and items; seed 001's vendor and location).
SEED_DIRECTORY: dict[str, list[dict[str, Any]]] = {
    "customers": [{"id": 99999, "code": "ANG", "name": "Ang Flowers LLC"}],
    "carriers": [{"id": 423, "code": "AR", "name": "Armellini"}],
    "locations": [{"id": 3, "code": "02", "name": "Chicago"}],
    "vendors": [{"id": 29697, "code": "AV", "name": "Miami L Vendor", "accountingName": "Miami L Vendor"}],
    "products": [{"code": "RSAS60", "name": "Rose Assorted 60cm"}, {"code": "RSAS40", "name": "Rose Assorted 40cm"}],
    "box-types": [{"code": "HB", "name": "Half Box"}],
    "charges": [{"code": "BT", "name": "Balance Transfer"}, {"code": "FRT", "name": "Freight"}],
    "inventory": [
        {"orderItemId": 9999999, "productCode": "RSAS40", "boxTypeCode": "HB", "unitsPerBox": 25, "unitType": "Stem",
         "availableBoxes": 50},
        {"orderItemId": 9999998, "productCode": "RSAS60", "boxTypeCode": "HB", "unitsPerBox": 6, "unitType": "Bunch",
         "availableBoxes": 50},
    ],
}  # fmt: skip


def test_the_seeds_request_samples_are_examples_the_routes_accept_when_sent(
    api: Api, company: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the served document, whose request bodies carry the seeds' samples, and a directory with their records
    # (and seed 001's endpoint host resolving to a public address: there is no DNS here)
    public = [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("93.184.215.14", 443))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: public)
    document = served(api)
    for kind, records in SEED_DIRECTORY.items():
        assert api.put(f"/v1/directory/{kind}", {"records": records}).status == 200, kind
    keys = {"POST /api/invoice.create", "PUT /v1/purchase-orders/{po_id}", "PUT /v1/webhooks/po-reconciliation"}
    keys |= {"POST /v1/purchase-orders/{po_id}/vendor-invoices", "POST /api/customer.list"}
    assert keys <= set(EXAMPLES)
    assert set(EXAMPLES["POST /api/invoice.create"]) == {"sample1", "sample2"}
    for key, examples in EXAMPLES.items():
        method, path = key.split(" ", maxsplit=1)
        body = document["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]
        assert body["examples"] == json.loads(json.dumps(examples)), key
        for name, example in examples.items():
            # When each is sent to its route (in the table's order: the PO before its vendor invoice and its sending)
            jsonschema.validate(example["value"], {**body["schema"], "components": document["components"]})
            url = path.replace("{po_id}", "12345")
            headers = {"Authorization": f"Bearer {api.token}"} if path.startswith("/api/") else None
            answer = api.call(method, url, example["value"], headers=headers)
            # Then it is accepted (a checkout of an invoice that is no draft here is refused by state, not as invalid)
            expected = 404 if key == "POST /api/invoice.checkout" else ANSWERS[key].success
            assert answer.status == expected, (key, name, answer.text)
            assert str(answer.status) in operation_of(document, method, url)["responses"], (key, name)


def test_the_security_schemes_are_the_ones_each_operation_reads_when_authorized(
    api: Api, company: dict[str, Any]
) -> None:
    # Given the document's security: Komet methods take authenticationToken or bearer, the others bearer only
    document = served(api)
    token = company["adminToken"]
    assert document["paths"]["/api/customer.list"]["get"]["security"] == [{"authenticationToken": []}, {"bearer": []}]
    assert document["paths"]["/v1/accounting/settings"]["get"]["security"] == [{"bearer": []}]
    stranger = Api()
    # Then each scheme the document offers authorizes its operation, and one it does not offer does not
    assert stranger.get(f"/api/customer.list?authenticationToken={token}").status == 200
    assert stranger.get("/api/customer.list", headers={"Authorization": f"Bearer {token}"}).status == 200
    assert stranger.get("/v1/accounting/settings", headers={"Authorization": f"Bearer {token}"}).status == 200
    assert stranger.get(f"/v1/accounting/settings?authenticationToken={token}").status == 401


def test_the_docs_page_loads_only_its_own_assets_when_served(api: Api) -> None:
    # When the page is read
    page = Api().get("/v1/docs")

    # Then it is HTML whose scripts and style sheets are the service's own, relative to /v1/docs
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(not re.match(r"[a-z]+://|//", s) for s in sources), sources
    assert {s.split("?")[0] for s in sources} == {"data:,", *(f"docs/{name}" for name in ASSETS)}
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_each_docs_asset_is_served_as_text_with_its_media_type_when_asked(api: Api) -> None:
    from swagger_ui_bundle import swagger_ui_path

    for name, media_type in {
        "swagger-ui-bundle.js": "text/javascript",
        "swagger-ui.css": "text/css",
        "ledgersync-docs.js": "text/javascript",
    }.items():
        answer = Api().get(f"/v1/docs/{name}")
        assert answer.status == 200, name
        assert answer.headers["Content-Type"].split(";")[0] == media_type, name
        if name != "ledgersync-docs.js":
            assert answer.text == (swagger_ui_path / name).read_text(encoding="utf-8"), name
    assert "SwaggerUIBundle" in Api().get("/v1/docs/ledgersync-docs.js").text


def test_an_unknown_docs_asset_is_404_naming_the_field_when_asked(api: Api) -> None:
    document = served(api)
    answer = Api().get("/v1/docs/index.html")
    assert_documented(document, "GET", "/v1/docs/index.html", answer, 404)
    assert answer.json()["errors"][0]["field"] == "asset"


def test_every_json_operation_declares_the_outside_and_inside_faults_when_the_document_is_served(api: Api) -> None:
    # Any route may meet throttling or an unconfigured dependency (503, RetryableError) or a fault of ours (500)
    document = served(api)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            declared = set(operation["responses"])
            if path == "/qbwc":
                assert "503" not in declared, f"{method} {path}"
                continue
            assert {"500", "503"} <= declared, f"{method} {path}"
            ref = operation["responses"]["503"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("KometError" if path.startswith("/api/") else "/Error"), f"{method} {path}"
