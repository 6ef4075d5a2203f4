"""A purchase order's side of the sync core: its document ref and parts, the status the API shows, its error e-mail,
and how a PO stored before sync states had their own item reads (the one mapping the migration uses too)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from ledgersync.domain.notices import Notifier, send_notice, sync_error_notice
from ledgersync.domain.purchase_orders import ExternalSystem, PurchaseOrder, VendorInvoiceStatus
from ledgersync.domain.settings import AccountingSettings
from ledgersync.domain.sync.documents import DocumentRef
from ledgersync.domain.sync.state import IN_PROGRESS, SyncState, SyncStatus
from ledgersync.domain.sync.targets import TargetRegistry

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LIFECYCLE = frozenset({VendorInvoiceStatus.PENDING_APPROVAL, VendorInvoiceStatus.APPROVED})
# The PO fields that were its sync state before it had an item of its own (read, never written)
LEGACY_FIELDS = (
    "externalIds",
    "error",
    "errorNoticePending",
    "heldReason",
    "webhookDeliveryId",
    "webhookNotifiedDeliveryId",
    "sentAt",
    "synchronizedAt",
)


def po_ref(order: PurchaseOrder) -> DocumentRef:
    return DocumentRef.purchase_order(order.id)


def parts_of(order: PurchaseOrder) -> list[str]:
    """Each vendor invoice is one part (one bill), named by its number."""
    return [invoice.invoice_number or "" for invoice in order.vendor_invoices]


def shown_status(order: PurchaseOrder, state: SyncState | None) -> VendorInvoiceStatus:
    """The API's vendorInvoiceStatus: the approval lifecycle until sent, then where the sync stands."""
    if state is None or state.status is SyncStatus.SUPERSEDED:
        return order.vendor_invoice_status
    if state.status in IN_PROGRESS or state.status is SyncStatus.DELETING:  # deleting: a send again's replace
        return VendorInvoiceStatus.SENT_TO_EXTERNAL
    if state.status is SyncStatus.SYNCHRONIZED:
        return VendorInvoiceStatus.SYNCHRONIZED
    if state.status is SyncStatus.ERROR:
        return VendorInvoiceStatus.ERROR
    return order.vendor_invoice_status


def sync_view(state: SyncState | None) -> dict[str, Any]:
    """The sync fields of the PO view, with the names and meanings they had on the PO."""
    if state is None:
        return {
            "externalIds": {},
            "error": None,
            "errorNoticePending": False,
            "heldReason": None,
            "webhookDeliveryId": None,
            "webhookNotifiedDeliveryId": None,
            "sentAt": None,
            "synchronizedAt": None,
        }
    return {
        "externalIds": dict(state.external_ids),
        "error": state.reason if state.status is SyncStatus.ERROR else None,
        "errorNoticePending": state.owes_notice,
        "heldReason": state.reason if state.status is SyncStatus.HELD else None,
        "webhookDeliveryId": state.delivery_id,
        "webhookNotifiedDeliveryId": state.notified_delivery_id,
        "sentAt": state.dispatched_at,
        "synchronizedAt": state.synchronized_at,
    }


def legacy_state(company_id: str, stored: dict[str, Any], target: ExternalSystem) -> SyncState | None:
    """The sync state a PO stored with its sync fields (before the migration) stands for; None when it has none.

    "Sent to External System" is queued (held when it has a held reason), "S" synchronized, "Error" error; a PO
    back in approval that kept external ids (changed after an Error) is superseded."""
    status = stored.get("vendorInvoiceStatus")
    ids = {str(k): str(v) for k, v in (stored.get("externalIds") or {}).items()}
    common: dict[str, Any] = {
        "company_id": company_id,
        "document": DocumentRef.purchase_order(int(stored["id"])),
        "target": target,
        "version": 0,
        "document_version": int(stored["version"]) if "version" in stored else None,
        "parts": [str(v.get("invoiceNumber") or "") for v in stored.get("vendorInvoices") or []],
        "external_ids": ids,
        "delivery_id": stored.get("webhookDeliveryId"),
        "notified_delivery_id": stored.get("webhookNotifiedDeliveryId"),
        "dispatched_at": stored.get("sentAt"),
        "synchronized_at": stored.get("synchronizedAt"),
        "updated_at": stored.get("synchronizedAt") or stored.get("sentAt"),
    }
    if status == VendorInvoiceStatus.SENT_TO_EXTERNAL.value:
        held = stored.get("heldReason")
        return SyncState(status=SyncStatus.HELD if held else SyncStatus.QUEUED, reason=held, **common)
    if status == VendorInvoiceStatus.SYNCHRONIZED.value:
        return SyncState(status=SyncStatus.SYNCHRONIZED, **common)
    if status == VendorInvoiceStatus.ERROR.value:
        return SyncState(
            status=SyncStatus.ERROR,
            reason=stored.get("error"),
            notice_pending=bool(stored.get("errorNoticePending")),
            **common,
        )
    if ids:
        return SyncState(status=SyncStatus.SUPERSEDED, **common)
    return None


def migrated_order(stored: dict[str, Any]) -> dict[str, Any]:
    """The PO as stored after the migration: without its sync fields, in its approval lifecycle."""
    order = {k: v for k, v in stored.items() if k not in LEGACY_FIELDS}
    status = stored.get("vendorInvoiceStatus")
    if status not in {s.value for s in LIFECYCLE}:
        order["vendorInvoiceStatus"] = VendorInvoiceStatus.APPROVED.value
        order.setdefault("sentVersion", stored.get("version"))
    return order


def is_legacy(stored: dict[str, Any]) -> bool:
    return any(name in stored for name in LEGACY_FIELDS) or stored.get("vendorInvoiceStatus") not in {
        s.value for s in LIFECYCLE
    }


class OrdersForNotices(Protocol):
    def get(self, company_id: str, po_id: int) -> PurchaseOrder | None: ...


class SettingsForNotices(Protocol):
    def get_settings(self, company_id: str) -> AccountingSettings: ...


@dataclass
class PurchaseOrderErrorNotices:
    """A PO's error e-mail (``ErrorNotices`` for ``purchase_order_bills``)."""

    orders: OrdersForNotices
    accounting: SettingsForNotices
    notifier: Notifier
    targets: TargetRegistry

    def send(self, state: SyncState, reason: str, part: str | None, recipients: list[str]) -> None:
        order = self.orders.get(state.company_id, state.document.purchase_order_id)
        if order is None:
            return
        settings = self.accounting.get_settings(state.company_id)
        notice = sync_error_notice(order, self.targets.display_name(state.target), reason, part)
        to = list(recipients) if recipients else list(settings.notification_emails)
        send_notice(self.notifier, to, notice)
