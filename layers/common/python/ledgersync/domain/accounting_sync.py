"""The sync queue's consumer: each vendor invoice of a sent PO becomes one bill in QuickBooks Online."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from ledgersync.domain.purchase_order_service import AccountingState, PurchaseOrderStore, References
from ledgersync.domain.purchase_orders import BillDraft, VendorInvoiceStatus, build_bills
from ledgersync.domain.settings import ConnectionStatus
from ledgersync.domain.sync_outcomes import SyncOutcomes
from ledgersync.errors import NotConfigured, PermanentError, ReauthorizationRequired, RetryableError


class BillReceiptLike(Protocol):
    @property
    def bill_id(self) -> str: ...


class BillSender(Protocol):
    """Creates a draft's bill exactly once (QuickBooks Online: ``BillSync``)."""

    def send(self, draft: BillDraft) -> BillReceiptLike: ...


FIRST_RETRY_SECONDS = 30


def retry_delay(attempt: int, retry_after: float, ceiling: int) -> int:
    """Seconds until a throttled message is tried again: QuickBooks' Retry-After, but never less than a backoff
    doubling from 30 s per attempt (so a short Retry-After cannot spend the queue's receives in minutes) and never
    more than the queue's visibility timeout (so the sweep's in-flight window still bounds the message's life)."""
    backoff = FIRST_RETRY_SECONDS * 2 ** min(max(attempt - 1, 0), 16)
    return int(min(max(retry_after, backoff, 1), ceiling))


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

    def sync(self, company_id: str, po_id: int, attempt: int = 1, max_attempts: int | None = None) -> SyncResult:
        """Send the PO's bills; a retryable fault propagates so the queue retries, a permanent one ends in Error.

        On the queue's last receive (``attempt >= max_attempts``) a retryable fault ends in Error too, with the
        reason and the count of attempts, instead of leaving the message to the dead-letter queue.
        """
        try:
            return self._sync(company_id, po_id)
        except RetryableError as fault:
            if max_attempts is None or attempt < max_attempts:
                raise
            if isinstance(fault, NotConfigured):  # the operator's fix, not the customer's: held, the sweep resends
                self.outcomes.hold(company_id, po_id, fault.message)
                return SyncResult.HELD
            reason = f"{fault.message} (gave up after {attempt} attempts)"
            if self.outcomes.failed(company_id, po_id, reason):
                return SyncResult.ERROR
            return SyncResult.NOTHING_TO_DO

    def _sync(self, company_id: str, po_id: int) -> SyncResult:
        order = self.store.get(company_id, po_id)
        if order is None or order.vendor_invoice_status is not VendorInvoiceStatus.SENT_TO_EXTERNAL:
            if order is not None and order.error_notice_pending:  # the e-mail a failed send still owes
                self.outcomes.send_owed_notice(company_id, po_id)
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
