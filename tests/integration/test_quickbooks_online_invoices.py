"""Sales invoices to QuickBooks Online against the emulator over loopback HTTP (its entities checked against Intuit's
schema): the Invoice as sent, one call per invoice once names are known, refusals explained with the fix, exactly
once through lost answers, duplicate numbers and many threads, what an earlier send created, look-up and delete."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from devstack.qbo_emulator import EmulatorState, RunningEmulator, serve

from ledgersync.adapters.quickbooks_online.invoices import QuickBooksOnlineInvoiceGateway
from ledgersync.clock import SystemClock
from ledgersync.domain.quickbooks_online import (
    DedupEntry,
    DedupState,
    InvoiceReceipt,
    InvoiceSync,
    QuickBooksInvoices,
    SendOutcome,
    invoice_dedup_key,
)
from ledgersync.domain.sales_invoices import invoice_memo
from ledgersync.domain.sync.targets import ExternalDocument
from ledgersync.errors import PermanentError, RetryableError
from tests.integration.test_qbo_emulator import xsd_dir
from tests.integration.test_quickbooks_online_gateway import REALM, Stack
from tests.unit.test_qbo_invoices import ReadableFakeDedup, discounted_draft, invoice_draft

pytestmark = pytest.mark.integration


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    """A company file with an income account, a USD and a CAD customer and the two items the drafts use."""
    running = serve(state=EmulatorState(xsd_dir=xsd_dir(), approve_realm=REALM))
    assert running.state.validator is not None
    running.state.validator.schema  # noqa: B018 - Intuit's schema loads now, not within a request's read timeout
    income = running.state.add_record(REALM, "Account", {"Name": "Sales of Product Income", "AccountType": "Income"})
    records: list[tuple[str, dict[str, Any]]] = [
        ("Customer", {"DisplayName": "Ang Flowers LLC"}),
        ("Customer", {"DisplayName": "Bloom Wholesale Inc", "CurrencyRef": {"value": "CAD"}}),
        ("Item", {"Name": "Fresh Cut Flowers", "Type": "Service", "IncomeAccountRef": {"value": income["Id"]}}),
        ("Item", {"Name": "Freight Charge", "Type": "Service", "IncomeAccountRef": {"value": income["Id"]}}),
        ("Account", {"Name": "A/R - CAD", "AccountType": "Accounts Receivable", "CurrencyRef": {"value": "CAD"}}),
        ("Account", {"Name": "A/R - EUR", "AccountType": "Accounts Receivable", "CurrencyRef": {"value": "EUR"}}),
    ]
    for entity, record in records:
        running.state.add_record(REALM, entity, record)
    yield running
    running.shutdown()


class LockedDedup(ReadableFakeDedup):
    """The dedup fake with each operation atomic, as DynamoDB's conditional writes are, for sends on many threads."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def get(self, company_id: str, key: str) -> DedupEntry | None:
        with self.lock:
            return super().get(company_id, key)

    def put_if_absent(self, company_id: str, key: str, entry: DedupEntry) -> DedupEntry | None:
        with self.lock:
            return super().put_if_absent(company_id, key, entry)

    def replace(self, company_id: str, key: str, expected: DedupEntry, new: DedupEntry) -> bool:
        with self.lock:
            return super().replace(company_id, key, expected, new)

    def complete(self, company_id: str, key: str, attempt: int, result_id: str) -> None:
        with self.lock:
            super().complete(company_id, key, attempt, result_id)


class SalesStack(Stack):
    """The bill stack's tokens, client and name cache, with the sales invoice gateway, sync and target over them;
    every HTTP request QuickBooks answers is recorded as "METHOD last-path-part"."""

    def __init__(self, emulator: RunningEmulator, read_timeout: float = 5.0) -> None:
        super().__init__(emulator, read_timeout)
        self.requests: list[str] = []
        self.client.session.hooks["response"].append(self._record)
        self.invoice_dedup = LockedDedup()
        self.invoice_gateway = QuickBooksOnlineInvoiceGateway(self.client, self.ids)
        self.invoice_sync = InvoiceSync(self.invoice_gateway, self.tokens, self.invoice_dedup, SystemClock())
        self.documents = QuickBooksInvoices(self.invoice_gateway, self.tokens)

    def _record(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.requests.append(f"{response.request.method} {urlsplit(response.url).path.rsplit('/', 1)[-1]}")

    def invoices(self) -> list[dict[str, Any]]:
        return self.emulator.state.records(REALM, "Invoice")

    def customer_id(self, name: str) -> str:
        return next(str(c["Id"]) for c in self.emulator.state.records(REALM, "Customer") if c["DisplayName"] == name)

    def preferences(self, **values: bool) -> None:
        answer = requests.put(f"{self.emulator.url}/__emulator/{REALM}/preferences", json=values, timeout=5)
        assert answer.status_code == 200, answer.text

    def delete_as_person(self, entity: str, entity_id: str) -> None:
        answer = requests.delete(f"{self.emulator.url}/__emulator/{REALM}/{entity}/{entity_id}", timeout=5)
        assert answer.status_code == 200, answer.text


@pytest.fixture
def stack(emulator: RunningEmulator) -> SalesStack:
    return SalesStack(emulator)


# ---------------------------------------------------------------------------------------------- the invoice


def test_the_invoice_in_quickbooks_is_the_draft_with_names_resolved_in_one_batch(stack: SalesStack) -> None:
    receipt = stack.invoice_sync.send(invoice_draft())

    assert receipt.outcome is SendOutcome.CREATED
    assert stack.requests == ["POST batch", "POST invoice"]
    created = stack.invoices()[0]
    assert created["Id"] == receipt.external_id
    assert created["CustomerRef"] == {"value": stack.customer_id("Ang Flowers LLC"), "name": "Ang Flowers LLC"}
    assert (created["DocNumber"], created["TxnDate"], created["TotalAmt"]) == ("S-1041", "2026-11-30", 30.5)
    assert created["PrivateNote"] == invoice_memo(41, 1041, 1)
    assert created["CurrencyRef"] == {"value": "USD"}
    first, freight = created["Line"][0], created["Line"][1]
    assert first["DetailType"] == "SalesItemLineDetail" and first["Description"] == "Rose Assorted 60cm HB"
    assert first["SalesItemLineDetail"]["ItemRef"]["name"] == "Fresh Cut Flowers"
    assert (first["SalesItemLineDetail"]["Qty"], first["SalesItemLineDetail"]["UnitPrice"], first["Amount"]) == (
        60,
        0.3,
        18.0,
    )
    assert freight["SalesItemLineDetail"]["ItemRef"]["name"] == "Freight Charge" and freight["Amount"] == 12.5


def test_once_names_are_known_each_invoice_is_one_call_and_no_query(stack: SalesStack) -> None:
    stack.invoice_sync.send(invoice_draft(invoice_id=1, invoice_number=2001))
    stack.requests.clear()

    receipts = [stack.invoice_sync.send(invoice_draft(invoice_id=n, invoice_number=2000 + n)) for n in range(2, 22)]

    assert {r.outcome for r in receipts} == {SendOutcome.CREATED}
    assert stack.requests == ["POST invoice"] * 20
    assert len(stack.invoices()) == 21


def test_a_foreign_customers_invoice_carries_its_currency_and_the_rate_of_creation(stack: SalesStack) -> None:
    stack.invoice_sync.send(invoice_draft(customer="Bloom Wholesale Inc", currency="CAD", exchange_rate=Decimal("0.8")))

    created = stack.invoices()[0]
    assert (created["CurrencyRef"], created["ExchangeRate"], created["HomeTotalAmt"]) == (
        {"value": "CAD"},
        0.8,
        24.4,
    )


def test_a_discounted_invoice_passes_the_schema_and_its_total_in_quickbooks_is_ours(stack: SalesStack) -> None:
    draft = discounted_draft()

    receipt = stack.invoice_sync.send(draft)

    assert receipt.outcome is SendOutcome.CREATED
    created = stack.invoices()[0]
    assert Decimal(str(created["TotalAmt"])) == draft.total == Decimal("28.00")
    assert created["Line"][-1]["DetailType"] == "DiscountLineDetail" and created["Line"][-1]["Amount"] == 2.5


def test_a_foreign_invoice_goes_to_the_ar_account_of_its_currency(stack: SalesStack) -> None:
    draft = invoice_draft(customer="Bloom Wholesale Inc", currency="CAD", exchange_rate=Decimal("0.73"))

    stack.invoice_sync.send(draft.model_copy(update={"ar_account": "A/R - CAD"}))

    created = stack.invoices()[0]
    assert created["ARAccountRef"]["name"] == "A/R - CAD"
    assert (created["CurrencyRef"], created["ExchangeRate"]) == ({"value": "CAD"}, 0.73)


def test_an_ar_account_in_another_currency_is_refused_quoting_quickbooks(stack: SalesStack) -> None:
    draft = invoice_draft(customer="Bloom Wholesale Inc", currency="CAD", exchange_rate=Decimal("0.73"))

    with pytest.raises(PermanentError) as refused:
        stack.invoice_sync.send(draft.model_copy(update={"ar_account": "A/R - EUR"}))

    assert "The transaction needs to be in the same currency as the A/R and A/P accounts" in refused.value.message
    assert stack.invoices() == []
    assert "the account 'A/R - EUR' is in EUR in QuickBooks; nothing was sent" in refused.value.message
    assert "POST invoice" not in stack.requests


def test_a_customer_quickbooks_keeps_in_another_currency_is_refused_before_any_create(stack: SalesStack) -> None:
    # Given Ledgersync has Bloom Wholesale Inc in USD (the home currency), and QuickBooks keeps it in CAD
    draft = invoice_draft(customer="Bloom Wholesale Inc").model_copy(update={"company_currency": "USD"})

    with pytest.raises(PermanentError) as refused:
        stack.invoice_sync.send(draft)

    message = refused.value.message
    assert "The transaction needs to be in the same currency as the A/R and A/P accounts" in message
    assert "the sales invoice is in USD and the customer 'Bloom Wholesale Inc' is in CAD in QuickBooks" in message
    assert "make a customer in USD in QuickBooks and set the customer's accountingName" in message
    assert "POST invoice" not in stack.requests


# ---------------------------------------------------------------------------------------------- refusals


def test_an_unknown_customer_is_refused_naming_the_accounting_name_fix(stack: SalesStack) -> None:
    with pytest.raises(PermanentError) as refused:
        stack.invoice_sync.send(invoice_draft(customer="Ang Flowers"))

    assert refused.value.message.startswith(
        "QuickBooks refused the sales invoice: there is no customer named 'Ang Flowers' in QuickBooks. The "
        "customer's Accounting Name in Ledgersync must be exactly its Display Name in QuickBooks"
    )
    assert stack.invoices() == []


def test_an_inactive_customer_is_refused_with_reactivate_it(stack: SalesStack) -> None:
    stack.delete_as_person("Customer", stack.customer_id("Ang Flowers LLC"))

    with pytest.raises(PermanentError) as refused:
        stack.invoice_sync.send(invoice_draft())

    assert refused.value.message == (
        "QuickBooks refused the sales invoice: the customer 'Ang Flowers LLC' is inactive (610). "
        "Reactivate it in QuickBooks, then send again."
    )


def test_an_unknown_item_is_refused_naming_the_products_accounting_item_and_the_settings(stack: SalesStack) -> None:
    with pytest.raises(PermanentError) as refused:
        stack.invoice_sync.send(invoice_draft(item="Tulips"))

    assert "there is no item named 'Tulips' in QuickBooks. Create the item 'Tulips'" in refused.value.message
    assert "accountingItem" in refused.value.message and "invoiceItemName" in refused.value.message
    assert stack.invoices() == []


def test_an_item_made_inactive_after_it_was_remembered_is_named_and_forgotten(stack: SalesStack) -> None:
    stack.invoice_sync.send(invoice_draft(invoice_id=1, invoice_number=2001))
    stack.delete_as_person("Item", str(stack.ids.get(REALM, "Item", "Freight Charge")))

    with pytest.raises(PermanentError) as refused:
        stack.invoice_sync.send(invoice_draft(invoice_id=2, invoice_number=2002))

    assert "the item 'Freight Charge' is inactive (610). Reactivate it in QuickBooks" in refused.value.message
    assert stack.ids.get(REALM, "Item", "Freight Charge") is None
    assert stack.ids.get(REALM, "Item", "Fresh Cut Flowers") is not None


# ---------------------------------------------------------------------------------------------- exactly once


def test_an_answer_lost_after_quickbooks_kept_the_invoice_ends_in_adoption(stack: SalesStack) -> None:
    stack.invoice_sync.send(invoice_draft(invoice_id=1, invoice_number=2001))  # names known: one create next
    stack.client.timeout = (stack.client.timeout[0], 0.3)  # shorter than the answer's delay below
    stack.fail(status=0, afterCommit=True, delaySeconds=0.8, operation="write")

    with pytest.raises(RetryableError):
        stack.invoice_sync.send(invoice_draft())
    retried = stack.invoice_sync.send(invoice_draft())

    assert retried.outcome is SendOutcome.ADOPTED
    assert [i["DocNumber"] for i in stack.invoices()] == ["S-2001", "S-1041"]


def test_a_server_error_after_commit_in_a_realm_allowing_duplicate_numbers_still_gives_one_invoice(
    stack: SalesStack,
) -> None:
    stack.preferences(DuplicateDocNumberCheck=False)
    stack.fail(status=500, afterCommit=True, operation="write")

    with pytest.raises(RetryableError):
        stack.invoice_sync.send(invoice_draft())
    retried = stack.invoice_sync.send(invoice_draft())

    assert retried.outcome is SendOutcome.ADOPTED
    assert len(stack.invoices()) == 1


def test_a_duplicate_number_adopts_our_invoice_of_this_version_and_refuses_another(stack: SalesStack) -> None:
    customer = {"value": stack.customer_id("Ang Flowers LLC")}
    line = invoice_draft().lines[1]
    typed: dict[str, Any] = {
        "CustomerRef": customer,
        "Line": [{"DetailType": "SalesItemLineDetail", "Amount": float(line.amount), "SalesItemLineDetail": {}}],
    }
    stack.emulator.state.add_record(REALM, "Invoice", {**typed, "DocNumber": "S-1041", "PrivateNote": "by hand"})
    ours = {**typed, "DocNumber": "S-1042", "PrivateNote": invoice_memo(42, 1042, 3)}
    kept = stack.emulator.state.add_record(REALM, "Invoice", ours)

    with pytest.raises(PermanentError) as refused:
        stack.invoice_sync.send(invoice_draft())
    adopted = stack.invoice_sync.send(invoice_draft(invoice_id=42, invoice_number=1042, version=3))

    assert "already has a sales invoice numbered S-1041 that Ledgersync did not create" in refused.value.message
    assert adopted == InvoiceReceipt(invoice_id=kept["Id"], doc_number="S-1042", outcome=SendOutcome.ADOPTED)
    assert len(stack.invoices()) == 2


def test_a_reshipped_order_gets_a_new_invoice_once_the_old_version_is_deleted(stack: SalesStack) -> None:
    first = stack.invoice_sync.send(invoice_draft(version=1))
    stack.documents.delete("c1", first.external_id, "0")

    second = stack.invoice_sync.send(invoice_draft(version=2))

    assert second.outcome is SendOutcome.CREATED and second.external_id != first.external_id
    assert [i["PrivateNote"] for i in stack.invoices()] == [invoice_memo(41, 1041, 2)]


def test_many_threads_sending_the_same_draft_make_one_invoice(stack: SalesStack) -> None:
    stack.invoice_sync.send(invoice_draft(invoice_id=1, invoice_number=2001))  # names known, sends race on create
    receipts, waits = race_sends(stack, 16)

    assert len(receipts) + len(waits) == 16
    assert len({r.external_id for r in receipts}) == 1
    assert [r.outcome for r in receipts].count(SendOutcome.CREATED) == 1
    assert all("being sent to QuickBooks right now" in w.message for w in waits)
    assert stack.invoice_sync.send(invoice_draft()).outcome is SendOutcome.ALREADY_SYNCHRONIZED
    assert [i["DocNumber"] for i in stack.invoices()] == ["S-2001", "S-1041"]


def test_many_threads_taking_over_a_crashed_send_make_one_invoice(stack: SalesStack) -> None:
    # Given an attempt that QuickBooks kept but whose sender crashed long ago (its lease is over)
    stack.preferences(DuplicateDocNumberCheck=False)
    stack.fail(status=500, afterCommit=True, operation="write")
    with pytest.raises(RetryableError):
        stack.invoice_sync.send(invoice_draft())
    key = invoice_dedup_key(41, 1)
    crashed = stack.invoice_dedup.entries[("c1", key)]
    stack.invoice_dedup.entries[("c1", key)] = crashed.model_copy(
        update={"state": DedupState.PENDING, "started_at": crashed.started_at - timedelta(minutes=10)}
    )

    # When many sends take it over at once
    receipts, others = race_sends(stack, 12)

    # Then one of them adopts it (the others wait, or come after and find it recorded) and QuickBooks holds one
    outcomes = sorted(r.outcome for r in receipts)
    assert outcomes == [SendOutcome.ADOPTED] + [SendOutcome.ALREADY_SYNCHRONIZED] * (len(receipts) - 1)
    assert len(receipts) + len(others) == 12 and len({r.external_id for r in receipts}) == 1
    assert len(stack.invoices()) == 1


def race_sends(stack: SalesStack, threads: int) -> tuple[list[InvoiceReceipt], list[RetryableError]]:
    """Send the same draft from ``threads`` threads released together; the receipts and the waits they got."""
    start = threading.Barrier(threads)
    receipts: list[InvoiceReceipt] = []
    waits: list[RetryableError] = []

    def send() -> None:
        start.wait()
        try:
            receipts.append(stack.invoice_sync.send(invoice_draft()))
        except RetryableError as wait:
            waits.append(wait)

    running = [threading.Thread(target=send) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(timeout=30)
    return receipts, waits


# ---------------------------------------------------------------------------------------------- created, delete


def test_created_id_finds_an_invoice_whose_id_was_never_recorded_and_the_delete_removes_it(stack: SalesStack) -> None:
    stack.invoice_sync.send(invoice_draft(invoice_id=1, invoice_number=2001))
    stack.fail(status=500, afterCommit=True, operation="write")
    with pytest.raises(RetryableError):
        stack.invoice_sync.send(invoice_draft())
    stack.requests.clear()

    found = stack.invoice_sync.created_id("c1", 41, 1)

    assert found == stack.invoices()[1]["Id"]
    assert stack.requests == ["GET query"]
    stack.documents.delete("c1", str(found), "0")
    assert [i["DocNumber"] for i in stack.invoices()] == ["S-2001"]
    assert stack.invoice_sync.created_id("c1", 41, 2) is None


def test_an_invoice_is_looked_up_with_its_sync_token_and_as_gone_once_a_person_deleted_it(stack: SalesStack) -> None:
    invoice_id = stack.invoice_sync.send(invoice_draft()).external_id
    access = stack.tokens.access_for("c1")
    current = stack.client.read(access, "Invoice", invoice_id)
    stack.client.create(access, "Invoice", {**current, "CustomerMemo": {"value": "edited in QuickBooks"}})

    assert stack.documents.look_up("c1", invoice_id) == ExternalDocument(external_id=invoice_id, sync_token="1")
    stack.delete_as_person("Invoice", invoice_id)
    assert stack.documents.look_up("c1", invoice_id) is None
    assert stack.documents.look_up("c1", "98765") is None


def test_a_stale_sync_token_is_retryable_and_an_invoice_already_gone_counts_as_deleted(stack: SalesStack) -> None:
    invoice_id = stack.invoice_sync.send(invoice_draft()).external_id
    access = stack.tokens.access_for("c1")
    stack.client.create(access, "Invoice", {**stack.client.read(access, "Invoice", invoice_id), "PrivateNote": "x"})

    with pytest.raises(RetryableError) as stale:
        stack.documents.delete("c1", invoice_id, "0")
    assert stale.value.message.startswith(f"QuickBooks Online says sales invoice {invoice_id} changed since its")
    assert "5010" in stale.value.message and "looked up again" in stale.value.message
    current = stack.documents.look_up("c1", invoice_id)
    assert current is not None
    stack.documents.delete("c1", invoice_id, current.sync_token)
    stack.documents.delete("c1", invoice_id, current.sync_token)  # gone already (610): nothing to do

    assert stack.invoices() == []
