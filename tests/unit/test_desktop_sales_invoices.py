"""Sales invoices through the Web Connector session (issue 10): InvoiceQuery before InvoiceAdd, TxnDel of an
unshipped or replaced invoice, refusals with the fix, mixed with bills. Driven call by call against the fake company
file, which refuses any request that breaks qbxmlops120.xsd (no SOAP here)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from devstack.fake_qb_company import FakeCompany
from devstack.qbwc_simulator import InMemoryPurchaseOrders, InMemorySessionStore

from ledgersync.adapters.quickbooks_desktop import QbxmlCodec
from ledgersync.domain.desktop_sync import (
    InvoiceToAdd,
    WebConnectorService,
    WebConnectorSession,
)
from ledgersync.domain.purchase_orders import VendorInvoiceStatus
from ledgersync.domain.sales_invoices import InvoiceLine, InvoiceLineKind, invoice_memo
from tests.fakes import FakeClock
from tests.support.desktop import (
    COMPANY,
    CUSTOMER,
    TOKEN,
    USER,
    VENDOR,
    XSD_DIR,
    purchase_order,
    to_add,
    to_delete,
    typed_by_hand,
    web_connector_session,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger() -> InMemoryPurchaseOrders:
    books = InMemoryPurchaseOrders()
    books.tokens[(USER, TOKEN)] = COMPANY
    return books


@pytest.fixture
def service(ledger: InMemoryPurchaseOrders, clock: FakeClock) -> WebConnectorService:
    return WebConnectorService(ledger, ledger, ledger, InMemorySessionStore(clock), QbxmlCodec(), clock=clock)


@pytest.fixture
def company() -> FakeCompany:
    return FakeCompany(
        vendors=[VENDOR],
        items=["Fresh Cut Flowers", "Roses", "Freight"],
        accounts=["Freight"],
        classes=["Chicago"],
        customers=[CUSTOMER, "Blumen GmbH"],
        xsd_dir=XSD_DIR,
    )


def test_sales_invoice_is_added_once_with_its_lines_when_the_session_runs(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    # Given a shipped order's invoice queued for QuickBooks Desktop
    ledger.add_sales_invoice(COMPANY, to_add(1))
    # When the Web Connector runs
    run = web_connector_session(service, company)
    # Then an InvoiceQuery, then an InvoiceAdd, and the invoice is in the company file with its TxnID recorded
    assert run.progress[-1] == 100
    assert ["<InvoiceQueryRq" in r for r in run.requests] == [True, False]
    assert "<InvoiceAddRq" in run.requests[1]
    (invoice,) = company.invoices
    assert (invoice.customer, invoice.ref_number, invoice.txn_date) == (CUSTOMER, "W1001", "2026-12-01")
    assert invoice.memo == "Ledgersync invoice 1001 (id 1, version 1)"
    assert invoice.amount == Decimal("30.50")
    assert [(x["item"], x["desc"], x["quantity"], x["rate"], x["amount"]) for x in invoice.lines] == [
        ("Roses", "Rose Freedom 60cm HB", "60", "0.3", "18.00"),
        ("Freight", "Freight", "1", "12.5", "12.50"),
    ]
    assert ledger.sales_status["1"] == "synchronized"
    assert ledger.sales_txn_ids["1"] == invoice.txn_id
    assert run.close == "Ledgersync: 1 invoice(s) added, 0 invoice(s) already in QuickBooks."
    # And the next session finds nothing to do
    assert web_connector_session(service, company).status == "none"
    assert len(company.invoices) == 1


def test_sales_invoice_is_adopted_not_added_when_quickbooks_has_it_for_this_version(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    # Given the invoice of this version already in QuickBooks (a crash after the add, before our write)
    there = typed_by_hand(company, "w1001", invoice_memo(1, 1001, 1) + " - checked by Ana")
    ledger.add_sales_invoice(COMPANY, to_add(1))
    # When the Web Connector runs
    run = web_connector_session(service, company)
    # Then it is adopted by RefNumber and memo: one message, no InvoiceAdd, its TxnID recorded
    assert len(run.requests) == 1 and "<InvoiceAddRq" not in run.requests[0]
    assert company.invoices == [there]
    assert ledger.sales_txn_ids["1"] == there.txn_id
    assert "0 invoice(s) added, 1 invoice(s) already in QuickBooks" in run.close


def test_sales_invoice_goes_to_error_when_its_ref_number_belongs_to_another_document(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    typed_by_hand(company, "W1001", "typed by hand", customer="Blumen GmbH")
    ledger.add_sales_invoice(COMPANY, to_add(1))
    web_connector_session(service, company)
    assert ledger.sales_status["1"] == "error"
    assert "already has an invoice W1001 (customer 'Blumen GmbH')" in ledger.sales_errors["1"]
    assert "renumber or delete that invoice in QuickBooks Desktop" in ledger.sales_errors["1"]
    assert len(company.invoices) == 1


def test_sales_invoice_goes_to_error_when_quickbooks_still_has_an_earlier_version(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    # Given version 1 still in QuickBooks while version 2 is to be sent (never two at once)
    typed_by_hand(company, "W1001", invoice_memo(1, 1001, 1))
    ledger.add_sales_invoice(COMPANY, to_add(1, version=2))
    web_connector_session(service, company)
    assert ledger.sales_status["1"] == "error"
    assert "still has invoice W1001 of another version of invoice 1001" in ledger.sales_errors["1"]
    assert len(company.invoices) == 1


@pytest.mark.parametrize(
    ("customer", "item", "words"),
    [
        ("Nobody Inc", "Roses", 'QuickBooks Customer "Nobody Inc"'),
        (CUSTOMER, "Tulips", 'QuickBooks Item "Tulips"'),
    ],
    ids=["unknown customer", "unknown item"],
)
def test_sales_invoice_goes_to_error_with_the_fix_when_a_name_is_unknown_to_quickbooks(
    service: WebConnectorService,
    company: FakeCompany,
    ledger: InMemoryPurchaseOrders,
    customer: str,
    item: str,
    words: str,
) -> None:
    ledger.add_sales_invoice(COMPANY, to_add(1, customer=customer, item=item))
    ledger.add_sales_invoice(COMPANY, to_add(2))
    run = web_connector_session(service, company)
    error = ledger.sales_errors["1"]
    assert error.startswith("QuickBooks Desktop refused invoice W1001 (3140): ")
    assert words in error
    assert "exist in QuickBooks Desktop with exactly these names" in error and error.endswith("then send again.")
    assert ledger.sales_status == {"1": "error", "2": "synchronized"}
    assert [i.ref_number for i in company.invoices] == ["W1002"]
    assert run.progress[-1] == 100
    assert "1 sales invoice(s) in error (see Ledgersync)" in run.close


@pytest.mark.parametrize(
    "words",
    [
        "There was an error when saving a Invoice. QuickBooks error message: This transaction is in a closed period",
        "There was an error when saving a Invoice. QuickBooks error message: The number W1001 is already in use",
    ],
    ids=["closed period", "duplicate number"],
)
def test_sales_invoice_goes_to_error_when_quickbooks_refuses_to_save_it(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders, words: str
) -> None:
    ledger.add_sales_invoice(COMPANY, to_add(1))
    company.inject_error("InvoiceAdd", 3180, words, ref_number="W1001")
    web_connector_session(service, company)
    error = ledger.sales_errors["1"]
    assert error.startswith(f"QuickBooks Desktop refused invoice W1001 (3180): {words}. ")
    assert "Company > Set Closing Date" in error and "renumber the other invoice" in error
    assert company.invoices == []


def test_sales_invoice_waits_not_fails_when_quickbooks_has_the_record_locked(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    ledger.add_sales_invoice(COMPANY, to_add(1))
    company.inject_error("InvoiceAdd", 3176, "The record is in use by another user.")
    first = web_connector_session(service, company)
    assert first.progress[-1] == 100
    assert ledger.sales_status["1"] == "sending" and "1" not in ledger.sales_errors
    assert "1 invoice(s) wait for the next update" in first.close
    web_connector_session(service, company)
    assert ledger.sales_status["1"] == "synchronized"
    assert len(company.invoices) == 1


def test_sales_invoice_is_not_added_twice_when_the_session_is_cut_after_the_add(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders, clock: FakeClock
) -> None:
    # Given a session cut after QuickBooks added the invoices but before their answer arrived
    for invoice_id in (1, 2, 3):
        ledger.add_sales_invoice(COMPANY, to_add(invoice_id))
    web_connector_session(service, company, cut_after=2)
    assert len(company.invoices) == 3
    assert set(ledger.sales_status.values()) == {"sending"}
    # When the session expires and the next scheduled update runs
    clock.advance(timedelta(hours=1))
    run = web_connector_session(service, company)
    # Then each invoice is adopted by RefNumber and memo, none added twice
    assert len(company.invoices) == 3
    assert set(ledger.sales_status.values()) == {"synchronized"}
    assert set(ledger.sales_txn_ids.values()) == {i.txn_id for i in company.invoices}
    assert "0 invoice(s) added, 3 invoice(s) already in QuickBooks" in run.close


def test_sales_invoice_lookup_is_repeated_not_the_add_when_the_web_connector_asks_again(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    ledger.add_sales_invoice(COMPANY, to_add(1))
    ticket = service.authenticate(USER, TOKEN).ticket
    service.receive_response(ticket, company.process(service.send_request(ticket, major=13)).response, "", "")
    company.process(service.send_request(ticket, major=13))  # QuickBooks added it, but its answer was lost
    again = service.send_request(ticket, major=13)
    assert "<InvoiceQueryRq" in again and "<InvoiceAddRq" not in again
    assert service.receive_response(ticket, company.process(again).response, "", "") == 100
    assert len(company.invoices) == 1
    assert ledger.sales_status["1"] == "synchronized"


def test_sales_invoice_is_left_alone_when_it_changed_in_ledgersync_before_its_add(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    # Given a session that planned version 1 of the invoice
    ledger.add_sales_invoice(COMPANY, to_add(1))
    ticket = service.authenticate(USER, TOKEN).ticket
    lookup = service.send_request(ticket, major=13)
    # When the order is changed (version 2 queued) before the lookup's answer arrives
    ledger.add_sales_invoice(COMPANY, to_add(1, version=2))
    progress = service.receive_response(ticket, company.process(lookup).response, "", "")
    # Then version 1 is not added and the session ends; the next session sends version 2
    assert progress == 100
    assert company.invoices == []
    assert "1 invoice(s) wait for the next update" in service.close(ticket)
    web_connector_session(service, company)
    (invoice,) = company.invoices
    assert invoice.memo == invoice_memo(1, 1001, 2)


def test_sales_invoice_is_deleted_by_its_txn_id_when_it_was_recorded(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    # Given an invoice sent earlier, then its order unshipped (automatic store): deleting, with its TxnID
    ledger.add_sales_invoice(COMPANY, to_add(1))
    web_connector_session(service, company)
    txn_id = ledger.sales_txn_ids["1"]
    ledger.add_sales_invoice(COMPANY, to_delete(1, txn_id=txn_id))
    # When the Web Connector runs
    run = web_connector_session(service, company)
    # Then one TxnDel, straight away, and the invoice is gone
    assert len(run.requests) == 1 and "<TxnDelRq" in run.requests[0] and "<InvoiceQueryRq" not in run.requests[0]
    assert company.invoices == [] and company.deleted_txn_ids == [txn_id]
    assert ledger.sales_status["1"] == "deleted"
    assert "1 invoice(s) deleted" in run.close


def test_sales_invoice_counts_as_deleted_when_a_person_already_deleted_it(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    ledger.add_sales_invoice(COMPANY, to_delete(1, txn_id="GONE-1"))
    run = web_connector_session(service, company)  # TxnDel answers 3120: the object cannot be found
    assert run.progress[-1] == 100
    assert ledger.sales_status["1"] == "deleted"
    assert "1" not in ledger.sales_errors


def test_sales_invoice_is_found_by_ref_number_and_memo_when_it_is_deleted_without_a_txn_id(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    # Given ours (memo of version 1) and another document with the same RefNumber
    ours = typed_by_hand(company, "W1001", invoice_memo(1, 1001, 1))
    other = typed_by_hand(company, "W1001", "typed by hand")
    ledger.add_sales_invoice(COMPANY, to_delete(1))
    # When the Web Connector runs
    run = web_connector_session(service, company)
    # Then the query finds ours, only ours is deleted
    assert ["<InvoiceQueryRq" in run.requests[0], "<TxnDelRq" in run.requests[1]] == [True, True]
    assert company.invoices == [other] and company.deleted_txn_ids == [ours.txn_id]
    assert ledger.sales_status["1"] == "deleted"


def test_sales_invoice_counts_as_deleted_without_a_txn_del_when_quickbooks_never_had_it(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    ledger.add_sales_invoice(COMPANY, to_delete(1))
    run = web_connector_session(service, company)
    assert len(run.requests) == 1 and "<TxnDelRq" not in run.requests[0]
    assert ledger.sales_status["1"] == "deleted"


def test_sales_invoice_goes_to_error_with_the_fix_when_quickbooks_refuses_the_delete(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    there = typed_by_hand(company, "W1001", invoice_memo(1, 1001, 1))
    ledger.add_sales_invoice(COMPANY, to_delete(1, txn_id=there.txn_id))
    company.inject_error("TxnDel", 3260, "Insufficient permission level to perform this action.")
    web_connector_session(service, company)
    error = ledger.sales_errors["1"]
    assert error.startswith(f"QuickBooks Desktop could not delete invoice W1001 (TxnID {there.txn_id}) (3260): ")
    assert "Delete it in QuickBooks Desktop yourself" in error
    assert company.invoices == [there]


def test_sales_invoice_goes_to_error_when_it_cannot_be_mapped(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    fix = "additional charge 'BT' has no accounting item to go on; map it with PUT /v1/accounting/settings"
    ledger.add_sales_invoice(COMPANY, InvoiceToAdd("1", None, fix))
    run = web_connector_session(service, company)
    assert run.status == "none"
    assert ledger.sales_errors["1"] == fix


@pytest.mark.parametrize(("major", "minor", "sent"), [(13, 0, True), (7, 0, False)])
def test_exchange_rate_goes_with_a_foreign_invoice_when_the_qbxml_version_has_it(
    service: WebConnectorService,
    company: FakeCompany,
    ledger: InMemoryPurchaseOrders,
    major: int,
    minor: int,
    sent: bool,
) -> None:
    ledger.add_sales_invoice(COMPANY, to_add(1, customer="Blumen GmbH", exchange_rate=Decimal("1.08372913")))
    run = web_connector_session(service, company, major=major, minor=minor)
    (invoice,) = company.invoices
    assert invoice.exchange_rate == ("1.08372913" if sent else None)
    assert ("<ExchangeRate>" in run.requests[1]) is sent


def test_a_discount_goes_on_its_discount_item_as_a_negative_amount_and_the_total_is_ours(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    order = to_add(1)
    discount = InvoiceLine(
        kind=InvoiceLineKind.DISCOUNT,
        item_name="Order Discount",
        quantity=Decimal(1),
        rate=Decimal("-2.25"),
        amount=Decimal("-2.25"),
        description="Order Discount",
    )
    assert order.draft is not None
    lines = [*order.draft.lines, discount]
    order = InvoiceToAdd("1", order.draft.model_copy(update={"lines": lines, "total": Decimal("28.25")}))
    company.items["order discount"] = "Order Discount"
    ledger.add_sales_invoice(COMPANY, order)

    run = web_connector_session(service, company)

    (invoice,) = company.invoices
    assert invoice.amount == Decimal("28.25")
    assert invoice.lines[-1] == {
        "item": "Order Discount",
        "desc": "Order Discount",
        "quantity": "",
        "rate": "",
        "amount": "-2.25",
    }
    add = run.requests[1]
    discount_line = add[add.rindex("<InvoiceLineAdd>") :]
    assert "<Amount>-2.25</Amount>" in discount_line and "<Quantity>" not in discount_line


def test_a_foreign_invoice_names_the_ar_account_of_its_currency_after_the_customer(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    order = to_add(1, customer="Blumen GmbH", exchange_rate=Decimal("1.08372913"))
    assert order.draft is not None
    order = InvoiceToAdd("1", order.draft.model_copy(update={"ar_account": "Accounts Receivable - EUR"}))
    ledger.add_sales_invoice(COMPANY, order)
    company.accounts["accounts receivable - eur"] = "Accounts Receivable - EUR"  # QuickBooks checks it exists

    run = web_connector_session(service, company)

    (invoice,) = company.invoices  # the fake company file took it: the request is valid qbXML 12
    add = run.requests[1]
    assert "<ARAccountRef><FullName>Accounts Receivable - EUR</FullName></ARAccountRef>" in add
    assert add.index("</CustomerRef>") < add.index("<ARAccountRef>") < add.index("<TxnDate>")
    assert invoice.exchange_rate == "1.08372913"


def test_bills_and_sales_invoices_share_one_session_when_both_wait(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    # Given a PO with two vendor invoices, an invoice to add and one to delete
    ledger.add(purchase_order(1, invoices=2))
    ledger.add_sales_invoice(COMPANY, to_add(2))
    there = typed_by_hand(company, "W1003", invoice_memo(3, 1003, 1))
    ledger.add_sales_invoice(COMPANY, to_delete(3, txn_id=there.txn_id))
    # When the Web Connector runs
    run = web_connector_session(service, company)
    # Then one lookup message and one write message carry all of it, and the progress is honest
    assert len(run.requests) == 2
    assert run.progress == sorted(run.progress) and run.progress[-1] == 100
    assert "<TxnDelRq" in run.requests[1] and "<BillAddRq" in run.requests[1] and "<InvoiceAddRq" in run.requests[1]
    assert ledger.status[1] is VendorInvoiceStatus.SYNCHRONIZED and len(company.bills) == 2
    assert ledger.sales_status == {"2": "synchronized", "3": "deleted"}
    assert [i.ref_number for i in company.invoices] == ["W1002"]
    assert run.close == (
        "Ledgersync: 2 bill(s) added, 0 already in QuickBooks, "
        "1 invoice(s) added, 0 invoice(s) already in QuickBooks, 1 invoice(s) deleted."
    )


def test_session_takes_at_most_its_job_limit_when_bills_and_invoices_wait(
    ledger: InMemoryPurchaseOrders, clock: FakeClock, company: FakeCompany
) -> None:
    service = WebConnectorService(
        ledger, ledger, ledger, InMemorySessionStore(clock), QbxmlCodec(), max_jobs_per_session=3, clock=clock
    )
    ledger.add(purchase_order(1, invoices=2))
    for invoice_id in range(1, 5):
        ledger.add_sales_invoice(COMPANY, to_add(invoice_id))
    counts = []
    for _ in range(3):
        web_connector_session(service, company)
        counts.append(len(company.bills) + len(company.invoices))
    assert counts == [3, 6, 6]
    assert set(ledger.sales_status.values()) == {"synchronized"}


def test_session_stored_before_invoices_is_still_read_when_its_jobs_have_no_kind(clock: FakeClock) -> None:
    (bill,) = purchase_order(1).drafts
    stored = WebConnectorSession(
        ticket="t-1", company_id=COMPANY, user_name=USER, created_at=clock.now(), expires_at=clock.now()
    ).model_dump(mode="json")
    stored["jobs"] = [{"draft": bill.model_dump(mode="json"), "reference": "PO1-INV1-0", "state": "to_add"}]
    stored["pending"] = {"phase": "BillAdd", "batch": 0, "request_ids": ["A0"]}
    session = WebConnectorSession.model_validate(stored)
    assert type(session.jobs[0]).__name__ == "BillJob"
    assert session.pending is not None and session.pending.phase == "write"
