"""The Web Connector's view of our data: who may connect, which POs and sales invoices wait, and where outcomes go."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from ledgersync.domain.accounts import Accounts
from ledgersync.domain.desktop_sync import (
    DesktopWork,
    InvoiceToAdd,
    InvoiceToCheck,
    InvoiceToDelete,
    SalesInvoiceWork,
    SalesOrderToSend,
)
from ledgersync.domain.purchase_order_bills import PurchaseOrderDocument
from ledgersync.domain.purchase_order_service import AccountingState
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.sales_invoice_sync import PART, LoadedInvoice, invoice_ref
from ledgersync.domain.sales_invoices import DESKTOP_REF_NUMBER_LENGTH, document_number, invoice_memo
from ledgersync.domain.sales_orders import sales_order_ref
from ledgersync.domain.sync.documents import DocumentKind, DocumentRef
from ledgersync.domain.sync.mappers import MapperRegistry, Unmappable
from ledgersync.domain.sync.outcomes import SyncRecorder
from ledgersync.domain.sync.state import SyncState, SyncStatus
from ledgersync.domain.sync.store import SyncStateStore
from ledgersync.errors import Forbidden, RetryableError, Unauthorized


@dataclass
class TokenCredentials:
    """The .qwc's UserName is the company id; the password is any live API token of that company (seed 000)."""

    accounts: Accounts

    def company_for(self, user_name: str, password: str) -> str | None:
        try:
            principal = self.accounts.authenticate(password)
        except (Unauthorized, Forbidden):
            return None
        return principal.company_id if principal.company_id == user_name.strip() else None


@dataclass
class DesktopOutbox:
    """The Web Connector's outbox: the company's POs queued for its target (the Desktop one), or deleting (sent again
    with replace), oldest first, each with its drafts from its document kind's mapper; and its sales invoices to add
    (queued, or "sending" when an earlier session took them) and to delete ("deleting")."""

    mappers: MapperRegistry
    accounting: AccountingState
    states: SyncStateStore
    target: ExternalSystem

    def pending_bills(self, company_id: str, limit: int) -> list[DesktopWork]:
        settings = self.accounting.get_settings(company_id)
        if settings.external_system is not self.target:
            return []
        work = []
        # queued: to send; deleting: sent again with replace, the changed bills to delete before ours are added
        replace_by_po = {
            s.document.purchase_order_id: s.status is SyncStatus.DELETING
            for status in (SyncStatus.QUEUED, SyncStatus.DELETING)
            for s in self.states.list_by_status(company_id, status, self.target)
            if s.document.kind is DocumentKind.PURCHASE_ORDER_BILLS
        }
        mapper = self.mappers.get(DocumentKind.PURCHASE_ORDER_BILLS)
        for po_id in sorted(replace_by_po)[:limit]:
            document: PurchaseOrderDocument | None = mapper.load(
                company_id, DocumentRef.purchase_order(po_id), settings
            )
            if document is None:
                continue
            replace = replace_by_po[po_id]
            try:
                work.append(DesktopWork(document, mapper.drafts(document), replace=replace))
            except Unmappable as unfit:
                work.append(DesktopWork(document, [], unfit.message, replace=replace))
        return work

    def pending_sales_invoices(self, company_id: str, limit: int) -> list[SalesInvoiceWork]:
        if DocumentKind.SALES_INVOICE not in self.mappers.kinds():
            return []  # a deployment that does not send sales invoices still sends bills
        settings = self.accounting.get_settings(company_id)
        if settings.external_system is not self.target:
            return []
        work: list[SalesInvoiceWork] = []
        mapper = self.mappers.get(DocumentKind.SALES_INVOICE)
        for state in self._states(company_id, (SyncStatus.DELETING,)):
            if len(work) >= limit:
                return work
            work.append(self._removal(state, partial(mapper.load, company_id, state.document, settings)))
        for state in self._states(company_id, (SyncStatus.QUEUED, SyncStatus.SENDING)):
            if len(work) >= limit:
                break
            loaded = mapper.load(company_id, state.document, settings)
            if loaded is None:
                continue
            claimed = state.status is SyncStatus.SENDING
            if not mapper.is_current(loaded, state):
                # The order changed or was unshipped since this state was written: nothing is sent for it. One an
                # earlier session took may be in QuickBooks already; nothing else would ever settle it.
                if claimed:
                    work.append(self._check(state, loaded))
                continue
            try:
                (draft,) = mapper.drafts(loaded, state)
            except Unmappable as unfit:
                work.append(InvoiceToAdd(state.document.id, None, unfit.message, claimed))
                continue
            except RetryableError:
                continue  # its order's sales order is still on its way: the invoice waits, to link to it
            work.append(InvoiceToAdd(state.document.id, draft, None, claimed))
        return work

    def pending_sales_orders(self, company_id: str, limit: int) -> list[SalesOrderToSend]:
        """The company's sales orders queued for Desktop (or "sending": an earlier session took them), oldest first,
        each with the draft of the version its state sends and the TxnID Desktop holds, if any. One whose order moved
        on since a session took it is only checked (``check_only``); one merely queued for an older version waits for
        the newer one's state."""
        if DocumentKind.SALES_ORDER not in self.mappers.kinds():
            return []
        settings = self.accounting.get_settings(company_id)
        if settings.external_system is not self.target:
            return []
        mapper = self.mappers.get(DocumentKind.SALES_ORDER)
        work: list[SalesOrderToSend] = []
        for state in self._states(company_id, (SyncStatus.QUEUED, SyncStatus.SENDING), DocumentKind.SALES_ORDER):
            if len(work) >= limit:
                break
            loaded = mapper.load(company_id, state.document, settings)
            if loaded is None:
                continue
            claimed = state.status is SyncStatus.SENDING
            current = mapper.is_current(loaded, state)
            if not current and not claimed:
                continue
            try:
                (draft,) = mapper.drafts(loaded, state)
            except Unmappable as unfit:
                work.append(SalesOrderToSend(state.document.id, None, problem=unfit.message, claimed=claimed))
                continue
            work.append(
                SalesOrderToSend(
                    state.document.id,
                    draft,
                    part=mapper.part_of(draft),
                    txn_id=getattr(draft, "external_id", None),
                    claimed=claimed,
                    check_only=not current,
                )
            )
        return work

    def _states(
        self, company_id: str, statuses: tuple[SyncStatus, ...], kind: DocumentKind = DocumentKind.SALES_INVOICE
    ) -> list[SyncState]:
        """The company's states of ``kind`` (sales invoices) in ``statuses`` for the target, oldest change first."""
        states = [
            s
            for status in statuses
            for s in self.states.list_by_status(company_id, status, self.target)
            if s.document.kind is kind
        ]
        return sorted(states, key=lambda s: (s.updated_at is None, s.updated_at, s.document.id))

    @staticmethod
    def _check(state: SyncState, loaded: LoadedInvoice) -> InvoiceToCheck:
        ref_number, memo = _sent_as(state, loaded)
        return InvoiceToCheck(state.document.id, ref_number, memo)

    @staticmethod
    def _removal(state: SyncState, load: Callable[[], LoadedInvoice | None]) -> InvoiceToDelete:
        """What a delete needs: the TxnID recorded, else the RefNumber and memo it was sent with."""
        txn_id = state.external_ids.get(PART) or None
        if txn_id:
            return InvoiceToDelete(state.document.id, None, txn_id, state.document_number)
        loaded = load()
        if loaded is None:
            problem = (
                f"invoice {state.document.id} is no longer in Ledgersync and its QuickBooks Desktop TxnID was never "
                "recorded; delete its invoice in QuickBooks Desktop yourself if it is there"
            )
            return InvoiceToDelete(state.document.id, None, None, state.document_number, problem=problem)
        ref_number, memo = _sent_as(state, loaded)
        return InvoiceToDelete(state.document.id, loaded.invoice.invoice_number, None, ref_number, memo)


def _sent_as(state: SyncState, loaded: LoadedInvoice) -> tuple[str, str]:
    """The RefNumber and the memo a state's invoice went to QuickBooks Desktop with: the state's number and the
    version it sent (the invoice may have moved on since: unshipped, changed, even reshipped)."""
    invoice = loaded.invoice
    version = state.document_version if state.document_version is not None else invoice.version
    ref_number = state.document_number or document_number(
        loaded.store.get("invoicePrefix"), invoice.invoice_number, DESKTOP_REF_NUMBER_LENGTH
    )
    return ref_number, invoice_memo(invoice.invoice_id, invoice.invoice_number, version)


@dataclass
class DesktopOutcomes:
    """Where the Web Connector's outcomes go: the sync states of the POs and the sales invoices."""

    recorder: SyncRecorder
    target: ExternalSystem

    def invoice_synchronized(self, company_id: str, purchase_order_id: int, invoice_number: str, txn_id: str) -> None:
        ref = DocumentRef.purchase_order(purchase_order_id)
        self.recorder.recorded(company_id, ref, self.target, {invoice_number: txn_id})

    def purchase_order_failed(self, company_id: str, purchase_order_id: int, message: str) -> None:
        self.recorder.failed(company_id, DocumentRef.purchase_order(purchase_order_id), self.target, message)

    def purchase_order_bills_deleted(self, company_id: str, purchase_order_id: int) -> None:
        self.recorder.deleted(company_id, DocumentRef.purchase_order(purchase_order_id), self.target)

    def claim_sales_invoice(self, company_id: str, document_id: str, document_version: int) -> bool:
        state = self.recorder.claim(company_id, _sales_invoice(document_id), self.target)
        return state is not None and state.document_version in (None, document_version)

    def sales_invoice_synchronized(self, company_id: str, document_id: str, txn_id: str) -> None:
        self.recorder.recorded(company_id, _sales_invoice(document_id), self.target, {PART: txn_id})

    def sales_invoice_failed(self, company_id: str, document_id: str, message: str) -> None:
        self.recorder.failed(company_id, _sales_invoice(document_id), self.target, message)

    def sales_invoice_deleted(self, company_id: str, document_id: str) -> None:
        self.recorder.deleted(company_id, _sales_invoice(document_id), self.target)

    def claim_sales_order(self, company_id: str, document_id: str, document_version: int) -> bool:
        state = self.recorder.claim(company_id, sales_order_ref(int(document_id)), self.target)
        return state is not None and state.document_version in (None, document_version)

    def sales_order_synchronized(self, company_id: str, document_id: str, part: str, txn_id: str) -> None:
        self.recorder.recorded(company_id, sales_order_ref(int(document_id)), self.target, {part: txn_id})

    def sales_order_failed(self, company_id: str, document_id: str, message: str) -> None:
        self.recorder.failed(company_id, sales_order_ref(int(document_id)), self.target, message)


def _sales_invoice(document_id: str) -> DocumentRef:
    return invoice_ref(int(document_id))
