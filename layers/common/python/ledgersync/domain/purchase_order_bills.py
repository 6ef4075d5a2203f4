"""The mapper of a PO's vendor invoices (``purchase_order_bills``): each vendor invoice becomes one bill draft.

The drafts are neutral (item lines and account lines by name); each target's adapter shapes them (a QuickBooks
Online Bill, a qbXML BillAdd).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from ledgersync.currencies import rate_in_force
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
    # A foreign vendor's bill (issue 12): the directory's rate in force on the bill's date (company units per unit of
    # ``currency``) and the A/P account of its currency (settings' apAccountByCurrency); None for a home one.
    exchange_rate: Decimal | None = None
    ap_account: str | None = None
    # The company's own currency, so an adapter can tell a home-currency bill from a vendor in another currency.
    company_currency: str | None = None

    @property
    def document_currency(self) -> str | None:
        """The bill's currency: its own for a foreign one, else the company's (None when neither is known)."""
        return self.currency or self.company_currency

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
    exchange_rates: Sequence[Mapping[str, Any]] = (),
    ap_accounts: Mapping[str, str] | None = None,
) -> list[BillDraft]:
    """Map each vendor invoice of a PO to a bill, so that the bills add up to the PO total to the cent.

    Product amounts are the PO lines, split across the vendor invoices in proportion to each invoice's
    product amount (invoice amount less its additional charges); charges are split the same way by each
    invoice's ``totalAdditionalCharges``. Largest-remainder allocation keeps every split exact.

    A vendor in another currency than the company's gets bills in its currency, at the rate of ``exchange_rates``
    (the directory's) in force on the bill's date, on the A/P account ``ap_accounts`` maps its currency to; without
    either the PO is refused (``Unmappable``, naming the fix) before anything is sent.
    """
    invoices = order.vendor_invoices
    product_weights = [inv.invoice_amount - inv.total_additional_charges for inv in invoices]
    charge_weights = [inv.total_additional_charges for inv in invoices]
    item_splits = [allocate(item.total_cost, product_weights) for item in order.items]
    charge_splits = [allocate(charge.amount, charge_weights or product_weights) for charge in order.additional_charges]
    currency = vendor.currency if vendor.currency and vendor.currency != company_currency else None
    exchange_rate = ap_account = None
    if currency is not None:
        exchange_rate = _bill_rate(order, currency, exchange_rates)
        ap_account = _ap_account(order, currency, ap_accounts or {})
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
                exchange_rate=exchange_rate,
                ap_account=ap_account,
                company_currency=company_currency,
                lines=lines,
                memo=f"Ledgersync PO {order.po_number} vendor invoice {number} ({order.po_number}-{number})",
            )
        )
    return bills


def _bill_rate(order: PurchaseOrder, currency: str, rates: Sequence[Mapping[str, Any]]) -> Decimal:
    rate = rate_in_force(rates, currency, order.ship_date)
    if rate is None:
        raise Unmappable(
            f"the vendor's currency is {currency} and there is no exchange rate for it in force on "
            f"{order.ship_date.isoformat()} (the bill's date, the PO's ship date); add one with "
            f'PUT /v1/directory/exchange-rates, e.g. [{{"currency": "{currency}", "rate": "0.73", '
            f'"effectiveFrom": "{order.ship_date.isoformat()}"}}], then send again'
        )
    return rate


def _ap_account(order: PurchaseOrder, currency: str, accounts: Mapping[str, str]) -> str:
    """The A/P account of a foreign bill's currency: QuickBooks keeps each A/P account in one currency and refuses
    a bill in another, so an unmapped currency is refused here, before anything is sent."""
    account = accounts.get(currency)
    if account:
        return account
    raise Unmappable(
        f"PO {order.po_number}'s vendor is in {currency} and no A/P account is mapped for {currency} "
        '(QuickBooks: "The transaction needs to be in the same currency as the A/R and A/P accounts"); create an '
        f"A/P account in {currency} in QuickBooks and map it with PUT /v1/accounting/settings apAccountByCurrency, "
        f'e.g. {{"apAccountByCurrency": {{"{currency}": "Accounts Payable - {currency}"}}}}, then send again'
    )


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
    # the directory's exchange rates ({currency, effectiveFrom, rate}), read only for a vendor in another currency
    exchange_rates: tuple[Mapping[str, Any], ...] = ()


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
        company_currency = settings.company_currency or "USD"
        rates: tuple[Mapping[str, Any], ...] = ()
        if vendor is not None and vendor.currency and vendor.currency != company_currency:
            rates = tuple(self.references.exchange_rates(company_id))
        return PurchaseOrderDocument(order, vendor, location, settings, company_currency, rates)

    def drafts(self, document: PurchaseOrderDocument, state: SyncState | None = None) -> list[BillDraft]:
        vendor = document.vendor
        if vendor is None or not vendor.accounting_name:
            raise Unmappable(NO_ACCOUNTING_NAME)
        mapping = document.mapping
        drafts = build_bills(
            document.order,
            vendor,
            document.location,
            mapping,
            document.company_currency,
            document.exchange_rates,
            mapping.ap_account_by_currency if isinstance(mapping, AccountingSettings) else None,
        )
        if state is not None and state.generation:
            drafts = [draft.model_copy(update={"generation": state.generation}) for draft in drafts]
        return drafts

    def part_of(self, draft: BillDraft) -> str:
        """Each vendor invoice is one part, named by its number."""
        return draft.invoice_number

    def is_current(self, document: PurchaseOrderDocument, state: SyncState) -> bool:
        """A sent PO is sent as it is: a change to it supersedes its state first (in the same write)."""
        return True
