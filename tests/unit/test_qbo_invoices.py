"""Sales invoices to QuickBooks Online exactly once, on recording fakes: one invoice per version whatever the
retries, crashes, refusals and double clicks; what an earlier send created; the Invoice payload."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from ledgersync.adapters.quickbooks_online.invoices import invoice_payload, invoice_refs
from ledgersync.domain.quickbooks_online import (
    AccessTokenRejected,
    BillReceipt,
    DedupEntry,
    DedupState,
    DuplicateDocumentNumber,
    InvoiceOutcome,
    InvoiceReceipt,
    InvoiceRecord,
    InvoiceSync,
    QuickBooksAccess,
    SendOutcome,
    invoice_dedup_key,
    invoice_request_id,
    names_version,
)
from ledgersync.domain.sales_invoices import InvoiceDraft, InvoiceLine, InvoiceLineKind, invoice_memo
from ledgersync.errors import PermanentError, ReauthorizationRequired, RetryableError
from tests.unit.test_quickbooks_online import FakeDedup
from tests.unit.test_quickbooks_online import World as BillWorld

# ---------------------------------------------------------------------------------------------- fakes


class ReadableFakeDedup(FakeDedup):
    """The dedup fake, also answering what it holds (``ReadableDedupStore``)."""

    def get(self, company_id: str, key: str) -> DedupEntry | None:
        return self.entries.get((company_id, key))


class FakeInvoiceQuickBooks:
    """Invoices numbered uniquely per company (6140 unless ``duplicate_check`` is off); ``requestid`` replays;
    scripted failures are raised in order, ``commit-then-fail`` after the invoice is kept."""

    def __init__(self) -> None:
        self.invoices: list[InvoiceRecord] = []
        self.replies: dict[str, InvoiceRecord] = {}
        self.script: list[Exception] = []
        self.create_calls: list[str] = []
        self.queries: list[str] = []
        self.duplicate_check = True

    def create_invoice(self, access: QuickBooksAccess, draft: InvoiceDraft, request_id: str) -> InvoiceRecord:
        self.create_calls.append(request_id)
        step = self.script.pop(0) if self.script else None
        if isinstance(step, AccessTokenRejected) and access.access_token == "access-0":
            raise step
        if step is not None and not isinstance(step, AccessTokenRejected):
            if step.args and step.args[0] == "commit-then-fail":
                self._commit(draft, request_id)
            raise step
        if request_id in self.replies:
            return self.replies[request_id]
        if self.duplicate_check and any(i.doc_number == draft.doc_number for i in self.invoices):
            raise DuplicateDocumentNumber("6140", draft.doc_number)
        return self._commit(draft, request_id)

    def _commit(self, draft: InvoiceDraft, request_id: str) -> InvoiceRecord:
        record = InvoiceRecord(
            id=str(500 + len(self.replies)), doc_number=draft.doc_number, customer_id="c9", private_note=draft.memo
        )
        self.invoices.append(record)
        self.replies[request_id] = record
        return record

    def find_invoices(self, access: QuickBooksAccess, doc_number: str) -> list[InvoiceRecord]:
        self.queries.append(doc_number)
        return [i for i in self.invoices if i.doc_number == doc_number]

    def typed_by_hand(self, doc_number: str, memo: str = "entered by the bookkeeper") -> None:
        self.invoices.append(InvoiceRecord(id="77", doc_number=doc_number, private_note=memo))

    def remove(self, invoice_id: str) -> None:
        self.invoices = [i for i in self.invoices if i.id != invoice_id]


def invoice_draft(
    version: int = 1,
    invoice_id: int = 41,
    invoice_number: int = 1041,
    customer: str = "Ang Flowers LLC",
    item: str = "Fresh Cut Flowers",
    currency: str | None = None,
    exchange_rate: Decimal | None = None,
    company_id: str = "c1",
    doc_number: str | None = None,
) -> InvoiceDraft:
    """A two-line sales invoice draft (60 bunches at 0.30 and a 12.50 freight charge), as build_invoice_draft
    gives it."""
    return InvoiceDraft(
        company_id=company_id,
        invoice_id=invoice_id,
        invoice_number=invoice_number,
        document_version=version,
        store_code="MAIN",
        customer_name=customer,
        txn_date=date(2026, 11, 30),
        doc_number=doc_number or f"S-{invoice_number}",
        ref_number=f"S-{invoice_number}",
        currency=currency,
        exchange_rate=exchange_rate,
        lines=[
            InvoiceLine(
                kind=InvoiceLineKind.ITEM,
                item_name=item,
                quantity=Decimal(60),
                rate=Decimal("0.3"),
                amount=Decimal("18.00"),
                description="Rose Assorted 60cm HB",
            ),
            InvoiceLine(
                kind=InvoiceLineKind.CHARGE,
                item_name="Freight Charge",
                quantity=Decimal(1),
                rate=Decimal("12.50"),
                amount=Decimal("12.50"),
                description="Freight",
            ),
        ],
        total=Decimal("30.50"),
        po_number=None,
        memo=invoice_memo(invoice_id, invoice_number, version),
    )


class World(BillWorld):
    """The bill world's clock and tokens, with a QuickBooks that keeps invoices and the invoice sync over it."""

    def __init__(self) -> None:
        super().__init__()
        self.qbo = FakeInvoiceQuickBooks()  # type: ignore[assignment]
        self.dedup = ReadableFakeDedup()
        self.sync = InvoiceSync(self.qbo, self.tokens, self.dedup, self.clock)  # type: ignore[assignment]

    def entry(self, version: int = 1) -> DedupEntry:
        return self.dedup.entries[("c1", invoice_dedup_key(41, version))]


@pytest.fixture
def world() -> World:
    return World()


# ---------------------------------------------------------------------------------------------- exactly once


def test_a_version_sent_twice_is_one_invoice_the_second_send_calling_nobody(world: World) -> None:
    first = world.sync.send(invoice_draft())
    second = world.sync.send(invoice_draft())

    assert first.outcome is InvoiceOutcome.CREATED
    assert second == InvoiceReceipt(
        invoice_id=first.invoice_id, doc_number="S-1041", outcome=SendOutcome.ALREADY_SYNCHRONIZED
    )
    assert len(world.qbo.invoices) == 1
    assert len(world.qbo.create_calls) == 1 and world.qbo.queries == []


def test_a_retry_of_an_attempt_that_never_arrived_creates_with_the_same_request_id(world: World) -> None:
    world.qbo.script = [RetryableError("connection refused")]
    with pytest.raises(RetryableError):
        world.sync.send(invoice_draft())

    receipt = world.sync.send(invoice_draft())

    assert receipt.outcome is InvoiceOutcome.CREATED
    assert world.qbo.create_calls == [invoice_request_id(invoice_draft(), 1)] * 2
    assert len(world.qbo.invoices) == 1


@pytest.mark.parametrize("duplicate_check", [True, False])
def test_a_crash_after_quickbooks_created_the_invoice_ends_in_adoption_when_numbers_are_checked_or_not(
    world: World, duplicate_check: bool
) -> None:
    # Given a realm that may allow duplicate invoice numbers, and an answer lost after QuickBooks kept the invoice
    world.qbo.duplicate_check = duplicate_check
    world.qbo.script = [RetryableError("commit-then-fail")]
    with pytest.raises(RetryableError):
        world.sync.send(invoice_draft())
    assert world.entry().state is DedupState.UNKNOWN

    # When it is sent again
    receipt = world.sync.send(invoice_draft())

    # Then the invoice is found by its number and memo before any create
    assert receipt.outcome is InvoiceOutcome.ADOPTED
    assert receipt.external_id == world.qbo.invoices[0].id
    assert len(world.qbo.invoices) == 1 and len(world.qbo.create_calls) == 1
    assert world.entry().state is DedupState.COMPLETED


def test_a_refusal_before_the_create_after_an_unknown_outcome_still_looks_first_next_time(world: World) -> None:
    world.qbo.duplicate_check = False  # nothing but the look-up stands between a retry and a second invoice
    world.qbo.script = [RetryableError("commit-then-fail")]
    with pytest.raises(RetryableError):
        world.sync.send(invoice_draft())
    saved = world.store.saved.pop("c1")
    with pytest.raises(ReauthorizationRequired):
        world.sync.send(invoice_draft())
    assert world.entry().state is DedupState.UNKNOWN

    world.store.saved["c1"] = saved
    receipt = world.sync.send(invoice_draft())

    assert receipt.outcome is InvoiceOutcome.ADOPTED
    assert len(world.qbo.invoices) == 1


def test_a_send_after_a_refusal_is_a_new_attempt_with_a_new_request_id(world: World) -> None:
    world.qbo.script = [PermanentError("the customer 'Ang Flowers LLC' is inactive (610)")]
    with pytest.raises(PermanentError):
        world.sync.send(invoice_draft())
    assert world.entry().state is DedupState.FAILED

    receipt = world.sync.send(invoice_draft())

    assert receipt.outcome is InvoiceOutcome.CREATED
    assert world.qbo.create_calls == [invoice_request_id(invoice_draft(), 1), invoice_request_id(invoice_draft(), 2)]


def test_a_new_version_creates_a_new_invoice_once_the_old_one_is_deleted(world: World) -> None:
    first = world.sync.send(invoice_draft(version=1))
    world.qbo.remove(first.invoice_id)  # unshipped: the consumer deleted version 1

    second = world.sync.send(invoice_draft(version=2))
    again = world.sync.send(invoice_draft(version=2))

    assert (first.outcome, second.outcome, again.outcome) == (
        SendOutcome.CREATED,
        SendOutcome.CREATED,
        SendOutcome.ALREADY_SYNCHRONIZED,
    )
    assert second.invoice_id != first.invoice_id
    assert [i.private_note for i in world.qbo.invoices] == [invoice_memo(41, 1041, 2)]
    assert invoice_request_id(invoice_draft(version=1), 1) != invoice_request_id(invoice_draft(version=2), 1)


def test_a_new_version_is_refused_while_the_old_version_holds_its_number(world: World) -> None:
    world.sync.send(invoice_draft(version=1))

    with pytest.raises(PermanentError) as refused:
        world.sync.send(invoice_draft(version=2))

    assert "numbered S-1041 that Ledgersync did not create for version 2 of invoice 1041" in refused.value.message
    assert "Delete or renumber that invoice in QuickBooks" in refused.value.message
    assert len(world.qbo.invoices) == 1 and world.entry(2).state is DedupState.FAILED


def test_a_duplicate_number_adopts_our_invoice_for_this_version_and_refuses_one_typed_by_hand(world: World) -> None:
    world.qbo.invoices.append(InvoiceRecord(id="55", doc_number="S-1041", private_note=invoice_memo(41, 1041, 1)))
    world.qbo.typed_by_hand("S-1042")

    adopted = world.sync.send(invoice_draft())
    with pytest.raises(PermanentError) as refused:
        world.sync.send(invoice_draft(invoice_id=42, invoice_number=1042))

    assert adopted == InvoiceReceipt(invoice_id="55", doc_number="S-1041", outcome=SendOutcome.ADOPTED)
    assert "already has a sales invoice numbered S-1042" in refused.value.message
    assert "invoicePrefix" in refused.value.message
    assert len(world.qbo.invoices) == 2


def test_a_send_waits_while_another_send_of_the_version_holds_its_lease_and_takes_over_after(world: World) -> None:
    pending = DedupEntry(state=DedupState.PENDING, attempt=1, started_at=world.clock.now(), reference="S-1041")
    world.dedup.put_if_absent("c1", invoice_dedup_key(41, 1), pending)

    with pytest.raises(RetryableError) as waiting:
        world.sync.send(invoice_draft())
    world.clock.advance(121)
    receipt = world.sync.send(invoice_draft())

    assert "This sales invoice is being sent to QuickBooks right now" in waiting.value.message
    assert waiting.value.retry_after_seconds == 120.0
    assert receipt.outcome is InvoiceOutcome.CREATED
    assert world.qbo.queries == ["S-1041"]  # the crashed send might have created it: looked up first


def test_an_expired_access_token_is_refreshed_once_and_the_invoice_sent(world: World) -> None:
    world.qbo.script = [AccessTokenRejected("401")]

    receipt = world.sync.send(invoice_draft())

    assert receipt.outcome is InvoiceOutcome.CREATED
    assert world.oauth.calls == ["refresh-0"]


def test_request_ids_are_deterministic_within_fifty_characters_and_differ_per_version_attempt_and_company() -> None:
    ids = {
        invoice_request_id(invoice_draft(), 1),
        invoice_request_id(invoice_draft(version=2), 1),
        invoice_request_id(invoice_draft(), 2),
        invoice_request_id(invoice_draft(company_id="c2"), 1),
    }

    assert invoice_request_id(invoice_draft(), 1) == invoice_request_id(invoice_draft(), 1)
    assert len(ids) == 4 and all(len(i) <= 50 for i in ids)


def test_the_memo_names_only_its_own_version() -> None:
    memo = invoice_memo(41, 1041, 1)

    assert names_version(memo, 41, 1)
    assert not names_version(invoice_memo(41, 1041, 12), 41, 1)
    assert not names_version(memo, 4, 1) and not names_version(memo, 41, 2) and not names_version(None, 41, 1)


def test_both_receipts_name_their_quickbooks_id_external_id() -> None:
    bill = BillReceipt(bill_id="12", doc_number="PO-1", outcome=SendOutcome.CREATED)
    invoice = InvoiceReceipt(invoice_id="34", doc_number="S-1", outcome=SendOutcome.ADOPTED)

    assert (bill.external_id, invoice.external_id) == ("12", "34")


# ---------------------------------------------------------------------------------------------- created_id


def test_created_id_is_none_for_a_version_never_sent_and_the_recorded_id_once_sent(world: World) -> None:
    assert world.sync.created_id("c1", 41, 1) is None

    receipt = world.sync.send(invoice_draft())

    assert world.sync.created_id("c1", 41, 1) == receipt.invoice_id
    assert world.sync.created_id("c1", 41, 2) is None
    assert world.qbo.queries == []


def test_created_id_asks_again_later_while_a_send_is_in_flight(world: World) -> None:
    pending = DedupEntry(state=DedupState.PENDING, attempt=1, started_at=world.clock.now(), reference="S-1041")
    world.dedup.put_if_absent("c1", invoice_dedup_key(41, 1), pending)

    with pytest.raises(RetryableError) as in_flight:
        world.sync.created_id("c1", 41, 1)
    world.clock.advance(30)
    with pytest.raises(RetryableError) as later:
        world.sync.created_id("c1", 41, 1)

    assert in_flight.value.retry_after_seconds == 120.0 and later.value.retry_after_seconds == 90.0
    assert world.qbo.queries == []


def test_created_id_after_an_unknown_outcome_finds_the_invoice_by_number_and_memo_in_one_query(world: World) -> None:
    world.qbo.script = [RetryableError("commit-then-fail")]
    with pytest.raises(RetryableError):
        world.sync.send(invoice_draft())

    found = world.sync.created_id("c1", 41, 1)

    assert found == world.qbo.invoices[0].id
    assert world.qbo.queries == ["S-1041"]


def test_created_id_after_an_unknown_outcome_is_none_when_quickbooks_has_only_others_numbered_so(
    world: World,
) -> None:
    world.qbo.script = [RetryableError("timed out before QuickBooks kept anything")]
    with pytest.raises(RetryableError):
        world.sync.send(invoice_draft())
    world.qbo.typed_by_hand("S-1041")
    world.qbo.invoices.append(InvoiceRecord(id="88", doc_number="S-1041", private_note=invoice_memo(41, 1041, 2)))
    world.clock.advance(timedelta(hours=1).total_seconds())

    assert world.sync.created_id("c1", 41, 1) is None
    assert world.qbo.queries == ["S-1041"]


def test_created_id_is_none_after_a_refusal(world: World) -> None:
    world.qbo.script = [PermanentError("the item 'Freight Charge' is inactive (610)")]
    with pytest.raises(PermanentError):
        world.sync.send(invoice_draft())

    assert world.sync.created_id("c1", 41, 1) is None
    assert world.qbo.queries == []


# ---------------------------------------------------------------------------------------------- payload


def test_the_payload_names_customer_items_quantities_rates_number_date_and_memo() -> None:
    draft = invoice_draft()
    ids = {("Customer", "Ang Flowers LLC"): "3", ("Item", "Fresh Cut Flowers"): "5", ("Item", "Freight Charge"): "6"}

    body = invoice_payload(draft, ids)

    assert invoice_refs(draft) == list(ids)
    assert body["CustomerRef"] == {"value": "3", "name": "Ang Flowers LLC"}
    assert body["Line"][0] == {
        "DetailType": "SalesItemLineDetail",
        "Amount": 18.0,
        "Description": "Rose Assorted 60cm HB",
        "SalesItemLineDetail": {"ItemRef": {"value": "5", "name": "Fresh Cut Flowers"}, "Qty": 60.0, "UnitPrice": 0.3},
    }
    assert body["Line"][1]["SalesItemLineDetail"]["ItemRef"] == {"value": "6", "name": "Freight Charge"}
    assert (body["DocNumber"], body["TxnDate"], body["PrivateNote"]) == ("S-1041", "2026-11-30", draft.memo)
    assert "CurrencyRef" not in body and "ExchangeRate" not in body


def test_a_foreign_customers_payload_carries_the_currency_and_the_rate_of_creation() -> None:
    draft = invoice_draft(currency="CAD", exchange_rate=Decimal("0.7312"))
    one_item = invoice_draft(item="Freight Charge")

    body = invoice_payload(
        draft,
        {("Customer", "Ang Flowers LLC"): "3", ("Item", "Fresh Cut Flowers"): "5", ("Item", "Freight Charge"): "6"},
    )

    assert (body["CurrencyRef"], body["ExchangeRate"]) == ({"value": "CAD"}, 0.7312)
    assert invoice_refs(one_item) == [("Customer", "Ang Flowers LLC"), ("Item", "Freight Charge")]


def discounted_draft() -> InvoiceDraft:
    """The two-line draft with two order discounts (2.00 and 0.50) on their discount item: 28.00 in all."""
    draft = invoice_draft()
    discounts = [
        InvoiceLine(
            kind=InvoiceLineKind.DISCOUNT,
            item_name="Order Discount",
            quantity=Decimal(1),
            rate=amount,
            amount=amount,
            description=name,
        )
        for name, amount in (("Order Discount", Decimal("-2.00")), ("Loyalty", Decimal("-0.50")))
    ]
    return draft.model_copy(update={"lines": draft.lines + discounts, "total": Decimal("28.00")})


def test_discounts_are_one_fixed_amount_discount_line_that_refers_to_no_item() -> None:
    draft = discounted_draft()
    ids = {("Customer", "Ang Flowers LLC"): "3", ("Item", "Fresh Cut Flowers"): "5", ("Item", "Freight Charge"): "6"}

    body = invoice_payload(draft, ids)

    assert invoice_refs(draft) == list(ids)
    assert [line["DetailType"] for line in body["Line"]] == [
        "SalesItemLineDetail",
        "SalesItemLineDetail",
        "DiscountLineDetail",
    ]
    assert body["Line"][2] == {
        "DetailType": "DiscountLineDetail",
        "Amount": 2.5,
        "Description": "Order Discount, Loyalty",
        "DiscountLineDetail": {"PercentBased": False},
    }
    sales = sum(line["Amount"] for line in body["Line"][:2])
    assert Decimal(str(sales)) - Decimal(str(body["Line"][2]["Amount"])) == draft.total


def test_a_foreign_invoice_names_the_ar_account_of_its_currency_resolved_like_the_other_names() -> None:
    draft = invoice_draft(customer="Bloom Wholesale Inc", currency="CAD", exchange_rate=Decimal("0.73"))
    draft = draft.model_copy(update={"ar_account": "Accounts Receivable - CAD"})
    ids = {
        ("Customer", "Bloom Wholesale Inc"): "4",
        ("Item", "Fresh Cut Flowers"): "5",
        ("Item", "Freight Charge"): "6",
        ("Account", "Accounts Receivable - CAD"): "9",
    }

    body = invoice_payload(draft, ids)
    home = invoice_payload(invoice_draft(), ids | {("Customer", "Ang Flowers LLC"): "3"})

    assert invoice_refs(draft) == list(ids)
    assert body["ARAccountRef"] == {"value": "9", "name": "Accounts Receivable - CAD"}
    assert (body["CurrencyRef"], body["ExchangeRate"]) == ({"value": "CAD"}, 0.73)
    assert "ARAccountRef" not in home and "CurrencyRef" not in home
