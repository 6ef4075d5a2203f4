"""Goflow's Send Again for bills (issue 12): ``POST /v1/purchase-orders/{id}/send-again`` adopts a bill already in
QuickBooks Online unchanged, refuses a changed one with the fix unless ``replace`` (delete, then create, exactly once),
and sends one that is not there. QuickBooks Online is faked at its gateway; everything else is the real wiring."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from ledgersync import bootstrap
from ledgersync.bootstrap import Adapters
from ledgersync.domain.purchase_order_bills import AccountingBill, BillDraft, BillLine, document_reference
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.quickbooks_online import BillRecord, DuplicateDocumentNumber, QuickBooksAccess
from ledgersync.domain.settings import Connection, ConnectionStatus
from ledgersync.domain.sync.documents import DocumentRef
from ledgersync.domain.sync.outcomes import Outcome
from ledgersync.domain.sync.state import SyncState, SyncStatus
from ledgersync.errors import RetryableError
from tests.support.events import Api
from tests.support.services import InstallServices
from tests.unit.test_purchase_orders import INVOICE, PO, approved, send, user

NUMBER = "P002271-01-P002271"  # the PO number and the vendor invoice number: the bill number in QuickBooks


@dataclass
class Bill:
    doc_number: str
    vendor: str
    lines: list[BillLine]
    memo: str = ""
    sync_token: str = "0"


@dataclass
class QuickBooksBills:
    """The bill side of a QuickBooks Online company: numbers unique per vendor (6140), every call recorded."""

    bills: dict[str, Bill] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    lose_delete_reply: bool = False  # the delete is done but its answer is lost (a crash between delete and create)
    next_id: int = 500

    def put(self, bill: Bill) -> str:
        self.next_id += 1
        self.bills[str(self.next_id)] = bill
        return str(self.next_id)

    def create_bill(self, access: QuickBooksAccess, draft: BillDraft, request_id: str) -> BillRecord:
        number = draft.reference(21)
        if any(b.doc_number == number and b.vendor == draft.vendor_name for b in self.bills.values()):
            raise DuplicateDocumentNumber(f"QuickBooks already has a bill numbered {number} (6140).", number)
        bill_id = self.put(Bill(number, draft.vendor_name, list(draft.lines), draft.memo))
        self.calls.append(f"create {bill_id}")
        return BillRecord(id=bill_id, doc_number=number, private_note=draft.memo, sync_token="0")

    def find_bills(self, access: QuickBooksAccess, draft: BillDraft) -> list[BillRecord]:
        return [
            BillRecord(id=i, doc_number=b.doc_number, private_note=b.memo, vendor_id=b.vendor, sync_token=b.sync_token)
            for i, b in self.bills.items()
            if b.doc_number == draft.reference(21) and b.vendor == draft.vendor_name
        ]

    def numbered_bills(self, access: QuickBooksAccess, draft: BillDraft) -> list[AccountingBill]:
        self.calls.append(f"query {draft.reference(21)}")
        return [
            AccountingBill(
                external_id=i,
                sync_token=b.sync_token,
                doc_number=b.doc_number,
                vendor_name=b.vendor,
                lines=b.lines,
                total=sum((line.amount for line in b.lines), Decimal(0)),
            )
            for i, b in self.bills.items()
            if b.doc_number == draft.reference(21)
        ]

    def read_bill(self, access: QuickBooksAccess, bill_id: str) -> BillRecord | None:
        bill = self.bills.get(bill_id)
        return BillRecord(id=bill_id, sync_token=bill.sync_token) if bill else None

    def delete_bill(self, access: QuickBooksAccess, bill_id: str, sync_token: str) -> None:
        self.calls.append(f"delete {bill_id}")
        self.bills.pop(bill_id, None)
        if self.lose_delete_reply:
            self.lose_delete_reply = False
            raise RetryableError("QuickBooks Online did not answer in time")

    def numbered(self, number: str) -> dict[str, Bill]:
        return {i: b for i, b in self.bills.items() if b.doc_number == number}


@dataclass
class Tokens:
    def access_for(self, company_id: str) -> QuickBooksAccess:
        return QuickBooksAccess("9130", f"token of {company_id}")


@dataclass
class Books:
    api: Api
    company_id: str
    qbo: QuickBooksBills

    @property
    def services(self) -> bootstrap.Services:
        return bootstrap.services()

    def sync(self) -> Outcome:
        return self.services.accounting_sync.sync(self.company_id, 1)

    def state(self) -> SyncState:
        found = self.services.sync_states.get(
            self.company_id, DocumentRef.purchase_order(1), ExternalSystem.QUICKBOOKS_ONLINE
        )
        assert found is not None
        return found

    def draft(self) -> BillDraft:
        mapper = self.services.purchase_order_send_again.mapper
        document = mapper.load(self.company_id, DocumentRef.purchase_order(1))
        assert document is not None
        (draft,) = mapper.drafts(document)
        return draft

    def send_again(self, body: Any = None, token: str | None = None) -> Any:
        return self.api.post("/v1/purchase-orders/1/send-again", body, token=token)


@pytest.fixture
def books(api: Api, company: dict[str, Any], install_services: InstallServices) -> Books:
    """A PO with one vendor invoice, approved and sent to QuickBooks Online (not yet synchronized)."""
    qbo = QuickBooksBills()
    install_services(Adapters(quickbooks_gateway=qbo), use_cases={"quickbooks_tokens": Tokens()})  # type: ignore[arg-type]
    api.put(
        "/v1/directory/vendors",
        {"records": [{"id": 29697, "code": "AV", "name": "Miami L Vendor", "accountingName": "Miami L Vendor LLC"}]},
    )
    api.put("/v1/directory/locations", {"records": [{"id": 3, "code": "02", "name": "Chicago"}]})
    api.put("/v1/accounting/settings", {"externalSystem": "quickbooks_online", "notificationEmails": ["ap@x.com"]})
    bootstrap.services().settings_store.put_connection(
        company["companyId"], Connection(status=ConnectionStatus.CONNECTED, realm_id="9130")
    )
    approved(api, 1, po=PO, invoice=INVOICE)
    (result,) = send(api, 1)
    assert result["accepted"], result
    return Books(api, company["companyId"], qbo)


def _in_error_because_a_person_entered_the_bill(books: Books, lines: list[BillLine] | None = None) -> str:
    """The bill was keyed into QuickBooks by a person (no Ledgersync memo): the send ends in Error (6140)."""
    draft = books.draft()
    bill_id = books.qbo.put(Bill(NUMBER, draft.vendor_name, lines if lines is not None else list(draft.lines)))
    assert books.sync() is Outcome.ERROR
    assert books.state().status is SyncStatus.ERROR
    return bill_id


def test_the_bill_number_in_quickbooks_is_our_bill_number_within_each_targets_limit() -> None:
    assert document_reference("P002271", "01-P002271", 21) == NUMBER  # Online's DocNumber: as it is
    assert document_reference("P002271", "01-P002271", 20) == NUMBER  # Desktop's RefNumber: as it is
    long = document_reference("P0022710000", "INV-2026-000123", 20)
    assert (
        len(long) == 20
        and long.startswith("P0022710000-")
        and long == document_reference("P0022710000", "INV-2026-000123", 20)
    )
    assert len(document_reference("P0022710000", "INV-2026-000123", 21)) == 21


def test_an_unchanged_bill_already_in_quickbooks_is_adopted_and_nothing_is_created(books: Books) -> None:
    # Given a bill a person entered with our number, vendor, lines and total
    bill_id = _in_error_because_a_person_entered_the_bill(books)

    # When the PO is sent again
    answer = books.send_again()

    # Then that bill is adopted: its id recorded, the PO is S, nothing was created
    assert answer.status == 202, answer.text
    body = answer.json()
    assert body["bills"] == [
        {"invoiceNumber": "01-P002271", "billNumber": NUMBER, "action": "adopted", "externalId": bill_id}
    ]
    assert "adopted, nothing created" in body["message"] and body["vendorInvoiceStatus"] == "S"
    po = books.api.get("/v1/purchase-orders/1").json()
    assert po["vendorInvoiceStatus"] == "S" and po["externalIds"] == {"01-P002271": bill_id}
    assert not [call for call in books.qbo.calls if call.startswith("create")]
    assert list(books.qbo.numbered(NUMBER)) == [bill_id]


def test_a_changed_bill_is_refused_with_what_differs_and_the_fix(books: Books) -> None:
    # Given a bill with our number whose amounts differ from ours
    draft = books.draft()
    changed = [line.model_copy(update={"amount": line.amount + 5}) for line in draft.lines[:1]] + draft.lines[1:]
    bill_id = _in_error_because_a_person_entered_the_bill(books, changed)

    # When the PO is sent again without replace
    answer = books.send_again({"replace": False})

    # Then it is refused, saying what differs and the way out, and nothing changed anywhere
    assert answer.status == 409, answer.text
    message = answer.json()["message"]
    assert "the bill in QuickBooks Online differs from ours" in message
    assert "total 65.00 there, 60.00 here" in message and "lines " in message
    assert 'send again with {"replace": true}' in message and "delete it in QuickBooks Online" in message
    assert books.state().status is SyncStatus.ERROR
    assert list(books.qbo.numbered(NUMBER)) == [bill_id]
    assert not [call for call in books.qbo.calls if call.startswith(("create", "delete"))]


def test_replace_deletes_the_changed_bill_then_creates_ours_exactly_once(books: Books) -> None:
    # Given a changed bill in QuickBooks
    draft = books.draft()
    changed = [line.model_copy(update={"amount": line.amount + 5}) for line in draft.lines[:1]] + draft.lines[1:]
    old_id = _in_error_because_a_person_entered_the_bill(books, changed)

    # When the PO is sent again with replace, and the queue delivers the work (twice, as a queue may)
    answer = books.send_again({"replace": True})
    assert answer.status == 202, answer.text
    assert answer.json()["bills"][0]["action"] == "replaced"
    assert books.state().status is SyncStatus.DELETING
    # while it is replaced the PO shows on its way, and Send to External System waits for it
    assert answer.json()["vendorInvoiceStatus"] == "Sent to External System"
    (refused,) = send(books.api, 1)
    assert not refused["accepted"] and "already Sent to External System" in refused["message"]
    assert books.sync() is Outcome.DELETED  # the delete, which queues the create in the same write
    assert books.state().status is SyncStatus.QUEUED
    assert books.sync() is Outcome.SYNCHRONIZED
    assert books.sync() is Outcome.NOTHING_TO_DO

    # Then the old bill was deleted before ours was created, and exactly one bill has the number
    mutations = [call for call in books.qbo.calls if call.startswith(("create", "delete"))]
    (new_id,) = books.qbo.numbered(NUMBER)
    assert mutations == [f"delete {old_id}", f"create {new_id}"]
    assert books.api.get("/v1/purchase-orders/1").json()["externalIds"] == {"01-P002271": new_id}


def test_a_crash_between_the_delete_and_the_create_leaves_one_bill_not_two_or_none(books: Books) -> None:
    # Given a replace whose delete was done in QuickBooks but whose answer was lost
    draft = books.draft()
    changed = [line.model_copy(update={"amount": line.amount + 5}) for line in draft.lines[:1]] + draft.lines[1:]
    _in_error_because_a_person_entered_the_bill(books, changed)
    assert books.send_again({"replace": True}).status == 202
    books.qbo.lose_delete_reply = True
    with pytest.raises(RetryableError):
        books.sync()
    assert books.state().status is SyncStatus.DELETING and not books.qbo.numbered(NUMBER)

    # When the message comes back (the queue's retry) and then the create's
    assert books.sync() is Outcome.DELETED
    assert books.sync() is Outcome.SYNCHRONIZED

    # Then exactly one bill has the number, ours, and the delete was asked once
    (bill,) = books.qbo.numbered(NUMBER).values()
    assert bill.memo == draft.memo
    assert len([call for call in books.qbo.calls if call.startswith("delete")]) == 1


def test_of_two_send_agains_at_once_one_wins_and_the_other_is_told_to_reload(books: Books) -> None:
    # Given two send-agains that both read the PO's state before either wrote
    draft = books.draft()
    changed = [line.model_copy(update={"amount": line.amount + 5}) for line in draft.lines[:1]] + draft.lines[1:]
    _in_error_because_a_person_entered_the_bill(books, changed)
    stale = books.state()

    @dataclass
    class SeenBefore:
        """The state store as the second request saw it: the state before the first request wrote."""

        def get(self, company_id: str, ref: DocumentRef, target: ExternalSystem) -> SyncState | None:
            return stale

    first = books.send_again({"replace": True})
    late = dataclasses.replace(books.services.purchase_order_send_again, states=SeenBefore())  # type: ignore[arg-type]
    principal = books.services.accounts.authenticate(books.api.token or "")
    from ledgersync.domain.purchase_order_send_again import SendAgainRequest
    from ledgersync.errors import Conflict

    # When the second one writes
    with pytest.raises(Conflict, match="changed or sent by someone else at the same moment; reload it"):
        late.send_again(principal, 1, SendAgainRequest(replace=True))

    # Then only the first one's delete and create happen: one bill in the end
    assert first.status == 202
    assert books.send_again({"replace": True}).status == 409  # a third, later: on its way, wait
    while books.sync() is not Outcome.SYNCHRONIZED:
        pass
    assert len(books.qbo.numbered(NUMBER)) == 1
    assert len([call for call in books.qbo.calls if call.startswith("delete")]) == 1


def test_a_bill_not_in_quickbooks_is_simply_sent(books: Books) -> None:
    # Given a PO synchronized once whose bill a person then deleted in QuickBooks
    assert books.sync() is Outcome.SYNCHRONIZED
    (first_id,) = books.qbo.numbered(NUMBER)
    books.qbo.bills.pop(first_id)

    # When it is sent again
    answer = books.send_again()

    # Then it is queued like Send to External System and a new bill is made (not the deleted one's record)
    assert answer.status == 202, answer.text
    assert answer.json()["bills"][0]["action"] == "sent"
    assert answer.json()["vendorInvoiceStatus"] == "Sent to External System"
    assert books.sync() is Outcome.SYNCHRONIZED
    (second_id,) = books.qbo.numbered(NUMBER)
    assert second_id != first_id
    assert books.api.get("/v1/purchase-orders/1").json()["externalIds"] == {"01-P002271": second_id}


def test_a_synchronized_po_whose_bill_is_unchanged_is_answered_adopted_and_sends_nothing(books: Books) -> None:
    assert books.sync() is Outcome.SYNCHRONIZED
    (bill_id,) = books.qbo.numbered(NUMBER)

    answer = books.send_again()

    assert answer.status == 202 and answer.json()["bills"][0] == {
        "invoiceNumber": "01-P002271",
        "billNumber": NUMBER,
        "action": "adopted",
        "externalId": bill_id,
    }
    assert books.sync() is Outcome.NOTHING_TO_DO
    assert list(books.qbo.numbered(NUMBER)) == [bill_id]


@pytest.mark.parametrize("replace", ["yes", 1, "true", None, [True]])
def test_replace_is_a_json_boolean_only(books: Books, replace: Any) -> None:
    answer = books.send_again({"replace": replace})
    assert answer.status == 400, answer.text  # the house's validation status (routes/service.py: never 422)
    assert [error["field"] for error in answer.json()["errors"]] == ["replace"]


def test_while_the_bills_are_on_their_way_send_again_waits(books: Books) -> None:
    answer = books.send_again()
    assert answer.status == 409
    assert "on their way to accounting right now" in answer.json()["message"]


def test_a_po_never_sent_or_not_approved_is_refused_with_the_way_out(books: Books) -> None:
    books.api.put("/v1/purchase-orders/2", {**PO, "poNumber": "P002272"})
    books.api.post("/v1/purchase-orders/2/vendor-invoices", INVOICE)
    answer = books.api.post("/v1/purchase-orders/2/send-again")
    assert answer.status == 409 and "needs the approval of both Procurement and Accounting" in answer.json()["message"]
    books.api.post("/v1/purchase-orders/2/approvals", token=user(books.api, "Procurement"))
    books.api.post("/v1/purchase-orders/2/approvals", token=user(books.api, "Accounts Payable"))
    answer = books.api.post("/v1/purchase-orders/2/send-again")
    assert answer.status == 409 and "was never sent" in answer.json()["message"]
    assert "POST /v1/purchase-orders/send-to-external" in answer.json()["message"]


def test_only_the_senders_roles_send_again(books: Books) -> None:
    assert books.sync() is Outcome.SYNCHRONIZED
    assert books.send_again(token=user(books.api, "Accounting")).status == 403
    assert books.send_again(token=user(books.api, "Procurement Manager")).status == 202


def test_another_companys_po_is_not_found(books: Books) -> None:
    from tests.conftest import ADMIN_KEY

    other = books.api.post("/v1/companies", {"name": "Other", "currency": "USD"}, headers={"X-Admin-Key": ADMIN_KEY})
    answer = books.api.post("/v1/purchase-orders/1/send-again", token=other.json()["adminToken"])
    assert answer.status == 404


def test_for_the_webhook_send_again_is_the_resend(books: Books) -> None:
    assert books.sync() is Outcome.SYNCHRONIZED
    settings = books.services.settings_store.get_settings(books.company_id)
    books.services.settings_store.put_settings(
        books.company_id, settings.model_copy(update={"external_system": ExternalSystem.WEBHOOK})
    )
    answer = books.send_again()
    assert answer.status == 409 and "POST /v1/purchase-orders/{id}/resend" in answer.json()["message"]


def _on_quickbooks_desktop_synchronized(books: Books) -> None:
    """The company moved to QuickBooks Desktop, where the PO's bill is synchronized as TXN-1."""
    assert books.sync() is Outcome.SYNCHRONIZED
    settings = books.services.settings_store.get_settings(books.company_id)
    books.services.settings_store.put_settings(
        books.company_id, settings.model_copy(update={"external_system": ExternalSystem.QUICKBOOKS_DESKTOP})
    )
    books.services.sync_states.put(
        SyncState.new(books.company_id, DocumentRef.purchase_order(1), ExternalSystem.QUICKBOOKS_DESKTOP).moved(
            SyncStatus.SYNCHRONIZED, parts=["01-P002271"], external_ids={"01-P002271": "TXN-1"}
        ),
        None,
    )


def _desktop_state(books: Books) -> SyncState:
    found = books.services.sync_states.get(
        books.company_id, DocumentRef.purchase_order(1), ExternalSystem.QUICKBOOKS_DESKTOP
    )
    assert found is not None
    return found


def test_for_quickbooks_desktop_send_again_queues_for_the_web_connector(books: Books) -> None:
    _on_quickbooks_desktop_synchronized(books)

    answer = books.send_again()

    assert answer.status == 202, answer.text
    assert answer.json()["bills"][0]["action"] == "checked_when_sent"
    assert "one found changed is refused with what differs" in answer.json()["message"]
    desktop = _desktop_state(books)
    assert desktop.status is SyncStatus.QUEUED and desktop.external_ids == {} and desktop.generation == 1


def test_for_quickbooks_desktop_send_again_with_replace_leaves_the_delete_to_the_web_connector(books: Books) -> None:
    _on_quickbooks_desktop_synchronized(books)

    answer = books.send_again({"replace": True})

    # Then the state is deleting, to be followed by the send: the Web Connector deletes what it finds changed first
    assert answer.status == 202, answer.text
    assert answer.json()["bills"][0]["action"] == "checked_when_sent"
    assert "deletes a bill found changed under that RefNumber (TxnDel) and then adds ours" in answer.json()["message"]
    desktop = _desktop_state(books)
    assert desktop.status is SyncStatus.DELETING and desktop.after_delete is SyncStatus.QUEUED
    assert books.api.get("/v1/purchase-orders/1").json()["vendorInvoiceStatus"] == "Sent to External System"
    # and a second send again waits for it
    assert books.send_again({"replace": True}).status == 409
    # and the Web Connector's outbox hands it over as a replace
    (work,) = books.services.web_connector.work.pending_bills(books.company_id, 10)
    assert work.order.id == 1 and work.replace and work.drafts
    # When the Web Connector reports the changed bills gone, the same write queues ours with a new generation
    outcomes = books.services.web_connector.recorder
    outcomes.purchase_order_bills_deleted(books.company_id, 1)
    after = _desktop_state(books)
    assert after.status is SyncStatus.QUEUED and after.external_ids == {} and after.generation == 1
