"""Purchase orders in the single table, each save conditional on the version it read."""

from __future__ import annotations

from typing import Any

from ledgersync.adapters.directory_store import DynamoDirectoryStore
from ledgersync.adapters.dynamodb import SingleTable, company_pk
from ledgersync.adapters.sync_state_store import DynamoSyncStateStore
from ledgersync.domain.directory import Kind
from ledgersync.domain.purchase_order_sync import legacy_state, migrated_order
from ledgersync.domain.purchase_orders import ExternalSystem, LocationRef, PurchaseOrder, VendorInvoiceStatus, VendorRef
from ledgersync.domain.sync.state import SyncState
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
        return order_of(item) if item else None

    def save(self, order: PurchaseOrder, expected_version: int | None) -> PurchaseOrder:
        """Write the PO if nobody changed it since ``expected_version`` was read (None: it must be new)."""
        saved = order.model_copy(update={"version": (expected_version or 0) + 1})
        if expected_version is None:
            self.table.put(_item(saved), condition="attribute_not_exists(pk)")
        else:
            try:
                self.table.put(_item(saved), condition="version = :v", values={":v": expected_version})
            except Conflict as err:
                raise Conflict(f"PO {order.po_number} was changed by someone else; reload it and try again") from err
        return saved

    def save_with_state(
        self, order: PurchaseOrder, expected_version: int, state: SyncState, expected_state_version: int | None
    ) -> tuple[PurchaseOrder, SyncState]:
        """Write the PO and its sync state in one transaction, each conditional on the version read (a state's None
        or 0: it must not exist yet), so an edit racing a send loses one side cleanly (Conflict)."""
        saved = order.model_copy(update={"version": expected_version + 1})
        saved_state = state.model_copy(update={"version": (expected_state_version or 0) + 1})
        po_put = {
            "Put": {
                "Item": _item(saved),
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": expected_version},
            }
        }
        state_put = DynamoSyncStateStore(self.table).put_action(saved_state, expected_state_version)
        try:
            self.table.transact([po_put, state_put])
        except Conflict as err:
            raise Conflict(
                f"PO {order.po_number} was changed or sent by someone else; reload it and try again"
            ) from err
        return saved, saved_state

    def list_by_status(self, company_id: str, status: VendorInvoiceStatus) -> list[PurchaseOrder]:
        """The POs the status index files under ``status`` (``indexed_status``: "Approved" is still to send, "Sent to
        External System" handed to the sync core), as the company's health counts them; read from the index (it
        projects the whole item). A PO stored before the migration, filed under a status no longer filed ("S",
        "Error"), answers under the status it reads as."""
        items = self.table.query_prefix(status_key(company_id, status), "PO#", index="gsi1")
        return [order for order in map(order_of, items) if indexed_status(order) is status]


def indexed_status(order: PurchaseOrder) -> VendorInvoiceStatus:
    """Where the status index files a PO: its lifecycle, or "Sent to External System" once handed to the sync core
    (so the Approved count is the POs still to send)."""
    return VendorInvoiceStatus.SENT_TO_EXTERNAL if order.sent_version is not None else order.vendor_invoice_status


def _item(order: PurchaseOrder) -> dict[str, Any]:
    return {
        "pk": company_pk(order.company_id),
        "sk": po_sk(order.id),
        "version": order.version,
        "order": order.model_dump(mode="json", by_alias=True, exclude={"sub_total", "total", "total_charges"}),
        "gsi1pk": status_key(order.company_id, indexed_status(order)),
        "gsi1sk": po_sk(order.id),
    }


def stored_order(item: dict[str, Any]) -> dict[str, Any]:
    """The PO's fields as stored in ``item``, with the item's version: what ``domain.purchase_order_sync`` maps."""
    return {**item["order"], "version": int(item["version"])}


def order_of(item: dict[str, Any]) -> PurchaseOrder:
    """The PO in ``item``; one stored with its sync fields (before the migration) reads as if migrated."""
    return PurchaseOrder.model_validate(migrated_order(stored_order(item)))


def legacy_state_of(item: dict[str, Any], company_id: str, target: ExternalSystem) -> SyncState | None:
    """The sync state a PO item still carries in its own fields (not migrated yet), for ``target``."""
    return legacy_state(company_id, stored_order(item), target)


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

    def exchange_rates(self, company_id: str) -> list[dict[str, Any]]:
        return self.directory.exchange_rates(company_id)
