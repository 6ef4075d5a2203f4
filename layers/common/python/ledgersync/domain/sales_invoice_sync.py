"""A sales invoice's side of the sync core (issue 10): its mapper, its accounting view, and Goflow's rules.

- **Shipping** an order in an automatic store schedules its invoice on the automatic queue (``scheduled``, the
  deadline ``release_at`` = now + ``autoSyncWindowMinutes``), in the same transaction as the ship; nothing is sent on
  the spot. The automatic queue's release (``release_due``, once a minute) sends them gradually, paced by
  ``pacing.release_count``; a company whose accounting cannot take them now has them ``held``, and they go back on
  the automatic queue (paced again) once it can.
- **Unshipping** cancels an invoice still on its way; in an automatic store one that was sent (or is being sent) is
  deleted from accounting (``deleting``). A reship while the delete runs is remembered (``after_delete``) and sent
  once the delete is done, so only the latest version is ever in accounting, and never two at once.
- **Send now** sends at once (and so cancels the automatic send: the ``scheduled -> queued`` write is conditional,
  one of the two wins). **Send again** refuses while the accounting invoice still exists, unless ``replace``: delete
  it, then send the new version, in that order.
- A refusal from accounting ends in ``error`` and cancels the automatic send: only send now or send again sends it.

The consumer of each target (QuickBooks Online's queue, the Web Connector's outbox) sends the version the state
names and nothing else: a state whose invoice moved on (``is_current`` False) is left alone, so the order in which a
queue delivers the work never matters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import zip_longest
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, StrictBool
from pydantic.alias_generators import to_camel

from ledgersync.clock import SYSTEM_CLOCK, Clock
from ledgersync.domain.directory import IMPLICIT_STORE, InvoiceSync, Kind
from ledgersync.domain.invoices import SHOWN, InvoiceAccounting, InvoiceStatus, SalesInvoice
from ledgersync.domain.notices import Notice, Notifier, invoice_error_notice, send_notice
from ledgersync.domain.process_log import LogLevel, LogMessage, ProcessLog, RunName, RunStatus
from ledgersync.domain.purchase_order_service import AccountingState
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.sales_invoices import (
    ONLINE_DOC_NUMBER_LENGTH,
    InvoiceDraft,
    build_invoice_draft,
    document_number,
)
from ledgersync.domain.settings import AccountingSettings, ConnectionStatus
from ledgersync.domain.sync.documents import DocumentKind, DocumentRef
from ledgersync.domain.sync.mappers import Unmappable
from ledgersync.domain.sync.outcomes import StateWriter
from ledgersync.domain.sync.pacing import TICK, release_count
from ledgersync.domain.sync.state import InvalidTransition, SyncState, SyncStatus, latest
from ledgersync.domain.sync.store import StateWrite, SyncStateStore
from ledgersync.domain.sync.targets import ExternalDocument, TargetRegistry, Unsupported
from ledgersync.errors import Conflict, NotFound, PermanentError

PART = ""  # a sales invoice is one document in accounting: one part
SAVE_ATTEMPTS = 5


def invoice_ref(invoice_id: int) -> DocumentRef:
    return DocumentRef(kind=DocumentKind.SALES_INVOICE, id=str(invoice_id))


class SendAgainRequest(BaseModel):
    """``POST /v1/invoices/{id}/send-again``: ``replace`` deletes the accounting invoice first."""

    model_config = ConfigDict(extra="forbid")

    replace: StrictBool = False  # true or false only: "yes" or 1 is refused, not guessed


class AccountingAnswer(BaseModel):
    """What send now and send again answer (202): the invoice and where its accounting invoice stands now."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    invoice_id: int
    accounting: InvoiceAccounting
    message: str


# ---------------------------------------------------------------------------------------------- ports


class InvoiceReader(Protocol):
    def get(self, company_id: str, invoice_id: int) -> dict[str, Any] | None: ...


class DirectoryReader(Protocol):
    def get_by_ids(self, company_id: str, kind: Kind, ids: Sequence[int]) -> dict[int, dict[str, Any]]: ...

    def get_by_codes(self, company_id: str, kind: Kind, codes: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    def exchange_rates(self, company_id: str) -> list[dict[str, Any]]: ...


class InvoiceDocuments(Protocol):
    """A target's look-up of the accounting invoices it holds (QuickBooks Online answers at once; a target that
    cannot (the Web Connector pulls its work) is absent, and the check happens when it sends)."""

    def look_up(self, company_id: str, external_id: str) -> ExternalDocument | None: ...


class SalesOrderLinks(Protocol):
    """The sales order an order's invoice links to (``SalesOrderSync``)."""

    def link_for(self, company_id: str, invoice_id: int, target: ExternalSystem) -> str | None:
        """Its id in ``target``, None when it has none; ``RetryableError`` while it is on its way."""


# ---------------------------------------------------------------------------------------------- the mapper


@dataclass(frozen=True)
class LoadedInvoice:
    company_id: str
    invoice: SalesInvoice
    customer: dict[str, Any] | None
    store: dict[str, Any]
    products: dict[str, dict[str, Any]]
    settings: AccountingSettings
    company_currency: str
    # the directory's exchange rates ({currency, effectiveFrom, rate}), read only for a foreign invoice
    exchange_rates: tuple[dict[str, Any], ...] = ()


@dataclass
class SalesInvoiceMapper:
    """Loads a sales invoice with what its mapping needs and maps it to its one draft."""

    invoice_records: InvoiceReader
    directory: DirectoryReader
    accounting: AccountingState
    sales_orders: SalesOrderLinks | None = None  # an order's invoice links to its sales order

    @property
    def kind(self) -> DocumentKind:
        return DocumentKind.SALES_INVOICE

    def load(
        self, company_id: str, ref: DocumentRef, settings: AccountingSettings | None = None
    ) -> LoadedInvoice | None:
        record = self.invoice_records.get(company_id, int(ref.id))
        if record is None:
            return None
        invoice = SalesInvoice.model_validate(record)
        customer = None
        if invoice.customer.id is not None:
            customer = self.directory.get_by_ids(company_id, Kind.CUSTOMERS, [invoice.customer.id]).get(
                invoice.customer.id
            )
        codes = sorted({str(line.product_code).upper() for line in invoice.items if line.product_code})
        products = {
            code.upper(): p for code, p in self.directory.get_by_codes(company_id, Kind.PRODUCTS, codes).items()
        }
        # a foreign invoice goes at the rate in force on its date (read only for one: most invoices are at home)
        foreign = invoice.currency != invoice.company_currency
        rates = tuple(self.directory.exchange_rates(company_id)) if foreign else ()
        return LoadedInvoice(
            exchange_rates=rates,
            company_id=company_id,
            invoice=invoice,
            customer=customer,
            store=store_of(self.directory, company_id, invoice),
            products=products,
            settings=settings or self.accounting.get_settings(company_id),
            company_currency=invoice.company_currency,
        )

    def drafts(self, document: LoadedInvoice, state: SyncState | None = None) -> list[InvoiceDraft]:
        try:
            draft = build_invoice_draft(
                document.company_id,
                document.invoice,
                document.customer,
                document.store,
                document.products,
                document.settings,
                document.company_currency,
                document.exchange_rates,
            )
        except Unmappable:
            raise
        except PermanentError as unfit:
            raise Unmappable(unfit.message) from unfit
        if state is not None:
            draft = draft.model_copy(update={"generation": state.generation})
            if self.sales_orders is not None:
                link = self.sales_orders.link_for(document.company_id, document.invoice.invoice_id, state.target)
                draft = draft.model_copy(update={"sales_order_id": link})
        return [draft]

    def part_of(self, draft: InvoiceDraft) -> str:
        return PART

    def is_current(self, document: LoadedInvoice, state: SyncState) -> bool:
        """Whether the state still sends this invoice as it is: shipped, at the version the state names."""
        invoice = document.invoice
        return invoice.status is InvoiceStatus.SHIPPED and invoice.version == state.document_version


def store_of(directory: DirectoryReader, company_id: str, invoice: SalesInvoice | Mapping[str, Any]) -> dict[str, Any]:
    """The directory record of the invoice's store; the implicit default store when it names none (or it is gone)."""
    store = invoice.store if isinstance(invoice, SalesInvoice) else None
    store_id = store.id if store is not None else (invoice.get("store") or {}).get("id")  # type: ignore[union-attr]
    if store_id is None:
        return dict(IMPLICIT_STORE)
    return directory.get_by_ids(company_id, Kind.STORES, [int(store_id)]).get(int(store_id)) or dict(IMPLICIT_STORE)


def takes_invoices(targets: TargetRegistry, system: ExternalSystem) -> bool:
    """The target takes an order's invoices (and sales orders): it numbers them (the webhook takes only POs)."""
    try:
        return targets.get(system).invoice_number_length is not None
    except Unsupported:
        return False


class SettingsForNotices(Protocol):
    def get_settings(self, company_id: str) -> AccountingSettings: ...


@dataclass
class SalesInvoiceErrorNotices:
    """An order's error e-mail (``ErrorNotices`` for ``sales_invoice``; with ``sales_order_error_notice`` as its
    ``notice``, for ``sales_order``), to the notification addresses."""

    invoice_records: InvoiceReader
    accounting: SettingsForNotices
    notifier: Notifier
    targets: TargetRegistry
    notice: Callable[[SalesInvoice, str, str], Notice] = invoice_error_notice

    def send(self, state: SyncState, reason: str, part: str | None, recipients: list[str]) -> None:
        record = self.invoice_records.get(state.company_id, int(state.document.id))
        if record is None:
            return
        notice = self.notice(SalesInvoice.model_validate(record), self.targets.display_name(state.target), reason)
        to = (
            list(recipients) if recipients else list(self.accounting.get_settings(state.company_id).notification_emails)
        )
        send_notice(self.notifier, to, notice)


# ---------------------------------------------------------------------------------------------- the use case


@dataclass
class SalesInvoiceSync:
    states: SyncStateStore
    recorder: StateWriter
    targets: TargetRegistry
    accounting: AccountingState
    invoice_records: InvoiceReader
    directory: DirectoryReader
    lookups: Mapping[ExternalSystem, InvoiceDocuments]
    clock: Clock = SYSTEM_CLOCK

    # -- the view --------------------------------------------------------------------------------------------------

    def accounting_of(self, company_id: str, invoice_id: int) -> InvoiceAccounting:
        return InvoiceAccounting.of(self._shown(company_id, invoice_ref(invoice_id)))

    def _shown(self, company_id: str, ref: DocumentRef) -> SyncState | None:
        return latest(self.states.list_for_document(company_id, ref, None))

    # -- ship and unship (one transaction with the invoice's move) --------------------------------------------------

    def plan_move(
        self, company_id: str, invoice: Mapping[str, Any], to: InvoiceStatus, next_version: int
    ) -> StateWrite | None:
        """The state change an invoice's move to ``to`` brings, written with the move (``Invoices._move``)."""
        settings = self.accounting.get_settings(company_id)
        system = settings.external_system
        if system is None or not self._takes_invoices(system):
            return None
        ref = invoice_ref(int(invoice["invoiceId"]))
        state = self.states.get(company_id, ref, system)
        store = store_of(self.directory, company_id, invoice)
        automatic = store.get("invoiceSync") == InvoiceSync.AUTOMATIC.value
        now = self.clock.now()
        if to is InvoiceStatus.SHIPPED:
            if not automatic:
                return None
            deadline = now + timedelta(minutes=settings.auto_sync_window_minutes)
            scheduled: dict[str, Any] = {
                "release_at": deadline,
                "document_version": next_version,
                "parts": [PART],
                "automatic": True,
                "document_number": self._number(store, int(invoice["invoiceNumber"]), system),
            }
            if state is None:
                return StateWrite(SyncState.new(company_id, ref, system, SyncStatus.SCHEDULED, **scheduled), None)
            if state.status in {SyncStatus.SUPERSEDED, SyncStatus.DELETED}:
                generation = state.generation + 1
                moved = state.moved(SyncStatus.SCHEDULED, reason=None, generation=generation, **scheduled)
                return StateWrite(moved, state.version)
            if state.status is SyncStatus.DELETING:  # sent once the delete is done
                moved = state.moved(
                    SyncStatus.DELETING,
                    after_delete=SyncStatus.SCHEDULED,
                    after_delete_version=next_version,
                    release_at=deadline,
                )
                return StateWrite(moved, state.version)
            return None  # in Error (only a person sends it), or still on its way from an earlier ship
        if to is not InvoiceStatus.CONFIRMED or state is None:
            return None
        # unship
        if state.status in {SyncStatus.QUEUED, SyncStatus.SCHEDULED, SyncStatus.HELD}:
            return StateWrite(state.moved(SyncStatus.SUPERSEDED, automatic=False, reason=None), state.version)
        if state.status is SyncStatus.DELETING and state.after_delete is not None:
            return StateWrite(
                state.moved(SyncStatus.DELETING, after_delete=None, after_delete_version=None), state.version
            )
        if automatic and state.status in {SyncStatus.SENDING, SyncStatus.SYNCHRONIZED}:
            return StateWrite(state.moved(SyncStatus.DELETING, dispatched_at=now), state.version)
        return None

    def after_move(self, written: SyncState | None) -> None:
        """Hand a delete to its target once the move is written (a lost hand-over is re-sent by the sweep)."""
        if written is not None and written.status is SyncStatus.DELETING and written.after_delete is None:
            self.recorder.hand_over(written)

    # -- send now, send again ---------------------------------------------------------------------------------------

    def send_now(self, company_id: str, invoice_id: int) -> AccountingAnswer:
        """Send at once; an automatic send still to come is cancelled by this (one of the two writes wins)."""
        invoice, system = self._sendable(company_id, invoice_id)
        ref = invoice_ref(invoice_id)
        for _ in range(SAVE_ATTEMPTS):
            state = self.states.get(company_id, ref, system)
            if state is not None and state.status in {SyncStatus.QUEUED, SyncStatus.SENDING}:
                return self._answer(invoice_id, state, "the invoice is already on its way to accounting")
            if state is not None and state.status is SyncStatus.SYNCHRONIZED:
                raise Conflict(
                    f"invoice {invoice.invoice_number} is already in accounting (id {state.external_ids.get(PART)}); "
                    "to send it again use POST /v1/invoices/{invoiceId}/send-again"
                )
            try:
                written = self._queue(company_id, ref, system, state, invoice)
            except Conflict:
                continue
            return self._answer(invoice_id, written, self._queued_message(written))
        raise Conflict(f"invoice {invoice.invoice_number}'s accounting state kept changing; try again")

    def send_again(self, company_id: str, invoice_id: int, request: SendAgainRequest) -> AccountingAnswer:
        """Send the invoice as it is now. While the accounting invoice still exists: 409 with the fix, or with
        ``replace`` delete it first and then send, in that order. Once it is gone, send again sends."""
        invoice, system = self._sendable(company_id, invoice_id)
        ref = invoice_ref(invoice_id)
        for _ in range(SAVE_ATTEMPTS):
            state = self.states.get(company_id, ref, system)
            if state is not None and state.status in {SyncStatus.QUEUED, SyncStatus.SENDING, SyncStatus.DELETING}:
                raise Conflict(
                    f"invoice {invoice.invoice_number} is {SHOWN[state.status].value} in accounting right now; "
                    "send it again once that is done"
                )
            try:
                if state is not None and state.status is SyncStatus.SYNCHRONIZED:
                    written = self._replace(company_id, state, invoice, system, request.replace)
                else:
                    written = self._queue(company_id, ref, system, state, invoice)
            except Conflict as conflict:
                if conflict.message.startswith("invoice "):  # the 409 with the fix, not a lost write
                    raise
                continue
            return self._answer(invoice_id, written, self._queued_message(written))
        raise Conflict(f"invoice {invoice.invoice_number}'s accounting state kept changing; try again")

    def _replace(
        self, company_id: str, state: SyncState, invoice: SalesInvoice, system: ExternalSystem, replace: bool
    ) -> SyncState:
        external_id = state.external_ids.get(PART, "")
        documents = self.lookups.get(system)
        if documents is not None and external_id:
            found = documents.look_up(company_id, external_id)
            if found is None:  # deleted in accounting by a person: send the new version
                return self._queue(company_id, state.document, system, state, invoice)
        if not replace:
            where = self.targets.display_name(system)
            raise Conflict(
                f"invoice {invoice.invoice_number} is still in {where} (id {external_id}, number "
                f"{state.document_number}); delete it in {where} and send again, or send again with "
                '{"replace": true} to have Ledgersync delete it and send the new version'
            )
        moved = state.moved(
            SyncStatus.DELETING,
            after_delete=SyncStatus.QUEUED,
            after_delete_version=invoice.version,
            dispatched_at=self.clock.now(),
            automatic=False,
        )
        written = self.states.put(moved, state.version)
        self.recorder.hand_over(written)
        return written

    def _queue(
        self,
        company_id: str,
        ref: DocumentRef,
        system: ExternalSystem,
        state: SyncState | None,
        invoice: SalesInvoice,
    ) -> SyncState:
        now = self.clock.now()
        store = store_of(self.directory, company_id, invoice)
        changes: dict[str, Any] = {
            "document_version": invoice.version,
            "parts": [PART],
            "automatic": False,
            "dispatched_at": now,
            "reason": None,
            "notice_pending": False,
            "release_at": None,
            "document_number": self._number(store, invoice.invoice_number, system),
            "generation": state.generation + 1 if state is not None else 0,
            "external_ids": {},  # a new accounting invoice: what the last send made is gone (or being deleted)
        }
        if state is None:
            written = self.states.put(SyncState.new(company_id, ref, system, SyncStatus.QUEUED, **changes), None)
        elif state.status is SyncStatus.DELETED or state.can_move(SyncStatus.QUEUED):
            written = self.states.put(state.moved(SyncStatus.QUEUED, **changes), state.version)
        else:
            raise InvalidTransition(ref, system, state.status, SyncStatus.QUEUED)
        self.recorder.hand_over(written)
        return written

    def _sendable(self, company_id: str, invoice_id: int) -> tuple[SalesInvoice, ExternalSystem]:
        record = self.invoice_records.get(company_id, invoice_id)
        if record is None:
            raise NotFound(f"no invoice {invoice_id} in this company")
        invoice = SalesInvoice.model_validate(record)
        if invoice.status is not InvoiceStatus.SHIPPED:
            raise Conflict(
                f"invoice {invoice.invoice_number} is '{invoice.status}'; only a Shipped invoice goes to accounting: "
                "ship it first (POST /v1/invoices/{invoiceId}/ship)"
            )
        settings, connection = self.accounting.get_accounting(company_id)
        system = settings.external_system
        if system is None:
            raise Conflict(
                "no accounting system is chosen; choose QuickBooks Online or QuickBooks Desktop with "
                "PUT /v1/accounting/settings, then send again"
            )
        if not self._takes_invoices(system):
            raise Conflict(
                f"{self.targets.display_name(system)} takes purchase orders only; sales invoices go to QuickBooks "
                "Online or QuickBooks Desktop: choose one with PUT /v1/accounting/settings"
            )
        problem = self.targets.get(system).readiness(company_id, connection)
        if problem is not None and connection.status is not ConnectionStatus.REAUTHORIZATION_REQUIRED:
            raise Conflict(problem)
        return invoice, system

    def _takes_invoices(self, system: ExternalSystem) -> bool:
        return takes_invoices(self.targets, system)

    def _number(self, store: Mapping[str, Any], invoice_number: int, system: ExternalSystem) -> str:
        length = self.targets.get(system).invoice_number_length or ONLINE_DOC_NUMBER_LENGTH
        return document_number(store.get("invoicePrefix"), invoice_number, length)

    def _answer(self, invoice_id: int, state: SyncState, message: str) -> AccountingAnswer:
        return AccountingAnswer(invoice_id=invoice_id, accounting=InvoiceAccounting.of(state), message=message)

    def _queued_message(self, state: SyncState) -> str:
        if state.status is SyncStatus.DELETING:
            return "the accounting invoice is being deleted; the new version is sent as soon as it is gone"
        return "the invoice is on its way to accounting"


@dataclass
class ReleaseSummary:
    released: int = 0
    held: int = 0
    # per company: (released, held, the reason it was held)
    companies: dict[str, tuple[int, int, str | None]] = field(default_factory=dict)


class ReleaseTurns(Protocol):
    """One release of a company's automatic queue per minute: a scheduler run that comes twice in one minute (late,
    retried, started by hand) must not release that minute's share twice."""

    def take(self, company_id: str, tick: int) -> bool:
        """True for the first run of minute ``tick`` (minutes since the epoch) for the company, False after."""


@dataclass
class OncePerTick:
    """``ReleaseTurns`` in one process (tests, benches); the deployment's is ``DynamoReleaseTurns``."""

    taken: set[tuple[str, int]] = field(default_factory=set)

    def take(self, company_id: str, tick: int) -> bool:
        if (company_id, tick) in self.taken:
            return False
        self.taken.add((company_id, tick))
        return True


@dataclass
class AutomaticInvoiceQueue:
    """The automatic invoice queue: scheduled sales invoices released a few at a time, once a minute (its own use
    case: the scheduler that runs it reaches no accounting system, only the queues)."""

    states: SyncStateStore
    recorder: StateWriter
    targets: TargetRegistry
    accounting: AccountingState
    turns: ReleaseTurns = field(default_factory=OncePerTick)
    clock: Clock = SYSTEM_CLOCK
    # at most this many of one company's invoices a minute: what QuickBooks Online's per-realm budget leaves after
    # other traffic (one call per invoice in steady state); None for no cap
    cap_per_minute: int | None = None
    process_log: ProcessLog | None = None

    def release_due(self, company_ids: Sequence[str], now: datetime | None = None) -> ReleaseSummary:
        """Once a minute: each company's scheduled invoices, paced over their window (``release_count``), earliest
        deadline first. A company whose accounting cannot take them now has them held with the reason; the sweep
        puts them back on this queue once it can. One company's burst never waits on another's: each is planned
        on its own, and QuickBooks Online's budget is per company (realm)."""
        now = now or self.clock.now()
        summary = ReleaseSummary()
        due: list[list[SyncState]] = []
        for company_id in company_ids:
            scheduled = [
                s for s in self.states.list_by_status(company_id, SyncStatus.SCHEDULED) if s.release_at is not None
            ]
            if not scheduled:
                continue
            if not self.turns.take(company_id, int(now.timestamp() // TICK.total_seconds())):
                continue  # this minute's share already went (a second run in the same minute)
            _, connection = self.accounting.get_accounting(company_id)
            scheduled.sort(key=lambda s: (s.release_at, s.document.id))
            reason = self._not_ready(company_id, scheduled[0].target, connection)
            if reason is not None:
                held = sum(self._hold(state, reason) for state in scheduled)
                summary.held += held
                summary.companies[company_id] = (0, held, reason)
                continue
            count = release_count([s.release_at for s in scheduled if s.release_at], now, cap=self.cap_per_minute)
            due.append(scheduled[:count])
        # company by company in turn, so one company's burst puts no other company's invoices behind it in the queue
        for turn in zip_longest(*due):
            for state in turn:
                if state is not None:
                    released = self._release(state, now)
                    summary.released += released
                    went, _, _ = summary.companies.get(state.company_id, (0, 0, None))
                    summary.companies[state.company_id] = (went + released, 0, None)
        self._log(summary, now)
        return summary

    def _log(self, summary: ReleaseSummary, now: datetime) -> None:
        """A minute that released or held a company's invoices is in its process log; an idle minute is not."""
        if self.process_log is None:
            return
        for company_id, (released, held, reason) in summary.companies.items():
            if not released and not held:
                continue
            messages = [
                LogMessage.of(LogLevel.INFO, f"{released} automatic invoice(s) released to accounting")
                if released
                else LogMessage.of(LogLevel.WARNING, f"{held} automatic invoice(s) held: {reason}")
            ]
            self.process_log.record(
                company_id,
                RunName.AUTOMATIC_INVOICE_RELEASE,
                now,
                {"released": released, "held": held},
                messages,
                RunStatus.SUCCEEDED if released else RunStatus.PARTIAL,
            )

    def _not_ready(self, company_id: str, system: ExternalSystem, connection: Any) -> str | None:
        if connection.status is ConnectionStatus.REAUTHORIZATION_REQUIRED:
            return f"{self.targets.display_name(system)} must be reconnected; the invoice is sent once it is"
        return self.targets.get(system).readiness(company_id, connection)

    def _hold(self, state: SyncState, reason: str) -> int:
        def change(latest: SyncState) -> SyncState | None:
            if latest.status is not SyncStatus.SCHEDULED:
                return None
            return latest.moved(SyncStatus.HELD, reason=reason)

        return int(self.recorder.update(state.company_id, state.document, state.target, change) is not None)

    def _release(self, state: SyncState, now: datetime) -> int:
        def change(latest: SyncState) -> SyncState | None:
            if latest.status is not SyncStatus.SCHEDULED:
                return None  # sent now, unshipped, or released by a run that overlapped
            return latest.moved(SyncStatus.QUEUED, dispatched_at=now)

        released = self.recorder.update(state.company_id, state.document, state.target, change)
        if released is None:
            return 0
        self.recorder.hand_over(released)
        return 1
