"""Delivery through the webhook queue: the message, the consumer's ports and the consumer (``WebhookDeliveries``)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from pydantic import ConfigDict

from ledgersync.clock import Clock, SystemClock
from ledgersync.domain.accounts import Principal
from ledgersync.domain.notices import Notifier, send_notice
from ledgersync.domain.purchase_order_service import SENDERS
from ledgersync.domain.purchase_orders import CamelModel, ExternalSystem, VendorInvoiceStatus
from ledgersync.domain.sync.documents import DocumentKind, DocumentRef
from ledgersync.domain.sync.messages import SyncMessage, UnreadableMessage
from ledgersync.domain.sync.outcomes import Outcome
from ledgersync.domain.webhooks.endpoint import WebhookEndpoint, WebhookSecrets
from ledgersync.domain.webhooks.notice import delivery_failed_notice, endpoint_secrets, redact
from ledgersync.domain.webhooks.payload import (
    DocumentLinks,
    ReconciliationDocument,
    build_payload,
    encode_payload,
    request_headers,
)
from ledgersync.domain.webhooks.retries import AttemptResult, RetrySchedule, Verdict, WebhookResponse, classify_response
from ledgersync.errors import Conflict, NotFound, PermanentError, RetryableError

# ---------------------------------------------------------------------------------------------------------------------
# Delivery through the webhook queue


def new_delivery(company_id: str, purchase_order_id: int, now: datetime, target: ExternalSystem) -> SyncMessage:
    """A new delivery of a PO (first send or resend): a fresh delivery id, so a fresh Idempotency-Key."""
    return SyncMessage(
        company_id=company_id,
        document=DocumentRef.purchase_order(purchase_order_id),
        target=target,
        delivery_id=str(uuid.uuid4()),
        first_attempt_at=now,
    )


class ResendAnswer(CamelModel):
    """``POST /v1/purchase-orders/{id}/resend`` (202): the new delivery queued; the PO is Sent to External System."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    purchase_order_id: int
    delivery_id: str
    vendor_invoice_status: Literal[VendorInvoiceStatus.SENT_TO_EXTERNAL] = VendorInvoiceStatus.SENT_TO_EXTERNAL


@dataclass(frozen=True)
class Delivery:
    """One delivery a queue message names: the PO, the delivery id and when its first attempt began."""

    company_id: str
    purchase_order_id: int
    delivery_id: str
    first_attempt_at: datetime


class WebhookTransport(Protocol):
    """POSTs one attempt. Raises RetryableError (timeout, connection) or PermanentError (refused address)."""

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WebhookResponse: ...


class ReconciliationSource(Protocol):
    """Loads what a delivery sends, at send time."""

    def load(self, company_id: str, purchase_order_id: int) -> ReconciliationDocument | None: ...


class DeliveryOutcomes(Protocol):
    """Records a delivery's outcome on the PO (the PO repository implements it).

    Each call names the delivery; an implementation ignores outcomes of a delivery that is no longer the
    PO's current one (a resend superseded it).
    """

    def mark_sent(self, company_id: str, purchase_order_id: int, delivery_id: str) -> None:
        """Status "Sent to External System", current delivery = ``delivery_id``, error cleared."""

    def mark_synchronized(self, company_id: str, purchase_order_id: int, delivery_id: str) -> None:
        """Status "S"."""

    def mark_failed(self, company_id: str, purchase_order_id: int, delivery_id: str, reason: str) -> bool:
        """Status "Error" with ``reason``; True while this delivery's error e-mail has not been marked sent."""

    def mark_notified(self, company_id: str, purchase_order_id: int, delivery_id: str) -> None:
        """The error e-mail of this delivery went out."""


class DeliveryQueue(Protocol):
    """The webhook queue: new deliveries, postponed attempts and parked (dead-lettered) messages."""

    def enqueue(self, message: SyncMessage) -> None: ...
    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None: ...
    def dead_letter(self, body: str, reason: str) -> None: ...


@dataclass(frozen=True)
class DeliveryReport:
    """What the consumer did with one message; ``retry_in`` is set when a retry was scheduled."""

    outcome: Outcome
    reason: str
    delivery_id: str | None = None
    attempt: int = 1
    status: int | None = None
    retry_in: int | None = None


class RetryScheduledError(RetryableError):
    """Raised by the consumer for a postponed record, so the batch reports it failed and SQS keeps it."""


@dataclass
class WebhookDeliveries:
    """Delivers POs to the company's webhook, one SQS message at a time, and resends on request."""

    source: ReconciliationSource
    secrets: WebhookSecrets
    transport: WebhookTransport
    links: DocumentLinks
    outcomes: DeliveryOutcomes
    queue: DeliveryQueue
    notifier: Notifier
    target: ExternalSystem
    schedule: RetrySchedule = field(default_factory=RetrySchedule)
    clock: Clock = field(default_factory=SystemClock)
    uniform: Callable[[float, float], float] = random.uniform
    resend_base_url: str = ""

    def handle(
        self, body: str, receipt_handle: str, receive_count: int = 1, max_receives: int | None = None
    ) -> DeliveryReport:
        """Attempt one delivery; schedule a retry, or record success or final failure (with its e-mail).

        On the queue's last receive (``receive_count >= max_receives``) a retryable failure is final too.
        """
        try:
            delivery = self._delivery(body)
        except UnreadableMessage as err:
            reason = err.message.replace("unreadable sync message", "unreadable webhook message")
            self.queue.dead_letter(body, reason)
            return DeliveryReport(Outcome.PARKED, reason)
        return self._deliver(delivery, body, receipt_handle, receive_count, max_receives)

    def _delivery(self, body: str) -> Delivery:
        """The delivery a queue message names (the sync core's message, or the webhook's own of before it)."""
        message = SyncMessage.parse(body, self.target)
        if message.delivery_id is None or message.document.kind is not DocumentKind.PURCHASE_ORDER_BILLS:
            raise UnreadableMessage("unreadable webhook message: it names no delivery of a purchase order")
        first = message.first_attempt_at or self.clock.now()
        return Delivery(message.company_id, message.document.purchase_order_id, message.delivery_id, first)

    def _deliver(
        self, message: Delivery, body: str, receipt_handle: str, receive_count: int, max_receives: int | None
    ) -> DeliveryReport:
        document = self.source.load(message.company_id, message.purchase_order_id)
        if document is None:
            return DeliveryReport(Outcome.NOTHING_TO_DO, "the purchase order no longer exists", message.delivery_id)
        if document.current_delivery_id not in (None, message.delivery_id):
            return DeliveryReport(Outcome.NOTHING_TO_DO, "a newer delivery replaced this one", message.delivery_id)
        endpoint = self.secrets.load(message.company_id)
        if endpoint is None:
            reason = "no PO Reconciliation webhook is configured; PUT /v1/webhooks/po-reconciliation, then resend"
            self.outcomes.mark_failed(message.company_id, message.purchase_order_id, message.delivery_id, reason)
            return DeliveryReport(Outcome.ERROR, reason, message.delivery_id, receive_count)
        result = self._attempt(message, document, endpoint)
        attempt = max(receive_count, 1)
        if result.verdict is Verdict.DELIVERED:
            self.outcomes.mark_synchronized(message.company_id, message.purchase_order_id, message.delivery_id)
            return DeliveryReport(Outcome.SYNCHRONIZED, result.reason, message.delivery_id, attempt, result.status)
        if result.verdict is Verdict.RETRY:
            elapsed = (self.clock.now() - message.first_attempt_at).total_seconds()
            delay = self.schedule.next_delay(elapsed, result.retry_after, self.uniform)
            last_receive = max_receives is not None and attempt >= max_receives
            if delay is not None and not last_receive:
                self.queue.retry_later(receipt_handle, delay)
                return DeliveryReport(
                    Outcome.RETRY_LATER, result.reason, message.delivery_id, attempt, result.status, delay
                )
            hours = self.schedule.total_seconds / 3600
            gave_up = f"gave up after {attempt} attempts" if delay is not None else f"gave up after {hours:g} hours"
            spent = AttemptResult(Verdict.FINAL, f"{result.reason}; {gave_up}", result.status, None, result.response)
            self._fail(message, document, endpoint, spent, attempt)
            self.queue.dead_letter(body, spent.reason)
            return DeliveryReport(Outcome.ERROR, spent.reason, message.delivery_id, attempt, result.status)
        self._fail(message, document, endpoint, result, attempt)
        return DeliveryReport(Outcome.ERROR, result.reason, message.delivery_id, attempt, result.status)

    def _attempt(self, message: Delivery, document: ReconciliationDocument, endpoint: WebhookEndpoint) -> AttemptResult:
        now = self.clock.now()
        payload = encode_payload(build_payload(document, self.links))
        headers = request_headers(endpoint, message.delivery_id, payload, int(now.timestamp()))
        try:
            response = self.transport.post(endpoint.url, payload, headers)
        except RetryableError as err:
            return AttemptResult(Verdict.RETRY, err.message, retry_after=err.retry_after_seconds)
        except PermanentError as err:
            return AttemptResult(Verdict.FINAL, err.message)
        return classify_response(response, self.clock.now())

    def _fail(
        self,
        message: Delivery,
        document: ReconciliationDocument,
        endpoint: WebhookEndpoint,
        result: AttemptResult,
        attempts: int,
    ) -> None:
        company, po_id, delivery = message.company_id, message.purchase_order_id, message.delivery_id
        reason = redact(result.reason, endpoint_secrets(endpoint))
        if not self.outcomes.mark_failed(company, po_id, delivery, reason):
            return
        notice = delivery_failed_notice(
            document.order,
            endpoint,
            result,
            attempts=attempts,
            first_attempt_at=message.first_attempt_at,
            resend_base_url=self.resend_base_url,
        )
        send_notice(self.notifier, list(endpoint.error_emails), notice)
        self.outcomes.mark_notified(company, po_id, delivery)

    def resend(self, principal: Principal, purchase_order_id: int) -> ResendAnswer:
        """``POST /v1/purchase-orders/{id}/resend``: a new delivery (new id and Idempotency-Key) of an approved PO,
        by a user who may send to the external system."""
        principal.require_role(SENDERS, "send to the external system")
        company_id = principal.company_id
        document = self.source.load(company_id, purchase_order_id)
        if document is None:
            raise NotFound(f"no purchase order {purchase_order_id}")
        order = document.order
        if order.vendor_invoice_status is VendorInvoiceStatus.PENDING_APPROVAL:
            raise Conflict(f"purchase order {order.po_number} is not approved yet; it cannot be sent")
        if self.secrets.load(company_id) is None:
            raise Conflict("no PO Reconciliation webhook is configured; PUT /v1/webhooks/po-reconciliation first")
        message = new_delivery(company_id, purchase_order_id, self.clock.now(), self.target)
        self.outcomes.mark_sent(company_id, purchase_order_id, str(message.delivery_id))
        self.queue.enqueue(message)
        return ResendAnswer(purchase_order_id=purchase_order_id, delivery_id=str(message.delivery_id))
