"""Bad input of every kind across the API: always a 4xx with a JSON error naming the field, never a 5xx."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlsplit

import pytest
from devstack.runtime import LambdaContext

from tests.support.events import Api, ApiResponse, proxy_event

CASES: list[tuple[str, str, str | None, int, str | None]] = [
    ("POST", "/api/invoice.create", '"abc"', 400, "body"),
    ("POST", "/api/invoice.create", "null", 400, "body"),
    ("POST", "/api/invoice.create", "", 400, "body"),
    ("POST", "/api/invoice.create", '{"customerId": 1e400}', 400, "customerId"),
    (
        "POST",
        "/api/invoice.create",
        '{"customerId": 1, "carrierId": 1, "shipDate": "2026-01-01", "items": [null]}',
        400,
        "items[0]",
    ),
    ("GET", "/v1/invoices/abc", None, 400, "invoiceId"),
    ("GET", "/v1/invoices/0", None, 400, "invoiceId"),
    ("GET", "/v1/invoices?limit=abc", None, 400, "limit"),
    ("PUT", "/v1/directory/customers", '{"records": "x"}', 400, "records"),
    ("PUT", "/v1/directory/customers", '{"records": [1, "a", null]}', 400, "records[0]"),
    (
        "PUT",
        "/v1/accounting/settings",
        '{"notificationEmails": ["a@b.co","c@d.co","e@f.co","g@h.co","i@j.co","k@l.co"]}',
        400,
        "notificationEmails",
    ),
    ("PUT", "/v1/accounting/settings", '{"notificationEmails": ["not-an-email"]}', 400, "notificationEmails[0]"),
    (
        "PUT",
        "/v1/webhooks/po-reconciliation",
        '{"url": "https://169.254.169.254/latest", "auth": {"type": "bearer", '
        '"token": "x"}, "errorEmails": ["a@b.co"]}',
        400,
        "url",
    ),
    ("GET", "/v1/webhooks/po-reconciliation", None, 404, None),
    ("PUT", "/v1/purchase-orders/abc", "{}", 400, "poId"),
    ("PUT", "/v1/purchase-orders/1", '{"poNumber": 5}', 400, "poNumber"),
    ("POST", "/v1/purchase-orders/1/approvals", None, 404, None),
    ("POST", "/v1/purchase-orders/send-to-external", '{"purchaseOrderIds": []}', 400, "purchaseOrderIds"),
    ("POST", "/v1/purchase-orders/1/resend", None, 404, None),
    ("GET", "/v1/accounting/quickbooks-online/callback?state=zzz&code=x&realmId=1", None, 400, "state"),
    ("GET", "/v1/accounting/quickbooks-online/callback", None, 400, "code"),
    ("POST", "/v1/tokens", '{"userId": "nope", "apiMethods": ["bad method"]}', 400, "apiMethods[0]"),
    ("DELETE", "/v1/tokens/x", None, 404, None),
    ("POST", "/api/customer.list", '{"id": "x"}', 400, "id"),
    ("GET", "/api/customer.list?id=abc", None, 400, "id"),
]


@pytest.mark.parametrize(("method", "url", "raw", "status", "field"), CASES)
def test_bad_input_is_a_4xx_naming_the_field_never_a_5xx(
    api: Api, company: dict[str, Any], method: str, url: str, raw: str | None, status: int, field: str | None
) -> None:
    if url.startswith("/api/"):
        url += ("&" if "?" in url else "?") + f"authenticationToken={company['adminToken']}"
    answer = api.call(method, url, raw_body=raw)
    assert answer.status == status, answer.text
    body = answer.json()
    assert body["message"]
    if field is not None:
        assert body["errors"][0]["field"] == field, body


# Every route that reads a body, and malformed bodies of every kind: always a 4xx in the error shape, naming where.
BODY_ROUTES = [
    ("POST", "/api/invoice.create"),
    ("POST", "/api/invoice.checkout"),
    ("POST", "/api/customer.list"),
    ("POST", "/v1/users"),
    ("POST", "/v1/tokens"),
    ("PUT", "/v1/directory/customers"),
    ("PUT", "/v1/accounting/settings"),
    ("PUT", "/v1/webhooks/po-reconciliation"),
    ("PUT", "/v1/purchase-orders/1"),
    ("POST", "/v1/purchase-orders/1/vendor-invoices"),
    ("POST", "/v1/purchase-orders/send-to-external"),
]
NUMBER = "must be a finite number"
MALFORMED: list[tuple[str, str, dict[str, str], bool, int, str, str]] = [
    # (name, raw body, headers, base64 body, status, field, words in the message)
    ("invalid-utf8", base64.b64encode(b'{"x": "\xff\xfe"}').decode(), {}, True, 400, "body", "UTF-8"),
    ("multipart", '{"x": 1}', {"Content-Type": "multipart/form-data"}, False, 415, "Content-Type", "application/json"),
    ("text", '{"x": 1}', {"Content-Type": "text/plain"}, False, 415, "Content-Type", "application/json"),
    ("deep", "[" * 10_000 + "]" * 10_000, {}, False, 400, "body", "nests deeper"),
    ("deep-object", '{"a":' * 10_000 + "1" + "}" * 10_000, {}, False, 400, "body", "nests deeper"),
    ("nan", '{"extraField": NaN}', {}, False, 400, "extraField", NUMBER),
    ("infinity", '{"x": [1, {"y": -Infinity}]}', {}, False, 400, "x[1].y", NUMBER),
    ("tiny", '{"extraField": 1e-300}', {}, False, 400, "extraField", NUMBER),
    ("huge-int", '{"extraField": ' + "9" * 5000 + "}", {}, False, 400, "extraField", NUMBER),
]


def _send(api: Api, method: str, url: str, raw: str, headers: dict[str, str], b64: bool) -> ApiResponse:
    """Through the handler, as API Gateway sends it (a non-text body base64-encoded with isBase64Encoded)."""
    event = proxy_event(method, url, None, {"Authorization": f"Bearer {api.token}", **headers}, raw)
    event["isBase64Encoded"] = b64
    result = api.module(urlsplit(url).path).lambda_handler(event, LambdaContext())
    return ApiResponse(result["statusCode"], result.get("headers") or {}, result.get("body") or "")


@pytest.mark.parametrize(("name", "raw", "headers", "b64", "status", "field", "words"), MALFORMED)
def test_malformed_body_is_a_4xx_naming_where_when_sent_to_any_route_with_a_body(
    api: Api,
    company: dict[str, Any],
    name: str,
    raw: str,
    headers: dict[str, str],
    b64: bool,
    status: int,
    field: str,
    words: str,
) -> None:
    for method, url in BODY_ROUTES:
        target = f"{url}?authenticationToken={company['adminToken']}" if url.startswith("/api/") else url
        answer = _send(api, method, target, raw, headers, b64)
        assert answer.status == status, (name, url, answer.text)
        body = answer.json()
        assert body["code"], (url, body)
        assert words in body["message"], (url, body)
        assert body["errors"][0]["field"] == field, (url, body)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Content-Type": "application/json; charset=utf-8"}, {"Content-Type": "application/x-www-form-urlencoded"}],
)
def test_a_json_body_is_read_as_json_when_its_content_type_is_json_absent_or_curls_form_default(
    api: Api, company: dict[str, Any], headers: dict[str, str]
) -> None:
    event = proxy_event(
        "PUT", "/v1/accounting/settings", {"billItemName": "Roses"}, {"Authorization": f"Bearer {api.token}"}
    )
    event["headers"] = {"Authorization": f"Bearer {api.token}", **headers}
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    result = api.module("/v1/accounting/settings").lambda_handler(event, LambdaContext())
    assert result["statusCode"] == 200, result["body"]
    assert api.get("/v1/accounting/settings").json()["billItemName"] == "Roses"


@pytest.mark.parametrize("day", ["2024-02-30", "0000-00-00", "2024-13-01"])
def test_a_date_that_matches_the_pattern_but_does_not_exist_is_refused_naming_the_field(
    api: Api, company: dict[str, Any], day: str
) -> None:
    po = {
        "poNumber": "A1",
        "vendorId": 1,
        "shipDate": day,
        "items": [{"categoryProcurementAccountingCode": "X", "totalCost": 1}],
    }
    answer = api.put("/v1/purchase-orders/1", po)
    assert answer.status == 400, answer.text
    assert answer.json()["errors"][0]["field"] == "shipDate"
    assert "YYYY-MM-DD" in answer.json()["errors"][0]["message"]
    invoice = {"customerId": 1, "carrierId": 1, "shipDate": day, "items": [{"orderItemId": 1, "boxes": 1, "price": 1}]}
    komet = api.komet("invoice.create", invoice)
    assert komet.status == 400, komet.text
    assert komet.json()["errors"][0]["field"] == "shipDate"
    assert "YYYY-MM-DD" in komet.json()["errors"][0]["message"]


def test_an_idempotency_key_of_8000_characters_is_refused_naming_the_header(api: Api, company: dict[str, Any]) -> None:
    invoice = {
        "customerId": 1,
        "carrierId": 1,
        "shipDate": "2026-01-01",
        "items": [{"orderItemId": 1, "boxes": 1, "price": 1}],
    }
    answer = api.komet("invoice.create", invoice, headers={"Idempotency-Key": "k" * 8000})
    assert answer.status == 400, answer.text
    assert answer.json()["errors"][0]["field"] == "Idempotency-Key"
