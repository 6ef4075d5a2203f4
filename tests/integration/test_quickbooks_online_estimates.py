"""An order's sales order to QuickBooks Online as an Estimate, against the emulator over loopback HTTP (its entities
checked against Intuit's v3 schema): created once whatever the retries, changed in place with the SyncToken read
fresh (a stale one read again), adopted and brought up to date by a later version's send, and an Invoice naming it
linked to it, which closes it."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from devstack.qbo_emulator import EmulatorState, RunningEmulator, serve
from devstack.qbo_emulator.schema import EntityValidator

from ledgersync.adapters.quickbooks_online.estimates import QuickBooksOnlineEstimateGateway, estimate_payload
from ledgersync.adapters.quickbooks_online.invoices import invoice_payload
from ledgersync.clock import SystemClock
from ledgersync.domain.quickbooks_online import QuickBooksAccess, SendOutcome
from ledgersync.domain.sales_invoices import InvoiceLine, InvoiceLineKind
from ledgersync.domain.sales_order_online import EstimateSync, QuickBooksEstimates
from ledgersync.domain.sales_orders import SalesOrderDraft, sales_order_memo
from ledgersync.errors import PermanentError
from tests.integration.test_qbo_emulator import xsd_dir
from tests.integration.test_quickbooks_online_gateway import REALM
from tests.integration.test_quickbooks_online_invoices import LockedDedup, SalesStack
from tests.unit.test_qbo_invoices import discounted_draft, invoice_draft

pytestmark = pytest.mark.integration


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    """A company file with an income account, a customer and the item the drafts use."""
    running = serve(state=EmulatorState(xsd_dir=xsd_dir(), approve_realm=REALM))
    assert running.state.validator is not None
    running.state.validator.schema  # noqa: B018 - Intuit's schema loads now, not within a request's read timeout
    income = running.state.add_record(REALM, "Account", {"Name": "Sales of Product Income", "AccountType": "Income"})
    running.state.add_record(REALM, "Customer", {"DisplayName": "Ang Flowers LLC"})
    for name in ("Fresh Cut Flowers", "Freight Charge"):
        item = {"Name": name, "Type": "Service", "IncomeAccountRef": {"value": income["Id"]}}
        running.state.add_record(REALM, "Item", item)
    yield running
    running.shutdown()


class EstimateStack(SalesStack):
    def __init__(self, emulator: RunningEmulator) -> None:
        super().__init__(emulator)
        self.estimate_dedup = LockedDedup()
        self.estimate_gateway = QuickBooksOnlineEstimateGateway(self.client, self.ids)
        self.estimates = EstimateSync(self.estimate_gateway, self.tokens, self.estimate_dedup, SystemClock())
        self.lookups = QuickBooksEstimates(self.estimate_gateway, self.tokens)

    def held(self) -> list[dict[str, Any]]:
        return self.emulator.state.records(REALM, "Estimate")


@pytest.fixture
def stack(emulator: RunningEmulator) -> EstimateStack:
    return EstimateStack(emulator)


def order_draft(version: int = 1, bunches: int = 60, external_id: str | None = None) -> SalesOrderDraft:
    draft = invoice_draft(version=version)
    lines = [
        InvoiceLine(
            kind=InvoiceLineKind.ITEM,
            item_name="Fresh Cut Flowers",
            quantity=Decimal(bunches),
            rate=Decimal("0.3"),
            amount=Decimal(bunches) * Decimal("0.3"),
        )
    ]
    return SalesOrderDraft(
        **draft.model_dump(exclude={"lines", "total", "memo"}),
        lines=lines,
        total=lines[0].amount,
        memo=sales_order_memo(draft.invoice_id, draft.invoice_number),
        external_id=external_id,
    )


def test_the_estimate_is_created_once_for_the_order_however_often_it_is_sent(stack: EstimateStack) -> None:
    first = stack.estimates.send(order_draft())
    again = stack.estimates.send(order_draft())

    (held,) = stack.held()
    assert first.outcome is SendOutcome.CREATED and first.estimate_id == held["Id"]
    assert again.estimate_id == held["Id"] and again.updated  # adopted from the dedup entry, brought up to date
    assert held["DocNumber"] == "S-1041" and held["TxnStatus"] == "Pending"
    assert held["PrivateNote"] == "Ledgersync sales order 1041 (id 41), version 1"
    assert "ARAccountRef" not in held and held["LinkedTxn"] == []


def test_a_change_updates_the_same_estimate_with_the_sync_token_read_fresh(stack: EstimateStack) -> None:
    created = stack.estimates.send(order_draft())
    stack.requests.clear()

    changed = stack.estimates.send(order_draft(version=2, bunches=120, external_id=created.estimate_id))

    (held,) = stack.held()
    assert changed.estimate_id == created.estimate_id == held["Id"]
    assert held["SyncToken"] == "1" and held["TotalAmt"] == 36.0
    assert [line["SalesItemLineDetail"]["Qty"] for line in held["Line"]] == [120]
    assert stack.requests == [f"GET {held['Id']}", "POST estimate"]  # read (SyncToken), then the sparse update


def test_a_stale_sync_token_is_read_again_and_the_update_made_with_the_new_one(stack: EstimateStack) -> None:
    # Given an estimate someone changes between our read and our write (5010 on the first update)
    created = stack.estimates.send(order_draft())
    gateway = stack.estimate_gateway
    real_update = gateway.update_estimate
    calls: list[str] = []

    def raced(access: QuickBooksAccess, estimate_id: str, sync_token: str, draft: SalesOrderDraft) -> Any:
        if not calls:  # a person saves the estimate in QuickBooks first
            current = stack.emulator.state.records(REALM, "Estimate")[0]
            stack.emulator.state.realm(REALM).books.write("Estimate", {**current, "PrivateNote": "edited"})
        calls.append(sync_token)
        return real_update(access, estimate_id, sync_token, draft)

    gateway.update_estimate = raced  # type: ignore[method-assign]
    # When the change is sent
    stack.estimates.send(order_draft(version=2, bunches=90, external_id=created.estimate_id))
    # Then the first try was stale, the second carried the new token, and the change is in
    (held,) = stack.held()
    assert calls == ["0", "1"]
    assert held["TotalAmt"] == 27.0 and held["SyncToken"] == "2"


def test_an_older_versions_update_landing_after_a_newer_ones_leaves_the_newer_in_place(stack: EstimateStack) -> None:
    # Given the Estimate changed to version 3 by one send, while the send of version 2 was still on its way
    created = stack.estimates.send(order_draft())
    stack.estimates.send(order_draft(version=3, bunches=120, external_id=created.estimate_id))
    (before,) = stack.held()

    # When version 2's update arrives last
    late = stack.estimates.send(order_draft(version=2, bunches=90, external_id=created.estimate_id))

    # Then the Estimate still holds version 3 (its lines and memo), unchanged
    (held,) = stack.held()
    assert late.estimate_id == created.estimate_id
    assert held["SyncToken"] == before["SyncToken"] and held["TotalAmt"] == 36.0
    assert held["PrivateNote"].endswith(", version 3")


def test_an_estimate_deleted_in_quickbooks_is_a_refusal_with_the_fix(stack: EstimateStack) -> None:
    created = stack.estimates.send(order_draft())
    stack.delete_as_person("Estimate", created.estimate_id)

    with pytest.raises(PermanentError, match=r"no longer in QuickBooks Online.*send-sales-order"):
        stack.estimates.send(order_draft(version=2, external_id=created.estimate_id))
    assert stack.lookups.look_up("c1", created.estimate_id) is None


def test_what_an_earlier_send_created_is_found_by_the_order_whatever_its_version(stack: EstimateStack) -> None:
    created = stack.estimates.send(order_draft())

    assert stack.estimates.created_id("c1", 41) == created.estimate_id
    assert stack.estimates.created_id("c1", 42) is None


def test_an_invoice_naming_the_sales_order_is_linked_to_the_estimate_which_closes(stack: EstimateStack) -> None:
    created = stack.estimates.send(order_draft())
    invoice = invoice_draft(version=3).model_copy(update={"sales_order_id": created.estimate_id})

    sent = stack.invoice_sync.send(invoice)

    (held_invoice,) = stack.invoices()
    (estimate,) = stack.held()
    assert held_invoice["Id"] == sent.invoice_id
    assert held_invoice["LinkedTxn"] == [{"TxnId": created.estimate_id, "TxnType": "Estimate"}]
    assert estimate["TxnStatus"] == "Closed"
    assert estimate["LinkedTxn"] == [{"TxnId": sent.invoice_id, "TxnType": "Invoice"}]


@pytest.mark.parametrize("closed_by", ["deleted", "rejected"])
def test_an_invoice_whose_estimate_was_deleted_or_rejected_in_quickbooks_goes_unlinked_instead_of_failing(
    stack: EstimateStack, closed_by: str
) -> None:
    # Given the order's Estimate deleted (or marked Rejected) by a person in QuickBooks before the order ships
    created = stack.estimates.send(order_draft())
    assert created.estimate_id is not None
    if closed_by == "deleted":
        stack.delete_as_person("Estimate", created.estimate_id)
    else:
        current = stack.emulator.state.records(REALM, "Estimate")[0]
        stack.emulator.state.realm(REALM).books.write("Estimate", {**current, "TxnStatus": "Rejected"})
    invoice = invoice_draft(version=3).model_copy(update={"sales_order_id": created.estimate_id})

    # When its invoice is sent
    sent = stack.invoice_sync.send(invoice)

    # Then it is in QuickBooks with its own lines and no link (a link to it would be refused on every send)
    (held_invoice,) = stack.invoices()
    assert held_invoice["Id"] == sent.invoice_id and held_invoice.get("LinkedTxn", []) == []
    assert held_invoice["TotalAmt"] == float(invoice.total)


def test_the_estimate_its_sparse_update_and_the_linked_invoice_are_valid_v3_entities() -> None:
    # Given Intuit's v3 schema and a sales order with a discount, in a foreign currency
    validator = EntityValidator(xsd_dir())
    ids = {("Customer", "Ang Flowers LLC"): "1", ("Item", "Fresh Cut Flowers"): "2", ("Item", "Freight Charge"): "3"}
    foreign = invoice_draft(currency="CAD", exchange_rate=Decimal("0.72"))
    draft = SalesOrderDraft(**foreign.model_dump(), external_id="9")
    discounted = discounted_draft()
    # When the payloads are built
    estimate = estimate_payload(draft, ids)
    update = {"Id": "9", "SyncToken": "3", "sparse": True, "Line": estimate_payload(draft, ids)["Line"]}
    linked = invoice_payload(discounted.model_copy(update={"sales_order_id": "9"}), ids)
    # Then each is an entity QuickBooks accepts, the estimate without an A/R account or a link
    validator.check("Estimate", estimate)
    validator.check("Estimate", update)
    validator.check("Invoice", linked)
    assert "ARAccountRef" not in estimate and "LinkedTxn" not in estimate
    assert estimate["CurrencyRef"] == {"value": "CAD"} and estimate["ExchangeRate"] == 0.72
    assert linked["LinkedTxn"] == [{"TxnId": "9", "TxnType": "Estimate"}]
