"""Other currencies through the Web Connector session (issue 12): a foreign vendor's BillAdd carries the A/P account of
its currency and the rate in force on the bill's date; a vendor or customer QuickBooks keeps in another currency ends
the document in Error before any add; the fake company file refuses an A/P account outside the home and the bill's
currency as QuickBooks does (3140). Driven call by call against the fake company file, which refuses any request
that breaks qbxmlops120.xsd."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from devstack.fake_qb_company import FakeCompany
from devstack.qbwc_simulator import InMemoryPurchaseOrders, InMemorySessionStore

from ledgersync.adapters.quickbooks_desktop import QbxmlCodec
from ledgersync.currencies import desktop_currency_code, desktop_currency_name
from ledgersync.domain.desktop_sync import DesktopWork, InvoiceToAdd, WebConnectorService
from ledgersync.domain.purchase_order_bills import build_bills
from ledgersync.domain.purchase_orders import VendorInvoiceStatus, VendorRef
from tests.fakes import FakeClock
from tests.support.desktop import COMPANY, TOKEN, USER, XSD_DIR, purchase_order, to_add, web_connector_session

VENDOR = "Maple Growers Ltd"
AP_CAD = "Accounts Payable - CAD"
RATES = [
    {"currency": "CAD", "effectiveFrom": "2024-01-01", "rate": "0.74"},
    {"currency": "CAD", "effectiveFrom": "2024-04-28", "rate": "0.73125"},  # in force on the ship date
]
SAME_CURRENCY = "The transaction needs to be in the same currency as the A/R and A/P accounts"


@pytest.fixture
def ledger() -> InMemoryPurchaseOrders:
    books = InMemoryPurchaseOrders()
    books.tokens[(USER, TOKEN)] = COMPANY
    return books


@pytest.fixture
def service(ledger: InMemoryPurchaseOrders) -> WebConnectorService:
    clock = FakeClock()
    return WebConnectorService(ledger, ledger, ledger, InMemorySessionStore(clock), QbxmlCodec(), clock=clock)


def company(vendor_currency: str = "CAD", **currencies: str) -> FakeCompany:
    """A USD company file with multicurrency on: the vendor in ``vendor_currency``, A/P accounts in CAD and EUR."""
    return FakeCompany(
        vendors=[VENDOR],
        items=["Fresh Cut Flowers", "Roses", "Freight"],
        accounts=["Freight", "Accounts Payable", AP_CAD, "Accounts Payable - EUR"],
        classes=["Chicago"],
        customers=["Ang Flowers LLC", "Bloom Wholesale Inc"],
        currencies={VENDOR: vendor_currency, AP_CAD: "CAD", "Accounts Payable - EUR": "EUR"} | currencies,
        xsd_dir=XSD_DIR,
    )


def cad_bill(po_id: int = 1, ap_account: str = AP_CAD) -> DesktopWork:
    """The support PO (100.00 + 10.00 freight) of a vendor in CAD, mapped as the mapper maps it."""
    work = purchase_order(po_id, vendor=VENDOR)
    vendor = VendorRef(id=7, code="MPL", name="Maple", accounting_name=VENDOR, currency="CAD")
    document = replace(work.document, vendor=vendor, exchange_rates=tuple(RATES))
    mapping = document.mapping
    drafts = build_bills(document.order, vendor, document.location, mapping, "USD", RATES, {"CAD": ap_account})
    return DesktopWork(document, drafts)


def test_a_foreign_vendors_bill_goes_to_the_ap_account_of_its_currency_at_the_rate_of_its_date(
    service: WebConnectorService, ledger: InMemoryPurchaseOrders
) -> None:
    # Given a CAD vendor's PO waiting for QuickBooks Desktop
    books = company()
    ledger.add(cad_bill())

    # When the Web Connector runs
    run = web_connector_session(service, books)

    # Then QuickBooks has the bill on the A/P account in CAD with the rate, and the PO is synchronized
    (bill,) = books.bills
    assert (bill.ap_account, bill.exchange_rate, bill.amount) == (AP_CAD, "0.73125", Decimal("110.00"))
    assert "<IncludeRetElement>CurrencyRef</IncludeRetElement>" in run.requests[0]
    assert ledger.status[1] is VendorInvoiceStatus.SYNCHRONIZED and 1 not in ledger.errors


def test_a_vendor_quickbooks_keeps_in_another_currency_ends_the_po_in_error_before_any_add(
    service: WebConnectorService, ledger: InMemoryPurchaseOrders
) -> None:
    # Given Ledgersync has the vendor in CAD and QuickBooks keeps it in US dollars
    books = company(vendor_currency="USD")
    ledger.add(cad_bill())

    run = web_connector_session(service, books)

    # Then nothing was added and the PO says why, in QuickBooks' words, with the fix
    assert books.bills == [] and not any("<BillAddRq" in request for request in run.requests)
    assert ledger.status[1] is VendorInvoiceStatus.ERROR
    error = ledger.errors[1]
    assert error.startswith(f'QuickBooks Desktop would refuse bill PO1-INV1-0 ("{SAME_CURRENCY}"): the bill is in CAD')
    assert f"vendor '{VENDOR}' is in USD in QuickBooks; nothing was sent" in error
    assert "set the vendor's currency in Ledgersync to USD (PUT /v1/directory/vendors)" in error


def test_a_home_bill_of_a_vendor_quickbooks_keeps_in_another_currency_ends_in_error_too(
    service: WebConnectorService, ledger: InMemoryPurchaseOrders
) -> None:
    books = company(vendor_currency="CAD")
    work = purchase_order(1, vendor=VENDOR)
    ledger.add(DesktopWork(work.document, [d.model_copy(update={"company_currency": "USD"}) for d in work.drafts]))

    web_connector_session(service, books)

    assert books.bills == []
    assert "the bill is in USD and vendor 'Maple Growers Ltd' is in CAD in QuickBooks" in ledger.errors[1]


def test_a_vendor_without_a_currency_in_quickbooks_is_left_to_quickbooks(
    service: WebConnectorService, ledger: InMemoryPurchaseOrders
) -> None:
    # Given a company file without multicurrency (no currency on any record) that has the A/P account
    books = FakeCompany(
        vendors=[VENDOR], items=["Fresh Cut Flowers", "Roses"], accounts=["Freight", AP_CAD], classes=["Chicago"]
    )
    ledger.add(cad_bill())

    web_connector_session(service, books)

    assert len(books.bills) == 1 and 1 not in ledger.errors


def test_an_ap_account_in_a_third_currency_is_refused_by_quickbooks_in_its_words(
    service: WebConnectorService, ledger: InMemoryPurchaseOrders
) -> None:
    # Given the CAD vendor's currency mapped to the A/P account QuickBooks keeps in EUR
    books = company()
    ledger.add(cad_bill(ap_account="Accounts Payable - EUR"))

    web_connector_session(service, books)

    assert books.bills == []
    error = ledger.errors[1]
    assert "(3140)" in error
    assert 'invalid reference to QuickBooks AP Account "Accounts Payable - EUR" in the Bill' in error
    assert "The currency of the account must be either in home currency or the transaction currency" in error


def test_a_customer_quickbooks_keeps_in_another_currency_ends_the_invoice_in_error_before_any_add(
    service: WebConnectorService, ledger: InMemoryPurchaseOrders
) -> None:
    # Given a home-currency (USD) invoice of a customer QuickBooks keeps in CAD
    books = company(**{"Bloom Wholesale Inc": "CAD"})
    order = to_add(1, customer="Bloom Wholesale Inc")
    assert order.draft is not None
    ledger.add_sales_invoice(COMPANY, InvoiceToAdd("1", order.draft.model_copy(update={"company_currency": "USD"})))

    run = web_connector_session(service, books)

    assert books.invoices == [] and not any("<InvoiceAddRq" in request for request in run.requests)
    assert "<CustomerQueryRq" in run.requests[0]
    error = ledger.sales_errors["1"]
    assert error.startswith(f'QuickBooks Desktop would refuse invoice W1001 ("{SAME_CURRENCY}"): the invoice is in USD')
    assert "customer 'Bloom Wholesale Inc' is in CAD in QuickBooks; nothing was sent" in error
    assert "make a customer in USD in QuickBooks Desktop" in error


def test_a_customer_in_the_invoices_currency_gets_it_and_old_quickbooks_is_not_asked(
    service: WebConnectorService, ledger: InMemoryPurchaseOrders
) -> None:
    # Given a CAD invoice of a CAD customer, on the A/R account in CAD
    books = company(**{"Bloom Wholesale Inc": "CAD", "Accounts Receivable - CAD": "CAD"})
    books.accounts["accounts receivable - cad"] = "Accounts Receivable - CAD"
    order = to_add(1, customer="Bloom Wholesale Inc", exchange_rate=Decimal("0.73"))
    assert order.draft is not None
    update = {"currency": "CAD", "ar_account": "Accounts Receivable - CAD", "company_currency": "USD"}
    ledger.add_sales_invoice(COMPANY, InvoiceToAdd("1", order.draft.model_copy(update=update)))

    run = web_connector_session(service, books)

    (invoice,) = books.invoices
    assert (invoice.ar_account, invoice.exchange_rate) == ("Accounts Receivable - CAD", "0.73")
    assert "<CustomerQueryRq" in run.requests[0] and "1" not in ledger.sales_errors

    # And a QuickBooks that speaks qbXML 7.0 (no multicurrency) is not asked for customers
    later = FakeCompany(customers=["Bloom Wholesale Inc"], items=["Roses", "Freight"], xsd_dir=XSD_DIR)
    ledger.add_sales_invoice(COMPANY, InvoiceToAdd("2", to_add(2, customer="Bloom Wholesale Inc").draft))
    old = web_connector_session(service, later, major=7, minor=0)
    assert old.requests and not any("<CustomerQueryRq" in request for request in old.requests)
    assert len(later.invoices) == 1


def test_desktop_currency_names_map_to_iso_codes_and_an_unknown_name_is_not_told() -> None:
    assert [
        desktop_currency_code(n) for n in ("Canadian Dollar", "US Dollar", "euro", "CAD", "Japanese Yen", None)
    ] == [
        "CAD",
        "USD",
        "EUR",
        "CAD",
        None,
        None,
    ]
    assert desktop_currency_name("GBP") == "British Pound Sterling" and desktop_currency_name("JPY") == "JPY"


def test_a_vendor_in_a_currency_whose_name_cannot_be_told_is_left_to_quickbooks(
    service: WebConnectorService, ledger: InMemoryPurchaseOrders
) -> None:
    # Given the vendor answered in a currency named as no table knows it (renamed in the Currency List), its bill on
    # the home A/P account (which QuickBooks takes for any transaction currency)
    books = company(vendor_currency="Yen of Japan")
    ledger.add(cad_bill(ap_account="Accounts Payable"))

    web_connector_session(service, books)

    # Then Ledgersync does not judge it; the fake company file (like QuickBooks) takes it
    assert len(books.bills) == 1 and 1 not in ledger.errors
