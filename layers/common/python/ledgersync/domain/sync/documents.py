"""What the sync core sends: a document, named by its kind and id."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class DocumentKind(StrEnum):
    """The kinds of document the sync core sends. ``purchase_order_bills`` is a PO's vendor invoices: one document
    per PO, each vendor invoice a *part* that becomes one bill."""

    PURCHASE_ORDER_BILLS = "purchase_order_bills"
    SALES_INVOICE = "sales_invoice"
    SALES_ORDER = "sales_order"
    CUSTOMER = "customer"
    VENDOR = "vendor"
    ITEM = "item"


class DocumentRef(BaseModel):
    """One document: its kind and its id as text (a PO's id is its decimal string)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: DocumentKind
    id: str = Field(min_length=1, max_length=64, pattern=r"^[^#\s]+$")

    @classmethod
    def purchase_order(cls, po_id: int) -> DocumentRef:
        return cls(kind=DocumentKind.PURCHASE_ORDER_BILLS, id=str(po_id))

    @property
    def purchase_order_id(self) -> int:
        """The PO a ``purchase_order_bills`` document belongs to."""
        return int(self.id)

    def __str__(self) -> str:
        return f"{self.kind.value} {self.id}"
