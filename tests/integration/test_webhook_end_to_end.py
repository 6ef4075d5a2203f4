"""Seed 001 end to end through the local stack: set up the webhook, send a PO, see it arrive and turn "S";
make the receiver fail, see the retries, the "Error" and the e-mail (issue 4's "done")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from devstack.stack import LocalStack

from tests.support.http import PDF, Client, approved_purchase_order, send_to_local_webhook


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(seed=True, schedules=False, pollers=False) as running:
        yield running


@pytest.fixture(scope="module")
def setup(stack: LocalStack) -> tuple[Client, str, str]:
    assert stack.demo is not None and stack.demo.admin_token
    api = Client(stack.api_url, stack.demo.admin_token)
    receiver = stack.emulators["webhook_receiver"].url
    answer = send_to_local_webhook(api, receiver, "s3cr3t-token", ["ops@example.com", "ap@example.com"])
    secret = answer.json()["signingSecret"]
    shown = api.call("GET", "/v1/webhooks/po-reconciliation").json()
    assert "s3cr3t-token" not in str(shown) and "signingSecret" not in shown
    return api, receiver, secret


def approved_po(api: Client, po_id: int) -> None:
    po = {
        "poNumber": f"P{po_id}",
        "vendorId": api.vendor("FLORA")["id"],
        "shipDate": "2026-03-27",
        "arrivalDate": "2026-03-28",
        "items": [
            {"categoryProcurementAccountingCode": "CGEN", "totalCost": "0.10"},
            {"categoryProcurementAccountingCode": "PGEN", "totalCost": "0.20"},
        ],
    }
    invoice = {"invoiceNumber": f"01-P{po_id}", "invoiceAmount": "0.30", "pdfBase64": PDF}
    approved_purchase_order(api, po_id, po, invoice, roles=("Procurement", "Accounting"))


def deliveries(receiver: str) -> list[dict[str, Any]]:
    return list(requests.get(f"{receiver}/__receiver/deliveries", timeout=10).json()["deliveries"])


def test_a_sent_po_is_delivered_signed_and_turns_s(stack: LocalStack, setup: tuple[Client, str, str]) -> None:
    api, receiver, secret = setup
    requests.post(f"{receiver}/__receiver/reset", timeout=10)
    requests.post(f"{receiver}/__receiver/behaviour", json={"secret": secret}, timeout=10)
    approved_po(api, 1)
    api.call("POST", "/v1/purchase-orders/send-to-external", {"purchaseOrderIds": [1]})
    stack.drain_queues()
    (delivery,) = deliveries(receiver)
    headers = {k.lower(): v for k, v in delivery["headers"].items()}
    assert headers["authorization"] == "Bearer s3cr3t-token"
    assert delivery["signatureValid"] is True
    assert '"total":0.30' in delivery["body"] and '"subTotal":0.30' in delivery["body"]
    assert api.call("GET", "/v1/purchase-orders/1").json()["vendorInvoiceStatus"] == "S"


def test_retries_keep_one_idempotency_key_until_the_endpoint_answers(
    stack: LocalStack, setup: tuple[Client, str, str]
) -> None:
    api, receiver, _ = setup
    requests.post(f"{receiver}/__receiver/reset", timeout=10)
    requests.post(f"{receiver}/__receiver/behaviour", json={"failTimes": 2, "status": 503}, timeout=10)
    approved_po(api, 2)
    api.call("POST", "/v1/purchase-orders/send-to-external", {"purchaseOrderIds": [2]})
    for _ in range(3):
        stack.drain_queues()
    attempts = deliveries(receiver)
    assert len(attempts) == 3
    keys = {{k.lower(): v for k, v in d["headers"].items()}["idempotency-key"] for d in attempts}
    assert len(keys) == 1
    assert api.call("GET", "/v1/purchase-orders/2").json()["vendorInvoiceStatus"] == "S"


def test_a_final_refusal_sets_error_and_sends_one_email(stack: LocalStack, setup: tuple[Client, str, str]) -> None:
    api, receiver, _ = setup
    requests.post(f"{receiver}/__receiver/reset", timeout=10)
    requests.post(f"{receiver}/__receiver/behaviour", json={"status": 422, "body": "unknown vendor AV"}, timeout=10)
    before = len(stack.emails())
    approved_po(api, 3)
    api.call("POST", "/v1/purchase-orders/send-to-external", {"purchaseOrderIds": [3]})
    stack.drain_queues()
    po = api.call("GET", "/v1/purchase-orders/3").json()
    assert po["vendorInvoiceStatus"] == "Error" and "422" in po["error"]
    mails = stack.emails()[before:]
    assert len(mails) == 1
    assert set(mails[0]["to"]) == {"ops@example.com", "ap@example.com"}
    assert "P3" in mails[0]["body"] and "unknown vendor AV" in mails[0]["body"]
    assert "s3cr3t-token" not in mails[0]["body"]
    # And a resend goes out as a new delivery
    requests.post(f"{receiver}/__receiver/reset", timeout=10)
    assert api.call("POST", "/v1/purchase-orders/3/resend").status_code == 202
    stack.drain_queues()
    assert api.call("GET", "/v1/purchase-orders/3").json()["vendorInvoiceStatus"] == "S"
