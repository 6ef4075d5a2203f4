"""Bills sent again on QuickBooks Desktop (issue 12), driven call by call against the fake company file: the Web
Connector's BillQuery brings the lines, a bill found the same is adopted, a changed one is refused with what differs,
and with replace the changed one is deleted (TxnDel Bill) and ours added, in that order, exactly once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from devstack.fake_qb_company import FakeBill, FakeCompany
from devstack.qbwc_simulator import InMemoryPurchaseOrders, InMemorySessionStore
from lxml import etree

from ledgersync.adapters.quickbooks_desktop import QbxmlCodec
from ledgersync.domain.desktop_sync import OnError, Operation, OperationKind, WebConnectorService
from ledgersync.domain.purchase_order_bills import BillLineKind
from ledgersync.domain.purchase_orders import VendorInvoiceStatus
from tests.fakes import FakeClock
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
def service(ledger: InMemoryPurchaseOrders, clock: FakeClock) -> WebConnectorService:
    return WebConnectorService(ledger, ledger, ledger, InMemorySessionStore(clock), QbxmlCodec(), clock=clock)


@pytest.fixture
def company() -> FakeCompany:
    """A company file that refuses, as QuickBooks does, any request that breaks qbxmlops120.xsd."""
    return FakeCompany(
        vendors=[VENDOR], items=["Fresh Cut Flowers"], accounts=["Freight"], classes=["Chicago"], xsd_dir=XSD_DIR
    )


def synchronized(service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders) -> FakeBill:
    """PO 1 (100.00 of flowers and 10.00 of freight) sent, its one bill added and recorded."""
    ledger.add(purchase_order(1))
    web_connector_session(service, company)
    assert ledger.status[1] is VendorInvoiceStatus.SYNCHRONIZED
    (bill,) = company.bills
    return bill


def move_five_from_freight_to_flowers(bill: FakeBill) -> None:
    """A person changed the bill's lines in QuickBooks Desktop, keeping its total."""
    for line in bill.lines:
        delta = Decimal(5) if line["kind"] == "ItemLineAdd" else Decimal(-5)
        line["amount"] = str(Decimal(line["amount"]) + delta)


def kinds(run_requests: list[str]) -> list[list[str]]:
    """Each message's request elements, in order (BillQueryRq, TxnDelRq, BillAddRq, ...)."""
    return [[str(rq.tag) for rq in _messages(r)] for r in run_requests]


def _messages(request: str) -> list[etree._Element]:
    msgs = etree.fromstring(request.encode()).find("QBXMLMsgsRq")
    assert msgs is not None
    return list(msgs)


def test_the_bill_query_asks_for_the_lines_and_the_codec_reads_them(company: FakeCompany) -> None:
    # Given a bill in the company file
    codec = QbxmlCodec()
    draft = purchase_order(1).drafts[0]
    add = codec.request(
        [Operation("A0", OperationKind.BILL_ADD, VENDOR, "PO1-INV1-0", draft)], "13.0", OnError.CONTINUE
    )
    company.process(add)
    # When it is queried as the session queries it
    query = codec.request([Operation("Q0", OperationKind.BILL_QUERY, VENDOR, "PO1-INV1-0")], "13.0", OnError.CONTINUE)
    reply = company.process(query)
    # Then the request is valid qbXML asking for the lines, and its answer reads back as the draft's lines
    assert reply.hresult == "" and "<IncludeLineItems>true</IncludeLineItems>" in query
    (result,) = codec.results(reply.response)
    (record,) = result.records
    assert sorted((line.kind, line.ref_name, line.amount, line.class_name) for line in record.bill_lines) == sorted(
        (line.kind, line.ref_name, line.amount, line.class_name) for line in draft.lines
    )
    assert {line.kind for line in record.bill_lines} == {BillLineKind.ITEM, BillLineKind.ACCOUNT}


def test_a_bill_changed_line_by_line_is_refused_with_what_differs_and_the_fix(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    # Given a bill whose lines a person changed in QuickBooks Desktop (same total)
    bill = synchronized(service, company, ledger)
    move_five_from_freight_to_flowers(bill)
    # When it is sent again (no replace) and the Web Connector runs
    ledger.resend(1)
    web_connector_session(service, company)
    # Then the PO is in Error naming the lines and both ways out, and nothing was added or deleted
    assert ledger.status[1] is VendorInvoiceStatus.ERROR
    error = ledger.errors[1]
    assert "the bill in QuickBooks Desktop differs from ours (bill PO1-INV1-0: lines" in error
    assert "total" not in error.partition("lines")[0]
    assert "delete it in QuickBooks Desktop, then send again" in error and '{"replace": true}' in error
    assert company.bills == [bill] and company.deleted_txn_ids == []


def test_an_unchanged_bill_is_adopted_even_when_replace_is_asked(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    bill = synchronized(service, company, ledger)
    ledger.resend(1, replace=True)
    run = web_connector_session(service, company)
    assert company.bills == [bill] and company.deleted_txn_ids == []
    assert ledger.status[1] is VendorInvoiceStatus.SYNCHRONIZED and ledger.txn_ids[(1, "INV1-0")] == bill.txn_id
    assert ledger.deleted_for_replace == [1]
    assert "0 bill(s) added, 1 already in QuickBooks" in run.close


def test_replace_deletes_the_changed_bill_then_adds_ours_in_one_session(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    # Given a bill a person changed in QuickBooks Desktop
    theirs = synchronized(service, company, ledger)
    move_five_from_freight_to_flowers(theirs)
    # When it is sent again with replace and the Web Connector runs
    ledger.resend(1, replace=True)
    run = web_connector_session(service, company)
    # Then one session looked it up, deleted it, and then added ours: one bill, ours, recorded
    assert kinds(run.requests) == [["VendorQueryRq", "BillQueryRq"], ["TxnDelRq"], ["BillAddRq"]]
    assert "<TxnDelType>Bill</TxnDelType>" in run.requests[1] and theirs.txn_id in run.requests[1]
    (ours,) = company.bills
    assert ours.txn_id != theirs.txn_id and company.deleted_txn_ids == [theirs.txn_id]
    assert ours.amount == Decimal("110.00") and sorted(line["amount"] for line in ours.lines) == ["10.00", "100.00"]
    assert ledger.status[1] is VendorInvoiceStatus.SYNCHRONIZED and ledger.txn_ids[(1, "INV1-0")] == ours.txn_id
    assert ledger.deleted_for_replace == [1] and 1 not in ledger.errors
    assert run.progress[-1] == 100 and "1 bill(s) added" in run.close and "1 changed bill(s) deleted" in run.close


def test_a_lost_delete_answer_is_sent_again_and_3120_counts_as_deleted(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    # Given a replace whose TxnDel QuickBooks did, but whose answer was lost
    theirs = synchronized(service, company, ledger)
    theirs.amount += 5
    ledger.resend(1, replace=True)
    ticket = service.authenticate(USER, TOKEN).ticket
    lookup = service.send_request(ticket, major=13)
    assert service.receive_response(ticket, company.process(lookup).response, "", "") < 100
    delete = service.send_request(ticket, major=13)
    company.process(delete)  # deleted, answer lost
    # When the Web Connector asks again
    again = service.send_request(ticket, major=13)
    # Then the TxnDel goes again (3120: gone, as wanted), then ours is added, once
    assert kinds([again]) == [["TxnDelRq"]]
    service.receive_response(ticket, company.process(again).response, "", "")
    add = service.send_request(ticket, major=13)
    assert kinds([add]) == [["BillAddRq"]]
    assert service.receive_response(ticket, company.process(add).response, "", "") == 100
    (ours,) = company.bills
    assert ours.txn_id != theirs.txn_id and ledger.txn_ids[(1, "INV1-0")] == ours.txn_id
    assert ledger.status[1] is VendorInvoiceStatus.SYNCHRONIZED


@pytest.mark.parametrize("cut_after", [2, 3], ids=["after the delete", "after the add"])
def test_a_session_cut_during_a_replace_leaves_one_bill_ours_after_the_next(
    service: WebConnectorService,
    company: FakeCompany,
    ledger: InMemoryPurchaseOrders,
    clock: FakeClock,
    cut_after: int,
) -> None:
    # Given a replace whose session is cut (its answer lost) after the TxnDel, or after the BillAdd
    theirs = synchronized(service, company, ledger)
    theirs.amount += 5
    ledger.resend(1, replace=True)
    web_connector_session(service, company, cut_after=cut_after)
    # (cut after the delete: still deleting; after the add: the delete was recorded, ours is queued)
    assert ledger.status[1] is VendorInvoiceStatus.SENT_TO_EXTERNAL
    assert ledger.deleted_for_replace == ([] if cut_after == 2 else [1])
    # When the session expires and the next scheduled update runs
    clock.advance(timedelta(hours=1))
    run = web_connector_session(service, company)
    # Then QuickBooks holds exactly one bill, ours, recorded; theirs was deleted once
    (ours,) = company.bills
    assert ours.txn_id != theirs.txn_id and company.deleted_txn_ids == [theirs.txn_id]
    assert ours.amount == Decimal("110.00")
    assert ledger.status[1] is VendorInvoiceStatus.SYNCHRONIZED and ledger.txn_ids[(1, "INV1-0")] == ours.txn_id
    assert "TxnDelRq" not in "".join(run.requests)


def test_a_refused_delete_puts_the_po_in_error_with_the_fix_and_adds_nothing(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    theirs = synchronized(service, company, ledger)
    theirs.amount += 5
    company.inject_error("TxnDel", 3190, "Cannot delete a transaction with payments applied.")
    ledger.resend(1, replace=True)
    run = web_connector_session(service, company)
    assert company.bills == [theirs]
    assert ledger.status[1] is VendorInvoiceStatus.ERROR and ledger.deleted_for_replace == []
    error = ledger.errors[1]
    assert f"could not delete bill PO1-INV1-0 (TxnID {theirs.txn_id}) to replace it (3190)" in error
    assert "Delete it in QuickBooks Desktop yourself" in error
    assert "BillAddRq" not in "".join(run.requests)


def test_replace_of_a_po_with_two_bills_deletes_only_the_changed_one(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    # Given a PO of two vendor invoices synchronized as two bills, one of them changed by a person
    ledger.add(purchase_order(2, invoices=2))
    web_connector_session(service, company)
    kept, changed = company.bills_with_ref("PO2-INV2-0")[0], company.bills_with_ref("PO2-INV2-1")[0]
    move_five_from_freight_to_flowers(changed)
    # When it is sent again with replace
    ledger.resend(2, replace=True)
    web_connector_session(service, company)
    # Then the unchanged one is kept and adopted, the changed one replaced by ours
    (new,) = company.bills_with_ref("PO2-INV2-1")
    assert company.bills_with_ref("PO2-INV2-0") == [kept] and company.deleted_txn_ids == [changed.txn_id]
    assert ledger.txn_ids[(2, "INV2-0")] == kept.txn_id and ledger.txn_ids[(2, "INV2-1")] == new.txn_id
    assert ledger.status[2] is VendorInvoiceStatus.SYNCHRONIZED


def test_replace_of_a_bill_no_longer_in_quickbooks_simply_adds_it(
    service: WebConnectorService, company: FakeCompany, ledger: InMemoryPurchaseOrders
) -> None:
    theirs = synchronized(service, company, ledger)
    company.bills.remove(theirs)
    ledger.resend(1, replace=True)
    run = web_connector_session(service, company)
    (ours,) = company.bills
    assert kinds(run.requests) == [["VendorQueryRq", "BillQueryRq"], ["BillAddRq"]]
    assert ledger.txn_ids[(1, "INV1-0")] == ours.txn_id and ledger.status[1] is VendorInvoiceStatus.SYNCHRONIZED
