"""webhook_sender benchmark: deliveries per second against the local receiver, and the consumer's peak memory.

Real HTTP over loopback to the receiver in its own process (the requests transport with its DNS check and
pinned address), in-memory ports for the rest. Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "common" / "python"), str(ROOT)]
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Ledgersync")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

DELIVERIES = 300
BATCH = 10


@dataclass
class MemoryPorts:
    """Every port but HTTP, in memory."""

    document: Any
    endpoint: Any
    synchronized: int = 0
    failed: list[str] = field(default_factory=list)

    def load(self, company_id: str, purchase_order_id: int) -> Any:
        return self.document if purchase_order_id == self.document.order.id else None

    def presigned_pdf_url(self, key: str, expires_in: int = 21600) -> str:
        return f"https://documents.example/{key}?X-Amz-Expires={expires_in}"

    def mark_sent(self, company_id: str, purchase_order_id: int, delivery_id: str) -> None:
        return

    def mark_synchronized(self, company_id: str, purchase_order_id: int, delivery_id: str) -> None:
        self.synchronized += 1

    def mark_failed(self, company_id: str, purchase_order_id: int, delivery_id: str, reason: str) -> bool:
        self.failed.append(reason)
        return False

    def mark_notified(self, company_id: str, purchase_order_id: int, delivery_id: str) -> None:
        return

    def enqueue(self, message: Any) -> None:
        return

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None:
        return

    def dead_letter(self, body: str, reason: str) -> None:
        return

    def send(self, to: list[str], subject: str, text: str, html: str) -> None:
        return


@dataclass
class Secrets:
    endpoint: Any

    def load(self, company_id: str) -> Any:
        return self.endpoint

    def save(self, company_id: str, endpoint: Any) -> None:
        self.endpoint = endpoint


def build(url: str) -> tuple[Any, MemoryPorts]:
    from ledgersync.adapters.webhooks import DnsAddressGuard, RequestsWebhookTransport
    from ledgersync.domain.purchase_orders import (
        ExternalSystem,
        LocationRef,
        PurchaseOrder,
        PurchaseOrderItem,
        VendorInvoice,
        VendorInvoiceStatus,
        VendorRef,
    )
    from ledgersync.domain.webhooks.delivery import WebhookDeliveries
    from ledgersync.domain.webhooks.endpoint import BearerAuth, WebhookEndpoint
    from ledgersync.domain.webhooks.payload import ReconciliationDocument

    order = PurchaseOrder(
        company_id="bench", id=12345, po_number="P002271", vendor_id=29697, location_id=3,
        ship_date=date(2020, 3, 27), arrival_date=date(2020, 3, 27),
        items=[PurchaseOrderItem(category_procurement_accounting_code=f"C{i:03}", total_cost=Decimal("12.34"))
               for i in range(40)],
        vendor_invoices=[VendorInvoice(invoice_number=f"01-P00227{i}", invoice_amount=Decimal("98.72"),
                                       pdf_key=f"bench/{i}.pdf") for i in range(5)],
        vendor_invoice_status=VendorInvoiceStatus.SENT_TO_EXTERNAL,
    )  # fmt: skip
    document = ReconciliationDocument(
        order=order,
        vendor=VendorRef(id=29697, code="AV", name="Miami L Vendor", type="Fresh Cut"),
        location=LocationRef(id=3, code="02", name="Chicago"),
    )
    endpoint = WebhookEndpoint(
        url=f"{url}/hooks/po", auth=BearerAuth(type="bearer", token="bench-token"), error_emails=["ap@bench.example"],
        signing_secret="b" * 43, updated_at=datetime.now(UTC),
    )  # fmt: skip
    ports = MemoryPorts(document, endpoint)
    deliveries = WebhookDeliveries(
        source=ports, secrets=Secrets(endpoint), links=ports, outcomes=ports, queue=ports, notifier=ports,
        target=ExternalSystem.WEBHOOK, transport=RequestsWebhookTransport(DnsAddressGuard(frozenset({"127.0.0.1"}))),
    )  # fmt: skip
    return deliveries, ports


def message(index: int) -> str:
    from ledgersync.domain.purchase_orders import ExternalSystem
    from ledgersync.domain.webhooks.delivery import new_delivery

    return (
        new_delivery("bench", 12345, datetime.now(UTC), ExternalSystem.WEBHOOK)
        .model_copy(update={"delivery_id": f"bench-{index:06}"})
        .to_json()
    )


def sqs_event(count: int) -> dict[str, Any]:
    records = [{
        "messageId": f"m{i}", "receiptHandle": f"rh{i}", "body": message(i),
        "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": "",
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:webhook",
        "awsRegion": "us-east-1",
    } for i in range(count)]  # fmt: skip
    return {"Records": records}


@contextmanager
def receiver_process() -> Iterator[str]:
    """The devstack receiver in its own process, so neither its CPU nor its memory is counted as the consumer's."""
    import requests

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "devstack.webhook_receiver", "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                requests.get(f"{url}/__receiver/deliveries", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    import requests
    from aws_lambda_powertools.utilities.batch import process_partial_response
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from functions.webhook_sender.app import handle_record, processor

    with receiver_process() as url:
        deliveries, ports = build(url)
        deliveries.handle(message(0), "warm-up", 1)

        started = time.perf_counter()
        for index in range(DELIVERIES):
            deliveries.handle(message(index), f"rh{index}", 1)
        elapsed = time.perf_counter() - started
        size = len(requests.get(f"{url}/__receiver/deliveries", timeout=10).json()["deliveries"][-1]["body"])

        def record_handler(record: SQSRecord) -> None:
            handle_record(record, deliveries)

        event = sqs_event(BATCH)
        tracemalloc.start()
        answer = process_partial_response(event=event, record_handler=record_handler, processor=processor)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

    print(f"deliveries:               {DELIVERIES} sequential POSTs of a {size}-byte PO (40 items, 5 invoices)")
    print(f"deliveries per second:    {DELIVERIES / elapsed:.1f}  ({elapsed / DELIVERIES * 1000:.2f} ms each)")
    print(f"synchronized / failed:    {ports.synchronized} / {len(ports.failed)}")
    print(f"batch of {BATCH} peak memory: {peak / 1024:.0f} KiB (tracemalloc, consumer only); failures reported: "
          f"{len(answer['batchItemFailures'])}")  # fmt: skip


if __name__ == "__main__":
    main()
