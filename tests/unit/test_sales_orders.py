"""An order's sales order in accounting (issue 12), on the in-memory stores through the composition root: send-sales-
order creates one sales order whatever the clicks and redeliveries, a change while it is open updates the same one
(never a second), the shipped invoice links to it and it shows closed, and the refusals say what to do.

The accounting system is ``Estimates`` (a sales-order ``DocumentWriter`` keeping its contract: one sales order per
order and generation, a draft naming one changes it) and ``Invoices`` (the sales invoices, recording their link).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from ledgersync import bootstrap
from ledgersync.bootstrap import Adapters, Services
from ledgersync.config import Settings
from ledgersync.domain.accounts import Accounts, CompanyCreate
from ledgersync.domain.directory import Kind
from ledgersync.domain.invoices import InvoiceChangeRequest, SalesOrderStatus, ShipRequest
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.sales_invoice_sync import OncePerTick
from ledgersync.domain.sales_invoices import InvoiceDraft
from ledgersync.domain.sales_orders import SalesOrderDraft, sales_order_ref
from ledgersync.domain.settings import AccountingSettings, Connection, ConnectionStatus
from ledgersync.domain.sync.documents import DocumentKind, DocumentRef
from ledgersync.domain.sync.messages import SyncMessage
from ledgersync.domain.sync.outcomes import Outcome
from ledgersync.domain.sync.state import SyncStatus
from ledgersync.domain.sync.targets import ExternalDocument
from ledgersync.errors import Conflict, NotFound, PermanentError, RetryableError
from tests.fakes import (
    FakeClock,
    FakeNotifier,
    FakeWorkQueue,
    InMemoryAccountStore,
    InMemoryDirectoryStore,
    InMemoryInvoiceStore,
    InMemoryProcessLogStore,
    InMemorySettingsStore,
    InMemorySyncStateStore,
)
from tests.support.invoicing import confirmed_order

START = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
ONLINE = ExternalSystem.QUICKBOOKS_ONLINE


@dataclass(frozen=True)
class Created:
    external_id: str


@dataclass
class Estimates:
    """Sales orders as the writer contract promises them: one per (order, generation); a draft naming one, or a send
    that finds one created already, changes it to the draft."""

    documents: dict[str, SalesOrderDraft] = field(default_factory=dict)
    by_order: dict[tuple[int, int], str] = field(default_factory=dict)
    updates: list[tuple[str, int]] = field(default_factory=list)
    closed: set[str] = field(default_factory=set)
    refuse: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_id: int = 500

    def send(self, draft: SalesOrderDraft) -> Created:
        with self.lock:
            if self.refuse:
                raise PermanentError(self.refuse)
            found = draft.external_id or self.by_order.get((draft.invoice_id, draft.generation))
            if found is not None:
                if found not in self.documents:
                    raise PermanentError(f"estimate {found} is gone")
                self.documents[found] = draft
                self.updates.append((found, draft.document_version))
                return Created(found)
            self.next_id += 1
            external_id = str(self.next_id)
            self.documents[external_id] = draft
            self.by_order[(draft.invoice_id, draft.generation)] = external_id
            return Created(external_id)

    def created_id(
        self, company_id: str, ref: DocumentRef, document_version: int | None, generation: int
    ) -> str | None:
        return self.by_order.get((int(ref.id), generation))

    def look_up(self, company_id: str, external_id: str) -> ExternalDocument | None:
        return ExternalDocument(external_id=external_id, sync_token="0") if external_id in self.documents else None

    def delete(self, company_id: str, external_id: str, sync_token: str) -> None:
        self.documents.pop(external_id, None)

    def of(self, invoice_id: int) -> list[SalesOrderDraft]:
        return [d for d in self.documents.values() if d.invoice_id == invoice_id]


@dataclass
class Invoices:
    """Sales invoices: one per (invoice, version, generation); one linked to an estimate closes it."""

    estimates: Estimates
    documents: dict[str, InvoiceDraft] = field(default_factory=dict)
    next_id: int = 100

    def send(self, draft: InvoiceDraft) -> Created:
        self.next_id += 1
        self.documents[str(self.next_id)] = draft
        if draft.sales_order_id:
            self.estimates.closed.add(draft.sales_order_id)
        return Created(str(self.next_id))

    def created_id(self, company_id: str, ref: DocumentRef, document_version: int | None, generation: int) -> None:
        return None

    def look_up(self, company_id: str, external_id: str) -> ExternalDocument | None:
        return ExternalDocument(external_id=external_id, sync_token="0") if external_id in self.documents else None

    def delete(self, company_id: str, external_id: str, sync_token: str) -> None:
        self.documents.pop(external_id, None)


@dataclass
class World:
    services: Services
    company_id: str
    estimates: Estimates
    invoices: Invoices
    queue: FakeWorkQueue
    settings: InMemorySettingsStore
    notifier: FakeNotifier
    states: InMemorySyncStateStore
    lines: int = 0

    def order(self) -> int:
        self.lines += 1
        return confirmed_order(
            self.services.invoices, self.services.directory, self.company_id, None, 2000 + self.lines, 5
        )

    def send(self, invoice_id: int) -> Any:
        return self.services.sales_order_sync.send(self.company_id, invoice_id)

    def change(self, invoice_id: int, boxes: int) -> None:
        line = self.services.invoices.get(self.company_id, invoice_id).items[0].order_item_id
        request = InvoiceChangeRequest(items=[{"orderItemId": line, "boxes": boxes, "price": "12.50"}])
        self.services.invoices.change(self.company_id, "U1", invoice_id, request)

    def drain(self) -> list[Outcome]:
        outcomes = []
        while self.queue.bodies:
            bodies, self.queue.bodies = self.queue.bodies, []
            outcomes += [self.services.accounting_sync.process(SyncMessage.parse(body)) for body in bodies]
        return outcomes

    def sales_order(self, invoice_id: int) -> Any:
        return self.services.invoices.get(self.company_id, invoice_id).accounting.sales_order

    def choose(self, system: ExternalSystem | None) -> None:
        self.settings.put_settings(
            self.company_id, AccountingSettings(external_system=system, notification_emails=["ap@example.com"])
        )


@pytest.fixture
def world() -> World:
    accounts = InMemoryAccountStore()
    company_id = Accounts(accounts).create_company(CompanyCreate(name="Demo Flowers", currency="USD")).company_id
    directory = InMemoryDirectoryStore()
    states = InMemorySyncStateStore()
    invoice_store = InMemoryInvoiceStore(accounts, directory.records, states=states)
    settings = InMemorySettingsStore(accounts)
    queue, notifier = FakeWorkQueue(), FakeNotifier()
    estimates = Estimates()
    invoices = Invoices(estimates)
    adapters = Adapters(
        account_store=accounts,  # type: ignore[arg-type]
        settings_store=settings,  # type: ignore[arg-type]
        directory_store=directory,  # type: ignore[arg-type]
        invoice_store=invoice_store,  # type: ignore[arg-type]
        sync_states=states,
        sync_queue=queue,
        notifier=notifier,  # type: ignore[arg-type]
        release_turns=OncePerTick(),
        process_log_store=InMemoryProcessLogStore(),
        clock=FakeClock(START),
    )
    services = bootstrap.build(
        Settings(),
        adapters,
        use_cases={
            "quickbooks_writers": {DocumentKind.SALES_INVOICE: invoices, DocumentKind.SALES_ORDER: estimates},
            "invoice_lookups": {ONLINE: invoices},
            "sales_order_targets": frozenset({ONLINE}),
        },
    )
    services.directory.upsert(company_id, Kind.CUSTOMERS, [{"id": 7, "code": "ANG", "name": "Ang"}])
    services.directory.upsert(company_id, Kind.CARRIERS, [{"id": 4, "code": "AR", "name": "Armellini"}])
    built = World(services, company_id, estimates, invoices, queue, settings, notifier, states)
    built.choose(ONLINE)
    settings.put_connection(company_id, Connection(status=ConnectionStatus.CONNECTED, realm_id="9130"))
    return built


def test_send_sales_order_creates_one_sales_order_and_the_view_shows_it_open(world: World) -> None:
    invoice_id = world.order()

    answer = world.send(invoice_id)
    assert answer.sales_order.status is SalesOrderStatus.QUEUED
    world.drain()

    (draft,) = world.estimates.of(invoice_id)
    view = world.sales_order(invoice_id)
    assert view.status is SalesOrderStatus.OPEN
    assert view.external_id == "501"
    assert draft.total == Decimal("75.00")  # one box of six bunches at 12.50
    assert draft.memo == f"Ledgersync sales order {draft.invoice_number} (id {invoice_id})"


def test_a_second_send_and_a_redelivery_make_no_second_sales_order(world: World) -> None:
    invoice_id = world.order()
    world.send(invoice_id)
    redelivered = list(world.queue.bodies)
    world.drain()

    again = world.send(invoice_id)
    world.queue.bodies += redelivered
    world.drain()

    assert "already in QuickBooks Online (id 501)" in again.message
    assert len(world.estimates.documents) == 1
    assert world.estimates.updates == []


def test_a_change_while_the_sales_order_is_open_updates_the_same_one(world: World) -> None:
    invoice_id = world.order()
    world.send(invoice_id)
    world.drain()

    world.change(invoice_id, boxes=3)
    assert world.sales_order(invoice_id).status is SalesOrderStatus.QUEUED
    world.drain()

    (draft,) = world.estimates.of(invoice_id)
    assert len(world.estimates.documents) == 1
    assert draft.external_id == "501" and draft.total == Decimal("225.00")
    assert world.estimates.updates == [("501", draft.document_version)]
    assert world.sales_order(invoice_id).status is SalesOrderStatus.OPEN


def test_the_change_and_the_sales_orders_state_are_written_together_or_not_at_all(world: World) -> None:
    # Given an open sales order whose state someone else writes between the change's read and its write
    invoice_id = world.order()
    world.send(invoice_id)
    world.drain()
    original = world.services.sales_order_sync.plan_change

    def racing(company_id: str, the_id: int, next_version: int) -> Any:
        planned = original(company_id, the_id, next_version)
        state = world.states.get(company_id, sales_order_ref(the_id), ONLINE)
        assert state is not None
        world.states.put(state.model_copy(update={"reason": "touched"}), state.version)
        return planned

    world.services.sales_order_sync.plan_change = racing  # type: ignore[method-assign]
    # When the invoice is changed
    with pytest.raises(Conflict):
        world.change(invoice_id, boxes=2)
    # Then neither the invoice nor the sales order moved
    assert world.services.invoices.get(world.company_id, invoice_id).items[0].boxes == 1
    state = world.states.get(world.company_id, sales_order_ref(invoice_id), ONLINE)
    assert state is not None and state.status is SyncStatus.SYNCHRONIZED


def test_a_change_while_the_create_is_in_flight_sends_the_new_version_to_the_same_sales_order(world: World) -> None:
    # Given a send claimed (sending) whose create has not been recorded yet
    invoice_id = world.order()
    world.send(invoice_id)
    (first,) = world.queue.bodies
    world.queue.bodies = []
    ref = sales_order_ref(invoice_id)
    claimed = world.services.sync_recorder.claim(world.company_id, ref, ONLINE)
    assert claimed is not None
    # When the invoice changes, then the first send's create lands and records, and every message is processed
    world.change(invoice_id, boxes=2)
    created = world.estimates.send(
        world.services.mappers.get(DocumentKind.SALES_ORDER).drafts(
            world.services.mappers.get(DocumentKind.SALES_ORDER).load(world.company_id, ref), claimed
        )[0]
    )
    world.services.sync_recorder.recorded(world.company_id, ref, ONLINE, {f"v{claimed.document_version}": "501"})
    world.queue.bodies.append(first)
    world.drain()
    # Then one sales order holds the new version
    assert created.external_id == "501"
    (draft,) = world.estimates.of(invoice_id)
    assert len(world.estimates.documents) == 1 and draft.total == Decimal("150.00")
    assert world.sales_order(invoice_id).status is SalesOrderStatus.OPEN


def test_the_shipped_invoice_links_to_the_sales_order_which_then_shows_closed(world: World) -> None:
    invoice_id = world.order()
    world.send(invoice_id)
    world.drain()

    world.services.invoices.ship(world.company_id, invoice_id, ShipRequest())
    world.services.sales_invoice_sync.send_now(world.company_id, invoice_id)
    world.drain()

    (invoice,) = world.invoices.documents.values()
    assert invoice.sales_order_id == "501"
    assert world.estimates.closed == {"501"}
    assert world.sales_order(invoice_id).status is SalesOrderStatus.CLOSED
    assert world.sales_order(invoice_id).external_id == "501"


def test_the_invoice_waits_for_a_sales_order_still_on_its_way(world: World) -> None:
    # Given a sales order queued and not created yet when the order ships
    invoice_id = world.order()
    world.send(invoice_id)
    sales_order_message = list(world.queue.bodies)
    world.queue.bodies = []
    world.services.invoices.ship(world.company_id, invoice_id, ShipRequest())
    world.services.sales_invoice_sync.send_now(world.company_id, invoice_id)
    (invoice_message,) = world.queue.bodies
    # When the invoice's message comes first, it is retried; once the sales order is created, it links to it
    with pytest.raises(RetryableError, match="sales order is still being sent"):
        world.services.accounting_sync.process(SyncMessage.parse(invoice_message))
    world.queue.bodies = [*sales_order_message, invoice_message]
    world.drain()

    (invoice,) = world.invoices.documents.values()
    assert invoice.sales_order_id == "501"
    assert world.sales_order(invoice_id).status is SalesOrderStatus.CLOSED


def test_a_refusal_ends_in_error_with_one_email_and_send_again_sends_it(world: World) -> None:
    invoice_id = world.order()
    world.estimates.refuse = "QuickBooks refused the estimate: there is no item named 'Roses'"
    world.send(invoice_id)
    world.drain()

    view = world.sales_order(invoice_id)
    assert view.status is SalesOrderStatus.ERROR and "no item named 'Roses'" in (view.error or "")
    (mail,) = world.notifier.sent
    assert "Sales order" in mail.subject and "QuickBooks Online" in mail.subject

    world.estimates.refuse = None
    world.send(invoice_id)
    world.drain()
    assert world.sales_order(invoice_id).status is SalesOrderStatus.OPEN
    assert len(world.estimates.documents) == 1


def test_a_shipped_order_is_refused_with_the_fix(world: World) -> None:
    invoice_id = world.order()
    world.services.invoices.ship(world.company_id, invoice_id, ShipRequest())

    with pytest.raises(Conflict, match=r"is Shipped.*send-now.*unship"):
        world.send(invoice_id)


def test_no_accounting_system_the_webhook_and_a_target_without_sales_orders_are_refused(world: World) -> None:
    invoice_id = world.order()
    world.choose(None)
    with pytest.raises(Conflict, match="no accounting system is chosen"):
        world.send(invoice_id)
    world.choose(ExternalSystem.WEBHOOK)
    with pytest.raises(Conflict, match="takes purchase orders only, no sales orders"):
        world.send(invoice_id)
    world.choose(ExternalSystem.QUICKBOOKS_DESKTOP)
    with pytest.raises(Conflict, match="takes no sales orders from Ledgersync yet"):
        world.send(invoice_id)
    assert world.queue.bodies == []


def test_an_unknown_invoice_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        world.send(999)


def test_an_order_without_a_sales_order_shows_not_sent_and_its_invoice_links_to_nothing(world: World) -> None:
    invoice_id = world.order()
    assert world.sales_order(invoice_id).status is SalesOrderStatus.NOT_SENT

    world.change(invoice_id, boxes=2)  # no sales order: nothing is queued
    assert world.queue.bodies == []
    world.services.invoices.ship(world.company_id, invoice_id, ShipRequest())
    world.services.sales_invoice_sync.send_now(world.company_id, invoice_id)
    world.drain()

    (invoice,) = world.invoices.documents.values()
    assert invoice.sales_order_id is None
    assert world.sales_order(invoice_id).status is SalesOrderStatus.NOT_SENT


def test_an_update_still_queued_when_the_order_ships_is_sent_and_leaves_nothing_queued(world: World) -> None:
    # Given an open sales order, changed and shipped before the update's message comes
    invoice_id = world.order()
    world.send(invoice_id)
    world.drain()
    world.change(invoice_id, boxes=4)
    world.services.invoices.ship(world.company_id, invoice_id, ShipRequest())
    world.services.sales_invoice_sync.send_now(world.company_id, invoice_id)
    # When the queue is drained
    world.drain()
    # Then the same sales order holds the change, the invoice links to it, and no state is left on its way
    (draft,) = world.estimates.of(invoice_id)
    assert draft.total == Decimal("300.00") and len(world.estimates.documents) == 1
    (invoice,) = world.invoices.documents.values()
    assert invoice.sales_order_id == "501"
    state = world.states.get(world.company_id, sales_order_ref(invoice_id), ONLINE)
    assert state is not None and state.status is SyncStatus.SYNCHRONIZED
    assert world.sales_order(invoice_id).status is SalesOrderStatus.CLOSED


def test_an_order_whose_invoice_is_in_accounting_already_takes_no_sales_order(world: World) -> None:
    # Given an order shipped, invoiced in accounting, then unshipped (a manual store keeps its invoice there)
    invoice_id = world.order()
    world.services.invoices.ship(world.company_id, invoice_id, ShipRequest())
    world.services.sales_invoice_sync.send_now(world.company_id, invoice_id)
    world.drain()
    world.services.invoices.unship(world.company_id, invoice_id)

    # When a sales order is asked for, it is refused with the fix, and nothing is queued
    with pytest.raises(Conflict, match=r"is sent in QuickBooks Online.*once that invoice is gone"):
        world.send(invoice_id)
    assert world.queue.bodies == [] and world.estimates.documents == {}


def test_an_invoice_sent_between_the_read_and_the_write_of_send_sales_order_supersedes_the_sales_order(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given send-sales-order for an order not shipped, and the order shipped and its invoice sent (unlinked: no sales
    # order yet) right after send-sales-order read the order and before its state was written
    invoice_id = world.order()
    sync = world.services.sales_order_sync
    real_queue = sync._queue

    def raced(*args: Any, **kwargs: Any) -> Any:
        world.services.invoices.ship(world.company_id, invoice_id, ShipRequest())
        world.services.sales_invoice_sync.send_now(world.company_id, invoice_id)
        world.drain()
        return real_queue(*args, **kwargs)

    monkeypatch.setattr(sync, "_queue", raced)

    # When send-sales-order writes its state
    with pytest.raises(Conflict, match="went to QuickBooks Online while its sales order was being sent"):
        world.send(invoice_id)
    world.drain()

    # Then no sales order is created for the invoiced order (it could never be linked or closed), and nothing is left
    # on its way
    assert world.estimates.documents == {}
    state = world.states.get(world.company_id, sales_order_ref(invoice_id), ONLINE)
    assert state is not None and state.status is SyncStatus.SUPERSEDED
    assert world.sales_order(invoice_id).status is SalesOrderStatus.NOT_SENT
