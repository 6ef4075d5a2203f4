"""Purchase orders in the single table, each save conditional on the version it read."""

from __future__ import annotations

from typing import Any

from ledgersync.adapters.directory_store import DynamoDirectoryStore
from ledgersync.adapters.dynamodb import SingleTable, company_pk
from ledgersync.domain.directory import Kind
from ledgersync.domain.purchase_orders import LocationRef, PurchaseOrder, VendorInvoiceStatus, VendorRef
from ledgersync.errors import Conflict


def po_sk(po_id: int) -> str:
    return f"PO#{po_id:012d}"


def status_key(company_id: str, status: VendorInvoiceStatus) -> str:
    return f"{company_pk(company_id)}#POSTATUS#{status.value}"


class DynamoPurchaseOrderStore:
    def __init__(self, table: SingleTable) -> None:
        self.table = table

    def get(self, company_id: str, po_id: int) -> PurchaseOrder | None:
        item = self.table.get(company_pk(company_id), po_sk(po_id))
        return _order(item) if item else None

    def save(self, order: PurchaseOrder, expected_version: int | None) -> PurchaseOrder:
        """Write the PO if nobody changed it since ``expected_version`` was read (None: it must be new)."""
        saved = order.model_copy(update={"version": (expected_version or 0) + 1})
        item: dict[str, Any] = {
            "pk": company_pk(order.company_id),
            "sk": po_sk(order.id),
            "version": saved.version,
            "order": saved.model_dump(mode="json", by_alias=True, exclude={"sub_total", "total", "total_charges"}),
            "gsi1pk": status_key(order.company_id, order.vendor_invoice_status),
            "gsi1sk": po_sk(order.id),
        }
        if expected_version is None:
            self.table.put(item, condition="attribute_not_exists(pk)")
        else:
            try:
                self.table.put(item, condition="version = :v", values={":v": expected_version})
            except Conflict as err:
                raise Conflict(f"PO {order.po_number} was changed by someone else; reload it and try again") from err
        return saved

    def list_by_status(self, company_id: str, status: VendorInvoiceStatus) -> list[PurchaseOrder]:
        """The POs in ``status``, read from the index (it projects the whole item: no read per PO). The index is
        eventually consistent, so callers re-read a PO before changing it (``SyncOutcomes.update`` does)."""
        items = self.table.query_prefix(status_key(company_id, status), "PO#", index="gsi1")
        return [order for order in map(_order, items) if order.vendor_invoice_status is status]


def _order(item: dict[str, Any]) -> PurchaseOrder:
    return PurchaseOrder.model_validate({**item["order"], "version": int(item["version"])})


class DirectoryReferences:
    """Vendors and locations of POs, read from the directory."""

    def __init__(self, directory: DynamoDirectoryStore) -> None:
        self.directory = directory

    def vendor(self, company_id: str, vendor_id: int) -> VendorRef | None:
        found = self.directory.get_by_ids(company_id, Kind.VENDORS, [vendor_id]).get(vendor_id)
        if not found:
            return None
        return VendorRef(
            id=int(found["id"]),
            code=found["code"],
            name=found["name"],
            accounting_name=found.get("accountingName"),
            type=found.get("type"),
            currency=found.get("currency"),
        )

    def location(self, company_id: str, location_id: int) -> LocationRef | None:
        found = self.directory.get_by_ids(company_id, Kind.LOCATIONS, [location_id]).get(location_id)
        return LocationRef(id=int(found["id"]), code=found["code"], name=found["name"]) if found else None
