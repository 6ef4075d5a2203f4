"""The webhook's view of the sync core: what a delivery loads (the PO and its current delivery) and where its
outcomes go (the PO's sync state for the webhook target, through the one recorder)."""

from __future__ import annotations

from dataclasses import dataclass

from ledgersync.domain.purchase_order_service import PurchaseOrderStore, References
from ledgersync.domain.purchase_order_sync import parts_of
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.sync.documents import DocumentRef
from ledgersync.domain.sync.outcomes import SyncRecorder
from ledgersync.domain.sync.store import SyncStateStore
from ledgersync.domain.webhooks.payload import ReconciliationDocument


@dataclass
class WebhookDocuments:
    store: PurchaseOrderStore
    references: References
    states: SyncStateStore
    target: ExternalSystem

    def load(self, company_id: str, purchase_order_id: int) -> ReconciliationDocument | None:
        order = self.store.get(company_id, purchase_order_id)
        if order is None:
            return None
        vendor = self.references.vendor(company_id, order.vendor_id)
        if vendor is None:
            return None
        location = self.references.location(company_id, order.location_id) if order.location_id else None
        state = self.states.get(company_id, DocumentRef.purchase_order(purchase_order_id), self.target)
        return ReconciliationDocument(
            order=order, vendor=vendor, location=location, current_delivery_id=state.delivery_id if state else None
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
