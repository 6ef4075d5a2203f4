"""The sync consumer: bills per vendor invoice, "S" with ids, "Error" with one e-mail, held work and its release."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from ledgersync import bootstrap
from ledgersync.config import Settings
from ledgersync.domain.accounting_sync import AccountingSync
from ledgersync.domain.purchase_order_bills import BillDraft
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.settings import Connection, ConnectionStatus
from ledgersync.domain.sync.documents import DocumentKind, DocumentRef
from ledgersync.domain.sync.mappers import MapperRegistry
from ledgersync.domain.sync.outcomes import Outcome
from ledgersync.errors import PermanentError, ReauthorizationRequired, RetryableError
from tests.support.events import Api
from tests.support.mail import sent_emails
from tests.unit.test_purchase_orders import INVOICE, PO, approved, send, user


@dataclass
class Receipt:
    bill_id: str

    @property
    def external_id(self) -> str:
        return self.bill_id


@dataclass
class RecordingBills:
    """A fake QuickBooks that records the bills it was given and can be told to refuse."""

    created: list[BillDraft] = field(default_factory=list)
    fail_with: Exception | None = None
    fail_on_call: int | None = None  # refuse only this call (1 = the first), as QuickBooks refusing one bill
    calls: int = 0

    def send(self, draft: BillDraft) -> Receipt:
        self.calls += 1
        if self.fail_with:
            raise self.fail_with
        if self.calls == self.fail_on_call:
            raise PermanentError("QuickBooks refused the bill: the account is inactive (610)")
        self.created.append(draft)
        return Receipt(bill_id=str(100 + len(self.created)))


@pytest.fixture
def sent(api: Api, company: dict[str, Any]) -> tuple[Api, str]:
    api.put(
        "/v1/directory/vendors",
        {"records": [{"id": 29697, "code": "AV", "name": "Miami L Vendor", "accountingName": "Miami L Vendor LLC"}]},
    )
    api.put("/v1/directory/locations", {"records": [{"id": 3, "code": "02", "name": "Chicago"}]})
    api.put(
        "/v1/accounting/settings", {"externalSystem": "quickbooks_online", "notificationEmails": ["ap@example.com"]}
    )
    bootstrap.services().settings_store.put_connection(
        company["companyId"], Connection(status=ConnectionStatus.CONNECTED, realm_id="9130")
    )
    second = {**INVOICE, "invoiceNumber": "01-P002272", "invoiceAmount": "20.00", "totalAdditionalCharges": "0"}
    api.put("/v1/purchase-orders/1", PO)
    api.post("/v1/purchase-orders/1/vendor-invoices", {**INVOICE, "invoiceAmount": "40.00"})
    approved(api, 1, po=PO, invoice=second)
    (result,) = send(api, 1)
    assert result["accepted"], result
    return api, company["companyId"]


def consumer(bills: RecordingBills) -> AccountingSync:
    """The sync use case as the composition root wires it over moto, with QuickBooks' bills faked."""
    return bootstrap.build(Settings.from_environment(), use_cases={"bill_sync": bills}).accounting_sync


def test_each_vendor_invoice_becomes_one_bill_and_the_po_turns_s(sent: tuple[Api, str]) -> None:
    api, company_id = sent
    bills = RecordingBills()
    assert consumer(bills).sync(company_id, 1) is Outcome.SYNCHRONIZED
    po = api.get("/v1/purchase-orders/1").json()
    assert po["vendorInvoiceStatus"] == "S"
    assert po["externalIds"] == {"01-P002271": "101", "01-P002272": "102"}
    assert sum(d.total for d in bills.created) == 60
    assert [d.reference(21) for d in bills.created] == ["P002271-01-P002271", "P002271-01-P002272"]
    assert {d.vendor_name for d in bills.created} == {"Miami L Vendor LLC"}


def test_a_redelivered_message_sends_nothing_more(sent: tuple[Api, str]) -> None:
    _, company_id = sent
    bills = RecordingBills()
    consumer(bills).sync(company_id, 1)
    assert consumer(bills).sync(company_id, 1) is Outcome.NOTHING_TO_DO
    assert len(bills.created) == 2


def test_a_permanent_refusal_ends_in_error_with_one_email(sent: tuple[Api, str]) -> None:
    api, company_id = sent
    bills = RecordingBills(fail_with=PermanentError("QuickBooks refused the bill: the vendor is inactive (610)"))
    assert consumer(bills).sync(company_id, 1) is Outcome.ERROR
    assert consumer(bills).sync(company_id, 1) is Outcome.NOTHING_TO_DO
    po = api.get("/v1/purchase-orders/1").json()
    assert po["vendorInvoiceStatus"] == "Error" and "inactive (610)" in po["error"]
    (mail,) = sent_emails()
    assert mail.destinations["ToAddresses"] == ["ap@example.com"]
    assert "P002271" in mail.subject and "01-P002271" in mail.subject
    assert "Send to External System" in mail.body and "inactive (610)" in mail.body
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in mail.body


def test_a_retryable_fault_propagates_so_the_queue_retries(sent: tuple[Api, str]) -> None:
    api, company_id = sent
    with pytest.raises(RetryableError):
        consumer(RecordingBills(fail_with=RetryableError("QuickBooks is throttling"))).sync(company_id, 1)
    assert api.get("/v1/purchase-orders/1").json()["vendorInvoiceStatus"] == "Sent to External System"


def test_reauthorization_holds_the_work_and_reconnecting_releases_it(sent: tuple[Api, str]) -> None:
    api, company_id = sent
    bills = RecordingBills(fail_with=ReauthorizationRequired("QuickBooks Online must be reconnected"))
    assert consumer(bills).sync(company_id, 1) is Outcome.HELD
    po = api.get("/v1/purchase-orders/1").json()
    assert po["vendorInvoiceStatus"] == "Sent to External System" and po["heldReason"]
    sqs = boto3.client("sqs")
    sqs.purge_queue(QueueUrl=os.environ["SYNC_QUEUE_URL"])
    summary = bootstrap.services().held_work.sweep([company_id])
    assert summary.released == 1
    (message,) = sqs.receive_message(QueueUrl=os.environ["SYNC_QUEUE_URL"])["Messages"]
    assert json.loads(message["Body"])["document"] == {"kind": "purchase_order_bills", "id": "1"}
    assert consumer(RecordingBills()).sync(company_id, 1) is Outcome.SYNCHRONIZED


def test_work_for_a_company_that_must_reconnect_is_held_without_calling_quickbooks(sent: tuple[Api, str]) -> None:
    _, company_id = sent
    bootstrap.services().settings_store.put_connection(
        company_id, Connection(status=ConnectionStatus.REAUTHORIZATION_REQUIRED, realm_id="9130")
    )
    bills = RecordingBills()
    assert consumer(bills).sync(company_id, 1) is Outcome.HELD
    assert bills.created == []
    assert bootstrap.services().held_work.sweep([company_id]).released == 0


def test_stranded_work_is_sent_again_only_once_no_message_for_it_can_be_alive(sent: tuple[Api, str]) -> None:
    # Given a PO sent now: its message may live 10 receives x 720 s in the sync queue
    _, company_id = sent
    now = datetime.now(UTC)
    # When the sweep runs while the message may still be retried, then after every receive of it is spent
    inside = bootstrap.services().held_work.sweep([company_id], now=now + timedelta(minutes=119)).redispatched
    after = bootstrap.services().held_work.sweep([company_id], now=now + timedelta(minutes=136)).redispatched
    # Then it is sent again once, and the re-send starts a new window
    assert (inside, after) == (0, 1)
    assert bootstrap.services().held_work.sweep([company_id], now=now + timedelta(minutes=137)).redispatched == 0


def test_a_change_to_a_po_in_error_supersedes_its_state_and_a_new_send_keeps_the_bills_made(
    sent: tuple[Api, str],
) -> None:
    from ledgersync.domain.sync.documents import DocumentRef
    from ledgersync.domain.sync.state import SyncStatus

    api, company_id = sent
    # Given a PO whose first bill was made before QuickBooks refused the second
    consumer(RecordingBills(fail_on_call=2)).sync(company_id, 1)
    shown = api.get("/v1/purchase-orders/1").json()
    assert shown["vendorInvoiceStatus"] == "Error" and shown["externalIds"] == {"01-P002271": "101"}
    # When the PO is corrected
    changed = api.put("/v1/purchase-orders/1", {**PO, "arrivalDate": "2020-03-28"})
    # Then the change and the superseded state were written together: approvals reset, no error shown
    assert changed.status == 200, changed.text
    assert changed.json()["vendorInvoiceStatus"] == "Pending Approval" and changed.json()["error"] is None
    ref = DocumentRef.purchase_order(1)
    state = bootstrap.services().sync_states.get(company_id, ref, ExternalSystem.QUICKBOOKS_ONLINE)
    assert state is not None and state.status is SyncStatus.SUPERSEDED
    # And once approved and sent again, only the bill still missing is made
    for roles in ("Procurement", "Accounts Payable"):
        assert api.post("/v1/purchase-orders/1/approvals", token=user(api, roles)).status == 200
    (result,) = send(api, 1)
    assert result["accepted"], result
    bills = RecordingBills()
    assert consumer(bills).sync(company_id, 1) is Outcome.SYNCHRONIZED
    assert [d.invoice_number for d in bills.created] == ["01-P002272"]
    shown = api.get("/v1/purchase-orders/1").json()
    assert shown["vendorInvoiceStatus"] == "S" and shown["externalIds"] == {"01-P002271": "101", "01-P002272": "101"}


@dataclass
class RecordingMapper:
    """The PO bills mapper bootstrap registers, recording what the consumer asked it for."""

    inner: Any
    asked: list[str] = field(default_factory=list)

    @property
    def kind(self) -> DocumentKind:
        return DocumentKind.PURCHASE_ORDER_BILLS

    def load(self, company_id: str, ref: DocumentRef, settings: Any = None) -> Any:
        self.asked.append(f"load {ref}")
        return self.inner.load(company_id, ref, settings)

    def drafts(self, document: Any, state: Any = None) -> list[BillDraft]:
        self.asked.append("drafts")
        return [d.model_copy(update={"memo": f"mapped: {d.memo}"}) for d in self.inner.drafts(document, state)]

    def part_of(self, draft: BillDraft) -> str:
        return str(self.inner.part_of(draft))

    def is_current(self, document: Any, state: Any) -> bool:
        return bool(self.inner.is_current(document, state))


def test_the_consumer_sends_the_drafts_of_the_mapper_the_registry_holds(sent: tuple[Api, str]) -> None:
    _, company_id = sent
    bills = RecordingBills()
    recording = RecordingMapper(
        bootstrap.build(Settings.from_environment()).mappers.get(DocumentKind.PURCHASE_ORDER_BILLS)
    )
    registry = MapperRegistry({DocumentKind.PURCHASE_ORDER_BILLS: recording})
    services = bootstrap.build(Settings.from_environment(), use_cases={"bill_sync": bills, "mappers": registry})

    assert services.accounting_sync.sync(company_id, 1) is Outcome.SYNCHRONIZED

    assert recording.asked == ["load purchase_order_bills 1", "drafts"]
    assert [d.memo.startswith("mapped: ") for d in bills.created] == [True, True]
