"""The Web Connector's view of our data: who may connect, which POs wait, and where outcomes go."""

from __future__ import annotations

from dataclasses import dataclass

from ledgersync.domain.accounts import Accounts
from ledgersync.domain.desktop_sync import DesktopWork
from ledgersync.domain.purchase_order_bills import PurchaseOrderDocument
from ledgersync.domain.purchase_order_service import AccountingState
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.sync.documents import DocumentKind, DocumentRef
from ledgersync.domain.sync.mappers import MapperRegistry, Unmappable
from ledgersync.domain.sync.outcomes import SyncRecorder
from ledgersync.domain.sync.state import SyncStatus
from ledgersync.domain.sync.store import SyncStateStore
from ledgersync.errors import Forbidden, Unauthorized


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
    """The Web Connector's outbox: the company's POs queued for its target (the Desktop one), oldest first, each
    with its drafts from its document kind's mapper."""

    mappers: MapperRegistry
    accounting: AccountingState
    states: SyncStateStore
    target: ExternalSystem

    def pending_bills(self, company_id: str, limit: int) -> list[DesktopWork]:
        settings = self.accounting.get_settings(company_id)
        if settings.external_system is not self.target:
            return []
        work = []
        queued = self.states.list_by_status(company_id, SyncStatus.QUEUED, self.target)
        po_ids = sorted(
            s.document.purchase_order_id for s in queued if s.document.kind is DocumentKind.PURCHASE_ORDER_BILLS
        )
        mapper = self.mappers.get(DocumentKind.PURCHASE_ORDER_BILLS)
        for po_id in po_ids[:limit]:
            document: PurchaseOrderDocument | None = mapper.load(
                company_id, DocumentRef.purchase_order(po_id), settings
            )
            if document is None:
                continue
            try:
                work.append(DesktopWork(document, mapper.drafts(document)))
            except Unmappable as unfit:
                work.append(DesktopWork(document, [], unfit.message))
        return work


@dataclass
class DesktopOutcomes:
    recorder: SyncRecorder
    target: ExternalSystem

    def invoice_synchronized(self, company_id: str, purchase_order_id: int, invoice_number: str, txn_id: str) -> None:
        ref = DocumentRef.purchase_order(purchase_order_id)
        self.recorder.recorded(company_id, ref, self.target, {invoice_number: txn_id})

    def purchase_order_failed(self, company_id: str, purchase_order_id: int, message: str) -> None:
        self.recorder.failed(company_id, DocumentRef.purchase_order(purchase_order_id), self.target, message)
