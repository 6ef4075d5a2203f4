"""The QuickBooks Desktop test world, shared by the unit and integration tests of the Web Connector session and
the bench: the company, its Web Connector user and token, a PO's bills, the sales invoices to add or delete, and
the Web Connector's call sequence run straight against the use case."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from devstack.fake_qb_company import FakeCompany, FakeInvoice

from ledgersync.domain.desktop_sync import DesktopWork, InvoiceToAdd, InvoiceToDelete, WebConnectorService
from ledgersync.domain.purchase_order_bills import NO_ACCOUNTING_NAME, PurchaseOrderDocument, build_bills
from ledgersync.domain.purchase_orders import (
    AdditionalCharge,
    BillMapping,
    LocationRef,
    PurchaseOrder,
    PurchaseOrderItem,
    VendorInvoice,
    VendorInvoiceStatus,
    VendorRef,
)
from ledgersync.domain.sales_invoices import InvoiceDraft, InvoiceLine, InvoiceLineKind, invoice_memo

XSD_DIR = Path(os.environ.get("QBXML_XSD_DIR") or Path(__file__).resolve().parents[3] / "shared/schemas/qbxml")
COMPANY = "c-1"
USER = "qbuser"
TOKEN = "token-123"
VENDOR = "Flores del Campo S.A."


def purchase_order(
    po_id: int,
    *,
    vendor: str | None = VENDOR,
    invoices: int = 1,
    charge: str = "10.00",
    po_number: str | None = None,
    invoice_number: str | None = "INV",
) -> DesktopWork:
    """A PO of 100.00 of flowers plus a freight charge, split over ``invoices`` vendor invoices."""
    total = Decimal("100.00") + Decimal(charge)
    vendor_invoices = [
        VendorInvoice(
            invoice_number=f"{invoice_number}{po_id}-{n}" if invoice_number else None,
            invoice_amount=total / invoices,
            total_additional_charges=Decimal(charge) / invoices,
        )
        for n in range(invoices)
    ]
    order = PurchaseOrder(
        company_id=COMPANY,
        id=po_id,
        po_number=po_number or f"PO{po_id}",
        vendor_id=7,
        location_id=3,
        ship_date=date(2024, 4, 28),
        items=[
            PurchaseOrderItem(category_procurement_accounting_code="ROSES", total_cost=Decimal("60.00")),
            PurchaseOrderItem(category_procurement_accounting_code="MIXED", total_cost=Decimal("40.00")),
        ],
        additional_charges=[AdditionalCharge(code="FRT", amount=Decimal(charge), name="Freight")],
        vendor_invoices=vendor_invoices,
        vendor_invoice_status=VendorInvoiceStatus.SENT_TO_EXTERNAL,
    )
    vendor_ref = VendorRef(id=7, code="FDC", name="Flores", accounting_name=vendor) if vendor is not None else None
    mapping = BillMapping(charge_accounts={"FRT": "Freight"}, classes_enabled=True, class_by_location={"02": "Chicago"})
    document = PurchaseOrderDocument(order, vendor_ref, LocationRef(id=3, code="02", name="Chicago"), mapping, "USD")
    if vendor_ref is None or not vendor_ref.accounting_name:  # as the outbox hands it: the mapper's reason, no drafts
        return DesktopWork(document, [], NO_ACCOUNTING_NAME)
    return DesktopWork(document, build_bills(order, vendor_ref, document.location, mapping, "USD"))


@dataclass
class Run:
    """What a Web Connector session saw, call by call."""

    ticket: str
    status: str
    progress: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    close: str = ""


def web_connector_session(
    service: WebConnectorService,
    company: FakeCompany,
    *,
    user: str = USER,
    password: str = TOKEN,
    major: int = 13,
    minor: int = 0,
    cut_after: int | None = None,
) -> Run:
    """The Web Connector's call sequence, straight against the use case."""
    answer = service.authenticate(user, password)
    run = Run(answer.ticket, answer.status)
    if answer.status != "":
        return run
    while len(run.requests) < 100:
        request = service.send_request(run.ticket, major=major, minor=minor)
        if not request:
            run.errors.append(service.last_error(run.ticket))
            break
        run.requests.append(request)
        reply = company.process(request)
        if cut_after is not None and len(run.requests) >= cut_after:
            return run
        progress = service.receive_response(run.ticket, reply.response, reply.hresult, reply.message)
        run.progress.append(progress)
        if progress < 0:
            run.errors.append(service.last_error(run.ticket))
            break
        if progress == 100:
            break
    run.close = service.close(run.ticket)
    return run


CUSTOMER = "Ang Flowers LLC"


def draft(
    invoice_id: int = 1,
    *,
    version: int = 1,
    customer: str = CUSTOMER,
    item: str = "Roses",
    exchange_rate: Decimal | None = None,
) -> InvoiceDraft:
    """Invoice 1000 + id: 60 stems at 0.30 on ``item`` and a freight charge of 12.50 (30.50 in all)."""
    number = 1000 + invoice_id
    lines = [
        InvoiceLine(
            kind=InvoiceLineKind.ITEM,
            item_name=item,
            quantity=Decimal(60),
            rate=Decimal("0.30"),
            amount=Decimal("18.00"),
            description="Rose Freedom 60cm HB",
        ),
        InvoiceLine(
            kind=InvoiceLineKind.CHARGE,
            item_name="Freight",
            quantity=Decimal(1),
            rate=Decimal("12.50"),
            amount=Decimal("12.50"),
            description="Freight",
        ),
    ]
    return InvoiceDraft(
        company_id=COMPANY,
        invoice_id=invoice_id,
        invoice_number=number,
        document_version=version,
        store_code="WEB",
        customer_name=customer,
        txn_date=date(2026, 12, 1),
        doc_number=f"W{number}",
        ref_number=f"W{number}",
        currency="EUR" if exchange_rate is not None else None,
        exchange_rate=exchange_rate,
        lines=lines,
        total=Decimal("30.50"),
        po_number=None,
        memo=invoice_memo(invoice_id, number, version),
    )


def to_add(
    invoice_id: int = 1,
    *,
    version: int = 1,
    customer: str = CUSTOMER,
    item: str = "Roses",
    exchange_rate: Decimal | None = None,
) -> InvoiceToAdd:
    return InvoiceToAdd(
        str(invoice_id), draft(invoice_id, version=version, customer=customer, item=item, exchange_rate=exchange_rate)
    )


def to_delete(invoice_id: int = 1, *, txn_id: str | None = None, version: int = 1) -> InvoiceToDelete:
    number = 1000 + invoice_id
    return InvoiceToDelete(
        str(invoice_id), number, txn_id, ref_number=f"W{number}", memo=invoice_memo(invoice_id, number, version)
    )


def typed_by_hand(company: FakeCompany, ref: str, memo: str, customer: str = CUSTOMER) -> FakeInvoice:
    """An invoice already in the company file (added by a person, or by an earlier session)."""
    invoice = FakeInvoice(
        txn_id=f"T-{len(company.invoices) + 100}", customer=customer, ref_number=ref, amount=Decimal(1)
    )
    invoice.memo = memo
    company.invoices.append(invoice)
    return invoice
