"""Issue 8 item 4: an operator redrives a dead-letter queue and the redriven work is still exactly-once.

Each test uses a company of its own (its own external system, its own QuickBooks realm), so no set-up of another
test decides where its work goes. A message reaches the dead-letter queue here as SQS would move it there after
its last receive: taken from its queue and put in the DLQ unchanged.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from devstack.stack import LocalStack

from tests.support.http import PDF, Client, approved_purchase_order

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(seed=False, schedules=False, pollers=False) as running:
        yield running


def fresh_company(stack: LocalStack, name: str) -> Client:
    """A new company with the vendor FLORA, called with its Admin token."""
    return company(stack, name)[0]


def company(stack: LocalStack, name: str) -> tuple[Client, str]:
    """A new company with the vendor FLORA: a client with its Admin token, and its id."""
    created = requests.post(
        f"{stack.api_url}/v1/companies",
        json={"name": name, "currency": "USD"},
        headers={"X-Admin-Key": stack.admin_api_key},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    api = Client(stack.api_url, created.json()["adminToken"])
    vendors = {"records": [{"code": "FLORA", "name": "Flora Farms", "accountingName": "Flora Farms S.A."}]}
    assert api.call("PUT", "/v1/directory/vendors", vendors).status_code == 200
    return api, str(created.json()["companyId"])


def connect_quickbooks(stack: LocalStack, api: Client) -> str:
    """Settings for QuickBooks Online, then the consent dance on a realm of the company's own."""
    settings = {
        "externalSystem": "quickbooks_online",
        "requireAdditionalCharges": False,
        "notificationEmails": ["ap@example.com"],
    }
    assert api.call("PUT", "/v1/accounting/settings", settings).status_code == 200
    realm = str(secrets.randbelow(10**12) + 10**12)
    authorize = api.call("GET", "/v1/accounting/quickbooks-online/authorize")
    assert authorize.status_code == 200, authorize.text
    consent = requests.get(
        f"{authorize.json()['authorizationUrl']}&realm_id={realm}", allow_redirects=False, timeout=10
    )
    assert consent.status_code in (302, 303), consent.text
    callback = requests.get(consent.headers["Location"], timeout=30)
    assert callback.status_code == 200 and callback.json()["realmId"] == realm, callback.text
    qbo = stack.emulators["qbo"].url
    requests.post(f"{qbo}/__emulator/{realm}/Vendor", json={"DisplayName": "Flora Farms S.A."}, timeout=10)
    requests.post(
        f"{qbo}/__emulator/{realm}/Item", json={"Name": "Fresh Cut Flowers", "Type": "NonInventory"}, timeout=10
    )
    return realm


def connect_webhook(stack: LocalStack, api: Client) -> str:
    receiver = str(stack.emulators["webhook_receiver"].url)
    settings = {"externalSystem": "webhook", "requireAdditionalCharges": False}
    assert api.call("PUT", "/v1/accounting/settings", settings).status_code == 200
    hook = {
        "url": f"{receiver}/po-reconciliation",
        "auth": {"type": "bearer", "token": "t0k3n"},
        "errorEmails": ["ops@example.com"],
    }
    answer = api.call("PUT", "/v1/webhooks/po-reconciliation", hook)
    assert answer.status_code == 200, answer.text
    return receiver


def send_po(api: Client, po_id: int) -> None:
    po = {
        "poNumber": f"P{po_id}",
        "vendorId": api.vendor("FLORA")["id"],
        "shipDate": "2026-04-01",
        "items": [{"categoryProcurementAccountingCode": "CGEN", "totalCost": "20.00"}],
    }
    invoice = {"invoiceNumber": f"R{po_id}", "invoiceAmount": "20.00", "pdfBase64": PDF}
    approved_purchase_order(api, po_id, po, invoice, roles=("Procurement", "Accounting"))
    sent = api.call("POST", "/v1/purchase-orders/send-to-external", {"purchaseOrderIds": [po_id]}).json()
    assert sent["results"][0]["accepted"] is True, sent


def poller(stack: LocalStack, function_id: str) -> Any:
    return next(p for p in stack.pollers if p.source.function_id == function_id)


def dead_letter(stack: LocalStack, queue: str) -> str:
    """Move the queue's one message to its dead-letter queue, as SQS does after the last receive."""
    sqs, queues = stack.client("sqs"), stack.resources.queues
    (message,) = sqs.receive_message(QueueUrl=queues[queue], VisibilityTimeout=30)["Messages"]
    sqs.send_message(QueueUrl=queues[stack.resources.dead_letter_queues[queue]], MessageBody=message["Body"])
    sqs.delete_message(QueueUrl=queues[queue], ReceiptHandle=message["ReceiptHandle"])
    assert sum(stack.queue_depths()[queue].values()) == 0
    return str(message["Body"])


def bills(stack: LocalStack, realm: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{stack.emulators['qbo'].url}/__emulator/{realm}/Bill", timeout=10)
    return list(answer.json()["Bill"])


def deliveries(receiver: str) -> list[dict[str, Any]]:
    return list(requests.get(f"{receiver}/__receiver/deliveries", timeout=10).json()["deliveries"])


def idempotency_key(delivery: dict[str, Any]) -> str:
    return str({k.lower(): v for k, v in delivery["headers"].items()}["idempotency-key"])


def admin_redrive(stack: LocalStack, queue: str) -> int:
    """The admin route `make redrive` calls."""
    answer = requests.post(f"{stack.api_url}/__devstack/redrive/{queue}", timeout=30)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["moved"])


def test_a_redriven_bill_whose_answer_was_lost_is_found_not_created_again_when_redriven(stack: LocalStack) -> None:
    # Given a company on QuickBooks Online, which commits the next bill but answers 500 (the outcome is unknown)
    api = fresh_company(stack, "Redrive Bills")
    realm = connect_quickbooks(stack, api)
    qbo = stack.emulators["qbo"]
    requests.post(
        f"{qbo.url}/__emulator/failures",
        json={"realmId": realm, "status": 500, "count": 1, "afterCommit": True, "operation": "write"},
        timeout=10,
    ).raise_for_status()
    send_po(api, 8101)
    attempt = poller(stack, "AccountingSyncFunction").poll_once(0, redeliver_failures_now=True)
    assert (attempt.received, attempt.failed) == (1, 1)
    assert all(rule.count <= 0 for rule in qbo.state.failures if rule.realm_id == realm)  # the failure was met
    assert len(bills(stack, realm)) == 1  # QuickBooks holds the bill; we do not know it
    assert api.call("GET", "/v1/purchase-orders/8101").json()["vendorInvoiceStatus"] == "Sent to External System"
    # And the message dead-lettered
    body = dead_letter(stack, "SyncQueue")
    assert json.loads(body)["document"] == {"kind": "purchase_order_bills", "id": "8101"}
    # When the operator redrives the sync DLQ and the consumer runs
    assert admin_redrive(stack, "SyncQueueDLQ") == 1
    report = stack.drain_queues()
    # Then QuickBooks still holds exactly one bill, the PO is "S" with its id, and the DLQ is empty
    (bill,) = bills(stack, realm)
    shown = api.call("GET", "/v1/purchase-orders/8101").json()
    assert shown["vendorInvoiceStatus"] == "S", shown
    assert shown["externalIds"] == {"R8101": bill["Id"]}
    assert report.failed == 0 and report.dead_letters["SyncQueueDLQ"] == 0
    # And redriving the same work once more (a crash between send and delete repeats a message) changes nothing
    stack.client("sqs").send_message(QueueUrl=stack.resources.queues["SyncQueueDLQ"], MessageBody=body)
    assert stack.redrive("SyncQueueDLQ") == 1
    stack.drain_queues()
    assert len(bills(stack, realm)) == 1
    assert api.call("GET", "/v1/purchase-orders/8101").json()["vendorInvoiceStatus"] == "S"


def test_a_redriven_webhook_delivery_repeats_the_accepted_key_and_ends_s(stack: LocalStack) -> None:
    # Given a company on the webhook whose endpoint accepts the delivery but whose answer is lost (it comes late)
    api = fresh_company(stack, "Redrive Webhook")
    receiver = connect_webhook(stack, api)
    requests.post(f"{receiver}/__receiver/reset", timeout=10)
    requests.post(f"{receiver}/__receiver/behaviour", json={"delaySeconds": 11}, timeout=10)
    send_po(api, 8202)
    attempt = poller(stack, "WebhookSenderFunction").poll_once(0, redeliver_failures_now=True)
    assert (attempt.received, attempt.failed) == (1, 1)
    requests.post(f"{receiver}/__receiver/behaviour", json={}, timeout=10)  # answers at once from now on
    (accepted,) = [d for d in deliveries(receiver) if (d["json"] or {}).get("poNumber") == "P8202"]
    assert accepted["answeredStatus"] == 200
    # And the message dead-lettered
    dead_letter(stack, "WebhookQueue")
    # When the operator redrives it
    assert admin_redrive(stack, "WebhookQueueDLQ") == 1
    stack.drain_queues()
    # Then the endpoint got the work again under the key it accepted it with (so it can drop the repeat)
    mine = [d for d in deliveries(receiver) if (d["json"] or {}).get("poNumber") == "P8202"]
    assert len(mine) == 2 and {idempotency_key(d) for d in mine} == {idempotency_key(accepted)}
    assert api.call("GET", "/v1/purchase-orders/8202").json()["vendorInvoiceStatus"] == "S"
    assert stack.dead_letter_depths()["WebhookQueueDLQ"] == 0
    requests.post(f"{receiver}/__receiver/reset", timeout=10)


def test_a_redriven_copy_of_a_delivered_webhook_sends_nothing_new(stack: LocalStack) -> None:
    # Given a webhook delivery the endpoint accepted and the PO "S", and a copy of its message left in the DLQ
    # (the sender recorded "S" and crashed before the message was deleted; SQS dead-lettered the copy)
    api = fresh_company(stack, "Redrive Webhook Copy")
    receiver = connect_webhook(stack, api)
    requests.post(f"{receiver}/__receiver/reset", timeout=10)
    send_po(api, 8203)
    sqs, queues = stack.client("sqs"), stack.resources.queues
    (message,) = sqs.receive_message(QueueUrl=queues["WebhookQueue"], VisibilityTimeout=0)["Messages"]
    stack.drain_queues()
    assert api.call("GET", "/v1/purchase-orders/8203").json()["vendorInvoiceStatus"] == "S"
    (accepted,) = [d for d in deliveries(receiver) if (d["json"] or {}).get("poNumber") == "P8203"]
    sqs.send_message(QueueUrl=queues["WebhookQueueDLQ"], MessageBody=message["Body"])
    # When the operator redrives it
    assert admin_redrive(stack, "WebhookQueueDLQ") == 1
    stack.drain_queues()
    # Then any second POST carries the accepted key, and the PO stays "S"
    mine = [d for d in deliveries(receiver) if (d["json"] or {}).get("poNumber") == "P8203"]
    assert {idempotency_key(d) for d in mine} == {idempotency_key(accepted)}
    assert api.call("GET", "/v1/purchase-orders/8203").json()["vendorInvoiceStatus"] == "S"
    requests.post(f"{receiver}/__receiver/reset", timeout=10)


@pytest.mark.skipif(shutil.which("make") is None or shutil.which("curl") is None, reason="needs make and curl")
def test_make_redrive_moves_a_dead_letter_back_as_the_readme_says(stack: LocalStack) -> None:
    # Given a dead-lettered sync message of a connected company
    api = fresh_company(stack, "Redrive Make")
    realm = connect_quickbooks(stack, api)
    send_po(api, 8301)
    dead_letter(stack, "SyncQueue")
    # When the operator runs `make redrive QUEUE=SyncQueueDLQ` against the running stack
    run = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "redrive", "QUEUE=SyncQueueDLQ", f"API={stack.api_url}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Then it reports the move, and the work reaches QuickBooks once
    assert run.returncode == 0, run.stdout + run.stderr
    assert '"moved": 1' in run.stdout and '"queue": "SyncQueueDLQ"' in run.stdout, run.stdout
    stack.drain_queues()
    assert len(bills(stack, realm)) == 1
    assert api.call("GET", "/v1/purchase-orders/8301").json()["vendorInvoiceStatus"] == "S"
    # And a queue that is not a dead-letter queue is refused with the known ones
    wrong = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "redrive", "QUEUE=NoSuchQueue", f"API={stack.api_url}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert wrong.returncode != 0, wrong.stdout
    assert "SyncQueueDLQ" in wrong.stdout and "WebhookQueueDLQ" in wrong.stdout, wrong.stdout  # the known ones
