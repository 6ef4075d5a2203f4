"""Goflow's rules for sales invoices in accounting (issue 10), on the in-memory stores through the composition root:
ship in an automatic store schedules, the automatic queue releases paced over the window, disconnected holds,
send now cancels the automatic send, unship deletes (automatic) or not (manual), reship sends the latest version
only, send again refuses while the accounting invoice exists unless replace, a refusal cancels the automatic send.

The accounting system is ``Books``: a ``DocumentWriter`` that keeps its contract (one document per invoice
version, whatever the retries) and records any moment two versions of one order were there at once.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from ledgersync import bootstrap
from ledgersync.bootstrap import Adapters, Services
from ledgersync.config import Settings
from ledgersync.domain.accounts import Accounts, CompanyCreate
from ledgersync.domain.directory import Kind
from ledgersync.domain.invoices import AccountingStatus, ShipRequest
from ledgersync.domain.process_log import RunStatus
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.sales_invoice_sync import OncePerTick, SendAgainRequest, invoice_ref
from ledgersync.domain.sales_invoices import InvoiceDraft
from ledgersync.domain.settings import AccountingSettings, Connection, ConnectionStatus
from ledgersync.domain.sync.documents import DocumentKind, DocumentRef
from ledgersync.domain.sync.messages import SyncMessage
from ledgersync.domain.sync.state import SyncStatus
from ledgersync.domain.sync.targets import ExternalDocument
from ledgersync.errors import Conflict, PermanentError
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

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ONLINE = ExternalSystem.QUICKBOOKS_ONLINE


@dataclass(frozen=True)
class Created:
    external_id: str


@dataclass
class Books:
    """QuickBooks Online's invoices as the writer contract promises them: one per (invoice, version, generation)."""

    documents: dict[str, InvoiceDraft] = field(default_factory=dict)
    by_version: dict[tuple[int, int, int], str] = field(default_factory=dict)
    refuse: str | None = None
    two_at_once: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_id: int = 100

    def send(self, draft: InvoiceDraft) -> Created:
        with self.lock:
            if self.refuse:
                raise PermanentError(self.refuse)
            key = (draft.invoice_id, draft.document_version, draft.generation)
            if key in self.by_version:
                return Created(self.by_version[key])
            if any(d.invoice_id == draft.invoice_id for d in self.documents.values()):
                self.two_at_once.append(draft.invoice_id)
            self.next_id += 1
            external_id = str(self.next_id)
            self.documents[external_id] = draft
            self.by_version[key] = external_id
            return Created(external_id)

    def created_id(
        self, company_id: str, ref: DocumentRef, document_version: int | None, generation: int
    ) -> str | None:
        with self.lock:
            found = self.by_version.get((int(ref.id), document_version or 0, generation))
            return found if found in self.documents else None

    def look_up(self, company_id: str, external_id: str) -> ExternalDocument | None:
        with self.lock:
            return ExternalDocument(external_id=external_id, sync_token="0") if external_id in self.documents else None

    def delete(self, company_id: str, external_id: str, sync_token: str) -> None:
        with self.lock:
            self.documents.pop(external_id, None)

    def of(self, invoice_id: int) -> list[InvoiceDraft]:
        return [d for d in self.documents.values() if d.invoice_id == invoice_id]


@dataclass
class World:
    services: Services
    company_id: str
    books: Books
    queue: FakeWorkQueue
    clock: FakeClock
    settings: InMemorySettingsStore
    notifier: FakeNotifier
    states: InMemorySyncStateStore
    boxes: int = 0

    def store(self, code: str, sync: str, **fields: Any) -> int:
        store_id = 10 + len(code)
        self.services.directory.upsert(
            self.company_id,
            Kind.STORES,
            [{"id": store_id, "code": code, "name": code, "customerMode": "direct", "invoiceSync": sync, **fields}],
        )
        return store_id

    def order(self, store_code: str) -> int:
        """A Confirmed invoice of one item in the store."""
        self.boxes += 1
        return confirmed_order(
            self.services.invoices,
            self.services.directory,
            self.company_id,
            store_code,
            1000 + self.boxes,
            available_boxes=2,
        )

    def ship(self, invoice_id: int) -> None:
        self.services.invoices.ship(self.company_id, invoice_id, ShipRequest())

    def unship(self, invoice_id: int) -> None:
        self.services.invoices.unship(self.company_id, invoice_id)

    def release(self) -> int:
        return self.services.automatic_invoice_queue.release_due([self.company_id]).released

    def drain(self, shuffle: random.Random | None = None) -> int:
        """Process every queued message (in a shuffled order when asked), until the queue is empty."""
        done = 0
        while self.queue.bodies:
            bodies, self.queue.bodies = self.queue.bodies, []
            if shuffle is not None:
                shuffle.shuffle(bodies)
            for body in bodies:
                self.services.accounting_sync.process(SyncMessage.parse(body))
                done += 1
        return done

    def accounting(self, invoice_id: int) -> Any:
        return self.services.invoices.get(self.company_id, invoice_id).accounting

    def connect(self, status: ConnectionStatus = ConnectionStatus.CONNECTED) -> None:
        self.settings.put_connection(self.company_id, Connection(status=status, realm_id="9130"))


@pytest.fixture
def world() -> World:
    accounts = InMemoryAccountStore()
    company_id = Accounts(accounts).create_company(CompanyCreate(name="Demo Flowers", currency="USD")).company_id
    directory = InMemoryDirectoryStore()
    states = InMemorySyncStateStore()
    invoices = InMemoryInvoiceStore(accounts, directory.records, states=states)
    settings = InMemorySettingsStore(accounts)
    settings.put_settings(
        company_id,
        AccountingSettings(external_system=ONLINE, notification_emails=["ap@example.com"], auto_sync_window_minutes=60),
    )
    clock, queue, notifier, books = FakeClock(START), FakeWorkQueue(), FakeNotifier(), Books()
    adapters = Adapters(
        account_store=accounts,  # type: ignore[arg-type]
        settings_store=settings,  # type: ignore[arg-type]
        directory_store=directory,  # type: ignore[arg-type]
        invoice_store=invoices,  # type: ignore[arg-type]
        sync_states=states,
        sync_queue=queue,
        notifier=notifier,  # type: ignore[arg-type]
        release_turns=OncePerTick(),
        process_log_store=InMemoryProcessLogStore(),
        clock=clock,
    )
    services = bootstrap.build(
        Settings(),
        adapters,
        use_cases={"quickbooks_writers": {DocumentKind.SALES_INVOICE: books}, "invoice_lookups": {ONLINE: books}},
    )
    services.directory.upsert(company_id, Kind.CUSTOMERS, [{"id": 7, "code": "ANG", "name": "Ang"}])
    services.directory.upsert(company_id, Kind.CARRIERS, [{"id": 4, "code": "AR", "name": "Armellini"}])
    built = World(services, company_id, books, queue, clock, settings, notifier, states)
    built.connect()
    return built


def test_shipping_in_an_automatic_store_queues_the_invoice_and_sends_nothing_on_the_spot(world: World) -> None:
    world.store("AUTO", "automatic")
    invoice_id = world.order("AUTO")

    world.ship(invoice_id)

    accounting = world.accounting(invoice_id)
    assert accounting.status is AccountingStatus.QUEUED
    assert accounting.scheduled_for == START + timedelta(minutes=60)
    assert world.queue.bodies == [] and world.books.documents == {}


def test_a_burst_is_released_evenly_over_the_window_and_all_are_sent_by_its_end(world: World) -> None:
    world.store("AUTO", "automatic")
    orders = [world.order("AUTO") for _ in range(120)]
    for invoice_id in orders:
        world.ship(invoice_id)

    per_minute = []
    for _ in range(62):
        world.clock.advance(timedelta(minutes=1))
        per_minute.append(world.release())
        world.drain()

    assert sum(per_minute) == 120
    assert len(world.books.documents) == 120
    busy = [n for n in per_minute if n]
    assert max(per_minute) <= 1.2 * (120 / 60)
    assert len(busy) >= 55  # spread over the window, not sent in a lump
    assert all(world.accounting(i).status is AccountingStatus.SENT for i in orders)


def test_each_minute_that_releases_is_one_process_log_entry_and_an_idle_minute_none(world: World) -> None:
    world.store("AUTO", "automatic")
    for invoice_id in [world.order("AUTO") for _ in range(3)]:
        world.ship(invoice_id)

    world.clock.advance(timedelta(minutes=61))
    released = world.release()
    world.clock.advance(timedelta(minutes=1))
    assert world.release() == 0

    runs, _ = world.services.process_log.store.page(world.company_id, 10, None)
    assert released == 3
    assert [(r.name, r.status, r.counts) for r in runs] == [
        ("Automatic Invoice Release", RunStatus.SUCCEEDED, {"released": 3})
    ]
    assert runs[0].messages[0].message == "3 automatic invoice(s) released to accounting"


def test_a_second_run_in_the_same_minute_releases_nothing_more(world: World) -> None:
    world.store("AUTO", "automatic")
    for _ in range(50):
        world.ship(world.order("AUTO"))
    world.clock.advance(timedelta(minutes=56))  # five minutes left: ten a minute

    first, second = world.release(), world.release()

    assert (first, second) == (10, 0)
    world.clock.advance(timedelta(minutes=1))
    assert world.release() == 10


def test_a_disconnected_company_holds_its_queued_invoices_and_sends_them_paced_once_reconnected(world: World) -> None:
    world.store("AUTO", "automatic")
    orders = [world.order("AUTO") for _ in range(3)]
    for invoice_id in orders:
        world.ship(invoice_id)
    world.connect(ConnectionStatus.REAUTHORIZATION_REQUIRED)
    world.clock.advance(timedelta(minutes=61))

    world.release()

    assert {world.accounting(i).status for i in orders} == {AccountingStatus.HELD}
    assert "reconnected" in (world.accounting(orders[0]).error or "")

    world.connect()
    world.services.held_work.sweep([world.company_id], world.clock.now())
    assert {world.accounting(i).status for i in orders} == {AccountingStatus.QUEUED}  # back on the automatic queue
    for _ in range(61):
        world.clock.advance(timedelta(minutes=1))
        world.release()
        world.drain()
    assert len(world.books.documents) == 3


def test_send_now_and_the_automatic_release_in_the_same_instant_send_one_invoice(world: World) -> None:
    world.store("AUTO", "automatic")
    for _ in range(25):
        invoice_id = world.order("AUTO")
        world.ship(invoice_id)
        world.clock.advance(timedelta(minutes=61))  # due now
        barrier = threading.Barrier(2)

        def now(invoice_id: int = invoice_id, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            world.services.sales_invoice_sync.send_now(world.company_id, invoice_id)

        def automatic(barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            world.release()

        threads = [threading.Thread(target=now), threading.Thread(target=automatic)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        world.drain()
        assert len(world.books.of(invoice_id)) == 1
    assert len(world.books.documents) == 25


def test_unship_and_reship_in_any_queue_order_leave_only_the_latest_version_and_never_two_at_once(world: World) -> None:
    world.store("AUTO", "automatic")
    shuffle = random.Random(7)
    for _ in range(10):
        invoice_id = world.order("AUTO")
        world.ship(invoice_id)
        world.clock.advance(timedelta(minutes=61))
        world.release()
        world.drain(shuffle)
        for _ in range(shuffle.randint(1, 4)):
            world.unship(invoice_id)
            if shuffle.random() < 0.5:
                world.drain(shuffle)
            world.ship(invoice_id)
            if shuffle.random() < 0.5:
                world.clock.advance(timedelta(minutes=61))
                world.release()
            if shuffle.random() < 0.5:
                world.drain(shuffle)
        for _ in range(3):
            world.clock.advance(timedelta(minutes=61))
            world.release()
            world.drain(shuffle)

        latest = world.services.invoices.get(world.company_id, invoice_id)
        (held,) = world.books.of(invoice_id)
        assert held.document_version == latest.version
        assert latest.accounting.status is AccountingStatus.SENT
    assert world.books.two_at_once == []


def test_unshipping_a_still_queued_invoice_just_cancels_it(world: World) -> None:
    world.store("AUTO", "automatic")
    invoice_id = world.order("AUTO")
    world.ship(invoice_id)

    world.unship(invoice_id)
    world.clock.advance(timedelta(minutes=61))
    world.release()
    world.drain()

    assert world.accounting(invoice_id).status is AccountingStatus.NOT_SENT
    assert world.books.documents == {}


def test_unshipping_while_the_create_is_in_flight_deletes_what_it_made(world: World) -> None:
    world.store("AUTO", "automatic")
    invoice_id = world.order("AUTO")
    world.ship(invoice_id)
    world.clock.advance(timedelta(minutes=61))
    world.release()
    ref = invoice_ref(invoice_id)
    recorder = world.services.sync_recorder
    # the consumer claimed the invoice and is creating it when the order is unshipped
    assert recorder.claim(world.company_id, ref, ONLINE) is not None
    (draft,) = world.services.mappers.get(DocumentKind.SALES_INVOICE).drafts(
        world.services.mappers.get(DocumentKind.SALES_INVOICE).load(world.company_id, ref)
    )
    world.unship(invoice_id)
    assert world.accounting(invoice_id).status is AccountingStatus.DELETING

    created = world.books.send(draft)  # the create lands after the unship
    recorder.recorded(world.company_id, ref, ONLINE, {"": created.external_id})
    world.drain()

    assert world.books.documents == {}
    assert world.accounting(invoice_id).status is AccountingStatus.DELETED


def test_in_a_manual_store_unship_deletes_nothing_and_send_again_refuses_while_the_invoice_exists(world: World) -> None:
    invoice_id = world.order("")  # the company's default store: manual
    world.ship(invoice_id)
    assert world.accounting(invoice_id).status is AccountingStatus.NOT_SENT
    world.services.sales_invoice_sync.send_now(world.company_id, invoice_id)
    world.drain()
    (first,) = world.books.of(invoice_id)

    world.unship(invoice_id)
    world.drain()
    assert world.books.of(invoice_id) == [first]  # nothing deleted
    world.ship(invoice_id)

    with pytest.raises(Conflict) as refused:
        world.services.sales_invoice_sync.send_again(world.company_id, invoice_id, SendAgainRequest())
    assert "delete it in QuickBooks Online" in refused.value.message and '"replace": true' in refused.value.message

    answer = world.services.sales_invoice_sync.send_again(world.company_id, invoice_id, SendAgainRequest(replace=True))
    assert answer.accounting.status is AccountingStatus.DELETING
    world.drain()
    (second,) = world.books.of(invoice_id)
    assert second.document_version == world.services.invoices.get(world.company_id, invoice_id).version
    assert second.document_version != first.document_version


def test_send_again_sends_once_the_accounting_invoice_was_deleted_there_by_a_person(world: World) -> None:
    invoice_id = world.order("")
    world.ship(invoice_id)
    world.services.sales_invoice_sync.send_now(world.company_id, invoice_id)
    world.drain()
    (external_id,) = list(world.books.documents)
    world.books.delete(world.company_id, external_id, "0")

    world.services.sales_invoice_sync.send_again(world.company_id, invoice_id, SendAgainRequest())
    world.drain()

    assert len(world.books.of(invoice_id)) == 1
    assert world.accounting(invoice_id).status is AccountingStatus.SENT


def test_a_refusal_ends_in_error_with_one_email_and_cancels_the_automatic_send(world: World) -> None:
    world.store("AUTO", "automatic")
    invoice_id = world.order("AUTO")
    world.ship(invoice_id)
    world.books.refuse = "there is no customer named 'Ang' in QuickBooks"
    world.clock.advance(timedelta(minutes=61))
    world.release()
    world.drain()

    accounting = world.accounting(invoice_id)
    assert accounting.status is AccountingStatus.ERROR and "no customer named 'Ang'" in (accounting.error or "")
    assert len(world.notifier.sent) == 1 and world.notifier.sent[0].to == ["ap@example.com"]

    world.books.refuse = None
    world.unship(invoice_id)
    world.ship(invoice_id)  # a reship does not send an invoice in Error: only a person does
    world.clock.advance(timedelta(minutes=61))
    world.release()
    world.drain()
    assert world.books.documents == {}

    world.services.sales_invoice_sync.send_now(world.company_id, invoice_id)
    world.drain()
    assert len(world.books.of(invoice_id)) == 1 and len(world.notifier.sent) == 1


def test_the_list_filters_by_sent_to_accounting_and_by_status(world: World) -> None:
    sent, waiting = world.order(""), world.order("")
    for invoice_id in (sent, waiting):
        world.ship(invoice_id)
    world.services.sales_invoice_sync.send_now(world.company_id, sent)
    world.drain()

    not_sent = world.services.invoices.list(world.company_id, 50, None, sent_to_accounting=False)
    only_sent = world.services.invoices.list(world.company_id, 50, None, accounting_status=AccountingStatus.SENT)

    assert [i.invoice_id for i in not_sent.invoices] == [waiting]
    assert [i.invoice_id for i in only_sent.invoices] == [sent]


def test_send_now_refuses_an_invoice_not_shipped_with_the_fix(world: World) -> None:
    invoice_id = world.order("")
    with pytest.raises(Conflict) as refused:
        world.services.sales_invoice_sync.send_now(world.company_id, invoice_id)
    assert "ship it first" in refused.value.message


def test_the_state_names_the_sales_invoice_and_the_target(world: World) -> None:
    world.store("AUTO", "automatic")
    invoice_id = world.order("AUTO")
    world.ship(invoice_id)
    state = world.states.get(world.company_id, invoice_ref(invoice_id), ONLINE)
    assert state is not None and state.status is SyncStatus.SCHEDULED and state.automatic
    assert Counter(json.loads(b)["document"]["kind"] for b in world.queue.bodies) == Counter()


def test_a_claimed_send_whose_order_was_unshipped_in_a_manual_store_is_settled_by_what_accounting_holds(
    world: World,
) -> None:
    ref_of = invoice_ref
    recorder, mappers = world.services.sync_recorder, world.services.mappers.get(DocumentKind.SALES_INVOICE)
    created_then_crashed, never_created = world.order(""), world.order("")
    for invoice_id in (created_then_crashed, never_created):
        world.ship(invoice_id)
        world.services.sales_invoice_sync.send_now(world.company_id, invoice_id)
        claimed = recorder.claim(world.company_id, ref_of(invoice_id), ONLINE)  # the consumer claimed, then crashed
        assert claimed is not None
    (draft,) = mappers.drafts(mappers.load(world.company_id, ref_of(created_then_crashed)), claimed)
    world.books.send(draft.model_copy(update={"generation": 0}))  # its create landed before the crash
    for invoice_id in (created_then_crashed, never_created):
        world.unship(invoice_id)  # a manual store: nothing is deleted

    world.drain()  # the redelivered messages

    assert world.accounting(created_then_crashed).status is AccountingStatus.SENT
    assert world.accounting(never_created).status is AccountingStatus.NOT_SENT
    assert len(world.books.documents) == 1


def test_the_automatic_queue_never_releases_more_a_minute_than_its_cap(world: World) -> None:
    world.store("AUTO", "automatic")
    for _ in range(30):
        world.ship(world.order("AUTO"))
    world.clock.advance(timedelta(minutes=61))  # all overdue: the planner wants every one now
    world.services.automatic_invoice_queue.cap_per_minute = 12

    released = [world.release()]
    for _ in range(3):
        world.clock.advance(timedelta(minutes=1))
        released.append(world.release())

    assert released == [12, 12, 6, 0]


def test_send_again_takes_replace_as_a_json_boolean_only() -> None:
    assert SendAgainRequest.model_validate({"replace": True}).replace is True
    for wrong in ("yes", 1, "true"):
        with pytest.raises(ValidationError):
            SendAgainRequest.model_validate({"replace": wrong})
