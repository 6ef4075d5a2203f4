"""Every schedule runs against the local stack; the sweep never duplicates live work; dead letters surface."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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
def api(stack: LocalStack) -> Client:
    assert stack.demo is not None and stack.demo.admin_token
    return Client(stack.api_url, stack.demo.admin_token)


def schedule_names(stack: LocalStack) -> list[str]:
    return sorted(f"{s.function_id}.{s.event_name}" for s in stack.template.schedules)


def test_every_schedule_of_the_template_runs_and_succeeds_against_the_stack(stack: LocalStack) -> None:
    # Given every Type: Schedule event of template.yaml
    names = schedule_names(stack)
    assert "SchedulerFunction.EveryMinute" in names and "TokenRefreshFunction.Every15Minutes" in names
    # When each runs as EventBridge would run it, then it succeeds and reports what it did
    assert stack.demo is not None
    for name in names:
        result = stack.run_schedule(name)
        assert isinstance(result, dict), (name, result)
    swept = stack.run_schedule("SchedulerFunction.EveryMinute")
    assert swept == {
        "autoSyncReleased": 0,
        "autoSyncHeld": 0,
        "released": 0,
        "redispatched": 0,
        "deadLettersSurfaced": 0,
        "deadLettersUnreadable": 0,
        "errorNoticesSent": 0,
        "reconnectNoticesSent": 0,
    }
    refreshed = stack.run_schedule("TokenRefreshFunction.Every15Minutes")
    assert stack.demo.company_id in refreshed["not_connected"]  # listed from DynamoDB; it has no QuickBooks tokens


def set_sent_at(stack: LocalStack, company_id: str, po_id: int, when: datetime) -> None:
    """Time travel for the sweep: the PO was handed to its queue at ``when`` (its sync state's dispatch time)."""
    from ledgersync import bootstrap
    from ledgersync.domain.sync.documents import DocumentRef

    system = bootstrap.services().settings_store.get_settings(company_id).external_system
    assert system is not None
    states = bootstrap.services().sync_states
    state = states.get(company_id, DocumentRef.purchase_order(po_id), system)
    assert state is not None
    states.put(state.model_copy(update={"dispatched_at": when}), state.version)


def webhook_po(api: Client, stack: LocalStack, po_id: int) -> str:
    receiver = stack.emulators["webhook_receiver"].url
    send_to_local_webhook(api, receiver, "t0k3n", ["o@x.io"])
    po = {
        "poNumber": f"P{po_id}",
        "vendorId": api.vendor("FLORA")["id"],
        "shipDate": "2026-03-27",
        "items": [{"categoryProcurementAccountingCode": "CGEN", "totalCost": "0.30"}],
    }
    invoice = {"invoiceNumber": f"01-P{po_id}", "invoiceAmount": "0.30", "pdfBase64": PDF}
    approved_purchase_order(api, po_id, po, invoice, roles=("Procurement", "Accounting"))
    return str(receiver)


def poller(stack: LocalStack, function_id: str) -> Any:
    return next(p for p in stack.pollers if p.source.function_id == function_id)


def test_three_sweeps_leave_a_webhook_delivery_in_its_backoff_alone(stack: LocalStack, api: Client) -> None:
    assert stack.demo is not None
    receiver = webhook_po(api, stack, 5101)
    requests.post(f"{receiver}/__receiver/behaviour", json={"status": 503}, timeout=10)
    try:
        # Given a delivery whose first attempt got 503: its retry waits in the queue
        api.call("POST", "/v1/purchase-orders/send-to-external", {"purchaseOrderIds": [5101]})
        assert poller(stack, "WebhookSenderFunction").poll_once().failed == 1
        posted = len(requests.get(f"{receiver}/__receiver/deliveries", timeout=10).json()["deliveries"])
        # When three sweeps run, well past the old 30-minute mark but inside the 24-hour retry window
        set_sent_at(stack, stack.demo.company_id, 5101, datetime.now(UTC) - timedelta(hours=3))
        sweeps = [stack.run_schedule("SchedulerFunction.EveryMinute")["redispatched"] for _ in range(3)]
        # Then nothing was queued again: one message, still hidden until its backoff ends, no new POST
        assert sweeps == [0, 0, 0]
        depth = stack.queue_depths()["WebhookQueue"]
        assert depth == {"visible": 0, "in_flight": 1, "delayed": 0}
        assert len(requests.get(f"{receiver}/__receiver/deliveries", timeout=10).json()["deliveries"]) == posted
        shown = api.call("GET", "/v1/purchase-orders/5101").json()
        assert shown["vendorInvoiceStatus"] == "Sent to External System"
    finally:
        requests.post(f"{receiver}/__receiver/reset", timeout=10)
        stack.client("sqs").purge_queue(QueueUrl=stack.resources.queues["WebhookQueue"])


def test_a_dead_letter_surfaces_as_error_with_one_email_and_can_be_sent_again(stack: LocalStack, api: Client) -> None:
    assert stack.demo is not None
    receiver = webhook_po(api, stack, 5300)  # the company delivers through the webhook, errors to o@x.io
    po = {
        "poNumber": "P5301",
        "vendorId": api.vendor("FLORA")["id"],
        "shipDate": "2026-04-01",
        "items": [{"categoryProcurementAccountingCode": "CGEN", "totalCost": 20}],
    }
    approved_purchase_order(api, 5301, po, {"invoiceNumber": "D1", "invoiceAmount": 20})
    api.call("POST", "/v1/purchase-orders/send-to-external", {"purchaseOrderIds": [5301]})
    sqs, queues = stack.client("sqs"), stack.resources.queues
    (message,) = sqs.receive_message(QueueUrl=queues["WebhookQueue"])["Messages"]  # it crashed its way to the DLQ
    sqs.send_message(QueueUrl=queues["WebhookQueueDLQ"], MessageBody=message["Body"])
    sqs.delete_message(QueueUrl=queues["WebhookQueue"], ReceiptHandle=message["ReceiptHandle"])
    before = len(stack.emails())
    # When the sweep runs twice
    first = stack.run_schedule("SchedulerFunction.EveryMinute")
    second = stack.run_schedule("SchedulerFunction.EveryMinute")
    # Then the PO is in Error with the reason, one e-mail went, and it can be sent again
    assert (first["deadLettersSurfaced"], second["deadLettersSurfaced"]) == (1, 0)
    shown = api.call("GET", "/v1/purchase-orders/5301").json()
    assert shown["vendorInvoiceStatus"] == "Error" and "dead-letter queue" in shown["error"]
    mails = stack.emails()[before:]
    assert len(mails) == 1 and mails[0]["to"] == ["o@x.io"], mails
    again = api.call("POST", "/v1/purchase-orders/send-to-external", {"purchaseOrderIds": [5301]}).json()
    assert again["results"][0]["accepted"] is True
    stack.drain_queues()
    assert api.call("GET", "/v1/purchase-orders/5301").json()["vendorInvoiceStatus"] == "S"
    assert any(d for d in requests.get(f"{receiver}/__receiver/deliveries", timeout=10).json()["deliveries"])


def test_an_export_checkpoint_in_its_dead_letter_queue_fails_the_run_with_one_email(
    stack: LocalStack, api: Client
) -> None:
    # Given an export started whose first checkpoint crashed its way to the export queue's dead-letter queue
    settings = {"externalSystem": "quickbooks_online", "notificationEmails": ["books@x.io"]}
    assert api.call("PUT", "/v1/accounting/settings", settings).status_code == 200
    started = api.call("POST", "/v1/accounting/export")
    assert started.status_code == 202, started.text
    run_id = started.json()["runId"]
    sqs, queues = stack.client("sqs"), stack.resources.queues
    (message,) = sqs.receive_message(QueueUrl=queues["ExportQueue"])["Messages"]
    sqs.send_message(QueueUrl=queues["ExportQueueDLQ"], MessageBody=message["Body"])
    sqs.delete_message(QueueUrl=queues["ExportQueue"], ReceiptHandle=message["ReceiptHandle"])
    before = len(stack.emails())
    # When the sweep runs twice
    first = stack.run_schedule("SchedulerFunction.EveryMinute")
    second = stack.run_schedule("SchedulerFunction.EveryMinute")
    # Then the run failed saying where its checkpoint went, one summary e-mail went, and a new export may start
    try:
        assert (first["deadLettersSurfaced"], second["deadLettersSurfaced"]) == (1, 0)
        entry = api.call("GET", f"/v1/process-log/{run_id}").json()
        assert entry["status"] == "failed", entry
        assert any("dead-letter queue" in m["message"] for m in entry["messages"]), entry
        mails = stack.emails()[before:]
        assert len(mails) == 1 and mails[0]["to"] == ["books@x.io"] and run_id in mails[0]["body"], mails
        assert api.call("POST", "/v1/accounting/export").status_code == 202
    finally:
        sqs.purge_queue(QueueUrl=queues["ExportQueue"])
        sqs.purge_queue(QueueUrl=queues["ExportQueueDLQ"])
        api.call("PUT", "/v1/accounting/settings", {"externalSystem": None})
