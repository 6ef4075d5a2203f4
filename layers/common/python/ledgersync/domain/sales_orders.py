"""An order's sales order in accounting (issue 12): its mapper, its state, its view, and Goflow's rules.

While an order is not shipped yet, ``POST /v1/invoices/{id}/send-sales-order`` sends it to accounting as a sales
order: QuickBooks Desktop a SalesOrder (SalesOrderAdd), QuickBooks Online an Estimate (its API has no sales order).
The sales order is a document of the sync core (kind ``sales_order``, id the invoice's id), one state per target:

- **Send** queues it (``queued``) and hands it to the target; a second send while it is on its way or in accounting
  changes nothing, so no click or redelivery makes a second sales order.
- **Update on change**: a change to the invoice (``PUT /v1/invoices/{id}``) while the sales order is open queues the
  new version in the same transaction as the change (``plan_change``). The target changes the sales order it holds
  (QuickBooks Online a sparse update with the SyncToken read fresh, Desktop SalesOrderMod with the EditSequence),
  never a second one.
- **Ship**: the invoice's draft names the sales order (``InvoiceDraft.sales_order_id``) and the target links them
  (QuickBooks Online ``LinkedTxn`` to the Estimate, Desktop ``LinkToTxnID``); linked, the sales order closes. The
  view shows it ``closed`` once the linked invoice is in accounting.

Each send of a version is one *part* named by the version (``v3``): a change while a send is in flight gives the
state a new part, so what the older send records does not mark the newer version synchronized. The id in accounting
is kept under the part ``""`` once known (``external_id``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from ledgersync.clock import SYSTEM_CLOCK, Clock
from ledgersync.domain.invoices import (
    SHOWN,
    InvoiceStatus,
    SalesInvoice,
    SalesOrderAccounting,
    SalesOrderStatus,
)
from ledgersync.domain.notices import Fact, Notice
from ledgersync.domain.purchase_order_service import AccountingState
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.sales_invoice_sync import (
    DirectoryReader,
    InvoiceDocuments,
    InvoiceReader,
    LoadedInvoice,
    SalesInvoiceMapper,
    invoice_ref,
    store_of,
    takes_invoices,
)
from ledgersync.domain.sales_invoices import ONLINE_DOC_NUMBER_LENGTH, InvoiceDraft, document_number
from ledgersync.domain.settings import AccountingSettings, ConnectionStatus
from ledgersync.domain.sync.documents import DocumentKind, DocumentRef
from ledgersync.domain.sync.outcomes import StateWriter
from ledgersync.domain.sync.state import InvalidTransition, SyncState, SyncStatus, latest
from ledgersync.domain.sync.store import StateWrite, SyncStateStore
from ledgersync.domain.sync.targets import TargetRegistry
from ledgersync.errors import Conflict, NotFound, RetryableError

KNOWN = ""  # the part under which the sales order's id in accounting is kept once known
SAVE_ATTEMPTS = 5
ON_ITS_WAY = frozenset({SyncStatus.QUEUED, SyncStatus.SCHEDULED, SyncStatus.SENDING, SyncStatus.HELD})
# the order's invoice is (or may be) in accounting: a sales order sent now would never be linked to it
INVOICED = frozenset({SyncStatus.SYNCHRONIZED, SyncStatus.SENDING, SyncStatus.DELETING})


def sales_order_ref(invoice_id: int) -> DocumentRef:
    return DocumentRef(kind=DocumentKind.SALES_ORDER, id=str(invoice_id))


def version_part(document_version: int) -> str:
    """The part one send of a version is (``v3``)."""
    return f"v{document_version}"


def external_id(state: SyncState | None) -> str | None:
    """The sales order's id in accounting (an Estimate Id, a SalesOrder TxnID); None while it was never created."""
    if state is None:
        return None
    if state.external_ids.get(KNOWN):
        return state.external_ids[KNOWN]
    return next((found for found in state.external_ids.values() if found), None)


def sales_order_memo(invoice_id: int, invoice_number: int) -> str:
    """The memo (QuickBooks Online PrivateNote, Desktop Memo) that names the order: how a look-up tells the sales order
    Ledgersync created for it from any other with the number (every version of it: one sales order per order)."""
    return f"Ledgersync sales order {invoice_number} (id {invoice_id})"


class SalesOrderDraft(InvoiceDraft):
    """A sales order in any accounting system: the invoice's draft (its lines, customer, numbers) and the sales order
    the target already holds for it (``external_id``: change it; None: create it, or adopt the one an earlier send
    created)."""

    external_id: str | None = None


class SendSalesOrderRequest(BaseModel):
    """``POST /v1/invoices/{id}/send-sales-order``: no fields (the order is sent as it is now)."""

    model_config = ConfigDict(extra="forbid")


class SalesOrderAnswer(BaseModel):
    """What send-sales-order answers (202): the invoice and where its sales order stands now."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    invoice_id: int
    sales_order: SalesOrderAccounting
    message: str


# ---------------------------------------------------------------------------------------------- the mapper


@dataclass
class SalesOrderMapper:
    """Loads an order with what its mapping needs (as a sales invoice's) and maps it to its one sales-order draft."""

    invoice_mapper: SalesInvoiceMapper

    @property
    def kind(self) -> DocumentKind:
        return DocumentKind.SALES_ORDER

    def load(
        self, company_id: str, ref: DocumentRef, settings: AccountingSettings | None = None
    ) -> LoadedInvoice | None:
        return self.invoice_mapper.load(company_id, invoice_ref(int(ref.id)), settings)

    def drafts(self, document: LoadedInvoice, state: SyncState | None = None) -> list[SalesOrderDraft]:
        (draft,) = self.invoice_mapper.drafts(document, state)
        invoice = document.invoice
        version = state.document_version if state is not None and state.document_version is not None else None
        return [
            SalesOrderDraft(
                **draft.model_dump(),
                external_id=external_id(state),
            ).model_copy(
                update={
                    "memo": sales_order_memo(invoice.invoice_id, invoice.invoice_number),
                    "document_version": invoice.version if version is None else version,
                }
            )
        ]

    def part_of(self, draft: SalesOrderDraft) -> str:
        return version_part(draft.document_version)

    def is_current(self, document: LoadedInvoice, state: SyncState) -> bool:
        """Always: a sales order on its way is sent as the order is now, under the version its state names. A change
        writes the state with it (a newer part), and the order's other moves (confirm, ship) change none of its
        lines, so there is never an older sales order to leave alone; and once the order shipped, the last change
        still goes (the invoice waits for a sales order not created yet, to link to it)."""
        return True


# ---------------------------------------------------------------------------------------------- the e-mail


def sales_order_error_notice(invoice: SalesInvoice, target: str, reason: str) -> Notice:
    """An order's sales order was not sent to ``target``: the reason, the order's facts and how to send it again."""
    number = str(invoice.invoice_number)
    return Notice(
        subject_parts=("Sales order", number, "was not sent to", target),
        what_happened=(
            f"The sales order for order {number} ({invoice.customer.name or 'its customer'}) could not be sent to "
            f"{target}."
        ),
        reason=reason,
        facts=(
            Fact("Ship date", invoice.ship_date.isoformat()),
            Fact("Order total", f"{invoice.total:.2f} {invoice.currency}"),
        ),
        what_to_do=(
            "Correct the problem described above, then send the sales order again "
            "(POST /v1/invoices/{invoiceId}/send-sales-order) while the order is not shipped."
        ),
    )


# ---------------------------------------------------------------------------------------------- the link on ship


@dataclass
class SalesOrderLinkReader:
    """``SalesOrderLinks`` for an order's invoice mapper: which sales order the invoice links to in a target."""

    states: SyncStateStore  # only the states: a function that maps invoices reaches no target through this

    def link_for(self, company_id: str, invoice_id: int, target: ExternalSystem) -> str | None:
        """The sales order an order's invoice links to in ``target``; None when it has none. ``RetryableError`` while
        the sales order is on its way and not created yet: the invoice waits for it, so that it can link to it."""
        state = self.states.get(company_id, sales_order_ref(invoice_id), target)
        found = external_id(state)
        if found is not None or state is None:
            return found
        if state.status in ON_ITS_WAY:
            raise RetryableError(
                "the order's sales order is still being sent to accounting; its invoice is sent once the sales "
                "order is there, linked to it",
                retry_after_seconds=30,
            )
        return None


# ---------------------------------------------------------------------------------------------- the use case


@dataclass
class SalesOrderSync:
    """Send-sales-order, update on change, the link on ship and the view (``accounting.salesOrder``)."""

    states: SyncStateStore
    recorder: StateWriter
    targets: TargetRegistry
    accounting: AccountingState
    invoice_records: InvoiceReader
    directory: DirectoryReader
    # the targets that take sales orders in this deployment (those with a sales-order writer or job)
    senders: Collection[ExternalSystem]
    # the targets that can say at once whether the sales order they hold still exists (a send after an Error)
    lookups: Mapping[ExternalSystem, InvoiceDocuments]
    clock: Clock = SYSTEM_CLOCK

    # -- the view --------------------------------------------------------------------------------------------------

    def sales_order_of(self, company_id: str, invoice_id: int) -> SalesOrderAccounting:
        """Where the sales order stands (the state written last, whatever its target; as the invoice's own view),
        closed once its linked invoice is in that target."""
        state = latest(self.states.list_for_document(company_id, sales_order_ref(invoice_id), None))
        if state is None:
            return SalesOrderAccounting()
        found = external_id(state)
        status = {
            SyncStatus.QUEUED: SalesOrderStatus.QUEUED,
            SyncStatus.SCHEDULED: SalesOrderStatus.QUEUED,
            SyncStatus.SENDING: SalesOrderStatus.SENDING,
            SyncStatus.SYNCHRONIZED: SalesOrderStatus.OPEN,
            SyncStatus.HELD: SalesOrderStatus.HELD,
            SyncStatus.ERROR: SalesOrderStatus.ERROR,
        }.get(state.status, SalesOrderStatus.OPEN if found else SalesOrderStatus.NOT_SENT)
        if found and self._invoice_linked(company_id, invoice_id, state.target):
            status = SalesOrderStatus.CLOSED
        error = state.reason if status in {SalesOrderStatus.ERROR, SalesOrderStatus.HELD} else None
        return SalesOrderAccounting(status=status, external_id=found, error=error)

    def _invoice_linked(self, company_id: str, invoice_id: int, system: ExternalSystem) -> bool:
        """The order's invoice is in accounting: it was sent linked to the sales order (``link_for``), which closed."""
        invoice = self.states.get(company_id, invoice_ref(invoice_id), system)
        return invoice is not None and invoice.status is SyncStatus.SYNCHRONIZED

    # -- send ------------------------------------------------------------------------------------------------------

    def send(self, company_id: str, invoice_id: int) -> SalesOrderAnswer:
        """Send the order as a sales order; one on its way or in accounting already is answered as it stands."""
        invoice, system = self._sendable(company_id, invoice_id)
        ref = sales_order_ref(invoice_id)
        for _ in range(SAVE_ATTEMPTS):
            state = self.states.get(company_id, ref, system)
            if state is not None and state.status in ON_ITS_WAY:
                return self._answer(company_id, invoice_id, "the sales order is already on its way to accounting")
            if state is not None and state.status is SyncStatus.SYNCHRONIZED:
                return self._answer(
                    company_id,
                    invoice_id,
                    f"the sales order is already in {self.targets.display_name(system)} (id {external_id(state)}); "
                    "changes to the invoice update it",
                )
            try:
                written = self._queue(company_id, ref, system, state, invoice)
            except Conflict:
                continue
            self._unless_invoiced_meanwhile(company_id, invoice, system, written)
            return self._answer(company_id, invoice_id, "the sales order is on its way to accounting")
        raise Conflict(f"the sales order of invoice {invoice.invoice_number} kept changing; try again")

    def _unless_invoiced_meanwhile(
        self, company_id: str, invoice: SalesInvoice, system: ExternalSystem, written: SyncState
    ) -> None:
        """The invoice was read before the sales order's state was written: if it shipped and went to accounting
        between the two (unlinked: it found no sales order), the sales order could never be linked or closed, so it
        is superseded before its consumer takes it (the consumer does nothing for a superseded state), and the
        caller is told why."""
        if external_id(written) is not None:
            return
        now = self.states.get(company_id, invoice_ref(invoice.invoice_id), system)
        if now is None or now.status not in INVOICED:
            return
        try:
            self.states.put(
                written.moved(SyncStatus.SUPERSEDED, reason="the order's invoice went to accounting first"),
                written.version,
            )
        except (Conflict, InvalidTransition):  # its consumer took it first: it is created, as asked
            return
        raise Conflict(
            f"invoice {invoice.invoice_number} went to {self.targets.display_name(system)} while its sales order "
            "was being sent; a sales order is for an order not invoiced yet, so none is sent"
        )

    def _queue(
        self,
        company_id: str,
        ref: DocumentRef,
        system: ExternalSystem,
        state: SyncState | None,
        invoice: SalesInvoice,
    ) -> SyncState:
        ids: dict[str, str] = {}
        generation = state.generation if state is not None else 0
        known = external_id(state)
        if known is not None and state is not None:
            documents = self.lookups.get(system)
            if documents is not None and documents.look_up(company_id, known) is None:
                generation += 1  # deleted in accounting by a person: a new sales order
            elif documents is None and state.status is SyncStatus.ERROR:
                # a target that cannot be asked now (the Web Connector pulls): sent again after an error, the session
                # looks it up by its number and memo, and adopts the one still there or adds one (a sales order
                # deleted in QuickBooks would fail again and again by its old TxnID)
                ids = {}
            else:
                ids = {KNOWN: known}
        changes: dict[str, Any] = {
            "document_version": invoice.version,
            "parts": [version_part(invoice.version)],
            "external_ids": ids,
            "automatic": False,
            "dispatched_at": self.clock.now(),
            "reason": None,
            "notice_pending": False,
            "release_at": None,
            "generation": generation,
            "document_number": self._number(company_id, invoice, system),
        }
        if state is None:
            written = self.states.put(SyncState.new(company_id, ref, system, SyncStatus.QUEUED, **changes), None)
        else:
            written = self.states.put(state.moved(SyncStatus.QUEUED, **changes), state.version)
        self.recorder.hand_over(written)
        return written

    def _sendable(self, company_id: str, invoice_id: int) -> tuple[SalesInvoice, ExternalSystem]:
        record = self.invoice_records.get(company_id, invoice_id)
        if record is None:
            raise NotFound(f"no invoice {invoice_id} in this company")
        invoice = SalesInvoice.model_validate(record)
        if invoice.status is InvoiceStatus.SHIPPED:
            raise Conflict(
                f"invoice {invoice.invoice_number} is Shipped; a sales order is for an order not shipped yet. Its "
                "invoice goes to accounting instead (POST /v1/invoices/{invoiceId}/send-now), linked to the sales "
                "order when one was sent; to send a sales order, unship it first (POST /v1/invoices/{invoiceId}/"
                "unship)"
            )
        settings, connection = self.accounting.get_accounting(company_id)
        system = settings.external_system
        if system is None:
            raise Conflict(
                "no accounting system is chosen; choose QuickBooks Online or QuickBooks Desktop with "
                "PUT /v1/accounting/settings, then send the sales order again"
            )
        if not takes_invoices(self.targets, system):
            raise Conflict(
                f"{self.targets.display_name(system)} takes purchase orders only, no sales orders; sales orders go to "
                "QuickBooks Online (as an Estimate) or QuickBooks Desktop: choose one with PUT /v1/accounting/settings"
            )
        invoice_state = self.states.get(company_id, invoice_ref(invoice_id), system)
        if invoice_state is not None and invoice_state.status in INVOICED:
            where = self.targets.display_name(system)
            raise Conflict(
                f"invoice {invoice.invoice_number} is {SHOWN[invoice_state.status].value} in {where} (a sales order "
                f"is for an order not invoiced yet); send the sales order once that invoice is gone from {where} "
                "(delete it there)"
            )
        if system not in self.senders:
            raise Conflict(
                f"{self.targets.display_name(system)} takes no sales orders from Ledgersync yet; send the order's "
                "invoice once it ships (POST /v1/invoices/{invoiceId}/send-now)"
            )
        problem = self.targets.get(system).readiness(company_id, connection)
        if problem is not None and connection.status is not ConnectionStatus.REAUTHORIZATION_REQUIRED:
            raise Conflict(problem)
        return invoice, system

    def _number(self, company_id: str, invoice: SalesInvoice, system: ExternalSystem) -> str:
        store = store_of(self.directory, company_id, invoice)
        length = self.targets.get(system).invoice_number_length or ONLINE_DOC_NUMBER_LENGTH
        return document_number(store.get("invoicePrefix"), invoice.invoice_number, length)

    def _answer(self, company_id: str, invoice_id: int, message: str) -> SalesOrderAnswer:
        return SalesOrderAnswer(
            invoice_id=invoice_id, sales_order=self.sales_order_of(company_id, invoice_id), message=message
        )

    # -- update on change (one transaction with the invoice's change) ------------------------------------------------

    def plan_change(self, company_id: str, invoice_id: int, next_version: int) -> StateWrite | None:
        """The sales order's state change an invoice's change to ``next_version`` brings (``Invoices.change`` writes
        it with the change): an open sales order is queued to be updated; one on its way sends the new version
        instead; one in Error or never sent is left alone (a person sends it)."""
        system = self.accounting.get_settings(company_id).external_system
        if system is None:
            return None
        state = self.states.get(company_id, sales_order_ref(invoice_id), system)
        if state is None:
            return None
        changes: dict[str, Any] = {"document_version": next_version, "parts": [version_part(next_version)]}
        known = external_id(state)
        if known is not None:  # the parts sent so far are that one sales order: only its id is kept
            changes["external_ids"] = {KNOWN: known}
        if state.status in {SyncStatus.SYNCHRONIZED, SyncStatus.SENDING}:
            # a send in flight records its own (older) part, which leaves this newer version queued
            moved = state.moved(SyncStatus.QUEUED, dispatched_at=self.clock.now(), reason=None, **changes)
            return UpdateWrite(moved, state.version, hand_over=True)
        if state.status in {SyncStatus.QUEUED, SyncStatus.SCHEDULED, SyncStatus.HELD}:
            # its message (or its release) is still to come, and sends the version the state names then
            return UpdateWrite(state.moved(state.status, **changes), state.version)
        return None

    def after_change(self, planned: StateWrite) -> None:
        """Hand a queued update to its target once the change is written (a lost hand-over is re-sent by the sweep)."""
        if isinstance(planned, UpdateWrite) and planned.hand_over:
            self.recorder.hand_over(planned.written)


@dataclass(frozen=True)
class UpdateWrite(StateWrite):
    """A sales order's state written with an invoice's change; ``hand_over``: a new message is owed to the target."""

    hand_over: bool = False
