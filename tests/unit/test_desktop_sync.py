"""The Web Connector session use case, driven call by call against the fake company file (no SOAP here)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from devstack.fake_qb_company import FakeCompany, FakeReply
from devstack.qbwc_simulator import InMemoryPurchaseOrders, InMemorySessionStore

from ledgersync.adapters.quickbooks_desktop import QbxmlCodec
from ledgersync.domain.desktop_sync import WebConnectorService, choose_qbxml_version
from ledgersync.domain.process_log import LogLevel, ProcessLog, RunStatus
from ledgersync.domain.purchase_order_bills import (
    document_reference,
)
from ledgersync.domain.purchase_orders import (
    VendorInvoiceStatus,
)
from tests.fakes import FakeClock, InMemoryProcessLogStore
from tests.support.desktop import COMPANY, TOKEN, USER, VENDOR, XSD_DIR, purchase_order, web_connector_session


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger() -> InMemoryPurchaseOrders:
    books = InMemoryPurchaseOrders()
    books.tokens[(USER, TOKEN)] = COMPANY
    return books


@pytest.fixture
def sessions(clock: FakeClock) -> InMemorySessionStore:
    return InMemorySessionStore(clock)


@pytest.fixture
def service(ledger: InMemoryPurchaseOrders, sessions: InMemorySessionStore, clock: FakeClock) -> WebConnectorService:
    return WebConnectorService(ledger, ledger, ledger, sessions, QbxmlCodec(), batch_size=50, clock=clock)


@pytest.fixture
def company() -> FakeCompany:
    """A company file that refuses, as QuickBooks does, any request that breaks qbxmlops120.xsd."""
    return FakeCompany(
        vendors=[VENDOR], items=["Fresh Cut Flowers"], accounts=["Freight"], classes=["Chicago"], xsd_dir=XSD_DIR
    )


def test_authenticate_answers_nvu_when_the_password_is_not_a_token_of_the_company(
    service: WebConnectorService, company: FakeCompany
) -> None:
    run = web_connector_session(service, company, password="wrong")
    assert run.status == "nvu"
    assert run.ticket


def test_authenticate_answers_none_when_no_bill_is_waiting(service: WebConnectorService, company: FakeCompany) -> None:
    run = web_connector_session(service, company)
    assert run.status == "none"
    assert service.close(run.ticket) == "Ledgersync: no bills or invoices are waiting for QuickBooks."


def test_authenticate_answers_busy_when_another_session_of_the_company_is_live(
    service: WebConnectorService, ledger: InMemoryPurchaseOrders
) -> None:
    ledger.add(purchase_order(1))
    first = service.authenticate(USER, TOKEN)
    second = service.authenticate(USER, TOKEN)
    assert (first.status, second.status) == ("", "busy")
    service.close(first.ticket)
    assert service.authenticate(USER, TOKEN).status == ""


def test_bills_are_added_and_pos_synchronized_when_the_session_runs_to_the_end(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    # Given two POs, one of them with two vendor invoices
    ledger.add(purchase_order(1))
    ledger.add(purchase_order(2, invoices=2))
    # When the Web Connector runs
    run = web_connector_session(service, company)
    # Then three bills exist, the POs are "S" with each TxnID recorded, in two messages
    assert run.status == ""
    assert run.progress[-1] == 100
    assert all(0 < p < 100 for p in run.progress[:-1])
    assert len(run.requests) == 2
    assert len(company.bills) == 3
    assert ledger.status == {1: VendorInvoiceStatus.SYNCHRONIZED, 2: VendorInvoiceStatus.SYNCHRONIZED}
    assert {company.bills_with_ref(f"PO2-INV2-{n}")[0].txn_id for n in range(2)} == {
        ledger.txn_ids[(2, "INV2-0")],
        ledger.txn_ids[(2, "INV2-1")],
    }
    assert "3 bill(s) added" in run.close


def test_bill_matches_the_po_when_added(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    ledger.add(purchase_order(1, charge="12.34"))
    web_connector_session(service, company)
    (bill,) = company.bills
    assert bill.ref_number == "PO1-INV1-0"
    assert bill.txn_date == "2024-04-28"
    assert bill.vendor == VENDOR
    assert bill.amount == Decimal("112.34")
    assert "PO1-INV1-0" in (bill.memo or "")
    kinds = {(line["kind"], line["ref"], line["class"]) for line in bill.lines}
    assert kinds == {("ItemLineAdd", "Fresh Cut Flowers", "Chicago"), ("ExpenseLineAdd", "Freight", "Chicago")}


def test_po_goes_to_error_when_the_vendor_is_not_in_quickbooks(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    ledger.add(purchase_order(1, vendor="Flores Del Campo"))
    ledger.add(purchase_order(2))
    run = web_connector_session(service, company)
    assert ledger.status[1] is VendorInvoiceStatus.ERROR
    assert ledger.errors[1].startswith(
        "Vendor 'Flores Del Campo' was not found in QuickBooks; the names must match exactly"
    )
    assert ledger.status[2] is VendorInvoiceStatus.SYNCHRONIZED
    assert [b.ref_number for b in company.bills] == ["PO2-INV2-0"]
    assert run.progress[-1] == 100
    assert "1 purchase order(s) in error" in run.close


def test_a_session_that_did_work_is_one_process_log_entry_naming_each_failure_and_one_without_work_none(
    ledger: InMemoryPurchaseOrders, sessions: InMemorySessionStore, clock: FakeClock, company: FakeCompany
) -> None:
    log = ProcessLog(InMemoryProcessLogStore(), clock.now)
    service = WebConnectorService(ledger, ledger, ledger, sessions, QbxmlCodec(), clock=clock, process_log=log)
    ledger.add(purchase_order(1, vendor="Flores Del Campo"))
    ledger.add(purchase_order(2))

    web_connector_session(service, company)
    web_connector_session(service, company)  # nothing waits now: not logged

    runs, _ = log.store.page(COMPANY, 10, None)
    assert [(r.name, r.status) for r in runs] == [("QuickBooks Web Connector Session", RunStatus.PARTIAL)]
    assert runs[0].counts == {"billsAdded": 1, "failed": 1}
    errors = [(m.document, m.message) for m in runs[0].messages if m.level is LogLevel.ERROR]
    assert len(errors) == 1 and errors[0][0] == "purchase order 1"
    assert errors[0][1].startswith("Vendor 'Flores Del Campo' was not found in QuickBooks")
    assert "1 bill(s) added" in runs[0].messages[0].message


def test_po_goes_to_error_with_quickbooks_words_when_an_item_is_missing(
    service: WebConnectorService, ledger: InMemoryPurchaseOrders
) -> None:
    company = FakeCompany(vendors=[VENDOR], items=["Roses"], accounts=["Freight"], classes=["Chicago"], xsd_dir=XSD_DIR)
    ledger.add(purchase_order(1))
    web_connector_session(service, company)
    assert ledger.status[1] is VendorInvoiceStatus.ERROR
    assert "(3140)" in ledger.errors[1]
    assert 'Item "Fresh Cut Flowers"' in ledger.errors[1]
    assert "exist in QuickBooks with exactly these names" in ledger.errors[1]
    assert company.bills == []


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (
            3180,
            "There was an error when saving a Bill. QuickBooks error message: This transaction is in a closed period",
        ),
        (3100, 'The name "PO1-INV1-0" of the list element is already in use.'),
    ],
)
def test_po_goes_to_error_when_quickbooks_refuses_the_bill(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders, code: int, words: str
) -> None:
    ledger.add(purchase_order(1))
    ledger.add(purchase_order(2))
    company.inject_error("BillAdd", code, words, ref_number="PO1-INV1-0")
    run = web_connector_session(service, company)
    assert ledger.errors[1] == f"QuickBooks refused bill PO1-INV1-0 ({code}): {words}."
    assert ledger.status[2] is VendorInvoiceStatus.SYNCHRONIZED
    assert run.progress[-1] == 100


def test_po_goes_to_error_when_a_bill_query_fails(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    ledger.add(purchase_order(1))
    company.inject_error("BillQuery", 3200, "The provided edit sequence is out-of-date.")
    web_connector_session(service, company)
    assert (
        ledger.errors[1] == "QuickBooks could not look up bill PO1-INV1-0 (3200): The provided edit sequence "
        "is out-of-date."
    )
    assert company.bills == []


def test_bill_is_adopted_not_added_again_when_quickbooks_already_has_it(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    ledger.add(purchase_order(1))
    web_connector_session(service, company)
    txn_id = ledger.txn_ids[(1, "INV1-0")]
    ledger.resend(1)
    run = web_connector_session(service, company)
    assert len(company.bills) == 1
    assert ledger.txn_ids[(1, "INV1-0")] == txn_id
    assert "0 bill(s) added, 1 already in QuickBooks" in run.close
    assert len(run.requests) == 1


def test_no_bill_is_duplicated_when_a_session_is_cut_after_the_adds_and_resumed(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders, clock: FakeClock
) -> None:
    # Given a session cut after QuickBooks added the bills but before their answer arrived
    for po_id in range(1, 6):
        ledger.add(purchase_order(po_id))
    cut = web_connector_session(service, company, cut_after=2)
    assert len(company.bills) == 5
    assert all(s is VendorInvoiceStatus.SENT_TO_EXTERNAL for s in ledger.status.values())
    # When the session expires and the next scheduled update runs
    clock.advance(timedelta(hours=1))
    run = web_connector_session(service, company)
    # Then every bill is adopted, none is added twice, and every PO is synchronized with the existing TxnID
    assert cut.ticket != run.ticket
    assert len(company.bills) == 5
    assert all(s is VendorInvoiceStatus.SYNCHRONIZED for s in ledger.status.values())
    assert {ledger.txn_ids[(i, f"INV{i}-0")] for i in range(1, 6)} == {b.txn_id for b in company.bills}


def test_lookups_are_repeated_not_adds_when_the_web_connector_asks_again_without_answering(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    ledger.add(purchase_order(1))
    ticket = service.authenticate(USER, TOKEN).ticket
    first = service.send_request(ticket, major=13)
    service.receive_response(ticket, company.process(first).response, "", "")
    adds = service.send_request(ticket, major=13)
    company.process(adds)  # QuickBooks added the bill, but its answer was lost
    again = service.send_request(ticket, major=13)
    assert "<BillQueryRq" in again and "<BillAddRq" not in again
    assert service.receive_response(ticket, company.process(again).response, "", "") == 100
    assert len(company.bills) == 1
    assert ledger.status[1] is VendorInvoiceStatus.SYNCHRONIZED


def test_shortened_reference_is_refused_when_quickbooks_has_it_for_another_document(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    work = purchase_order(1, po_number="PO-2024-000000001", invoice_number="GROWER-INVOICE-")
    ledger.add(work)
    reference = "PO-2024-000000001-GROWER-INVOICE-1-0"
    short = document_reference("PO-2024-000000001", "GROWER-INVOICE-1-0", 20)
    company.process(f"""<?xml version="1.0"?><?qbxml version="12.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">
        <BillAddRq><BillAdd><VendorRef><FullName>{VENDOR}</FullName></VendorRef><RefNumber>{short}</RefNumber>
        <Memo>typed by hand</Memo><ExpenseLineAdd><AccountRef><FullName>Freight</FullName></AccountRef>
        <Amount>1.00</Amount></ExpenseLineAdd></BillAdd></BillAddRq></QBXMLMsgsRq></QBXML>""")
    web_connector_session(service, company)
    assert len(short) == 20
    assert f"its memo does not mention {reference}" in ledger.errors[1]
    assert len(company.bills) == 1


def test_po_goes_to_error_before_any_request_when_the_vendor_has_no_accounting_name(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    ledger.add(purchase_order(1, vendor=None))
    ledger.add(purchase_order(2, invoice_number=None))
    run = web_connector_session(service, company)
    assert run.status == "none"
    assert "vendor with an Accounting Name" in ledger.errors[1]
    assert "invoice number" in ledger.errors[2]


def test_progress_is_honest_when_the_work_takes_several_batches(
    ledger: InMemoryPurchaseOrders, sessions: InMemorySessionStore, clock: FakeClock, company: FakeCompany
) -> None:
    service = WebConnectorService(ledger, ledger, ledger, sessions, QbxmlCodec(), batch_size=10, clock=clock)
    for po_id in range(1, 26):
        ledger.add(purchase_order(po_id))
    run = web_connector_session(service, company)
    assert run.progress == sorted(run.progress)
    assert run.progress[-1] == 100 and max(run.progress[:-1]) < 100
    assert len(run.requests) == 6
    assert len(company.bills) == 25


def test_sessions_answer_politely_when_the_ticket_is_unknown(service: WebConnectorService) -> None:
    assert service.send_request("no-such-ticket", major=13) == ""
    assert "does not know this Web Connector session" in service.last_error("no-such-ticket")
    assert service.receive_response("no-such-ticket", "<QBXML/>", "", "") == -1
    assert service.close("no-such-ticket") == "Ledgersync: session ended."


def test_sessions_answer_politely_when_the_session_expired(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders, clock: FakeClock
) -> None:
    ledger.add(purchase_order(1))
    ticket = service.authenticate(USER, TOKEN).ticket
    clock.advance(timedelta(minutes=31))
    assert service.send_request(ticket, major=13) == ""
    assert "expired" in service.last_error(ticket)
    assert company.bills == []
    assert ledger.status[1] is VendorInvoiceStatus.SENT_TO_EXTERNAL


def test_progress_is_negative_and_work_kept_when_quickbooks_returns_an_hresult(
    service: WebConnectorService, ledger: InMemoryPurchaseOrders
) -> None:
    ledger.add(purchase_order(1))
    ticket = service.authenticate(USER, TOKEN).ticket
    service.send_request(ticket, major=13)
    progress = service.receive_response(ticket, "", "0x80040408", "Could not start QuickBooks.")
    assert progress < 0
    assert service.last_error(ticket).startswith(
        "QuickBooks could not process the request (0x80040408): Could not start QuickBooks."
    )
    assert ledger.status[1] is VendorInvoiceStatus.SENT_TO_EXTERNAL


def test_progress_is_negative_when_the_answer_is_not_qbxml(
    service: WebConnectorService, ledger: InMemoryPurchaseOrders
) -> None:
    ledger.add(purchase_order(1))
    ticket = service.authenticate(USER, TOKEN).ticket
    service.send_request(ticket, major=13)
    assert service.receive_response(ticket, "<html>proxy error</html>", "", "") == -1
    assert "could not be read" in service.last_error(ticket)


def test_progress_is_negative_and_bills_adopted_later_when_results_cannot_be_recorded(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders, clock: FakeClock
) -> None:
    ledger.add(purchase_order(1))
    ledger.failing_recorder = 1
    run = web_connector_session(service, company)
    assert run.progress[-1] == -1
    assert "could not record the results" in run.errors[0]
    clock.advance(timedelta(hours=1))
    web_connector_session(service, company)
    assert len(company.bills) == 1
    assert ledger.status[1] is VendorInvoiceStatus.SYNCHRONIZED


def test_connection_error_keeps_the_work_and_answers_done_when_quickbooks_cannot_be_opened(
    service: WebConnectorService, ledger: InMemoryPurchaseOrders
) -> None:
    ledger.add(purchase_order(1))
    ticket = service.authenticate(USER, TOKEN).ticket
    assert service.connection_error(ticket, "0x80040408", "Could not start QuickBooks.") == "done"
    assert "Open the company file" in service.last_error(ticket)
    assert ledger.status[1] is VendorInvoiceStatus.SENT_TO_EXTERNAL
    assert service.authenticate(USER, TOKEN).status == ""


def test_requests_use_the_lower_qbxml_version_when_quickbooks_reports_one(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    ledger.add(purchase_order(1))
    run = web_connector_session(service, company, major=8, minor=0)
    assert all('<?qbxml version="8.0"?>' in request for request in run.requests)
    assert run.progress[-1] == 100


def test_session_ends_with_a_reason_when_quickbooks_is_too_old(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    ledger.add(purchase_order(1))
    run = web_connector_session(service, company, major=3, minor=0)
    assert run.requests == []
    assert "needs 6.0 or later" in run.errors[0]


def test_qbxml_version_is_twelve_when_quickbooks_reports_newer_or_nothing() -> None:
    assert choose_qbxml_version(16, 0) == "12.0"
    assert choose_qbxml_version(0, 0) == "12.0"
    assert choose_qbxml_version(12, 0) == "12.0"
    assert choose_qbxml_version(10, 0) == "10.0"
    assert choose_qbxml_version(5, 0) is None


def test_client_version_asks_for_an_update_when_the_web_connector_is_old(service: WebConnectorService) -> None:
    assert service.client_version("2.3.0.215") == ""
    assert service.client_version("2.0.1.7").startswith("W:")


def test_session_takes_at_most_its_bill_limit_when_much_work_waits(
    ledger: InMemoryPurchaseOrders, sessions: InMemorySessionStore, clock: FakeClock, company: FakeCompany
) -> None:
    service = WebConnectorService(ledger, ledger, ledger, sessions, QbxmlCodec(), max_jobs_per_session=4, clock=clock)
    for po_id in range(1, 6):
        ledger.add(purchase_order(po_id, invoices=2))
    first = web_connector_session(service, company)
    assert first.progress[-1] == 100
    assert len(company.bills) == 4
    second = web_connector_session(service, company)
    assert second.progress[-1] == 100
    assert len(company.bills) == 8
    web_connector_session(service, company)
    assert len(company.bills) == 10
    assert set(ledger.status.values()) == {VendorInvoiceStatus.SYNCHRONIZED}


class SilentCompany(FakeCompany):
    """A company file that adds bills but answers each BillAdd "Status OK" with no TxnID (issue 8, item 11)."""

    def __init__(self, blank: bool = False, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.silent = True
        self.blank = blank

    def process(self, request: str) -> FakeReply:
        reply = super().process(request)
        if not self.silent or not reply.response:
            return reply
        from lxml import etree

        root = etree.fromstring(reply.response.encode())
        for txn in root.iterfind(".//BillAddRs/BillRet/TxnID" if self.blank else ".//BillAddRs/BillRet"):
            if self.blank:
                txn.text = " "
            else:
                parent = txn.getparent()
                assert parent is not None
                parent.remove(txn)
        return FakeReply(etree.tostring(root, encoding="unicode"), reply.hresult, reply.message)


@pytest.mark.parametrize("blank", [False, True], ids=["no BillRet", "blank TxnID"])
def test_bill_is_adopted_at_the_next_session_when_quickbooks_adds_it_without_a_txn_id(
    service: WebConnectorService, ledger: InMemoryPurchaseOrders, blank: bool
) -> None:
    # Given a company file that answers a BillAdd with status 0 but no TxnID
    company = SilentCompany(
        blank=blank, vendors=[VENDOR], items=["Fresh Cut Flowers"], accounts=["Freight"], classes=["Chicago"]
    )
    ledger.add(purchase_order(1))
    # When a session adds the bill
    first = web_connector_session(service, company)
    # Then the PO is not failed: it waits, and the Web Connector is told what happened
    assert first.progress[-1] == 100
    assert 1 not in ledger.errors
    assert ledger.status[1] is VendorInvoiceStatus.SENT_TO_EXTERNAL
    assert "refused" not in first.close
    assert "1 bill(s) accepted by QuickBooks without a TxnID (PO1-INV1-0)" in first.close
    assert "RefNumber at the next update" in first.close
    # When the next session runs
    company.silent = False
    second = web_connector_session(service, company)
    # Then the bill QuickBooks has is adopted by its RefNumber, never added twice
    (bill,) = company.bills
    assert ledger.status[1] is VendorInvoiceStatus.SYNCHRONIZED
    assert ledger.txn_ids[(1, "INV1-0")] == bill.txn_id
    assert "0 bill(s) added, 1 already in QuickBooks" in second.close


def test_a_bill_found_with_another_total_is_refused_with_the_fix_not_adopted(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    # Given a bill in the company file that a person changed after it was sent (issue 12: bills sent again)
    ledger.add(purchase_order(1))
    web_connector_session(service, company)
    (bill,) = company.bills
    bill.amount += Decimal("5.00")

    # When it is sent again and the Web Connector runs
    ledger.resend(1)
    web_connector_session(service, company)

    # Then the PO is in Error saying what differs and the fix, and nothing was added
    assert ledger.status[1] is VendorInvoiceStatus.ERROR
    assert "differs from ours" in ledger.errors[1] and "total 115.00 there, 110.00 here" in ledger.errors[1]
    assert "delete it in QuickBooks Desktop, then send again" in ledger.errors[1]
    assert len(company.bills) == 1
