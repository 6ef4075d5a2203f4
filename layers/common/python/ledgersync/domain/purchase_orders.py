"""Purchase orders, vendor invoices and their way to the accounting system (seed 000 and 001)."""

from __future__ import annotations

import base64
import hashlib
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, computed_field
from pydantic.alias_generators import to_camel

from ledgersync.money import allocate, to_cents

PDF_LINK_SECONDS = 6 * 60 * 60  # seeds 000/001: an invoice PDF link is valid six hours
# A vendor invoice's PDF, decoded. Its request carries it base64-encoded (4/3 larger) and must stay under Lambda's
# 6 MB synchronous payload (API Gateway's own limit is 10 MB): 4 MiB encode to 5.33 MiB, plus the other fields.
MAX_PDF_BYTES = 4 * 1024 * 1024
MAX_VENDOR_INVOICE_BODY_BYTES = (MAX_PDF_BYTES + 2) // 3 * 4 + 4096

Money = Annotated[Decimal, Field(max_digits=14, decimal_places=2, ge=0)]
SignedMoney = Annotated[Decimal, Field(max_digits=14, decimal_places=2)]


class CamelModel(BaseModel):
    """JSON at the edges is camelCase; Python stays snake_case."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class VendorInvoiceStatus(StrEnum):
    PENDING_APPROVAL = "Pending Approval"
    APPROVED = "Approved"
    SENT_TO_EXTERNAL = "Sent to External System"
    SYNCHRONIZED = "S"
    ERROR = "Error"


class ExternalSystem(StrEnum):
    QUICKBOOKS_ONLINE = "quickbooks_online"
    QUICKBOOKS_DESKTOP = "quickbooks_desktop"
    WEBHOOK = "webhook"


class ApprovalGroup(StrEnum):
    """Seed 000: one approval from each group is needed."""

    PROCUREMENT = "procurement"
    ACCOUNTING = "accounting"


class PurchaseOrderItem(CamelModel):
    category_procurement_accounting_code: str = Field(min_length=1, max_length=20)
    total_cost: Money
    description: str | None = Field(default=None, max_length=200)


class AdditionalCharge(CamelModel):
    code: str = Field(min_length=1, max_length=10)
    amount: SignedMoney
    name: str | None = Field(default=None, max_length=50)


class VendorRef(CamelModel):
    """The vendor as the accounting side needs it (from the directory)."""

    id: int
    code: str
    name: str
    accounting_name: str | None = None
    type: str | None = None
    currency: str | None = None


class LocationRef(CamelModel):
    id: int
    code: str
    name: str


class VendorInvoice(CamelModel):
    invoice_number: str | None = Field(default=None, max_length=50)
    invoice_amount: Money
    total_additional_charges: Money = Decimal("0.00")
    pdf_key: str | None = None
    uploaded_at: datetime | None = None


class Approval(CamelModel):
    user_id: str
    group: ApprovalGroup
    role: str
    approved_at: datetime


class PurchaseOrder(CamelModel):
    """A PO as stored: the input fields, the vendor invoices and the approvals (its sync state is its own item)."""

    company_id: str
    id: int
    po_number: str = Field(min_length=1, max_length=20)
    vendor_id: int
    location_id: int | None = None
    ship_date: date
    arrival_date: date | None = None
    items: list[PurchaseOrderItem] = Field(default_factory=list)
    additional_charges: list[AdditionalCharge] = Field(default_factory=list)
    vendor_invoices: list[VendorInvoice] = Field(default_factory=list)
    approvals: list[Approval] = Field(default_factory=list)
    # The approval lifecycle only (Pending Approval, Approved); where the PO stands with its external system is its
    # sync state (domain/sync), and the API's vendorInvoiceStatus is derived from both (``shown_status``).
    vendor_invoice_status: VendorInvoiceStatus = VendorInvoiceStatus.PENDING_APPROVAL
    # The version handed to the sync core by Send to External System; None until then and again after a change
    sent_version: int | None = None
    version: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def sub_total(self) -> Decimal:
        return to_cents(sum((i.total_cost for i in self.items), Decimal(0)))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_charges(self) -> Decimal:
        return to_cents(sum((c.amount for c in self.additional_charges), Decimal(0)))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total(self) -> Decimal:
        return to_cents(self.sub_total + self.total_charges)

    def approved_groups(self) -> set[ApprovalGroup]:
        return {a.group for a in self.approvals}

    def is_fully_approved(self) -> bool:
        return self.approved_groups() == set(ApprovalGroup)


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

    @property
    def full_reference(self) -> str:
        return f"{self.po_number}-{self.invoice_number}"

    def reference(self, max_length: int) -> str:
        """The document number the target accepts (see ``document_reference``)."""
        return document_reference(self.po_number, self.invoice_number, max_length)

    @property
    def total(self) -> Decimal:
        return to_cents(sum((line.amount for line in self.lines), Decimal(0)))


# Keys are codes (categories 20, charges and locations 10); values are QuickBooks names (accounts, items and
# classes: 100). An empty key cannot be stored in DynamoDB and would make the company's settings unreadable.
MappingCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
AccountingName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
MAX_MAPPINGS = 500


class BillMapping(CamelModel):
    """A company's choices for bills: the bill item, per-category items, charge accounts, classes."""

    bill_item_name: str = Field(default="Fresh Cut Flowers", min_length=1, max_length=31)
    bill_item_description: str = Field(default="Fresh Cut Flowers", max_length=4000)
    item_by_category: dict[MappingCode, AccountingName] = Field(default_factory=dict, max_length=MAX_MAPPINGS)
    charge_accounts: dict[MappingCode, AccountingName] = Field(default_factory=dict, max_length=MAX_MAPPINGS)
    default_charge_account: AccountingName | None = None
    classes_enabled: bool = False
    class_by_location: dict[MappingCode, AccountingName] = Field(default_factory=dict, max_length=MAX_MAPPINGS)
    class_by_category: dict[MappingCode, AccountingName] = Field(default_factory=dict, max_length=MAX_MAPPINGS)


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
