"""The Web Connector on the sync core, through the composition root on the in-memory stores: the outbox reads the
sales invoices' sync states (queued, sending, deleting), the outcomes move them, and the fake company file is the
QuickBooks Desktop company. What a session cut at the worst moment leaves behind is healed by the next one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from devstack.fake_qb_company import FakeCompany

from ledgersync import bootstrap
from ledgersync.bootstrap import Adapters, Services
from ledgersync.config import Settings
from ledgersync.domain.accounts import Accounts, CompanyCreate
from ledgersync.domain.directory import Kind
from ledgersync.domain.invoices import AccountingStatus, ShipRequest
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.sales_invoice_sync import OncePerTick, SendAgainRequest, invoice_ref
from ledgersync.domain.sales_invoices import invoice_memo
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
from tests.support.desktop import XSD_DIR, Run, web_connector_session
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

    def order(self, store_code: str, line: int) -> int:
        return confirmed_order(
            self.services.invoices, self.services.directory, self.company_id, store_code, line, available_boxes=9
        )

    def ship(self, invoice_id: int) -> int:
        return self.services.invoices.ship(self.company_id, invoice_id, ShipRequest()).version

    def unship(self, invoice_id: int) -> None:
        self.services.invoices.unship(self.company_id, invoice_id)

    def release(self) -> None:
        self.clock.advance(timedelta(minutes=2))
        self.services.automatic_invoice_queue.release_due([self.company_id])

    def session(self, *, cut_after: int | None = None) -> Run:
        return web_connector_session(
            self.services.web_connector, self.company, user=self.company_id, password=self.password, cut_after=cut_after
        )

    def accounting(self, invoice_id: int) -> AccountingStatus:
        return self.services.invoices.get(self.company_id, invoice_id).accounting.status

    def number(self, invoice_id: int) -> int:
        return self.services.invoices.get(self.company_id, invoice_id).invoice_number


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
        # the Web Connector's planning reads the process log (the Desktop export's runs): in memory, not DynamoDB
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
        [
            {
                "id": 1,
                "code": "AUTO",
                "name": "Web",
                "customerMode": "direct",
                "invoiceSync": "automatic",
                "invoicePrefix": "W",
            },
            {"id": 2, "code": "MAN", "name": "Phone", "customerMode": "direct", "invoiceSync": "manual"},
        ],
    )
    company = FakeCompany(customers=[CUSTOMER], items=["Fresh Cut Flowers"], xsd_dir=XSD_DIR)
    return Office(services, company_id, created.admin_token, clock, states, notifier, company)


def test_shipped_invoice_is_added_once_and_shows_sent_with_its_txn_id_when_the_web_connector_runs(
    office: Office,
) -> None:
    invoice_id = office.order("AUTO", 1)
    version = office.ship(invoice_id)
    office.release()
    run = office.session()
    (invoice,) = office.company.invoices
    assert invoice.ref_number == f"W{office.number(invoice_id)}"
    assert invoice.memo == invoice_memo(invoice_id, office.number(invoice_id), version)
    shown = office.services.invoices.get(office.company_id, invoice_id).accounting
    assert (shown.status, shown.external_id, shown.doc_number) == (
        AccountingStatus.SENT,
        invoice.txn_id,
        invoice.ref_number,
    )
    assert "1 invoice(s) added" in run.close
    assert office.session().status == "none"


def test_an_unshipped_invoice_whose_txn_id_was_never_recorded_is_found_and_deleted_when_the_session_was_cut(
    office: Office,
) -> None:
    # Given a session cut after QuickBooks added the invoice, before its TxnID reached Ledgersync ("sending")
    invoice_id = office.order("AUTO", 1)
    office.ship(invoice_id)
    office.release()
    office.session(cut_after=2)
    assert len(office.company.invoices) == 1
    state = office.states.get(office.company_id, invoice_ref(invoice_id), DESKTOP)
    assert state is not None and state.status is SyncStatus.SENDING and state.external_ids == {}
    # When the order is unshipped (automatic store) and the next update runs
    office.unship(invoice_id)
    assert office.accounting(invoice_id) is AccountingStatus.DELETING
    office.clock.advance(timedelta(hours=1))
    run = office.session()
    # Then the invoice is found by the RefNumber and memo it was sent with, and deleted
    assert office.company.invoices == [] and len(office.company.deleted_txn_ids) == 1
    assert "<InvoiceQueryRq" in run.requests[0] and "<TxnDelRq" in run.requests[1]
    assert office.accounting(invoice_id) is AccountingStatus.DELETED


def test_an_add_answered_after_the_unship_is_recorded_and_deleted_at_the_next_session(office: Office) -> None:
    # Given a session whose InvoiceAdd is on its way when the order is unshipped
    invoice_id = office.order("AUTO", 1)
    office.ship(invoice_id)
    office.release()
    service = office.services.web_connector
    ticket = service.authenticate(office.company_id, office.password).ticket
    lookup = service.send_request(ticket, major=13)
    service.receive_response(ticket, office.company.process(lookup).response, "", "")
    add = service.send_request(ticket, major=13)
    office.unship(invoice_id)
    # When QuickBooks' answer to the add arrives
    assert service.receive_response(ticket, office.company.process(add).response, "", "") == 100
    # Then its TxnID is kept on the delete, which the next session carries out by that TxnID
    (invoice,) = office.company.invoices
    state = office.states.get(office.company_id, invoice_ref(invoice_id), DESKTOP)
    assert state is not None and state.status is SyncStatus.DELETING and state.external_ids == {"": invoice.txn_id}
    run = office.session()
    assert len(run.requests) == 1 and "<TxnDelRq" in run.requests[0]
    assert office.company.invoices == [] and office.company.deleted_txn_ids == [invoice.txn_id]
    assert office.accounting(invoice_id) is AccountingStatus.DELETED


def test_a_reship_during_the_delete_sends_the_new_version_only_once_the_old_one_is_gone(office: Office) -> None:
    invoice_id = office.order("AUTO", 1)
    office.ship(invoice_id)
    office.release()
    office.session()
    (first,) = office.company.invoices
    # When the order is unshipped and shipped again before the Web Connector runs
    office.unship(invoice_id)
    latest = office.ship(invoice_id)
    office.release()
    office.session()
    # Then the session deleted the old invoice and added nothing yet: never two at once
    assert office.company.invoices == [] and office.company.deleted_txn_ids == [first.txn_id]
    office.release()
    office.session()
    (second,) = office.company.invoices
    assert second.memo == invoice_memo(invoice_id, office.number(invoice_id), latest)
    assert office.accounting(invoice_id) is AccountingStatus.SENT


def test_a_refusal_ends_in_error_with_one_email_and_is_not_sent_again_by_itself(office: Office) -> None:
    office.company.customers.clear()
    invoice_id = office.order("MAN", 1)
    office.ship(invoice_id)
    office.services.sales_invoice_sync.send_now(office.company_id, invoice_id)
    office.session()
    shown = office.services.invoices.get(office.company_id, invoice_id).accounting
    assert shown.status is AccountingStatus.ERROR
    assert shown.error is not None and shown.error.startswith(
        f"QuickBooks Desktop refused invoice {office.number(invoice_id)} (3140): "
    )
    assert len(office.notifier.sent) == 1
    assert office.session().status == "none"


def test_a_taken_invoice_whose_order_moved_on_is_recorded_when_its_add_reached_quickbooks(office: Office) -> None:
    # Given a manual store's invoice sent now, its session cut after QuickBooks added it (no TxnID recorded)
    invoice_id = office.order("MAN", 1)
    office.ship(invoice_id)
    office.services.sales_invoice_sync.send_now(office.company_id, invoice_id)
    office.session(cut_after=2)
    (invoice,) = office.company.invoices
    # When the order is unshipped (a manual store deletes nothing) and the next update runs
    office.unship(invoice_id)
    office.clock.advance(timedelta(hours=1))
    run = office.session()
    # Then the invoice QuickBooks has is recorded, nothing is added or deleted
    assert len(run.requests) == 1 and "<InvoiceAddRq" not in run.requests[0]
    assert office.company.invoices == [invoice] and office.company.deleted_txn_ids == []
    shown = office.services.invoices.get(office.company_id, invoice_id).accounting
    assert (shown.status, shown.external_id) == (AccountingStatus.SENT, invoice.txn_id)


def test_a_taken_invoice_whose_order_moved_on_goes_to_error_when_its_add_never_reached_quickbooks(
    office: Office,
) -> None:
    # Given a manual store's invoice taken by a session (sending) that ended before its InvoiceAdd went
    invoice_id = office.order("MAN", 1)
    office.ship(invoice_id)
    office.services.sales_invoice_sync.send_now(office.company_id, invoice_id)
    service = office.services.web_connector
    ticket = service.authenticate(office.company_id, office.password).ticket
    lookup = service.send_request(ticket, major=13)
    service.receive_response(ticket, office.company.process(lookup).response, "", "")
    assert office.accounting(invoice_id) is AccountingStatus.SENDING
    # When the order is unshipped and the next update runs
    office.unship(invoice_id)
    office.clock.advance(timedelta(hours=1))
    office.session()
    # Then it is in error with what to do, not stuck in "sending"; shipped and sent again, it goes
    shown = office.services.invoices.get(office.company_id, invoice_id).accounting
    assert shown.status is AccountingStatus.ERROR
    assert shown.error is not None and "QuickBooks Desktop does not have it; send it again" in shown.error
    assert office.company.invoices == []
    latest = office.ship(invoice_id)
    office.services.sales_invoice_sync.send_again(office.company_id, invoice_id, SendAgainRequest())
    office.session()
    (invoice,) = office.company.invoices
    assert invoice.memo == invoice_memo(invoice_id, office.number(invoice_id), latest)
