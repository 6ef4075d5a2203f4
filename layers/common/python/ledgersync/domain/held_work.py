"""Scheduled care of sent work: release what a disconnection held, re-dispatch what a lost message stranded,
and turn what reached a dead-letter queue into a visible error (the dead-letter policy, docs/decisions.md)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from ledgersync.domain.notices import SYSTEM_NAMES
from ledgersync.domain.purchase_order_service import AccountingState, Dispatcher, PurchaseOrderStore
from ledgersync.domain.purchase_orders import ExternalSystem, PurchaseOrder, VendorInvoiceStatus
from ledgersync.domain.settings import ConnectionStatus
from ledgersync.domain.sync_outcomes import SyncOutcomes
from ledgersync.errors import RetryableError
from ledgersync.observability import logger

if TYPE_CHECKING:
    from ledgersync.domain.webhooks.endpoint import WebhookEndpoint

SYNC_MESSAGE_MARGIN = timedelta(minutes=15)
OWED_NOTICES_PER_SWEEP = 50  # error e-mails a sweep sends at most; the next run sends the rest


@dataclass(frozen=True)
class InFlightWindows:
    """How long after a PO was handed to its queue a message for it may still be alive there.

    Past its window no message for the PO can be left (the consumer turns the last receive into an outcome), so
    sending it again cannot duplicate live work; inside it the PO is left alone, whatever the sweep sees.
    """

    sync: timedelta = timedelta(minutes=10 * 12) + SYNC_MESSAGE_MARGIN
    webhook: timedelta = timedelta(hours=24 + 12)

    @classmethod
    def of(cls, sync_max_receives: int, sync_visibility_seconds: int, webhook_retry_hours: float) -> InFlightWindows:
        """Sync: every receive may hold the message one visibility timeout. Webhook: the retry window, plus the
        longest postponement SQS allows a receive (12 h), which a Retry-After near the window's end can ask for."""
        return cls(
            sync=timedelta(seconds=sync_max_receives * sync_visibility_seconds) + SYNC_MESSAGE_MARGIN,
            webhook=timedelta(hours=webhook_retry_hours + 12),
        )

    def window(self, system: ExternalSystem) -> timedelta:
        return self.webhook if system is ExternalSystem.WEBHOOK else self.sync


@dataclass(frozen=True)
class DeadLetter:
    """A message found in a dead-letter queue; it stays there for an operator to redrive."""

    queue: str
    body: str
    receive_count: int


class DeadLetterQueues(Protocol):
    """The dead-letter queues by the system whose work they hold."""

    def peek(self) -> Iterable[tuple[ExternalSystem, DeadLetter]]:
        """Every dead letter (read without deleting it: redriving stays possible)."""


class WebhookRecipients(Protocol):
    def error_emails(self, company_id: str) -> list[str]: ...


class ReconnectNotices(Protocol):
    def send_owed(self, company_id: str) -> bool:
        """Send the reconnect e-mail the company still owes; True when one went."""


class WebhookEndpoints(Protocol):
    def load(self, company_id: str) -> WebhookEndpoint | None: ...


@dataclass
class WebhookErrorEmails:
    """A webhook PO's error e-mail goes to the webhook's error addresses (seed 001), as its deliveries' do."""

    secrets: WebhookEndpoints

    def error_emails(self, company_id: str) -> list[str]:
        endpoint = self.secrets.load(company_id)
        return list(endpoint.error_emails) if endpoint else []


@dataclass
class SweepSummary:
    released: int = 0
    redispatched: int = 0
    dead_letters_surfaced: int = 0
    dead_letters_unreadable: int = 0
    notices_sent: int = 0
    reconnect_notices_sent: int = 0
    companies: list[str] = field(default_factory=list)


@dataclass
class HeldWork:
    store: PurchaseOrderStore
    accounting: AccountingState
    outcomes: SyncOutcomes
    dispatcher: Dispatcher
    windows: InFlightWindows = field(default_factory=InFlightWindows)
    dead_letters: DeadLetterQueues | None = None
    webhook_recipients: WebhookRecipients | None = None
    max_receives: Mapping[ExternalSystem, int] = field(default_factory=dict)
    reconnect_notices: ReconnectNotices | None = None

    def sweep(self, company_ids: Iterable[str], now: datetime | None = None) -> SweepSummary:
        """Surface dead letters and send owed error e-mails; then, for each company whose accounting is reachable,
        release held POs and send again those whose message was lost; a company that must reconnect gets its owed
        reconnect e-mail instead.

        A PO "Sent to External System" past its in-flight window without an outcome lost its message (a crash
        between the state write and the enqueue, or a dead letter purged); sending it again is harmless because
        every outside call is guarded by a dedup key, and it cannot duplicate a live delivery because none is left.
        """
        now = now or datetime.now(UTC)
        summary = SweepSummary()
        self.surface_dead_letters(summary)
        company_ids = list(company_ids)
        self.send_owed_notices(company_ids, summary)
        for company_id in company_ids:
            settings, connection = self.accounting.get_accounting(company_id)
            system = settings.external_system
            if system is None or system is ExternalSystem.QUICKBOOKS_DESKTOP:
                continue  # the Web Connector pulls its own work
            if connection.status is ConnectionStatus.REAUTHORIZATION_REQUIRED:
                if connection.owes_reconnect_notice:
                    self._send_owed_reconnect_notice(company_id, summary)
                continue
            summary.companies.append(company_id)
            # one listing serves both: held POs are released, the others sent again once their message is lost
            for order in self.store.list_by_status(company_id, VendorInvoiceStatus.SENT_TO_EXTERNAL):
                if order.held_reason is not None:
                    summary.released += self.outcomes.release_order(order, system)
                    continue
                if not self._stranded(order, system, now):
                    continue
                if self.outcomes.mark_dispatched(company_id, order.id, order.sent_at, now) is not None:
                    self.dispatcher.dispatch(company_id, order.id, system, order.webhook_delivery_id)
                    summary.redispatched += 1
        return summary

    def _stranded(self, order: PurchaseOrder, system: ExternalSystem, now: datetime) -> bool:
        return order.sent_at is not None and now - order.sent_at > self.windows.window(system)

    def send_owed_notices(self, company_ids: Iterable[str], summary: SweepSummary) -> None:
        """Send the error e-mails POs in Error still owe (every retry of their send failed), at most
        ``OWED_NOTICES_PER_SWEEP`` a run; SES still failing leaves the rest owed for the next run."""
        for company_id in company_ids:
            recipients: list[str] | None = None
            for order in self.store.list_by_status(company_id, VendorInvoiceStatus.ERROR):
                if not order.error_notice_pending:
                    continue
                if summary.notices_sent >= OWED_NOTICES_PER_SWEEP:
                    return
                if recipients is None:
                    recipients = self._recipients(company_id)
                try:
                    sent = self.outcomes.send_owed_notice(company_id, order.id, recipients)
                except RetryableError as fault:
                    logger.warning(
                        "owed error e-mail not sent; the next sweep tries again",
                        extra={"company_id": company_id, "po_id": order.id, "reason": fault.message},
                    )
                    return
                summary.notices_sent += int(sent)

    def _send_owed_reconnect_notice(self, company_id: str, summary: SweepSummary) -> None:
        """The reconnect e-mail whose send failed and that no later call sent; SES still failing leaves it owed."""
        if self.reconnect_notices is None:
            return
        try:
            summary.reconnect_notices_sent += int(self.reconnect_notices.send_owed(company_id))
        except RetryableError as fault:
            logger.warning(
                "owed reconnect e-mail not sent; the next sweep tries again",
                extra={"company_id": company_id, "reason": fault.message},
            )

    def _recipients(self, company_id: str) -> list[str]:
        """The webhook's error addresses for a webhook company; else empty (the notification addresses)."""
        system = self.accounting.get_settings(company_id).external_system
        if system is ExternalSystem.WEBHOOK and self.webhook_recipients is not None:
            return self.webhook_recipients.error_emails(company_id)
        return []

    def surface_dead_letters(self, summary: SweepSummary) -> None:
        """Each dead letter naming a PO still "Sent to External System" turns it into Error with one e-mail."""
        if self.dead_letters is None:
            return
        for system, letter in self.dead_letters.peek():
            named = _named_po(letter.body)
            if named is None:
                summary.dead_letters_unreadable += 1
                logger.warning("unreadable dead letter left for the operator", extra={"queue": letter.queue})
                continue
            company_id, po_id, delivery_id = named
            order = self.store.get(company_id, po_id)
            if order is None or order.vendor_invoice_status is not VendorInvoiceStatus.SENT_TO_EXTERNAL:
                continue
            if system is ExternalSystem.WEBHOOK and delivery_id not in (None, order.webhook_delivery_id):
                continue  # a newer delivery replaced this one
            attempts = max(letter.receive_count, self.max_receives.get(system, 0))
            reason = (
                f"the work for {SYSTEM_NAMES.get(system, 'the external system')} failed {attempts} times in a row "
                f"and reached the dead-letter queue ({letter.queue}); nothing was lost and no document is created "
                "twice when it is sent again"
            )
            recipients = None
            if system is ExternalSystem.WEBHOOK and self.webhook_recipients is not None:
                recipients = self.webhook_recipients.error_emails(company_id)
            if self.outcomes.failed(company_id, po_id, reason, recipients=recipients):
                summary.dead_letters_surfaced += 1


def _named_po(body: str) -> tuple[str, int, str | None] | None:
    """The company, PO and (webhook) delivery a queue message names; None when it names none."""
    try:
        parsed = json.loads(body)
        company_id, po_id = parsed["companyId"], parsed["purchaseOrderId"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(company_id, str) or not company_id or isinstance(po_id, bool):
        return None
    try:
        number = int(po_id)
    except (TypeError, ValueError):
        return None
    delivery = parsed.get("deliveryId")
    return company_id, number, delivery if isinstance(delivery, str) else None
