"""The mapper of a PO's vendor invoices (``purchase_order_bills``): each vendor invoice becomes one bill draft.

The drafts are neutral (item lines and account lines by name); each target's adapter shapes them (a QuickBooks
Online Bill, a qbXML BillAdd).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel

from ledgersync.domain.purchase_order_service import AccountingState, PurchaseOrderStore, References
from ledgersync.domain.purchase_orders import BillMapping, LocationRef, PurchaseOrder, VendorRef
from ledgersync.domain.settings import AccountingSettings
from ledgersync.domain.sync.documents import DocumentKind, DocumentRef
from ledgersync.domain.sync.mappers import Unmappable
from ledgersync.domain.sync.state import SyncState
from ledgersync.money import allocate, to_cents

NO_ACCOUNTING_NAME = (
    "the vendor has no Accounting Name; set it in the directory to the vendor's exact name in QuickBooks"
)


def document_reference(po_number: str, invoice_number: str, max_length: int) -> str:
    """The accounting document number for a vendor invoice of a PO: ``<poNumber>-<invoiceNumber>``.

    When that is longer than the target allows (QuickBooks Online DocNumber 21, Desktop RefNumber 20),
    it is cut to ``max_length - 7`` characters and ``~`` plus six base32 characters of the SHA-256 of the
    full value are appended. The rule is deterministic (the same PO and invoice always give the same
    number) and two different full values collide only if their 30-bit digests do, which the adapters
    detect because the full value is kept in the document's memo (PrivateNote / Memo).
    """
    full = f"{po_number}-{invoice_number}"
    if len(full) <= max_length:
        return full
    digest = base64.b32encode(hashlib.sha256(full.encode()).digest()).decode()[:6]
    return f"{full[: max_length - 7]}~{digest}"


class BillLineKind(StrEnum):
    ITEM = "item"
    ACCOUNT = "account"


class BillLine(BaseModel):
    """One line of a bill in neutral terms: an item line or an expense (account) line."""

    kind: BillLineKind
    ref_name: str
    amount: Decimal
    description: str | None = None
    class_name: str | None = None


class BillDraft(BaseModel):
    """What a vendor invoice becomes in any accounting system, before an adapter shapes it."""

    company_id: str
    purchase_order_id: int
    po_number: str
    invoice_number: str
    vendor_name: str
    txn_date: date
    currency: str | None
    lines: list[BillLine]
    memo: str
    generation: int = 0  # one more for each send after the bill was deleted (send again): a new bill per generation

    @property
    def full_reference(self) -> str:
        return f"{self.po_number}-{self.invoice_number}"

    def reference(self, max_length: int) -> str:
        """The document number the target accepts (see ``document_reference``)."""
        return document_reference(self.po_number, self.invoice_number, max_length)

    @property
    def total(self) -> Decimal:
        return to_cents(sum((line.amount for line in self.lines), Decimal(0)))


def build_bills(
    order: PurchaseOrder,
    vendor: VendorRef,
    location: LocationRef | None,
    mapping: BillMapping,
    company_currency: str,
) -> list[BillDraft]:
    """Map each vendor invoice of a PO to a bill, so that the bills add up to the PO total to the cent.

    Product amounts are the PO lines, split across the vendor invoices in proportion to each invoice's
    product amount (invoice amount less its additional charges); charges are split the same way by each
    invoice's ``totalAdditionalCharges``. Largest-remainder allocation keeps every split exact.
    """
    invoices = order.vendor_invoices
    product_weights = [inv.invoice_amount - inv.total_additional_charges for inv in invoices]
    charge_weights = [inv.total_additional_charges for inv in invoices]
    item_splits = [allocate(item.total_cost, product_weights) for item in order.items]
    charge_splits = [allocate(charge.amount, charge_weights or product_weights) for charge in order.additional_charges]
    currency = vendor.currency if vendor.currency and vendor.currency != company_currency else None
    location_class = mapping.class_by_location.get(location.code) if location else None
    bills: list[BillDraft] = []
    for index, invoice in enumerate(invoices):
        lines = _item_lines(order, mapping, location_class, [split[index] for split in item_splits])
        for charge, split in zip(order.additional_charges, charge_splits, strict=True):
            if split[index] == 0:
                continue
            account = mapping.charge_accounts.get(charge.code) or mapping.default_charge_account or charge.code
            lines.append(
                BillLine(
                    kind=BillLineKind.ACCOUNT,
                    ref_name=account,
                    amount=split[index],
                    description=charge.name or charge.code,
                    class_name=location_class if mapping.classes_enabled else None,
                )
            )
        number = invoice.invoice_number or ""
        bills.append(
            BillDraft(
                company_id=order.company_id,
                purchase_order_id=order.id,
                po_number=order.po_number,
                invoice_number=number,
                vendor_name=vendor.accounting_name or vendor.name,
                txn_date=order.ship_date,
                currency=currency,
                lines=lines,
                memo=f"Ledgersync PO {order.po_number} vendor invoice {number} ({order.po_number}-{number})",
            )
        )
    return bills


def _item_lines(
    order: PurchaseOrder, mapping: BillMapping, location_class: str | None, amounts: list[Decimal]
) -> list[BillLine]:
    """One line per bill item: all products on the company's bill item, or one per mapped category."""
    grouped: dict[tuple[str, str | None], Decimal] = {}
    for item, amount in zip(order.items, amounts, strict=True):
        category = item.category_procurement_accounting_code
        item_name = mapping.item_by_category.get(category, mapping.bill_item_name)
        class_name = None
        if mapping.classes_enabled:
            class_name = mapping.class_by_category.get(category, location_class)
        key = (item_name, class_name)
        grouped[key] = grouped.get(key, Decimal(0)) + amount
    return [
        BillLine(
            kind=BillLineKind.ITEM,
            ref_name=item_name,
            amount=to_cents(amount),
            description=mapping.bill_item_description if item_name == mapping.bill_item_name else item_name,
            class_name=class_name,
        )
        for (item_name, class_name), amount in grouped.items()
        if amount != 0
    ]


class AccountingBill(BaseModel):
    """A bill as an accounting system holds it, in the draft's terms (names, not ids): what send again compares."""

    external_id: str
    sync_token: str = "0"
    doc_number: str | None = None
    vendor_name: str
    lines: list[BillLine]
    total: Decimal


def _line_key(line: BillLine) -> tuple[str, str, str, str]:
    return (
        line.kind.value,
        line.ref_name.casefold(),
        f"{to_cents(line.amount):.2f}",
        (line.class_name or "").casefold(),
    )


def bill_differences(draft: BillDraft, bill: AccountingBill) -> list[str]:
    """What differs between our bill and the one in accounting with its number, in a person's words; [] when it is
    the same bill (same vendor, the same lines by item or account, amount and class, the same total)."""
    found: list[str] = []
    if draft.vendor_name.casefold() != bill.vendor_name.casefold():
        found.append(f"vendor '{bill.vendor_name}' there, '{draft.vendor_name}' here")
    if to_cents(bill.total) != draft.total:
        found.append(f"total {to_cents(bill.total):.2f} there, {draft.total:.2f} here")
    if sorted(map(_line_key, draft.lines)) != sorted(map(_line_key, bill.lines)):
        there = ", ".join(f"{line.ref_name} {to_cents(line.amount):.2f}" for line in bill.lines) or "none"
        here = ", ".join(f"{line.ref_name} {to_cents(line.amount):.2f}" for line in draft.lines) or "none"
        found.append(f"lines {there} there, {here} here")
    return found


@dataclass(frozen=True)
class PurchaseOrderDocument:
    """A PO as its bills need it: the PO, its vendor and location, and the company's bill mapping and currency."""

    order: PurchaseOrder
    vendor: VendorRef | None
    location: LocationRef | None
    mapping: BillMapping
    company_currency: str


@dataclass
class PurchaseOrderBills:
    """The ``Mapper`` of ``purchase_order_bills``: a PO from its store, mapped by ``build_bills``."""

    store: PurchaseOrderStore
    references: References
    accounting: AccountingState

    @property
    def kind(self) -> DocumentKind:
        return DocumentKind.PURCHASE_ORDER_BILLS

    def load(
        self, company_id: str, ref: DocumentRef, settings: AccountingSettings | None = None
    ) -> PurchaseOrderDocument | None:
        order = self.store.get(company_id, ref.purchase_order_id)
        if order is None:
            return None
        vendor = self.references.vendor(company_id, order.vendor_id)
        location = self.references.location(company_id, order.location_id) if order.location_id else None
        settings = settings or self.accounting.get_settings(company_id)
        return PurchaseOrderDocument(order, vendor, location, settings, settings.company_currency or "USD")

    def drafts(self, document: PurchaseOrderDocument, state: SyncState | None = None) -> list[BillDraft]:
        vendor = document.vendor
        if vendor is None or not vendor.accounting_name:
            raise Unmappable(NO_ACCOUNTING_NAME)
        drafts = build_bills(document.order, vendor, document.location, document.mapping, document.company_currency)
        if state is not None and state.generation:
            drafts = [draft.model_copy(update={"generation": state.generation}) for draft in drafts]
        return drafts

    def part_of(self, draft: BillDraft) -> str:
        """Each vendor invoice is one part, named by its number."""
        return draft.invoice_number

    def is_current(self, document: PurchaseOrderDocument, state: SyncState) -> bool:
        """A sent PO is sent as it is: a change to it supersedes its state first (in the same write)."""
        return True
