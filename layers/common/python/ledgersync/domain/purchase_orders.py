"""Purchase orders, vendor invoices and their way to the accounting system (seed 000 and 001)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, computed_field
from pydantic.alias_generators import to_camel

from ledgersync.money import to_cents

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
