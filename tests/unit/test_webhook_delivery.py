"""The webhook delivery use case with recording fakes: outcomes on the PO, retries, the one error e-mail, resend."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ledgersync.domain.accounts import Principal, Role
from ledgersync.domain.purchase_orders import (
    ExternalSystem,
    LocationRef,
    PurchaseOrder,
    PurchaseOrderItem,
    VendorInvoice,
    VendorInvoiceStatus,
    VendorRef,
)
from ledgersync.domain.sync.messages import SyncMessage
from ledgersync.domain.sync.outcomes import Outcome
from ledgersync.domain.webhooks.delivery import WebhookDeliveries
from ledgersync.domain.webhooks.endpoint import BasicAuth, BearerAuth, WebhookEndpoint
from ledgersync.domain.webhooks.payload import ReconciliationDocument, verify_signature
from ledgersync.domain.webhooks.retries import RetrySchedule, WebhookResponse
from ledgersync.errors import Conflict, Forbidden, NotFound, PermanentError, RetryableError
from tests.fakes import FakeClock
from tests.support.services import InstallServices

COMPANY = "c-flowers"
PO_ID = 12345
SENDER = Principal(company_id=COMPANY, user_id="U1", roles=frozenset({Role.ACCOUNTS_PAYABLE}), token_id="T1")
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SIGNING_SECRET = "s" * 43
BEARER = "tok_live_9f8e7d6c5b4a"


def seed_order(**changes: Any) -> PurchaseOrder:
    """Seed 001's PO P002271 made consistent: items 23 + 37 = 60, invoices 20 + 30 + 10 = 60."""
    values: dict[str, Any] = {
        "company_id": COMPANY,
        "id": PO_ID,
        "po_number": "P002271",
        "vendor_id": 29697,
        "location_id": 3,
        "ship_date": date(2020, 3, 27),
        "arrival_date": date(2020, 3, 27),
        "items": [
            PurchaseOrderItem(category_procurement_accounting_code="CGEN", total_cost=Decimal("23.00")),
            PurchaseOrderItem(category_procurement_accounting_code="PGEN", total_cost=Decimal("37.00")),
        ],
        "vendor_invoices": [
            VendorInvoice(invoice_number="01-P002271", invoice_amount=Decimal("20.00"), pdf_key=f"{COMPANY}/a.pdf"),
            VendorInvoice(invoice_number="01-P002272", invoice_amount=Decimal("30.00"), pdf_key=f"{COMPANY}/b.pdf"),
            VendorInvoice(invoice_number="01-P002273", invoice_amount=Decimal("10.00")),
        ],
        "vendor_invoice_status": VendorInvoiceStatus.SENT_TO_EXTERNAL,
    }
    values.update(changes)
    return PurchaseOrder(**values)


def seed_document(order: PurchaseOrder | None = None, current_delivery_id: str | None = None) -> ReconciliationDocument:
    return ReconciliationDocument(
        order=order or seed_order(),
        vendor=VendorRef(id=29697, code="AV", name="Miami L Vendor", accounting_name=None, type="Fresh Cut"),
        location=LocationRef(id=3, code="02", name="Chicago"),
        current_delivery_id=current_delivery_id,
    )


def endpoint(
    auth: BasicAuth | BearerAuth | None = None, url: str = "https://erp.example.com/hooks/po"
) -> WebhookEndpoint:
    return WebhookEndpoint(
        url=url,
        auth=auth or BearerAuth(type="bearer", token=BEARER),
        error_emails=["ap@flowers.example", "it@flowers.example"],
        signing_secret=SIGNING_SECRET,
        updated_at=T0,
    )


@dataclass
class FakeSource:
    documents: dict[tuple[str, int], ReconciliationDocument] = field(default_factory=dict)

    def load(self, company_id: str, purchase_order_id: int) -> ReconciliationDocument | None:
        return self.documents.get((company_id, purchase_order_id))


@dataclass
class FakeSecrets:
    endpoints: dict[str, WebhookEndpoint] = field(default_factory=dict)

    def load(self, company_id: str) -> WebhookEndpoint | None:
        return self.endpoints.get(company_id)

    def save(self, company_id: str, endpoint: WebhookEndpoint) -> None:
        self.endpoints[company_id] = endpoint


@dataclass
class FakeLinks:
    issued: list[tuple[str, int]] = field(default_factory=list)

    def presigned_pdf_url(self, key: str, expires_in: int = 21600) -> str:
        self.issued.append((key, expires_in))
        return f"https://documents.example/{key}?X-Amz-Expires={expires_in}"


@dataclass
class Posted:
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass
class FakeTransport:
    """Answers from a script: each entry is a response or an exception to raise."""

    script: list[WebhookResponse | Exception] = field(default_factory=list)
    posted: list[Posted] = field(default_factory=list)

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WebhookResponse:
        self.posted.append(Posted(url, body, dict(headers)))
        answer = self.script.pop(0) if self.script else WebhookResponse(200)
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class FakeOutcomes:
    """The PO's status as the lead's repository would keep it, plus which deliveries were e-mailed."""

    status: dict[int, VendorInvoiceStatus] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    current: dict[int, str] = field(default_factory=dict)
    notified: set[str] = field(default_factory=set)

    def mark_sent(self, company_id: str, purchase_order_id: int, delivery_id: str) -> None:
        self.status[purchase_order_id] = VendorInvoiceStatus.SENT_TO_EXTERNAL
        self.current[purchase_order_id] = delivery_id
        self.errors.pop(purchase_order_id, None)

    def mark_synchronized(self, company_id: str, purchase_order_id: int, delivery_id: str) -> None:
        self.status[purchase_order_id] = VendorInvoiceStatus.SYNCHRONIZED

    def mark_failed(self, company_id: str, purchase_order_id: int, delivery_id: str, reason: str) -> bool:
        self.status[purchase_order_id] = VendorInvoiceStatus.ERROR
        self.errors[purchase_order_id] = reason
        return delivery_id not in self.notified

    def mark_notified(self, company_id: str, purchase_order_id: int, delivery_id: str) -> None:
        self.notified.add(delivery_id)


@dataclass
class FakeQueue:
    enqueued: list[SyncMessage] = field(default_factory=list)
    postponed: list[tuple[str, int]] = field(default_factory=list)
    parked: list[tuple[str, str]] = field(default_factory=list)

    def enqueue(self, message: SyncMessage) -> None:
        self.enqueued.append(message)

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None:
        self.postponed.append((receipt_handle, delay_seconds))

    def dead_letter(self, body: str, reason: str) -> None:
        self.parked.append((body, reason))


@dataclass
class Mail:
    to: list[str]
    subject: str
    text: str
    html: str


@dataclass
class FakeNotifier:
    sent: list[Mail] = field(default_factory=list)

    def send(self, to: list[str], subject: str, text: str, html: str) -> None:
        self.sent.append(Mail(to, subject, text, html))


@dataclass
class World:
    deliveries: WebhookDeliveries
    source: FakeSource
    secrets: FakeSecrets
    transport: FakeTransport
    links: FakeLinks
    outcomes: FakeOutcomes
    queue: FakeQueue
    notifier: FakeNotifier
    clock: FakeClock


def make_world(*script: WebhookResponse | Exception, configured: bool = True) -> World:
    source = FakeSource({(COMPANY, PO_ID): seed_document()})
    secrets = FakeSecrets({COMPANY: endpoint()} if configured else {})
    transport = FakeTransport(list(script))
    links, outcomes, queue, notifier, clock = FakeLinks(), FakeOutcomes(), FakeQueue(), FakeNotifier(), FakeClock(T0)
    deliveries = WebhookDeliveries(
        source=source,
        secrets=secrets,
        transport=transport,
        links=links,
        outcomes=outcomes,
        queue=queue,
        notifier=notifier,
        target=ExternalSystem.WEBHOOK,
        schedule=RetrySchedule(),
        clock=clock,
        uniform=lambda low, high: low,
        resend_base_url="https://api.ledgersync.example",
    )
    return World(deliveries, source, secrets, transport, links, outcomes, queue, notifier, clock)


def message_body(delivery_id: str = "7d0c6f0e-1111-4c1e-9a55-000000000001", first: datetime = T0) -> str:
    return json.dumps(
        {"companyId": COMPANY, "purchaseOrderId": PO_ID, "deliveryId": delivery_id, "firstAttemptAt": first.isoformat()}
    )


def test_po_is_synchronized_when_the_endpoint_answers_2xx() -> None:
    # Given
    world = make_world(WebhookResponse(202))
    # When
    report = world.deliveries.handle(message_body(), "rh-1", 1)
    # Then
    assert report.outcome is Outcome.SYNCHRONIZED
    assert world.outcomes.status[PO_ID] is VendorInvoiceStatus.SYNCHRONIZED
    assert world.notifier.sent == []
    assert world.queue.postponed == []


def test_request_carries_bearer_auth_user_agent_idempotency_key_and_a_valid_signature_when_sent() -> None:
    world = make_world()
    world.deliveries.handle(message_body(), "rh-1", 1)
    sent = world.transport.posted[0]
    assert sent.url == "https://erp.example.com/hooks/po"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Authorization"] == f"Bearer {BEARER}"
    assert sent.headers["User-Agent"] == "Ledgersync-Webhook/1.0"
    assert "7d0c6f0e-1111-4c1e-9a55-000000000001" in sent.headers["Idempotency-Key"]
    signature = sent.headers["X-Ledgersync-Signature"]
    assert signature.startswith(f"t={int(T0.timestamp())},v1=")
    assert verify_signature(SIGNING_SECRET, signature, sent.body, tolerance_s=300, now=T0.timestamp())


def test_request_carries_basic_auth_when_the_endpoint_uses_basic() -> None:
    world = make_world()
    world.secrets.endpoints[COMPANY] = endpoint(BasicAuth(type="basic", username="komet", password="pä55:word"))
    world.deliveries.handle(message_body(), "rh-1", 1)
    header = world.transport.posted[0].headers["Authorization"]
    assert header.startswith("Basic ")
    assert base64.b64decode(header[6:]).decode() == "komet:pä55:word"


def test_idempotency_key_stays_the_same_when_a_delivery_is_retried_and_changes_when_resent() -> None:
    # Given a delivery that fails once, then succeeds
    world = make_world(WebhookResponse(503), WebhookResponse(200))
    body = message_body()
    assert world.deliveries.handle(body, "rh-1", 1).outcome is Outcome.RETRY_LATER
    world.clock.current = T0 + timedelta(seconds=40)
    world.deliveries.handle(body, "rh-2", 2)
    # When the user resends it
    resent = world.deliveries.resend(SENDER, PO_ID)
    world.deliveries.handle(world.queue.enqueued[-1].to_json(), "rh-3", 1)
    # Then the retries share a key, the resend has a new one
    keys = [p.headers["Idempotency-Key"] for p in world.transport.posted]
    assert keys[0] == keys[1]
    assert keys[2] != keys[0]
    assert resent.delivery_id in keys[2]


def test_retry_is_scheduled_on_the_message_when_the_endpoint_answers_503() -> None:
    world = make_world(WebhookResponse(503, {"content-type": "text/plain"}, b"down for maintenance"))
    report = world.deliveries.handle(message_body(), "rh-1", 1)
    assert report.outcome is Outcome.RETRY_LATER
    assert world.queue.postponed == [("rh-1", 30)]  # window 1 starts 30 s after the first attempt
    assert VendorInvoiceStatus.ERROR not in world.outcomes.status.values()
    assert world.notifier.sent == []


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retry_is_scheduled_when_the_endpoint_answers_a_retryable_status(status: int) -> None:
    world = make_world(WebhookResponse(status))
    assert world.deliveries.handle(message_body(), "rh", 1).outcome is Outcome.RETRY_LATER


@pytest.mark.parametrize(
    "failure",
    [
        RetryableError("could not connect to erp.example.com:443 (Connection refused)"),
        RetryableError("erp.example.com:443 did not answer within 10 s"),
    ],
)
def test_retry_is_scheduled_when_the_connection_fails_or_times_out(failure: Exception) -> None:
    world = make_world(failure)
    report = world.deliveries.handle(message_body(), "rh", 1)
    assert report.outcome is Outcome.RETRY_LATER
    assert world.queue.postponed


def test_retry_waits_as_long_as_retry_after_when_the_endpoint_answers_429() -> None:
    world = make_world(WebhookResponse(429, {"retry-after": "600"}))
    world.deliveries.handle(message_body(), "rh", 1)
    assert world.queue.postponed == [("rh", 600)]


def test_po_is_in_error_with_one_email_and_parked_when_retries_are_spent() -> None:
    # Given a delivery whose first attempt was more than 24 hours ago
    world = make_world(WebhookResponse(503, {}, b"still down"), WebhookResponse(503, {}, b"still down"))
    world.clock.current = T0 + timedelta(hours=24, minutes=20)
    body = message_body()
    # When the last attempt fails
    report = world.deliveries.handle(body, "rh-20", 20)
    # Then
    assert report.outcome is Outcome.ERROR
    assert world.outcomes.status[PO_ID] is VendorInvoiceStatus.ERROR
    assert "HTTP 503" in world.outcomes.errors[PO_ID]
    assert "24 hours" in world.outcomes.errors[PO_ID]
    assert world.queue.parked == [(body, world.outcomes.errors[PO_ID])]
    assert len(world.notifier.sent) == 1
    # And a redelivered copy of the same message sends no second e-mail
    world.deliveries.handle(body, "rh-21", 21)
    assert len(world.notifier.sent) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 422])
def test_po_is_in_error_at_once_when_the_endpoint_answers_another_4xx(status: int) -> None:
    world = make_world(WebhookResponse(status, {}, b'{"error":"no"}'))
    report = world.deliveries.handle(message_body(), "rh", 1)
    assert report.outcome is Outcome.ERROR
    assert world.outcomes.errors[PO_ID] == f"HTTP {status}"
    assert world.queue.postponed == []
    assert world.queue.parked == []
    assert len(world.notifier.sent) == 1


def test_po_is_in_error_with_a_clear_message_when_the_endpoint_redirects() -> None:
    world = make_world(WebhookResponse(301, {"location": "https://other.example.com/new?token=abc"}))
    world.deliveries.handle(message_body(), "rh", 1)
    reason = world.outcomes.errors[PO_ID]
    assert "HTTP 301" in reason
    assert "redirects are not followed" in reason
    assert "token=abc" not in reason
    assert len(world.transport.posted) == 1


def test_po_is_in_error_when_the_host_resolves_to_a_refused_address_at_send_time() -> None:
    from ledgersync.domain.webhooks.endpoint import AddressRefusedError

    world = make_world(
        AddressRefusedError("the webhook host 'erp.example.com' resolves to 10.0.0.5 is a private address")
    )
    world.deliveries.handle(message_body(), "rh", 1)
    assert world.outcomes.status[PO_ID] is VendorInvoiceStatus.ERROR
    assert "private address" in world.outcomes.errors[PO_ID]
    assert world.queue.postponed == []


def test_error_email_tells_what_failed_where_and_how_to_resend_when_delivery_fails() -> None:
    # Given an endpoint that echoes the credentials back in a long error page
    echo = f"Unauthorized. You sent Authorization: Bearer {BEARER} and secret {SIGNING_SECRET}. ".encode() + b"z" * 3000
    world = make_world(WebhookResponse(401, {}, echo))
    world.secrets.endpoints[COMPANY] = endpoint(url="https://erp.example.com/hooks/po?apikey=hidden123")
    # When
    world.deliveries.handle(message_body(), "rh", 3)
    # Then
    [mail] = world.notifier.sent
    assert mail.to == ["ap@flowers.example", "it@flowers.example"]
    assert "P002271" in mail.subject
    for text in (mail.text, mail.html):
        assert "P002271" in text
        assert "https://erp.example.com/hooks/po?..." in text
        assert "HTTP 401" in text
        assert "Unauthorized. You sent" in text
        assert "Attempts" in text
        assert "POST https://api.ledgersync.example/v1/purchase-orders/12345/resend" in text
        assert BEARER not in text
        assert SIGNING_SECRET not in text
        assert "hidden123" not in text
    excerpt = mail.text.split("secrets redacted):\n", 1)[1].split("\n\n", 1)[0]
    assert len(excerpt) == 1024


def test_error_email_counts_the_attempts_made_when_retries_are_spent() -> None:
    world = make_world(RetryableError("could not connect to erp.example.com:443 (Connection refused)"))
    world.clock.current = T0 + timedelta(hours=25)
    world.deliveries.handle(message_body(), "rh", 20)
    [mail] = world.notifier.sent
    assert "Attempts: 20 since 2024-05-01T12:00:00+00:00" in mail.text
    assert "no HTTP answer" in mail.text
    assert "Connection refused" in mail.text


def test_invoice_links_are_valid_six_hours_when_the_payload_is_built() -> None:
    world = make_world()
    world.deliveries.handle(message_body(), "rh", 1)
    assert world.links.issued == [(f"{COMPANY}/a.pdf", 21600), (f"{COMPANY}/b.pdf", 21600)]
    payload = json.loads(world.transport.posted[0].body)
    assert payload["vendorInvoices"][0]["file"].endswith("X-Amz-Expires=21600")
    assert payload["vendorInvoices"][2]["file"] is None


def test_delivery_is_skipped_when_a_resend_replaced_it() -> None:
    world = make_world()
    world.source.documents[(COMPANY, PO_ID)] = seed_document(current_delivery_id="a-newer-delivery-id")
    report = world.deliveries.handle(message_body(), "rh", 1)
    assert report.outcome is Outcome.NOTHING_TO_DO
    assert world.transport.posted == []


def test_delivery_is_skipped_when_the_po_was_deleted() -> None:
    world = make_world()
    world.source.documents.clear()
    assert world.deliveries.handle(message_body(), "rh", 1).outcome is Outcome.NOTHING_TO_DO
    assert world.transport.posted == []


def test_unreadable_message_is_parked_in_the_dead_letter_queue_when_received() -> None:
    world = make_world()
    report = world.deliveries.handle('{"companyId": "c", "purchaseOrderId": "x"}', "rh", 1)
    assert report.outcome is Outcome.PARKED
    assert world.queue.parked[0][0] == '{"companyId": "c", "purchaseOrderId": "x"}'
    assert world.transport.posted == []


def test_po_is_in_error_without_email_when_the_webhook_is_no_longer_configured() -> None:
    world = make_world(configured=False)
    report = world.deliveries.handle(message_body(), "rh", 1)
    assert report.outcome is Outcome.ERROR
    assert "PUT /v1/webhooks/po-reconciliation" in world.outcomes.errors[PO_ID]
    assert world.notifier.sent == []


def test_resend_enqueues_a_new_delivery_and_marks_the_po_sent_when_it_was_in_error() -> None:
    world = make_world()
    world.outcomes.status[PO_ID] = VendorInvoiceStatus.ERROR
    world.clock.current = T0 + timedelta(days=2)
    answer = world.deliveries.resend(SENDER, PO_ID)
    [message] = world.queue.enqueued
    assert answer.model_dump(by_alias=True) == {
        "purchaseOrderId": PO_ID,
        "deliveryId": message.delivery_id,
        "vendorInvoiceStatus": "Sent to External System",
    }
    assert message.first_attempt_at == T0 + timedelta(days=2)
    assert message.delivery_id != "7d0c6f0e-1111-4c1e-9a55-000000000001"
    assert world.outcomes.status[PO_ID] is VendorInvoiceStatus.SENT_TO_EXTERNAL
    assert world.outcomes.current[PO_ID] == message.delivery_id
    assert world.deliveries.resend(SENDER, PO_ID).delivery_id != message.delivery_id


def test_resend_is_refused_when_the_user_may_not_send_to_the_external_system() -> None:
    # Given a user who may only approve for Accounting
    world = make_world()
    accountant = Principal(company_id=COMPANY, user_id="U2", roles=frozenset({Role.ACCOUNTING}), token_id="T2")

    # Then the resend is refused naming the roles that may, and nothing is queued
    with pytest.raises(Forbidden, match="only users with one of these roles may send to the external system"):
        world.deliveries.resend(accountant, PO_ID)
    assert world.queue.enqueued == []
    assert PO_ID not in world.outcomes.current


def test_resend_is_refused_when_the_po_is_not_approved() -> None:
    world = make_world()
    world.source.documents[(COMPANY, PO_ID)] = seed_document(
        seed_order(vendor_invoice_status=VendorInvoiceStatus.PENDING_APPROVAL)
    )
    with pytest.raises(Conflict, match="not approved"):
        world.deliveries.resend(SENDER, PO_ID)
    assert world.queue.enqueued == []


def test_resend_is_refused_when_the_po_does_not_exist_or_no_webhook_is_set_up() -> None:
    with pytest.raises(NotFound):
        make_world().deliveries.resend(SENDER, 999)
    with pytest.raises(Conflict, match="po-reconciliation"):
        make_world(configured=False).deliveries.resend(SENDER, PO_ID)


def test_record_is_reported_failed_for_sqs_when_a_retry_is_scheduled(install_services: InstallServices) -> None:
    """The consumer's partial batch response keeps postponed records and completes the others."""
    from devstack.runtime import LambdaContext
    from functions.webhook_sender import app

    world = make_world(WebhookResponse(503), WebhookResponse(200), PermanentError("refused"))
    install_services(use_cases={"webhook_deliveries": world.deliveries})
    event = {"Records": [sqs_record(f"m{i}", message_body(f"delivery-000{i}")) for i in range(3)]}
    answer = app.lambda_handler(event, LambdaContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert world.queue.postponed == [("rh-m0", 30)]


def test_record_is_left_for_the_next_invocation_when_too_little_time_remains() -> None:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from functions.webhook_sender.app import handle_record

    world = make_world()
    with pytest.raises(RetryableError):
        handle_record(SQSRecord(sqs_record("m0", message_body())), world.deliveries, remaining_ms=5_000)
    assert world.transport.posted == []


def sqs_record(message_id: str, body: str, receive_count: int = 1) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": "1714564800000"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:webhook",
        "awsRegion": "us-east-1",
    }


def test_invocation_does_not_fail_when_every_record_of_the_batch_is_postponed(
    install_services: InstallServices,
) -> None:
    from devstack.runtime import LambdaContext
    from functions.webhook_sender import app

    world = make_world(WebhookResponse(503), WebhookResponse(429))
    install_services(use_cases={"webhook_deliveries": world.deliveries})
    event = {"Records": [sqs_record(f"m{i}", message_body(f"delivery-000{i}")) for i in range(2)]}
    answer = app.lambda_handler(event, LambdaContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m1"}]}
    assert len(world.queue.postponed) == 2
