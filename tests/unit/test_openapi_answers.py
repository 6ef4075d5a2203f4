"""Every answer body is described: each JSON success has its model's schema and each JSON error the error schema
(issue 9: every route declares its response model and its error responses)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ledgersync import bootstrap
from ledgersync.routes.service import ANSWERS, Answers, declare_answers
from tests.support.events import Api
from tests.unit.test_openapi_document import assert_documented, operation_of, served

SOAP_12 = "application/soap+xml"

# Answers that are no JSON object, excepted by their media type: a PDF, a page, its assets, the .qwc file, SOAP.
NOT_JSON = {"application/pdf", "text/html", "text/javascript", "text/css", "application/xml", "text/xml", SOAP_12}


def undescribed_answers(document: dict[str, Any]) -> list[str]:
    """Every 2xx JSON answer without a schema of its own (no component, no properties) and every JSON error
    without the error schema, as ``METHOD path status``."""
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            key = f"{method.upper()} {path}"
            for status, response in operation["responses"].items():
                for media_type, content in (response.get("content") or {}).items():
                    schema = content.get("schema") or {}
                    if media_type in NOT_JSON:
                        continue
                    if media_type != "application/json":
                        found.append(f"{key} {status} {media_type}")  # a new media type: say whether it is JSON
                        continue
                    if status.startswith("2"):
                        resolved = _resolve(document, schema)
                        if not ({"properties", "items", "anyOf", "oneOf", "allOf"} & set(resolved)):
                            found.append(f"{key} {status}")
                    elif int(status) >= 400:
                        expected = "KometError" if path.startswith("/api/") else "Error"
                        refs = [schema.get("$ref"), *(s.get("$ref") for s in schema.get("anyOf", []))]
                        if f"#/components/schemas/{expected}" not in refs:
                            found.append(f"{key} {status}")
    return found


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", maxsplit=1)[1]]
    return resolved


def test_every_answer_body_has_its_schema_when_the_document_is_served(api: Api) -> None:
    # Given the served document
    document = served(api)

    # Then every JSON success has its model's schema and every JSON error the error schema
    assert undescribed_answers(document) == []


def test_an_undescribed_answer_is_found_when_the_document_is_walked() -> None:
    # Given a document with a success of no schema but "object" and an error of another schema
    document = {
        "paths": {
            "/v1/x": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/api/y": {"post": {"responses": {"400": {"content": {"application/json": {"schema": {"$ref": "#/a"}}}}}}},
            "/v1/docs": {"get": {"responses": {"200": {"content": {"text/html": {"schema": {"type": "string"}}}}}}},
        },
        "components": {"schemas": {}},
    }

    # Then both are named, and the page is not
    assert undescribed_answers(document) == ["GET /v1/x 200", "POST /api/y 400"]


def test_the_typed_answers_match_their_declared_schemas_when_called(api: Api, company: dict[str, Any]) -> None:
    # Given the served document and a company with a directory
    document = served(api)
    assert api.put("/v1/directory/customers", {"records": [{"id": 7, "code": "ANG", "name": "Ang"}]}).status == 200
    assert api.put("/v1/directory/carriers", {"records": [{"id": 4, "code": "AR", "name": "Armellini"}]}).status == 200
    inventory = [{"orderItemId": 9, "productCode": "RSAS60", "boxTypeCode": "HB", "unitsPerBox": 6,
                  "unitType": "Bunch", "availableBoxes": 3}]  # fmt: skip
    create = {"customerId": 7, "carrierId": 4, "shipDate": "2026-12-10", "statusDraft": 1,
              "additionalCharges": [{"code": "FRT", "value": 2.5}], "items": [{"orderItemId": 9, "boxes": 2,
              "price": 0.3, "notes": "ñ"}]}  # fmt: skip
    samples: list[tuple[str, str, Any, int]] = [
        ("GET", "/v1/health", api.get("/v1/health"), 200),
        ("PUT", "/v1/directory/inventory", api.put("/v1/directory/inventory", {"records": inventory}), 200),
        ("GET", "/v1/directory/customers", api.get("/v1/directory/customers?limit=1"), 200),
        ("POST", "/api/customer.list", api.komet("customer.list", {"code": "ang"}), 200),
        ("GET", "/api/inventory.list", api.get(f"/api/inventory.list?authenticationToken={api.token}"), 200),
        ("POST", "/api/invoice.create", api.komet("invoice.create", create), 201),
        ("POST", "/api/invoice.create", api.komet("invoice.create", {**create, "statusDraft": 0}), 201),
        ("POST", "/api/invoice.create", api.komet("invoice.create", create), 409),  # no box left: seed 002's body
        ("POST", "/api/invoice.create", api.komet("invoice.create", {**create, "carrierId": 5}), 400),
        ("GET", "/v1/invoices/1", api.get("/v1/invoices/1"), 200),
        ("GET", "/v1/invoices", api.get("/v1/invoices?limit=1"), 200),
        ("POST", "/api/invoice.checkout", api.komet("invoice.checkout", {"invoiceNumber": 1}), 200),
        ("PUT", "/v1/accounting/settings", api.put("/v1/accounting/settings", {"externalSystem": "webhook"}), 200),
        ("GET", "/v1/accounting/connection", api.get("/v1/accounting/connection"), 200),
        ("POST", "/v1/users", api.post("/v1/users", {"name": "S", "email": "s@example.com", "roles": ["Sales"]}), 201),
        ("GET", "/v1/openapi.json", api.get("/v1/openapi.json"), 200),
    ]
    # Then each answer is valid against the schema its operation declares for its status
    for method, url, answer, status in samples:
        assert_documented(document, method, url, answer, status)
        schema = operation_of(document, method, url)["responses"][str(status)]["content"]["application/json"]
        assert {"$ref", "anyOf"} & set(schema["schema"]), (method, url)
    assert api.komet("invoice.create", create).json()["message"] == "Item is not available"


def test_an_error_body_of_a_schema_the_document_lacks_is_refused_when_the_document_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given invoice.create naming a 409 body whose schema no route declares
    monkeypatch.setitem(
        ANSWERS, "POST /api/invoice.create", Answers(201, (409,), security="komet", error_bodies=((409, "Nothing"),))
    )
    document = {"paths": {"/api/invoice.create": {"post": {"responses": {}}}}, "components": {"schemas": {}}}

    # Then the document is not built
    with pytest.raises(LookupError, match="Nothing"):
        declare_answers(document)


def test_the_purchase_order_answers_match_their_declared_schemas_when_called(
    api: Api, company: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the served document, a vendor, a location and the webhook as the company's external system
    monkeypatch.setenv("WEBHOOK_ALLOWED_HOSTS", "localhost")
    bootstrap.reset()
    document = served(api)
    vendor = {"id": 29697, "code": "AV", "name": "Miami L Vendor", "accountingName": "Miami L Vendor LLC"}
    assert api.put("/v1/directory/vendors", {"records": [vendor]}).status == 200
    assert api.put("/v1/directory/locations", {"records": [{"id": 3, "code": "02", "name": "Chicago"}]}).status == 200
    webhook = {
        "url": "http://localhost/hooks/po",
        "auth": {"type": "bearer", "token": "t0ken"},
        "errorEmails": ["ap@b.co"],
    }
    assert api.put("/v1/webhooks/po-reconciliation", webhook).status == 200
    assert api.put("/v1/accounting/settings", {"externalSystem": "webhook"}).status == 200
    po = {"poNumber": "P1", "vendorId": 29697, "locationId": 3, "shipDate": "2026-12-10",
          "items": [{"categoryProcurementAccountingCode": "CGEN", "totalCost": "50.00"}],
          "additionalCharges": [{"code": "FRT", "amount": "10.00", "name": "Freight"}]}  # fmt: skip
    pdf = base64.b64encode(b"%PDF-1.4\n% a vendor invoice\n").decode()
    second = "/v1/purchase-orders/1/vendor-invoices/V-2"
    invoice = {"invoiceNumber": "V-1", "invoiceAmount": "60.00", "totalAdditionalCharges": "10.00", "pdfBase64": pdf}
    tokens = [
        api.post("/v1/users", {"name": name, "email": f"{name}@example.com", "roles": [name]}).json()["token"]
        for name in ("Procurement", "Accounting")
    ]
    one = "/v1/purchase-orders/1"
    samples: list[tuple[str, str, Any, int]] = [
        ("PUT", one, api.put(one, po), 200),
        ("PUT", one, api.put(one, {**po, "poNumber": "P1b"}), 200),
        ("POST", f"{one}/vendor-invoices", api.post(f"{one}/vendor-invoices", invoice), 201),
        ("POST", f"{one}/vendor-invoices", api.post(f"{one}/vendor-invoices", {**invoice, "invoiceNumber": "V-2"}),
         201),
        ("DELETE", second, api.delete(second), 200),
        ("PUT", f"{one}/vendor-invoices/V-1", api.put(f"{one}/vendor-invoices/V-1", invoice), 200),
        ("POST", f"{one}/approvals", api.post(f"{one}/approvals", token=tokens[0]), 200),
        ("POST", f"{one}/approvals", api.post(f"{one}/approvals", token=tokens[1]), 200),
        ("POST", "/v1/purchase-orders/send-to-external",
         api.post("/v1/purchase-orders/send-to-external", {"purchaseOrderIds": [1, 2, 1]}), 200),
        ("GET", one, api.get(one), 200),
        ("POST", f"{one}/resend", api.post(f"{one}/resend"), 202),
        ("POST", f"{one}/resend", api.post(f"{one}/resend", token=tokens[1]), 403),
    ]  # fmt: skip
    # Then each answer is valid against the schema its operation declares for its status
    for method, url, answer, status in samples:
        assert_documented(document, method, url, answer, status)
        if status < 400:
            schema = operation_of(document, method, url)["responses"][str(status)]["content"]["application/json"]
            assert "$ref" in schema["schema"], (method, url)
    # And a read answers no approvalsReset or notice, a change its approvalsReset (and notice when it reset some)
    read, stored = samples[9][2].json(), samples[0][2].json()
    assert (
        "approvalsReset" not in read
        and "notice" not in read
        and read["vendorInvoiceStatus"] == "Sent to External System"
    )
    assert stored["approvalsReset"] is False and "notice" not in stored and stored["locationId"] == 3
    assert samples[1][2].json()["approvalsReset"] is False
    assert samples[8][2].json()["results"][1] == {
        "purchaseOrderId": 2, "accepted": False, "vendorInvoiceStatus": None, "message": "no PO 2"
    }  # fmt: skip
    assert samples[10][2].json()["vendorInvoiceStatus"] == "Sent to External System"
    assert "send to the external system" in samples[11][2].json()["message"]
