"""The sync queue's consumer: each vendor invoice of a sent PO becomes one bill in QuickBooks Online."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from ledgersync.domain.purchase_order_service import AccountingState, PurchaseOrderStore, References
from ledgersync.domain.purchase_orders import BillDraft, VendorInvoiceStatus, build_bills
from ledgersync.domain.settings import ConnectionStatus
from ledgersync.domain.sync_outcomes import SyncOutcomes
from ledgersync.errors import PermanentError, ReauthorizationRequired


class BillReceiptLike(Protocol):
    @property
    def bill_id(self) -> str: ...


class BillSender(Protocol):
    """Creates a draft's bill exactly once (QuickBooks Online: ``BillSync``)."""

    def send(self, draft: BillDraft) -> BillReceiptLike: ...


class SyncResult(StrEnum):
    SYNCHRONIZED = "synchronized"
    ERROR = "error"
    HELD = "held"
    NOTHING_TO_DO = "nothing_to_do"


@dataclass
class AccountingSync:
    store: PurchaseOrderStore
    references: References
    accounting: AccountingState
    bills: BillSender
    outcomes: SyncOutcomes

    def sync(self, company_id: str, po_id: int) -> SyncResult:
        """Send the PO's bills; a retryable fault propagates so the queue retries, a permanent one ends in Error."""
        order = self.store.get(company_id, po_id)
        if order is None or order.vendor_invoice_status is not VendorInvoiceStatus.SENT_TO_EXTERNAL:
            return SyncResult.NOTHING_TO_DO  # a redelivery after the outcome was recorded
        settings, connection = self.accounting.get_accounting(company_id)
        if connection.status is ConnectionStatus.REAUTHORIZATION_REQUIRED:
            self.outcomes.hold(company_id, po_id, "QuickBooks Online must be reconnected")
            return SyncResult.HELD
        vendor = self.references.vendor(company_id, order.vendor_id)
        if vendor is None or not vendor.accounting_name:
            self.outcomes.failed(
                company_id,
                po_id,
                "the vendor has no Accounting Name; set it in the directory to the vendor's exact name in QuickBooks",
            )
            return SyncResult.ERROR
        location = self.references.location(company_id, order.location_id) if order.location_id else None
        drafts = build_bills(order, vendor, location, settings, settings.company_currency or "USD")
        for draft in drafts:
            if draft.invoice_number in order.external_ids:
                continue
            try:
                receipt = self.bills.send(draft)
            except ReauthorizationRequired as held:
                self.outcomes.hold(company_id, po_id, held.message)
                return SyncResult.HELD
            except PermanentError as refused:
                self.outcomes.failed(company_id, po_id, refused.message, draft.invoice_number)
                return SyncResult.ERROR
            self.outcomes.bill_recorded(company_id, po_id, draft.invoice_number, receipt.bill_id)
        return SyncResult.SYNCHRONIZED
