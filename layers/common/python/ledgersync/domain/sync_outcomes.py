"""How a sync ends, whatever the external system: "S" with the document ids, "Error" with one e-mail, or held."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ledgersync.domain.notices import Notifier, render, sync_error_notice
from ledgersync.domain.purchase_order_service import AccountingState, Dispatcher, PurchaseOrderStore
from ledgersync.domain.purchase_orders import ExternalSystem, PurchaseOrder, VendorInvoiceStatus
from ledgersync.errors import Conflict
from ledgersync.observability import logger

SAVE_ATTEMPTS = 5


@dataclass
class SyncOutcomes:
    store: PurchaseOrderStore
    accounting: AccountingState
    notifier: Notifier
    dispatcher: Dispatcher

    def bill_recorded(self, company_id: str, po_id: int, invoice_number: str, external_id: str) -> PurchaseOrder | None:
        """Keep one vendor invoice's document id; the PO is "S" once every vendor invoice has one."""

        def change(order: PurchaseOrder) -> bool:
            if order.vendor_invoice_status is not VendorInvoiceStatus.SENT_TO_EXTERNAL:
                return False
            order.external_ids[invoice_number] = external_id
            if all(v.invoice_number in order.external_ids for v in order.vendor_invoices):
                order.vendor_invoice_status = VendorInvoiceStatus.SYNCHRONIZED
                order.synchronized_at = datetime.now(UTC)
                order.held_reason = None
            return True

        return self.update(company_id, po_id, change)

    def failed(
        self,
        company_id: str,
        po_id: int,
        reason: str,
        invoice_number: str | None = None,
        recipients: list[str] | None = None,
    ) -> bool:
        """Error with the reason, and one e-mail (to ``recipients``, else the notification addresses); True when
        this call recorded the Error.

        The Error is written with its e-mail owed (``error_notice_pending``) and the flag is cleared once the
        e-mail went, so a send that fails (SES throttled or down) is not lost: a retry of the outcome sends the
        owed e-mail instead of nothing, and the sweep sends it when no retry is left. A PO whose e-mail went gets
        no second one.
        """
        error = _error_text(reason, invoice_number)

        def change(order: PurchaseOrder) -> bool:
            if order.vendor_invoice_status is not VendorInvoiceStatus.SENT_TO_EXTERNAL:
                return False
            order.vendor_invoice_status = VendorInvoiceStatus.ERROR
            order.error = error
            order.error_notice_pending = True
            return True

        order = self.update(company_id, po_id, change)
        if order is not None:
            self._notify(order, reason, invoice_number, recipients)
            return True
        current = self.store.get(company_id, po_id)
        if current is not None and _owes_notice(current):
            if current.error == error:
                self._notify(current, reason, invoice_number, recipients)
            else:  # another outcome was recorded first: its e-mail says what the PO shows
                self._notify(current, current.error or reason, None, recipients)
        return False

    def send_owed_notice(self, company_id: str, po_id: int, recipients: list[str] | None = None) -> bool:
        """Send the e-mail a PO in Error still owes (its first send failed); True when one went."""
        order = self.store.get(company_id, po_id)
        if order is None or not _owes_notice(order):
            return False
        self._notify(order, order.error or "the synchronization failed", None, recipients)
        return True

    def _notify(
        self, order: PurchaseOrder, reason: str, invoice_number: str | None, recipients: list[str] | None
    ) -> None:
        """Send the error e-mail, then record that it went (a crash between the two sends it again: at least once)."""
        settings = self.accounting.get_settings(order.company_id)
        subject, text, html = error_email(order, settings.external_system, reason, invoice_number)
        to = list(recipients) if recipients else list(settings.notification_emails)
        self.notifier.send(to, subject, text, html)
        notified = order.error

        def change(latest: PurchaseOrder) -> bool:
            if not _owes_notice(latest) or latest.error != notified:
                return False
            latest.error_notice_pending = False
            if latest.webhook_delivery_id:  # the webhook's consumer sends this delivery's e-mail no more
                latest.webhook_notified_delivery_id = latest.webhook_delivery_id
            return True

        self.update(order.company_id, order.id, change)

    def mark_dispatched(
        self, company_id: str, po_id: int, seen_sent_at: datetime | None, now: datetime
    ) -> PurchaseOrder | None:
        """Record that the PO is handed to its queue again at ``now``; None when someone else did (or it moved on)."""

        def change(order: PurchaseOrder) -> bool:
            if order.vendor_invoice_status is not VendorInvoiceStatus.SENT_TO_EXTERNAL or order.held_reason:
                return False
            if order.sent_at != seen_sent_at:
                return False
            order.sent_at = now
            return True

        return self.update(company_id, po_id, change)

    def hold(self, company_id: str, po_id: int, reason: str) -> None:
        """Keep the PO waiting (still "Sent to External System") until the connection is restored."""

        def change(order: PurchaseOrder) -> bool:
            if order.vendor_invoice_status is not VendorInvoiceStatus.SENT_TO_EXTERNAL or order.held_reason == reason:
                return False
            order.held_reason = reason
            return True

        self.update(company_id, po_id, change)

    def release_held(self, company_id: str) -> int:
        """Send again every PO held for this company; answers how many went."""
        system = self.accounting.get_settings(company_id).external_system
        if system is None:
            return 0
        orders = self.store.list_by_status(company_id, VendorInvoiceStatus.SENT_TO_EXTERNAL)
        return sum(self.release_order(order, system) for order in orders if order.held_reason is not None)

    def release_order(self, order: PurchaseOrder, system: ExternalSystem) -> bool:
        """Clear a held PO's hold and hand it to its queue again; False when someone else did first."""
        if self.update(order.company_id, order.id, _unhold) is None:
            return False
        self.dispatcher.dispatch(order.company_id, order.id, system, order.webhook_delivery_id)
        return True

    def update(self, company_id: str, po_id: int, change: Callable[[PurchaseOrder], bool]) -> PurchaseOrder | None:
        """Apply ``change`` to the latest PO with a conditional write; None when there was nothing to change."""
        for _ in range(SAVE_ATTEMPTS):
            order = self.store.get(company_id, po_id)
            if order is None or not change(order):
                return None
            try:
                return self.store.save(order, order.version)
            except Conflict:
                continue
        logger.warning("purchase order kept changing; outcome not recorded", extra={"po_id": po_id})
        raise Conflict(f"PO {po_id} kept changing; the outcome will be recorded on the retry")


def _error_text(reason: str, invoice_number: str | None) -> str:
    return f"vendor invoice {invoice_number}: {reason}" if invoice_number else reason


def _owes_notice(order: PurchaseOrder) -> bool:
    return order.vendor_invoice_status is VendorInvoiceStatus.ERROR and order.error_notice_pending


def _unhold(order: PurchaseOrder) -> bool:
    """Clear the hold; ``sentAt`` becomes now, when the work is handed to its queue again."""
    if order.held_reason is None:
        return False
    order.held_reason = None
    order.sent_at = datetime.now(UTC)
    return True


def error_email(
    order: PurchaseOrder, system: ExternalSystem | None, reason: str, invoice_number: str | None
) -> tuple[str, str, str]:
    """Subject, text and HTML of the error notification: the PO, the vendor invoice, the reason and the fix."""
    mail = render(sync_error_notice(order, system, reason, invoice_number))
    return mail.subject, mail.text, mail.html
