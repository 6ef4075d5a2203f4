"""Bad input of every kind across the API: always a 4xx with a JSON error naming the field, never a 5xx."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.events import Api

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
