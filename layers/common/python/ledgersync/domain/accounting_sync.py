"""The sync queue's consumer: each vendor invoice of a sent PO becomes one bill in QuickBooks Online."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ledgersync.domain.purchase_order_bills import BillDraft
from ledgersync.domain.purchase_order_service import AccountingState
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.settings import ConnectionStatus
from ledgersync.domain.sync.documents import DocumentKind, DocumentRef
from ledgersync.domain.sync.mappers import MapperRegistry, Unmappable
from ledgersync.domain.sync.messages import SyncMessage
from ledgersync.domain.sync.outcomes import Outcome, SyncRecorder
from ledgersync.domain.sync.state import RECORDING
from ledgersync.domain.sync.store import SyncStateStore
from ledgersync.domain.sync.targets import Unsupported
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


@dataclass
class AccountingSync:
    """The consumer of one target's queue: each draft of a queued document (a PO's vendor invoice) becomes one bill
    (one part); the document's mapper, from the registry, loads and maps it."""

    mappers: MapperRegistry
    accounting: AccountingState
    bills: BillSender
    states: SyncStateStore
    recorder: SyncRecorder
    target: ExternalSystem

    def process(self, message: SyncMessage, attempt: int = 1, max_attempts: int | None = None) -> Outcome:
        """One queue message; a document this consumer cannot send is refused (the message is dead-lettered)."""
        if message.document.kind is not DocumentKind.PURCHASE_ORDER_BILLS or message.target is not self.target:
            raise Unsupported(f"{message.document} for {message.target.value} is not sent by this consumer")
        return self.sync(message.company_id, message.document.purchase_order_id, attempt, max_attempts)

    def sync(self, company_id: str, po_id: int, attempt: int = 1, max_attempts: int | None = None) -> Outcome:
        """Send the PO's bills; a retryable fault propagates so the queue retries, a permanent one ends in Error.

        On the queue's last receive (``attempt >= max_attempts``) a retryable fault ends in Error too, with the
        reason and the count of attempts, instead of leaving the message to the dead-letter queue.
        """
        ref = DocumentRef.purchase_order(po_id)
        try:
            return self._sync(company_id, ref)
        except RetryableError as fault:
            if max_attempts is None or attempt < max_attempts:
                raise
            if isinstance(fault, NotConfigured):  # the operator's fix, not the customer's: held, the sweep resends
                self.recorder.hold(company_id, ref, self.target, fault.message)
                return Outcome.HELD
            reason = f"{fault.message} (gave up after {attempt} attempts)"
            if self.recorder.failed(company_id, ref, self.target, reason):
                return Outcome.ERROR
            return Outcome.NOTHING_TO_DO

    def _sync(self, company_id: str, ref: DocumentRef) -> Outcome:
        state = self.states.get(company_id, ref, self.target)
        mapper = self.mappers.get(ref.kind)
        document = None
        if state is not None and state.status in RECORDING:
            settings, connection = self.accounting.get_accounting(company_id)  # one read of the profile serves both
            document = mapper.load(company_id, ref, settings)
        if state is None or document is None or state.status not in RECORDING:
            if state is not None and state.owes_notice:  # the e-mail a failed send still owes
                self.recorder.send_owed_notice(company_id, ref, self.target)
            return Outcome.NOTHING_TO_DO  # a redelivery after the outcome was recorded
        if connection.status is ConnectionStatus.REAUTHORIZATION_REQUIRED:
            self.recorder.hold(company_id, ref, self.target, "QuickBooks Online must be reconnected")
            return Outcome.HELD
        try:
            drafts: list[BillDraft] = mapper.drafts(document)
        except Unmappable as unfit:
            self.recorder.failed(company_id, ref, self.target, unfit.message)
            return Outcome.ERROR
        for draft in drafts:
            if draft.invoice_number in state.external_ids:
                continue
            try:
                receipt = self.bills.send(draft)
            except ReauthorizationRequired as held:
                self.recorder.hold(company_id, ref, self.target, held.message)
                return Outcome.HELD
            except PermanentError as refused:
                reason = f"vendor invoice {draft.invoice_number}: {refused.message}"
                self.recorder.failed(company_id, ref, self.target, reason, draft.invoice_number)
                return Outcome.ERROR
            self.recorder.recorded(company_id, ref, self.target, {draft.invoice_number: receipt.bill_id})
        return Outcome.SYNCHRONIZED
