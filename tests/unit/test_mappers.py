"""A mapper per document kind and the registry of them: the PO's bills mapper loads a PO and maps it to one bill draft
per vendor invoice, and the consumers get a document's drafts only through the registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pytest

from ledgersync import bootstrap
from ledgersync.bootstrap import Adapters
from ledgersync.config import Settings
from ledgersync.domain.accounting_settings import AccountingSettings
from ledgersync.domain.purchase_order_bills import (
    NO_ACCOUNTING_NAME,
    PurchaseOrderBills,
    PurchaseOrderDocument,
    build_bills,
)
from ledgersync.domain.purchase_orders import (
    AdditionalCharge,
    LocationRef,
    PurchaseOrder,
    PurchaseOrderItem,
    VendorInvoice,
    VendorRef,
)
from ledgersync.domain.sales_invoice_sync import SalesInvoiceMapper
from ledgersync.domain.sales_orders import SalesOrderMapper
from ledgersync.domain.sync.documents import DocumentKind, DocumentRef
from ledgersync.domain.sync.mappers import MapperRegistry, UnknownKind, Unmappable
from ledgersync.errors import PermanentError
from tests.fakes import InMemoryPurchaseOrderStore

COMPANY = "c-1"


@dataclass
class Directory:
    vendors: dict[int, VendorRef] = field(default_factory=dict)
    locations: dict[int, LocationRef] = field(default_factory=dict)

    def vendor(self, company_id: str, vendor_id: int) -> VendorRef | None:
        return self.vendors.get(vendor_id)

    def location(self, company_id: str, location_id: int) -> LocationRef | None:
        return self.locations.get(location_id)


@dataclass
class Accounting:
    settings: AccountingSettings = field(default_factory=lambda: AccountingSettings(company_currency="CAD"))

    def get_accounting(self, company_id: str) -> tuple[AccountingSettings, object]:
        raise AssertionError("the mapper needs the settings only")

    def get_settings(self, company_id: str) -> AccountingSettings:
        return self.settings


def order(po_id: int = 7) -> PurchaseOrder:
    return PurchaseOrder(
        company_id=COMPANY,
        id=po_id,
        po_number=f"PO{po_id}",
        vendor_id=29,
        location_id=3,
        ship_date=date(2026, 11, 30),
        items=[PurchaseOrderItem(category_procurement_accounting_code="ROSES", total_cost=Decimal("90.00"))],
        additional_charges=[AdditionalCharge(code="FRT", amount=Decimal("10.00"))],
        vendor_invoices=[
            VendorInvoice(invoice_number="A", invoice_amount=Decimal("60.00"), total_additional_charges=Decimal("6")),
            VendorInvoice(invoice_number="B", invoice_amount=Decimal("40.00"), total_additional_charges=Decimal("4")),
        ],
    )


def mapper(accounting_name: str | None = "Flores LLC") -> tuple[PurchaseOrderBills, InMemoryPurchaseOrderStore]:
    store = InMemoryPurchaseOrderStore()
    directory = Directory(
        vendors={29: VendorRef(id=29, code="FL", name="Flores", accounting_name=accounting_name)},
        locations={3: LocationRef(id=3, code="02", name="Chicago")},
    )
    return PurchaseOrderBills(store, directory, Accounting()), store


def test_the_po_mapper_loads_the_po_with_its_vendor_location_and_the_company_mapping() -> None:
    bills, store = mapper()
    saved = store.save(order(), None)

    document = bills.load(COMPANY, DocumentRef.purchase_order(7))

    assert document == PurchaseOrderDocument(
        saved,
        VendorRef(id=29, code="FL", name="Flores", accounting_name="Flores LLC"),
        LocationRef(id=3, code="02", name="Chicago"),
        AccountingSettings(company_currency="CAD"),
        "CAD",
    )
    assert bills.kind is DocumentKind.PURCHASE_ORDER_BILLS


def test_a_po_that_is_gone_loads_as_none() -> None:
    bills, _ = mapper()
    assert bills.load(COMPANY, DocumentRef.purchase_order(8)) is None


def test_each_vendor_invoice_maps_to_one_draft_adding_up_to_the_po_total() -> None:
    bills, store = mapper()
    store.save(order(), None)
    document = bills.load(COMPANY, DocumentRef.purchase_order(7))
    assert document is not None

    drafts = bills.drafts(document)

    assert [(d.invoice_number, d.total, d.vendor_name) for d in drafts] == [
        ("A", Decimal("60.00"), "Flores LLC"),
        ("B", Decimal("40.00"), "Flores LLC"),
    ]
    assert drafts == build_bills(document.order, document.vendor, document.location, document.mapping, "CAD")  # type: ignore[arg-type]


@pytest.mark.parametrize("accounting_name", [None, ""])
def test_a_vendor_without_an_accounting_name_is_unmappable_saying_what_to_set(accounting_name: str | None) -> None:
    bills, store = mapper(accounting_name)
    store.save(order(), None)
    document = bills.load(COMPANY, DocumentRef.purchase_order(7))
    assert document is not None

    with pytest.raises(Unmappable) as refused:
        bills.drafts(document)

    assert refused.value.message == NO_ACCOUNTING_NAME
    assert isinstance(refused.value, PermanentError)


def test_a_kind_with_no_mapper_is_refused_naming_the_kind() -> None:
    registry = MapperRegistry({})

    with pytest.raises(UnknownKind, match="no mapper is registered for sales_invoice documents"):
        registry.get(DocumentKind.SALES_INVOICE)


def test_bootstrap_registers_the_po_bills_sales_invoice_and_sales_order_mappers_over_their_stores() -> None:
    store = InMemoryPurchaseOrderStore()
    services = bootstrap.build(Settings(), Adapters(purchase_order_store=store))  # type: ignore[arg-type]

    registered = services.mappers.get(DocumentKind.PURCHASE_ORDER_BILLS)

    assert isinstance(registered, PurchaseOrderBills)
    assert registered.store is store
    assert services.mappers.kinds() == {
        DocumentKind.PURCHASE_ORDER_BILLS,
        DocumentKind.SALES_INVOICE,
        DocumentKind.SALES_ORDER,
    }
    invoices = services.mappers.get(DocumentKind.SALES_INVOICE)
    assert isinstance(invoices, SalesInvoiceMapper)
    assert invoices.invoice_records is services.invoice_store
    orders = services.mappers.get(DocumentKind.SALES_ORDER)
    assert isinstance(orders, SalesOrderMapper)
    assert orders.invoice_mapper.invoice_records is services.invoice_store
    assert orders.invoice_mapper.sales_orders is None  # a sales order links to nothing
    assert services.accounting_sync.mappers is services.mappers
