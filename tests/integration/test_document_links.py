"""Issue 14.5 through the local stack: the webhook's PDF link is served by the API, not by a presigned S3 URL
signed with the Lambda's session token (which dies long before six hours); an altered link is refused."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from devstack.stack import LocalStack

from tests.support.http import PDF, Client, approved_purchase_order


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(seed=True, schedules=False, pollers=False) as running:
        yield running


@pytest.fixture(scope="module")
def delivered_invoice(stack: LocalStack) -> dict[str, Any]:
    assert stack.demo is not None and stack.demo.admin_token
    api = Client(stack.api_url, stack.demo.admin_token)
    receiver = stack.emulators["webhook_receiver"].url
    api.call("PUT", "/v1/accounting/settings", {"externalSystem": "webhook", "requireAdditionalCharges": False})
    webhook = {
        "url": f"{receiver}/po-reconciliation",
        "auth": {"type": "bearer", "token": "s3cr3t-token"},
        "errorEmails": ["ops@example.com"],
    }
    answer = api.call("PUT", "/v1/webhooks/po-reconciliation", webhook)
    assert answer.status_code == 200, answer.text
    requests.post(f"{receiver}/__receiver/reset", timeout=10)
    po = {
        "poNumber": "P71",
        "vendorId": api.vendor("FLORA")["id"],
        "shipDate": "2026-03-27",
        "arrivalDate": "2026-03-28",
        "items": [{"categoryProcurementAccountingCode": "CGEN", "totalCost": "0.30"}],
    }
    invoice = {"invoiceNumber": "01-P71", "invoiceAmount": "0.30", "pdfBase64": PDF}
    approved_purchase_order(api, 71, po, invoice, roles=("Procurement", "Accounting"))
    api.call("POST", "/v1/purchase-orders/send-to-external", {"purchaseOrderIds": [71]})
    stack.drain_queues()
    (delivery,) = requests.get(f"{receiver}/__receiver/deliveries", timeout=10).json()["deliveries"]
    (delivered,) = json.loads(delivery["body"])["vendorInvoices"]
    return dict(delivered)


def test_webhook_pdf_link_downloads_the_pdf_through_the_api(
    stack: LocalStack, delivered_invoice: dict[str, Any]
) -> None:
    link = delivered_invoice["file"]
    assert link.startswith(f"{stack.api_url}/v1/documents/")
    assert "X-Amz-" not in link
    answer = requests.get(link, timeout=10)  # no API token: the link is the permission
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/pdf"
    assert answer.content == base64.b64decode(PDF)


def test_webhook_pdf_link_is_refused_when_tampered(stack: LocalStack, delivered_invoice: dict[str, Any]) -> None:
    link: str = delivered_invoice["file"]
    claims, mac = link.rsplit("/", 1)[1].split(".")
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    longer = {**decoded, "e": decoded["e"] + 24 * 3600}
    forged = base64.urlsafe_b64encode(json.dumps(longer).encode()).rstrip(b"=").decode()
    answer = requests.get(f"{stack.api_url}/v1/documents/{forged}.{mac}", timeout=10)
    assert answer.status_code == 403
    body = answer.json()
    assert body["code"] == "Forbidden" and "link" in body["message"] and body["errors"][0]["field"] == "token"
