"""The webhook's view of the sync core: what a delivery loads (the PO and its current delivery) and where its
outcomes go (the PO's sync state for the webhook target, through the one recorder)."""

from __future__ import annotations

from dataclasses import dataclass

from ledgersync.domain.purchase_order_bills import PurchaseOrderDocument
from ledgersync.domain.purchase_order_service import PurchaseOrderStore
from ledgersync.domain.purchase_order_sync import parts_of
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.sync.documents import DocumentRef
from ledgersync.domain.sync.mappers import MapperRegistry
from ledgersync.domain.sync.outcomes import SyncRecorder
from ledgersync.domain.sync.store import SyncStateStore
from ledgersync.domain.webhooks.payload import ReconciliationDocument


@dataclass
class WebhookDocuments:
    """What a delivery sends, loaded by the document kind's mapper from the registry. The webhook's body is one per
    PO (seed 001's fields, its own split of the items), not one per bill draft, so it needs no Accounting Name."""

    mappers: MapperRegistry
    states: SyncStateStore
    target: ExternalSystem

    def load(self, company_id: str, purchase_order_id: int) -> ReconciliationDocument | None:
        ref = DocumentRef.purchase_order(purchase_order_id)
        mapper = self.mappers.get(ref.kind)
        document: PurchaseOrderDocument | None = mapper.load(company_id, ref)
        if document is None or document.vendor is None:
            return None
        state = self.states.get(company_id, ref, self.target)
        return ReconciliationDocument(
            order=document.order,
            vendor=document.vendor,
            location=document.location,
            current_delivery_id=state.delivery_id if state else None,
        )


@dataclass
class WebhookDeliveryOutcomes:
    """``DeliveryOutcomes`` in the sync core's words: each call names its delivery, and the recorder ignores one
    that is no longer the state's current delivery."""

    recorder: SyncRecorder
    store: PurchaseOrderStore
    target: ExternalSystem

    def mark_sent(self, company_id: str, po_id: int, delivery_id: str) -> None:
        order = self.store.get(company_id, po_id)
        parts = parts_of(order) if order else []
        version = order.version if order else None
        ref = DocumentRef.purchase_order(po_id)
        self.recorder.delivery_started(company_id, ref, self.target, delivery_id, parts, version)

    def mark_synchronized(self, company_id: str, po_id: int, delivery_id: str) -> None:
        self.recorder.delivery_synchronized(company_id, DocumentRef.purchase_order(po_id), self.target, delivery_id)

    def mark_failed(self, company_id: str, po_id: int, delivery_id: str, reason: str) -> bool:
        ref = DocumentRef.purchase_order(po_id)
        return self.recorder.delivery_failed(company_id, ref, self.target, delivery_id, reason)

    def mark_notified(self, company_id: str, po_id: int, delivery_id: str) -> None:
        self.recorder.delivery_notified(company_id, DocumentRef.purchase_order(po_id), self.target, delivery_id)
