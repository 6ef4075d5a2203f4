"""Sales orders through the Web Connector, on the sync core and the composition root over the in-memory stores, with
the fake company file as QuickBooks Desktop (every request checked against qbxmlops120.xsd): send-sales-order adds one
SalesOrder (SalesOrderQuery by RefNumber and memo first), a change updates it (SalesOrderMod at the EditSequence just
read), and the shipped invoice links it whole (LinkToTxnID), which closes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from devstack.fake_qb_company import FakeCompany, FakeSalesOrder
from devstack.qbwc_simulator import InMemoryPurchaseOrders
from devstack.qbwc_simulator import InMemorySessionStore as SimulatorSessions
from lxml import etree

from ledgersync import bootstrap
from ledgersync.adapters.quickbooks_desktop import QbxmlCodec
from ledgersync.bootstrap import Adapters, Services
from ledgersync.config import Settings
from ledgersync.domain.accounts import Accounts, CompanyCreate
from ledgersync.domain.desktop_sync import InvoiceToAdd, SalesOrderToSend, WebConnectorService
from ledgersync.domain.directory import Kind
from ledgersync.domain.invoices import (
    AccountingStatus,
    InvoiceChangeRequest,
    SalesOrderAccounting,
    SalesOrderStatus,
    ShipRequest,
)
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.sales_invoice_sync import OncePerTick
from ledgersync.domain.sales_orders import sales_order_memo, sales_order_ref
from ledgersync.domain.settings import AccountingSettings
from ledgersync.domain.sync.state import SyncStatus
from tests.fakes import (
    FakeClock,
    FakeNotifier,
    InMemoryAccountStore,
    InMemoryDirectoryStore,
    InMemoryInvoiceStore,
    InMemoryProcessLogStore,
    InMemorySessionStore,
    InMemorySettingsStore,
    InMemorySyncStateStore,
)
from tests.support.desktop import COMPANY, TOKEN, USER, XSD_DIR, Run, draft, web_connector_session
from tests.support.invoicing import confirmed_order

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DESKTOP = ExternalSystem.QUICKBOOKS_DESKTOP
CUSTOMER = "Ang Flowers LLC"


@dataclass
class Office:
    """A company on QuickBooks Desktop, its Web Connector and its company file."""

    services: Services
    company_id: str
    password: str
    clock: FakeClock
    states: InMemorySyncStateStore
    notifier: FakeNotifier
    company: FakeCompany
    lines: int = 0

    def order(self) -> int:
        self.lines += 1
        return confirmed_order(
            self.services.invoices, self.services.directory, self.company_id, "MAN", 3000 + self.lines, 9
        )

    def send_sales_order(self, invoice_id: int) -> None:
        self.services.sales_order_sync.send(self.company_id, invoice_id)

    def change(self, invoice_id: int, boxes: int) -> None:
        line = self.services.invoices.get(self.company_id, invoice_id).items[0].order_item_id
        request = InvoiceChangeRequest(items=[{"orderItemId": line, "boxes": boxes, "price": "12.50"}])
        self.services.invoices.change(self.company_id, "U1", invoice_id, request)

    def ship_and_send(self, invoice_id: int) -> None:
        self.services.invoices.ship(self.company_id, invoice_id, ShipRequest())
        self.services.sales_invoice_sync.send_now(self.company_id, invoice_id)

    def session(self, *, cut_after: int | None = None) -> Run:
        self.clock.advance(timedelta(minutes=1))
        return web_connector_session(
            self.services.web_connector, self.company, user=self.company_id, password=self.password, cut_after=cut_after
        )

    def sales_order(self, invoice_id: int) -> SalesOrderAccounting:
        return self.services.sales_order_sync.sales_order_of(self.company_id, invoice_id)

    def memo(self, invoice_id: int) -> str:
        return sales_order_memo(invoice_id, self.services.invoices.get(self.company_id, invoice_id).invoice_number)

    def only_sales_order(self) -> FakeSalesOrder:
        (order,) = self.company.sales_orders
        return order


@pytest.fixture
def office() -> Office:
    accounts = InMemoryAccountStore()
    created = Accounts(accounts).create_company(CompanyCreate(name="Demo Flowers", currency="USD"))
    directory = InMemoryDirectoryStore()
    states = InMemorySyncStateStore()
    settings = InMemorySettingsStore(accounts)
    settings.put_settings(
        created.company_id,
        AccountingSettings(external_system=DESKTOP, notification_emails=["ap@example.com"], auto_sync_window_minutes=1),
    )
    clock, notifier = FakeClock(START), FakeNotifier()
    adapters = Adapters(
        account_store=accounts,  # type: ignore[arg-type]
        settings_store=settings,  # type: ignore[arg-type]
        directory_store=directory,  # type: ignore[arg-type]
        invoice_store=InMemoryInvoiceStore(accounts, directory.records, states=states),  # type: ignore[arg-type]
        sync_states=states,
        notifier=notifier,  # type: ignore[arg-type]
        desktop_sessions=InMemorySessionStore(clock),  # type: ignore[arg-type]
        release_turns=OncePerTick(),
        process_log_store=InMemoryProcessLogStore(),
        clock=clock,
    )
    services = bootstrap.build(Settings(), adapters)
    company_id = created.company_id
    services.directory.upsert(
        company_id, Kind.CUSTOMERS, [{"id": 7, "code": "ANG", "name": "Ang", "accountingName": CUSTOMER}]
    )
    services.directory.upsert(company_id, Kind.CARRIERS, [{"id": 4, "code": "AR", "name": "Armellini"}])
    services.directory.upsert(
        company_id,
        Kind.STORES,
        [{"id": 2, "code": "MAN", "name": "Phone", "customerMode": "direct", "invoiceSync": "manual"}],
    )
    company = FakeCompany(customers=[CUSTOMER], items=["Fresh Cut Flowers"], xsd_dir=XSD_DIR)
    return Office(services, company_id, created.admin_token, clock, states, notifier, company)


def request_kinds(run: Run) -> list[list[str]]:
    """The requests of each message of a session, by tag."""
    return [[str(rq.tag) for rq in etree.fromstring(r.encode()).find("QBXMLMsgsRq")] for r in run.requests]  # type: ignore[union-attr]


def test_send_sales_order_adds_one_sales_order_and_the_view_shows_it_open_when_the_web_connector_runs(
    office: Office,
) -> None:
    # Given an order not shipped, sent as a sales order
    invoice_id = office.order()
    office.send_sales_order(invoice_id)
    assert office.sales_order(invoice_id).status is SalesOrderStatus.QUEUED
    # When the Web Connector runs
    run = office.session()
    # Then a SalesOrderQuery, then one SalesOrderAdd with the order's number, lines and the memo naming the order
    assert request_kinds(run) == [["SalesOrderQueryRq"], ["SalesOrderAddRq"]]
    order = office.only_sales_order()
    number = office.services.invoices.get(office.company_id, invoice_id).invoice_number
    assert (order.customer, order.ref_number, order.memo) == (CUSTOMER, str(number), office.memo(invoice_id))
    assert [line["item"] for line in order.lines] == ["Fresh Cut Flowers"] and order.amount == 75  # 6 at 12.50
    shown = office.sales_order(invoice_id)
    assert (shown.status, shown.external_id) == (SalesOrderStatus.OPEN, order.txn_id)
    assert "1 sales order(s) added or updated" in run.close
    # And a second session has nothing to do
    assert office.session().status == "none"


def test_a_change_while_the_sales_order_is_open_updates_the_same_one_at_its_edit_sequence(office: Office) -> None:
    invoice_id = office.order()
    office.send_sales_order(invoice_id)
    office.session()
    before = office.only_sales_order()
    txn_id, edit_sequence = before.txn_id, before.edit_sequence

    office.change(invoice_id, boxes=3)
    run = office.session()

    # The recorded TxnID is queried (for its EditSequence), then changed: no second sales order
    assert request_kinds(run) == [["SalesOrderQueryRq"], ["SalesOrderModRq"]]
    assert f"<TxnID>{txn_id}</TxnID>" in run.requests[0]
    assert f"<EditSequence>{edit_sequence}</EditSequence>" in run.requests[1]
    order = office.only_sales_order()
    assert (order.txn_id, order.amount) == (txn_id, 225)  # three boxes
    assert order.edit_sequence != edit_sequence
    assert office.sales_order(invoice_id).status is SalesOrderStatus.OPEN
    assert office.session().status == "none"


def test_a_session_cut_after_the_add_finds_the_sales_order_by_its_memo_and_adds_no_second(office: Office) -> None:
    # Given a session cut after QuickBooks added the sales order, before Ledgersync heard of it
    invoice_id = office.order()
    office.send_sales_order(invoice_id)
    office.session(cut_after=2)
    assert len(office.company.sales_orders) == 1
    office.clock.advance(timedelta(hours=1))  # the cut session expires
    # When the next session runs
    run = office.session()
    # Then it is found by RefNumber and memo and made the current version; its TxnID is recorded
    assert request_kinds(run) == [["SalesOrderQueryRq"], ["SalesOrderModRq"]]
    order = office.only_sales_order()
    assert office.sales_order(invoice_id).external_id == order.txn_id


def test_the_shipped_invoice_links_the_sales_order_whole_which_closes_it(office: Office) -> None:
    # Given an order whose sales order is in QuickBooks, changed after its last update and then shipped
    invoice_id = office.order()
    office.send_sales_order(invoice_id)
    office.session()
    txn_id = office.only_sales_order().txn_id
    office.change(invoice_id, boxes=4)  # no session in between: QuickBooks' sales order still has one box
    office.ship_and_send(invoice_id)
    # When the Web Connector runs
    run = office.session()
    # Then the invoice and the sales order are looked up, the sales order is made the order as shipped, and the
    # invoice links it whole (no lines of its own): QuickBooks brings the order's lines and closes it
    sent = [kind for message in request_kinds(run) for kind in message]
    assert sent.count("InvoiceAddRq") == 1 and sent[-1] == "InvoiceAddRq"
    assert "SalesOrderModRq" in sent and "SalesOrderAddRq" not in sent
    assert f"<LinkToTxnID>{txn_id}</LinkToTxnID>" in run.requests[-1]
    assert "<InvoiceLineAdd>" not in run.requests[-1]
    (invoice,) = office.company.invoices
    assert invoice.amount == 300 and [line["quantity"] for line in invoice.lines] == ["24"]  # four boxes of six
    order = office.only_sales_order()
    assert order.is_fully_invoiced and [link["txn_id"] for link in order.linked] == [invoice.txn_id]
    assert office.services.invoices.get(office.company_id, invoice_id).accounting.status is AccountingStatus.SENT
    assert office.sales_order(invoice_id).status is SalesOrderStatus.CLOSED


def test_the_invoice_of_a_sales_order_closed_by_hand_goes_unlinked_with_its_own_lines(office: Office) -> None:
    invoice_id = office.order()
    office.send_sales_order(invoice_id)
    office.session()
    office.only_sales_order().is_manually_closed = True  # a person closed it in QuickBooks
    office.ship_and_send(invoice_id)

    run = office.session()

    assert request_kinds(run) == [["CustomerQueryRq", "InvoiceQueryRq", "SalesOrderQueryRq"], ["InvoiceAddRq"]]
    assert "<LinkToTxnID>" not in run.requests[1] and "<InvoiceLineAdd>" in run.requests[1]
    (invoice,) = office.company.invoices
    assert invoice.amount == 75 and invoice.linked == []
    assert office.services.invoices.get(office.company_id, invoice_id).accounting.status is AccountingStatus.SENT


def test_the_invoice_waits_for_its_sales_order_still_on_its_way_then_links_it(office: Office) -> None:
    # Given a sales order queued, and its order shipped before any session ran
    invoice_id = office.order()
    office.send_sales_order(invoice_id)
    office.ship_and_send(invoice_id)
    # When the Web Connector runs twice
    first = office.session()
    second = office.session()
    # Then the first session adds the sales order (the invoice waits, to link to it) and the second the invoice
    assert request_kinds(first) == [["SalesOrderQueryRq"], ["SalesOrderAddRq"]]
    assert ["InvoiceAddRq"] in request_kinds(second)
    (invoice,) = office.company.invoices
    assert [link["txn_id"] for link in invoice.linked] == [office.only_sales_order().txn_id]
    assert office.sales_order(invoice_id).status is SalesOrderStatus.CLOSED


def test_a_stale_edit_sequence_leaves_the_change_for_the_next_session(office: Office) -> None:
    invoice_id = office.order()
    office.send_sales_order(invoice_id)
    office.session()
    office.change(invoice_id, boxes=2)
    # Someone edits the sales order in QuickBooks between Ledgersync's look-up and its Mod
    office.company.inject_error("SalesOrderMod", 3200, 'The provided edit sequence "1" is out-of-date. ')

    waiting = office.session()
    assert "1 sales order(s) wait for the next update" in waiting.close
    assert office.only_sales_order().amount == 75
    state = office.states.get(office.company_id, sales_order_ref(invoice_id), DESKTOP)
    assert state is not None and state.status is SyncStatus.SENDING and office.notifier.sent == []

    office.session()
    assert office.only_sales_order().amount == 150
    assert office.sales_order(invoice_id).status is SalesOrderStatus.OPEN


def test_a_company_file_without_sales_orders_puts_the_sales_order_in_error_with_the_fix(office: Office) -> None:
    office.company.sales_orders_enabled = False  # QuickBooks Pro, or sales orders turned off
    invoice_id = office.order()
    office.send_sales_order(invoice_id)

    office.session()

    shown = office.sales_order(invoice_id)
    assert shown.status is SalesOrderStatus.ERROR
    assert shown.error is not None and "Enable Sales Orders" in shown.error and "(3250)" in shown.error
    assert len(office.notifier.sent) == 1


def test_a_ref_number_taken_by_a_sales_order_ledgersync_did_not_make_is_refused(office: Office) -> None:
    invoice_id = office.order()
    number = office.services.invoices.get(office.company_id, invoice_id).invoice_number
    office.company.sales_orders.append(
        FakeSalesOrder(txn_id="T-1", customer=CUSTOMER, ref_number=str(number), amount=1, edit_sequence="1")
    )
    office.send_sales_order(invoice_id)

    run = office.session()

    assert request_kinds(run) == [["SalesOrderQueryRq"]]
    shown = office.sales_order(invoice_id)
    assert shown.status is SalesOrderStatus.ERROR and shown.error is not None
    assert "Ledgersync did not make" in shown.error
    assert len(office.company.sales_orders) == 1


def test_an_order_edited_in_quickbooks_before_the_linking_mod_leaves_the_invoice_for_the_next_session(
    office: Office,
) -> None:
    invoice_id = office.order()
    office.send_sales_order(invoice_id)
    office.session()
    office.ship_and_send(invoice_id)
    office.company.inject_error("SalesOrderMod", 3200, 'The provided edit sequence "1" is out-of-date. ')

    waiting = office.session()

    assert request_kinds(waiting)[-1] == ["SalesOrderModRq"] and office.company.invoices == []
    assert "1 invoice(s) wait for the next update" in waiting.close
    office.session()
    (invoice,) = office.company.invoices
    assert [link["txn_id"] for link in invoice.linked] == [office.only_sales_order().txn_id]


def test_a_sales_order_deleted_in_quickbooks_is_not_made_again_and_its_change_ends_in_error(office: Office) -> None:
    invoice_id = office.order()
    office.send_sales_order(invoice_id)
    office.session()
    office.company.sales_orders.clear()  # a person deleted it in QuickBooks
    office.change(invoice_id, boxes=2)

    run = office.session()

    assert request_kinds(run) == [["SalesOrderQueryRq"]]
    shown = office.sales_order(invoice_id)
    assert shown.status is SalesOrderStatus.ERROR and shown.error is not None
    assert "no longer in QuickBooks Desktop" in shown.error
    assert office.company.sales_orders == []


def test_a_sales_order_deleted_in_quickbooks_and_sent_again_after_its_error_is_added_anew_once(office: Office) -> None:
    # Given a sales order deleted by a person in QuickBooks, its change ended in Error ("send-sales-order again")
    invoice_id = office.order()
    office.send_sales_order(invoice_id)
    office.session()
    office.company.sales_orders.clear()
    office.change(invoice_id, boxes=2)
    office.session()
    assert office.sales_order(invoice_id).status is SalesOrderStatus.ERROR

    # When it is sent again, and two sessions run
    office.send_sales_order(invoice_id)
    office.session()
    office.session()

    # Then the session looked it up by its number and memo (not the old TxnID) and added one, once
    (added,) = office.company.sales_orders
    shown = office.sales_order(invoice_id)
    assert shown.status is SalesOrderStatus.OPEN and shown.external_id == added.txn_id


def test_an_unexpected_answer_to_the_invoice_s_sales_order_query_fails_the_invoice_rather_than_send_it_unlinked(
    office: Office,
) -> None:
    # Given a shipped order whose sales order is open in QuickBooks, and QuickBooks answering its look-up oddly
    invoice_id = office.order()
    office.send_sales_order(invoice_id)
    office.session()
    office.ship_and_send(invoice_id)
    office.company.inject_error("SalesOrderQuery", 9001, "An internal QuickBooks error occurred.")

    # When the Web Connector runs
    office.session()

    # Then no invoice was added unlinked (the open sales order would be invoiced again by hand): the invoice is in
    # Error with QuickBooks' reason and the way out
    assert office.company.invoices == []
    accounting = office.services.invoices.get(office.company_id, invoice_id).accounting
    assert accounting.status is AccountingStatus.ERROR and accounting.error is not None
    assert "(9001)" in accounting.error and "Send the invoice again" in accounting.error


@pytest.mark.parametrize("there", [True, False])
def test_a_taken_sales_order_whose_order_moved_on_is_recorded_or_put_in_error_by_what_quickbooks_holds(
    there: bool,
) -> None:
    # Given a sales order an earlier session took ("sending") whose order then moved on: nothing is written for it
    ledger = InMemoryPurchaseOrders()
    ledger.tokens[(USER, TOKEN)] = COMPANY
    clock = FakeClock(START)
    service = WebConnectorService(ledger, ledger, ledger, SimulatorSessions(clock), QbxmlCodec(), clock=clock)
    company = FakeCompany(customers=[CUSTOMER], items=["Roses", "Freight"], xsd_dir=XSD_DIR)
    order = draft(1).model_copy(update={"memo": sales_order_memo(1, 1001)})
    if there:
        company.sales_orders.append(
            FakeSalesOrder(txn_id="SO-1", customer=CUSTOMER, ref_number="W1001", amount=1, edit_sequence="5")
        )
        company.sales_orders[0].memo = order.memo
    ledger.add_sales_order(COMPANY, SalesOrderToSend("1", order, "v1", claimed=True, check_only=True))
    # When the Web Connector runs
    run = web_connector_session(service, company)
    # Then only a SalesOrderQuery goes; the one there is recorded, none there is an error to send it again
    assert request_kinds(run) == [["SalesOrderQueryRq"]]
    if there:
        assert ledger.order_status["1"] == "synchronized" and ledger.order_txn_ids["1"] == {"v1": "SO-1"}
    else:
        assert ledger.order_status["1"] == "error" and "send-sales-order" in ledger.order_errors["1"]
    assert len(company.sales_orders) == (1 if there else 0)


def test_a_busy_answer_to_the_invoice_s_sales_order_query_leaves_the_invoice_for_the_next_session(
    office: Office,
) -> None:
    invoice_id = office.order()
    office.send_sales_order(invoice_id)
    office.session()
    office.ship_and_send(invoice_id)
    office.company.inject_error("SalesOrderQuery", 3175, "The record is in use by another user.")

    waiting = office.session()

    assert (
        request_kinds(waiting) == [["CustomerQueryRq", "InvoiceQueryRq", "SalesOrderQueryRq"]]
        and office.company.invoices == []
    )
    office.session()
    (invoice,) = office.company.invoices
    assert [link["txn_id"] for link in invoice.linked] == [office.only_sales_order().txn_id]


def test_a_session_with_an_order_s_sales_order_change_and_its_invoice_writes_the_sales_order_first() -> None:
    # Given the sales order in QuickBooks, its last change queued, and the order's invoice queued in the same session
    ledger = InMemoryPurchaseOrders()
    ledger.tokens[(USER, TOKEN)] = COMPANY
    clock = FakeClock(START)
    service = WebConnectorService(ledger, ledger, ledger, SimulatorSessions(clock), QbxmlCodec(), clock=clock)
    company = FakeCompany(customers=[CUSTOMER], items=["Roses", "Freight"], xsd_dir=XSD_DIR)
    company.sales_orders.append(
        FakeSalesOrder(txn_id="SO-1", customer=CUSTOMER, ref_number="W1001", amount=1, edit_sequence="5")
    )
    company.sales_orders[0].memo = sales_order_memo(1, 1001)
    order = draft(1, version=2).model_copy(update={"memo": sales_order_memo(1, 1001)})
    ledger.add_sales_order(COMPANY, SalesOrderToSend("1", order, "v2", txn_id="SO-1"))
    ledger.add_sales_invoice(
        COMPANY, InvoiceToAdd("1", draft(1, version=2).model_copy(update={"sales_order_id": "SO-1"}))
    )
    # When the Web Connector runs
    run = web_connector_session(service, company)
    # Then the sales order's Mod goes alone, then the invoice links it with no Mod of its own (nothing refused)
    assert request_kinds(run) == [
        ["InvoiceQueryRq", "SalesOrderQueryRq", "SalesOrderQueryRq"],
        ["SalesOrderModRq"],
        ["InvoiceAddRq"],
    ]
    assert "<LinkToTxnID>SO-1</LinkToTxnID>" in run.requests[2]
    assert ledger.order_status["1"] == "synchronized" and ledger.sales_status["1"] == "synchronized"
    (invoice,) = company.invoices
    assert invoice.amount == 30.50 and company.sales_orders[0].is_fully_invoiced
