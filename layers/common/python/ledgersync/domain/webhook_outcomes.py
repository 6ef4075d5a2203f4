"""Where the PO Reconciliation webhook's deliveries read their PO and record how they ended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ledgersync.domain.purchase_order_service import PurchaseOrderStore, References
from ledgersync.domain.purchase_orders import PurchaseOrder, VendorInvoiceStatus
from ledgersync.domain.sync_outcomes import SyncOutcomes
from ledgersync.domain.webhooks.payload import ReconciliationDocument


@dataclass
class WebhookDocuments:
    store: PurchaseOrderStore
    references: References

    def load(self, company_id: str, purchase_order_id: int) -> ReconciliationDocument | None:
        order = self.store.get(company_id, purchase_order_id)
        if order is None:
            return None
        vendor = self.references.vendor(company_id, order.vendor_id)
        if vendor is None:
            return None
        location = self.references.location(company_id, order.location_id) if order.location_id else None
        return ReconciliationDocument(
            order=order, vendor=vendor, location=location, current_delivery_id=order.webhook_delivery_id
        )


@dataclass
class WebhookOutcomes:
    """Each call concerns one delivery; a delivery that is no longer the PO's current one changes nothing."""

    outcomes: SyncOutcomes

    def mark_sent(self, company_id: str, po_id: int, delivery_id: str) -> None:
        def change(order: PurchaseOrder) -> bool:
            if order.vendor_invoice_status is VendorInvoiceStatus.PENDING_APPROVAL:
                return False
            order.vendor_invoice_status = VendorInvoiceStatus.SENT_TO_EXTERNAL
            order.webhook_delivery_id = delivery_id
            order.error = None
            order.error_notice_pending = False
            order.sent_at = datetime.now(UTC)  # the sweep's in-flight window starts with the new delivery
            return True

        self.outcomes.update(company_id, po_id, change)

    def mark_synchronized(self, company_id: str, po_id: int, delivery_id: str) -> None:
        def change(order: PurchaseOrder) -> bool:
            if (
                not _current(order, delivery_id)
                or order.vendor_invoice_status is not VendorInvoiceStatus.SENT_TO_EXTERNAL
            ):
                return False
            order.webhook_delivery_id = delivery_id
            order.vendor_invoice_status = VendorInvoiceStatus.SYNCHRONIZED
            order.external_ids = {v.invoice_number or "": delivery_id for v in order.vendor_invoices}
            return True

        self.outcomes.update(company_id, po_id, change)

    def mark_failed(self, company_id: str, po_id: int, delivery_id: str, reason: str) -> bool:
        """Error with the reason; True while this delivery's e-mail has not gone out yet.

        The Error is written with the e-mail owed (``error_notice_pending``), so when every try of the send fails
        the sweep still sends it (``HeldWork.send_owed_notices``).
        """
        notify = {"value": False}

        def change(order: PurchaseOrder) -> bool:
            if not _current(order, delivery_id):
                return False
            owed = order.webhook_notified_delivery_id != delivery_id
            notify["value"] = owed
            if (
                order.vendor_invoice_status is VendorInvoiceStatus.ERROR
                and order.error == reason
                and order.error_notice_pending == owed
            ):
                return False
            order.webhook_delivery_id = delivery_id
            order.vendor_invoice_status = VendorInvoiceStatus.ERROR
            order.error = reason
            order.error_notice_pending = owed
            return True

        self.outcomes.update(company_id, po_id, change)
        return notify["value"]

    def mark_notified(self, company_id: str, po_id: int, delivery_id: str) -> None:
        def change(order: PurchaseOrder) -> bool:
            if not _current(order, delivery_id):
                return False
            if order.webhook_notified_delivery_id == delivery_id and not order.error_notice_pending:
                return False
            order.webhook_notified_delivery_id = delivery_id
            order.error_notice_pending = False
            return True

        self.outcomes.update(company_id, po_id, change)


def _current(order: PurchaseOrder, delivery_id: str) -> bool:
    return order.webhook_delivery_id in (None, delivery_id)
