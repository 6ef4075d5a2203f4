"""QuickBooks Desktop through the Web Connector: one session's work, over ports (no SOAP and no qbXML here).

The Web Connector calls ``authenticate``, then ``sendRequestXML``/``receiveResponseXML`` until the progress
reaches 100 (or turns negative), then ``closeConnection``. Each call may land on another Lambda instance, so
everything the session knows lives in a ``WebConnectorSession`` that the ``SessionStore`` keeps with an expiry.

A session carries *jobs* of three kinds: a vendor invoice to become a bill (BillAdd), a sales invoice to become an
invoice (InvoiceAdd), and a sales invoice to leave QuickBooks (TxnDel). Every kind goes through the same two
messages per batch: first the lookups (VendorQuery, BillQuery, InvoiceQuery), then the writes still needed (BillAdd,
InvoiceAdd, TxnDel). A document that QuickBooks already has (same RefNumber, and a memo that names it) is adopted,
never added twice: this is what makes a session cut in the middle safe to resume in a new one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, Discriminator, Field, Tag, field_validator

from ledgersync.clock import SYSTEM_CLOCK, Clock
from ledgersync.currencies import desktop_currency_code
from ledgersync.domain.process_log import LogLevel, LogMessage, ProcessLog, RunName, RunStatus
from ledgersync.domain.purchase_order_bills import (
    AccountingBill,
    BillDraft,
    BillLine,
    PurchaseOrderDocument,
    bill_differences,
)
from ledgersync.domain.purchase_orders import PurchaseOrder, VendorRef
from ledgersync.domain.sales_invoices import DESKTOP_REF_NUMBER_LENGTH, InvoiceDraft
from ledgersync.errors import Conflict, PermanentError, RetryableError

SERVER_VERSION = "Ledgersync QuickBooks Web Connector service 1.0"
QBXML_LATEST = (12, 0)
QBXML_OLDEST = (6, 0)
BILL_REFERENCE_MAX = 20
VENDOR_NAME_MAX = 41
NOT_FOUND_CODES = frozenset({1, 500})  # 1: a filter matched nothing; 500: a named object (FullName) is missing
# QuickBooks could not lock a record another user (or another application) has open: not a refusal, the next
# update tries again. Every other non-zero status of a write is QuickBooks refusing the document.
BUSY_CODES = frozenset({3175, 3176})
# the answers of a query that say what QuickBooks holds: found (0), no match (1), not all found (500), no such TxnID
SALES_ORDER_QUERY_ANSWERS = frozenset({0, 1, 500, 3120})
INVALID_REFERENCE = 3140
TXN_NOT_FOUND = 3120  # a TxnDel of a transaction QuickBooks does not have (any more): it is gone, as wanted
MULTICURRENCY_SINCE = (8, 0)  # vendors' and customers' CurrencyRef came with qbXML 8.0 (QuickBooks 2009)
SAME_CURRENCY = "The transaction needs to be in the same currency as the A/R and A/P accounts"
OLDEST_WEB_CONNECTOR = (2, 1)
# One session is one DynamoDB item (400 KB); jobs beyond this much JSON wait for the next session.
SESSION_JOBS_BYTES = 300_000


# ---------------------------------------------------------------- the neutral qbXML vocabulary


class OnError(StrEnum):
    """qbXML's ``onError``: what QuickBooks does with the rest of a message after one request fails."""

    CONTINUE = "continueOnError"
    STOP = "stopOnError"


class OperationKind(StrEnum):
    VENDOR_QUERY = "VendorQuery"
    BILL_QUERY = "BillQuery"
    BILL_ADD = "BillAdd"
    SALES_ORDER_QUERY = "SalesOrderQuery"
    SALES_ORDER_ADD = "SalesOrderAdd"
    SALES_ORDER_MOD = "SalesOrderMod"
    SALES_ORDER_INVOICE_ADD = "SalesOrderInvoiceAdd"  # an InvoiceAdd of a whole sales order (LinkToTxnID)
    INVOICE_QUERY = "InvoiceQuery"
    INVOICE_ADD = "InvoiceAdd"
    INVOICE_DELETE = "InvoiceDelete"  # a TxnDel of an invoice
    BILL_DELETE = "BillDelete"  # a TxnDel of a bill (send again with replace)
    CUSTOMER_QUERY = "CustomerQuery"  # by FullName: the Sales Invoice Export's, and an invoice's (its currency)
    CUSTOMER_ADD = "CustomerAdd"
    ITEM_QUERY = "ItemQuery"  # the Sales Invoice Export's items (any item type), by FullName
    ITEM_NON_INVENTORY_ADD = "ItemNonInventoryAdd"  # a missing item, sold on ``account_name`` (invoiceIncomeAccount)


@dataclass(frozen=True)
class Operation:
    """One request of a qbXML message, in neutral terms; ``request_id`` ties it to its response.

    ``reference`` is the RefNumber a query looks for or an add writes; ``bill``/``invoice`` the document an add
    writes; ``txn_id`` the transaction a delete removes.

    Sales orders: ``sales_order`` is what a SalesOrderAdd or SalesOrderMod writes (the order's draft, its memo
    naming the sales order); a SalesOrderMod changes ``txn_id`` at ``edit_sequence`` (the one QuickBooks
    answered last) and closes the order when ``close``; a SalesOrderQuery answers the lines when ``include_lines``;
    an InvoiceAdd with ``link_to_txn_id`` invoices that whole sales order (its lines, then it is closed)."""

    request_id: str
    kind: OperationKind
    vendor_name: str = ""
    reference: str | None = None
    bill: BillDraft | None = None
    invoice: InvoiceDraft | None = None
    sales_order: InvoiceDraft | None = None
    edit_sequence: str | None = None
    close: bool = False
    include_lines: bool = False
    link_to_txn_id: str | None = None
    txn_id: str | None = None
    account_name: str | None = None  # an ItemNonInventoryAdd's income account


@dataclass(frozen=True)
class QbRecord:
    """What a response says about one object (a vendor, a bill or an invoice); absent fields are None."""

    txn_id: str | None = None
    list_id: str | None = None
    name: str | None = None
    # a sales order's (or an invoice's) edit state: what a Mod must name, whether it is closed, what links it, and
    # its total (TotalAmount) and lines (TxnLineID, when the query asked for lines)
    edit_sequence: str | None = None
    is_manually_closed: bool | None = None
    is_fully_invoiced: bool | None = None
    linked_txn_ids: tuple[str, ...] = ()
    line_ids: tuple[str, ...] = ()
    total: Decimal | None = None
    ref_number: str | None = None
    vendor_name: str | None = None
    memo: str | None = None
    customer_name: str | None = None
    amount: Decimal | None = None  # a bill's total (AmountDue)
    currency: str | None = None  # a vendor's or customer's currency, by its name in QuickBooks (CurrencyRef FullName)
    bill_lines: tuple[BillLine, ...] = ()  # a bill's expense and item lines (BillQuery with IncludeLineItems)


@dataclass(frozen=True)
class OperationResult:
    """One response of a qbXML message: its status and the objects it returned."""

    request_id: str
    status_code: int
    status_severity: str
    status_message: str
    records: list[QbRecord] = field(default_factory=list)


# ---------------------------------------------------------------- ports


class QbxmlMessages(Protocol):
    """Turns operations into a qbXML request and a qbXML response back into results (the qbXML adapter)."""

    def request(self, operations: Sequence[Operation], version: str, on_error: OnError) -> str:
        """One message; an element the qbXML ``version`` does not know (ExchangeRate before 8.0) is left out."""

    def results(self, response: str) -> list[OperationResult]:
        """The responses of a message; raises ``PermanentError`` when the text is not a qbXML response."""


class CredentialVerifier(Protocol):
    """The Web Connector's user name and password (an API token of the company) → the company id, or None."""

    def company_for(self, user_name: str, password: str) -> str | None: ...


@dataclass(frozen=True)
class DesktopWork:
    """A PO waiting for QuickBooks Desktop (status "Sent to External System") and its bill drafts, from its mapper;
    ``problem`` is why the mapper could not map it (then there are no drafts)."""

    document: PurchaseOrderDocument
    drafts: list[BillDraft]
    problem: str | None = None
    replace: bool = False  # sent again with replace: a bill found changed under its RefNumber is deleted, then added

    @property
    def order(self) -> PurchaseOrder:
        return self.document.order

    @property
    def vendor(self) -> VendorRef | None:
        return self.document.vendor


@dataclass(frozen=True)
class InvoiceToAdd:
    """A sales invoice QuickBooks Desktop must get: the draft of the version its sync state sends, or why it
    cannot be mapped (``problem``: the fix). ``claimed``: its sync state is already "sending" (an earlier session
    took it), so the add needs no claim."""

    document_id: str
    draft: InvoiceDraft | None
    problem: str | None = None
    claimed: bool = False


@dataclass(frozen=True)
class InvoiceToDelete:
    """A sales invoice QuickBooks Desktop must lose (its order was unshipped, or a newer version replaces it).

    ``txn_id`` is the TxnID recorded when it was added; without one it is looked up by ``ref_number`` and the
    ``memo`` of the version that was sent (``problem`` says why neither is known)."""

    document_id: str
    invoice_number: int | None
    txn_id: str | None
    ref_number: str | None = None
    memo: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class InvoiceToCheck:
    """A sales invoice an earlier session took ("sending") whose order moved on since (unshipped, changed) in a
    store where that deletes nothing: whether its InvoiceAdd reached QuickBooks is found by ``ref_number`` and the
    ``memo`` of the version it sent. There: its TxnID is recorded; not there: it goes to error, to be sent again."""

    document_id: str
    ref_number: str
    memo: str


SalesInvoiceWork = InvoiceToAdd | InvoiceToDelete | InvoiceToCheck


@dataclass(frozen=True)
class SalesOrderToSend:
    """An order's sales order QuickBooks Desktop must get (SalesOrderAdd) or change (SalesOrderMod): the draft of the
    version its state sends, and the ``part`` that version is on the state; ``txn_id`` the sales order Desktop holds
    (None: looked up by RefNumber and memo, then added); ``problem`` why it cannot be mapped. ``claimed``: "sending"
    already (an earlier session took it). ``check_only``: the order moved on since an earlier session took it, so
    nothing is written: what QuickBooks holds is recorded, or it goes to error."""

    document_id: str
    draft: InvoiceDraft | None
    part: str = ""
    txn_id: str | None = None
    problem: str | None = None
    claimed: bool = False
    check_only: bool = False


class WorkSource(Protocol):
    """What a company's Desktop file must get: POs "Sent to External System" whose external system is
    quickbooks_desktop, and sales invoices to add or delete."""

    def pending_bills(self, company_id: str, limit: int) -> list[DesktopWork]: ...

    def pending_sales_invoices(self, company_id: str, limit: int) -> list[SalesInvoiceWork]:
        """Deletes first, then adds, oldest first; none when the company's accounting system is not Desktop."""

    def pending_sales_orders(self, company_id: str, limit: int) -> list[SalesOrderToSend]:
        """Sales orders to add or change (queued, or "sending" when an earlier session took them), oldest first."""


class SyncRecorder(Protocol):
    """Where results go: each vendor invoice's TxnID or the PO's error, each sales invoice's TxnID, deletion or
    error (an error also e-mails the company)."""

    def invoice_synchronized(self, company_id: str, purchase_order_id: int, invoice_number: str, txn_id: str) -> None:
        """Record the bill of one vendor invoice; the PO becomes "S" once every invoice has one."""

    def purchase_order_failed(self, company_id: str, purchase_order_id: int, message: str) -> None:
        """Put the PO in "Error" with a message a person can act on, and notify."""

    def purchase_order_bills_deleted(self, company_id: str, purchase_order_id: int) -> None:
        """The changed bills of a PO sent again with replace are gone from QuickBooks (deleted now, or not there):
        the same write queues its new bills (deleting → queued), which are then recorded as usual."""

    def claim_sales_invoice(self, company_id: str, document_id: str, document_version: int) -> bool:
        """Take a queued sales invoice for this session before its InvoiceAdd goes (queued → sending); False when
        someone else moved it, or it now sends another version: then it is left alone."""

    def sales_invoice_synchronized(self, company_id: str, document_id: str, txn_id: str) -> None:
        """Record the TxnID of the invoice QuickBooks has for the version sent."""

    def sales_invoice_failed(self, company_id: str, document_id: str, message: str) -> None:
        """Put the sales invoice in error with a message a person can act on, and notify."""

    def sales_invoice_deleted(self, company_id: str, document_id: str) -> None:
        """The invoice is gone from QuickBooks (deleted now, or not there); what must follow is queued by the core."""

    def claim_sales_order(self, company_id: str, document_id: str, document_version: int) -> bool:
        """Take a queued sales order before its SalesOrderAdd or SalesOrderMod goes (queued → sending); False when
        someone else moved it or it now sends another version."""

    def sales_order_synchronized(self, company_id: str, document_id: str, part: str, txn_id: str) -> None:
        """Record the TxnID of the sales order QuickBooks has for the version (``part``) sent."""

    def sales_order_failed(self, company_id: str, document_id: str, message: str) -> None:
        """Put the sales order in error with a message a person can act on, and notify."""


class ListKind(StrEnum):
    """The lists the Sales Invoice Export matches or adds names in."""

    CUSTOMER = "customer"
    ITEM = "item"


@dataclass(frozen=True)
class NameToMatch:
    """One name the Sales Invoice Export needs in a QuickBooks Desktop list, and the directory records that go by it."""

    list_kind: ListKind
    name: str
    record_ids: tuple[int, ...]


@dataclass(frozen=True)
class ExportNames:
    """The names a running Sales Invoice Export (``run_id``) still needs in QuickBooks Desktop; new items are
    NonInventory items sold on ``income_account``."""

    run_id: str
    names: list[NameToMatch]
    income_account: str | None
    complete: bool = True  # False: more names wait than one session takes; the export waits for the next session


@dataclass(frozen=True)
class NameResult:
    """How one name ended: its ListID (``added`` when this session added it), or why not (``problem``: the fix)."""

    list_kind: ListKind
    name: str
    record_ids: tuple[int, ...]
    list_id: str | None = None
    added: bool = False
    problem: str | None = None


class ExportNamesWork(Protocol):
    """The Sales Invoice Export's side of a session: the names it still needs, and where their outcome goes."""

    def pending_names(self, company_id: str, limit: int) -> ExportNames | None:
        """None when no Sales Invoice Export of the company waits for QuickBooks Desktop's names."""

    def names_done(self, company_id: str, run_id: str, results: Sequence[NameResult], complete: bool) -> None:
        """Every name of the session ended (matched, added or refused): the links are kept, and when ``complete``
        (the session had every name the run needed) the run goes on to its invoices."""


class SessionStore(Protocol):
    """Web Connector sessions, kept with an expiry, and one active session per company."""

    def create(self, session: WebConnectorSession) -> None: ...

    def load(self, ticket: str) -> WebConnectorSession | None: ...

    def save(self, session: WebConnectorSession) -> None:
        """Write the session if the stored one is at ``session.version - 1``; else raise ``Conflict``."""

    def claim_company(self, company_id: str, ticket: str, until: datetime) -> bool:
        """Hold the company for this ticket until ``until``; False while another live session holds it."""

    def release_company(self, company_id: str, ticket: str) -> None: ...


# ---------------------------------------------------------------- the session


class SessionStatus(StrEnum):
    ACTIVE = "active"
    NO_WORK = "no_work"
    DONE = "done"
    FAILED = "failed"
    CLOSED = "closed"


class JobState(StrEnum):
    PLANNED = "planned"  # its query is still to be answered
    TO_ADD = "to_add"  # QuickBooks has no such document: an add is due
    TO_DELETE = "to_delete"  # QuickBooks has it (``txn_ids``): a TxnDel is due
    SYNCHRONIZED = "synchronized"
    DELETED = "deleted"
    FAILED = "failed"
    SKIPPED = "skipped"  # another bill of the same PO failed, or someone else moved the invoice; it waits
    UNCONFIRMED = "unconfirmed"  # QuickBooks said OK without a TxnID: the next session looks it up by RefNumber
    BUSY = "busy"  # QuickBooks could not lock a record (another user has it open): the next update tries again


class JobKind(StrEnum):
    BILL = "bill"
    SALES_ORDER = "sales_order"
    INVOICE_ADD = "invoice_add"
    INVOICE_DELETE = "invoice_delete"
    INVOICE_CHECK = "invoice_check"
    NAME = "name"


DUE = frozenset({JobState.PLANNED, JobState.TO_ADD, JobState.TO_DELETE})
# A PO being replaced is not past its deletes while a bill is still to look up, to delete, busy, or failed
DELETE_PENDING = frozenset({JobState.PLANNED, JobState.TO_DELETE, JobState.BUSY, JobState.FAILED, JobState.SKIPPED})
DONE = frozenset({JobState.SYNCHRONIZED, JobState.DELETED})


class Job(BaseModel):
    """What every job has: the RefNumber it goes by in QuickBooks, where it stands, and what QuickBooks said."""

    reference: str
    state: JobState = JobState.PLANNED
    txn_id: str | None = None
    adopted: bool = False
    error: str | None = None

    @property
    def units_done(self) -> int:
        """Two units of progress per job: the lookup, then the write (or its not being needed)."""
        if self.state is JobState.PLANNED:
            return 0
        return 1 if self.state in (JobState.TO_ADD, JobState.TO_DELETE) else 2


class BillJob(Job):
    """One vendor invoice on its way to becoming a bill. With ``replace`` (send again with replace) the bills found
    under its RefNumber that differ from ours (``txn_ids``) are deleted first (TxnDel), then ours is added, or the
    one found the same is adopted (``txn_id``)."""

    kind: Literal[JobKind.BILL] = JobKind.BILL
    draft: BillDraft
    replace: bool = False
    txn_ids: list[str] = Field(default_factory=list)
    deleted_ids: list[str] = Field(default_factory=list)

    @property
    def document_key(self) -> str:
        """Jobs with one key stand or fall together: the bills of one PO."""
        return f"po:{self.draft.purchase_order_id}"


class InvoiceJob(Job):
    """One sales invoice on its way to becoming a QuickBooks Desktop invoice (InvoiceAdd, after an InvoiceQuery)."""

    kind: Literal[JobKind.INVOICE_ADD] = JobKind.INVOICE_ADD
    document_id: str
    draft: InvoiceDraft
    claimed: bool = False
    # The order's sales order (``draft.sales_order_id``), read by a SalesOrderQuery with the InvoiceQuery: open, it is
    # first made the order as shipped (SalesOrderMod at ``sales_order_edit_sequence``), then the InvoiceAdd links it
    # whole (LinkToTxnID: QuickBooks brings its lines and closes it); closed or gone, the invoice goes unlinked.
    sales_order_open: bool = False
    sales_order_edit_sequence: str | None = None
    sales_order_memo: str | None = None
    sales_order_updated: bool = False

    @property
    def document_key(self) -> str:
        return f"invoice:{self.document_id}"


class InvoiceDeleteJob(Job):
    """One sales invoice on its way out of QuickBooks Desktop: a TxnDel of each TxnID (``txn_ids``), found by an
    InvoiceQuery by RefNumber and ``memo`` when none was recorded."""

    kind: Literal[JobKind.INVOICE_DELETE] = JobKind.INVOICE_DELETE
    document_id: str
    invoice_number: int | None = None
    memo: str | None = None
    txn_ids: list[str] = Field(default_factory=list)
    deleted_ids: list[str] = Field(default_factory=list)

    @property
    def document_key(self) -> str:
        return f"invoice:{self.document_id}"


class InvoiceCheckJob(Job):
    """One sales invoice whose add may or may not have reached QuickBooks Desktop: an InvoiceQuery by RefNumber and
    ``memo`` says which (``InvoiceToCheck``); nothing is ever added or deleted for it."""

    kind: Literal[JobKind.INVOICE_CHECK] = JobKind.INVOICE_CHECK
    document_id: str
    memo: str

    @property
    def document_key(self) -> str:
        return f"invoice:{self.document_id}"


class NameJob(Job):
    """One customer or item name a Sales Invoice Export (``run_id``) needs: looked up by FullName, added when
    missing; ``txn_id`` holds its ListID; ``reported`` once the export was told."""

    kind: Literal[JobKind.NAME] = JobKind.NAME
    run_id: str
    list_kind: ListKind
    record_ids: list[int]
    income_account: str | None = None
    reported: bool = False
    last_of_run: bool = True  # the session holds every name the run still needed (``ExportNames.complete``)

    @property
    def document_key(self) -> str:
        return f"name:{self.list_kind.value}:{self.reference}"


def _job_kind(value: Any) -> str:
    """Sessions stored before jobs had a kind hold only bills."""
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return str(kind or JobKind.BILL)


class SalesOrderJob(Job):
    """One order's sales order on its way to QuickBooks Desktop: a SalesOrderQuery (by TxnID when one is recorded,
    else by RefNumber and the memo naming the order), then a SalesOrderAdd, or a SalesOrderMod of the one there at the
    EditSequence just read (every line replaced: the order as it is now)."""

    kind: Literal[JobKind.SALES_ORDER] = JobKind.SALES_ORDER
    document_id: str
    draft: InvoiceDraft
    part: str
    claimed: bool = False
    check_only: bool = False
    edit_sequence: str | None = None

    @property
    def document_key(self) -> str:
        return f"sales_order:{self.document_id}"


AnyJob = Annotated[
    Annotated[BillJob, Tag(JobKind.BILL)]
    | Annotated[SalesOrderJob, Tag(JobKind.SALES_ORDER)]
    | Annotated[InvoiceJob, Tag(JobKind.INVOICE_ADD)]
    | Annotated[InvoiceDeleteJob, Tag(JobKind.INVOICE_DELETE)]
    | Annotated[InvoiceCheckJob, Tag(JobKind.INVOICE_CHECK)]
    | Annotated[NameJob, Tag(JobKind.NAME)],
    Discriminator(_job_kind),
]


class Phase(StrEnum):
    LOOKUP = "lookup"
    WRITE = "write"


class PendingMessage(BaseModel):
    """The message sent last and not yet answered: which phase of which batch."""

    phase: Phase
    batch: int
    request_ids: list[str]

    @field_validator("phase", mode="before")
    @classmethod
    def _stored_before_invoices(cls, value: Any) -> Any:
        """Sessions stored before invoices named the phase by its bill request."""
        return {"BillQuery": Phase.LOOKUP, "BillAdd": Phase.WRITE}.get(value, value)


class WebConnectorSession(BaseModel):
    """Everything one Web Connector session knows, stored between calls."""

    ticket: str
    company_id: str
    user_name: str
    status: SessionStatus = SessionStatus.ACTIVE
    created_at: datetime
    expires_at: datetime
    version: int = 0
    qbxml_version: str | None = None
    jobs: list[AnyJob] = Field(default_factory=list)
    vendors: dict[str, bool | None] = Field(default_factory=dict)
    batch: int = 0
    pending: PendingMessage | None = None
    progress: int = 0
    messages_sent: int = 0
    last_error: str = ""

    def job_count(self, kind: str) -> int:
        """How many of the session's jobs are of ``kind`` (``bill``, ``invoice_add``, ``invoice_delete``)."""
        return sum(1 for job in self.jobs if job.kind == kind)

    def batch_jobs(self, batch_size: int) -> list[tuple[int, AnyJob]]:
        """The current batch's jobs with their index in the session (the index names their requests)."""
        start = self.batch * batch_size
        return list(enumerate(self.jobs[start : start + batch_size], start))

    def computed_progress(self) -> int:
        """Percentage of planned requests done: 100 only when every job is finished."""
        total = 2 * len(self.jobs)
        done = sum(job.units_done for job in self.jobs)
        if total == 0 or done >= total:
            return 100
        return max(1, min(99, done * 100 // total))


@dataclass(frozen=True)
class AuthenticateAnswer:
    """authenticate's string array: the ticket, then "" (use the open company file), "none", "nvu" or "busy"."""

    ticket: str
    status: str

    def as_strings(self) -> list[str]:
        return [self.ticket, self.status]


def _parse_version(text: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in text.strip().split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


def choose_qbxml_version(major: int, minor: int) -> str | None:
    """The qbXML version to speak: 12.0, or the lower one QuickBooks reports; None when it is too old."""
    if major <= 0:
        return f"{QBXML_LATEST[0]}.{QBXML_LATEST[1]}"
    reported = (major, max(minor, 0))
    if reported < QBXML_OLDEST:
        return None
    chosen = min(reported, QBXML_LATEST)
    return f"{chosen[0]}.{chosen[1]}"


def _new_ticket() -> str:
    return str(uuid.uuid4())


UNKNOWN_SESSION = (
    "Ledgersync does not know this Web Connector session (it may have expired). "
    "Nothing was lost: the bills and invoices will be sent at the next scheduled update."
)
EXPIRED_SESSION = (
    "This Web Connector session expired after a long pause. "
    "Nothing was lost: the bills and invoices will be sent at the next scheduled update."
)
NOTHING_WAITING = "No bills or invoices are waiting for QuickBooks."


Fail = Callable[[AnyJob, str], None]


class WebConnectorService:
    """The Web Connector session use case: plans the jobs, builds each message, reads each answer."""

    def __init__(
        self,
        credentials: CredentialVerifier,
        work: WorkSource,
        recorder: SyncRecorder,
        sessions: SessionStore,
        messages: QbxmlMessages,
        *,
        batch_size: int = 50,
        max_jobs_per_session: int = 200,
        session_minutes: int = 30,
        clock: Clock = SYSTEM_CLOCK,
        new_ticket: Callable[[], str] = _new_ticket,
        process_log: ProcessLog | None = None,
        export_names: ExportNamesWork | None = None,
    ) -> None:
        self.process_log = process_log
        self.export_names = export_names
        self.credentials = credentials
        self.work = work
        self.recorder = recorder
        self.sessions = sessions
        self.messages = messages
        self.batch_size = batch_size
        self.max_jobs = max_jobs_per_session
        self.session_ttl = timedelta(minutes=session_minutes)
        self.clock = clock
        self.new_ticket = new_ticket

    # ------------------------------------------------------------ versions

    def server_version(self) -> str:
        return SERVER_VERSION

    def client_version(self, version: str) -> str:
        """ "" accepts the Web Connector; "W:..." asks the user to update an old one (but carries on)."""
        parsed = _parse_version(version)
        if parsed and parsed < OLDEST_WEB_CONNECTOR:
            return "W:Please update the QuickBooks Web Connector to version 2.1 or later."
        return ""

    # ------------------------------------------------------------ authenticate

    def authenticate(self, user_name: str, password: str) -> AuthenticateAnswer:
        """Check the password (an API token of the company), then plan the session's jobs."""
        ticket = self.new_ticket()
        company_id = self.credentials.company_for(user_name, password)
        if company_id is None:
            return AuthenticateAnswer(ticket, "nvu")
        now = self.clock.now()
        if not self.sessions.claim_company(company_id, ticket, now + self.session_ttl):
            return AuthenticateAnswer(ticket, "busy")
        try:
            jobs = self._plan(company_id)
        except RetryableError:
            self.sessions.release_company(company_id, ticket)
            return AuthenticateAnswer(ticket, "busy")
        status = SessionStatus.ACTIVE if jobs else SessionStatus.NO_WORK
        session = WebConnectorSession(
            ticket=ticket,
            company_id=company_id,
            user_name=user_name,
            status=status,
            created_at=now,
            expires_at=now + self.session_ttl,
            jobs=jobs,
            vendors={job.draft.vendor_name: None for job in jobs if isinstance(job, BillJob)},
        )
        self.sessions.create(session)
        if not jobs:
            self.sessions.release_company(company_id, ticket)
            return AuthenticateAnswer(ticket, "none")
        return AuthenticateAnswer(ticket, "")

    def _plan(self, company_id: str) -> list[AnyJob]:
        """The bills of every waiting PO, then the sales invoices to delete and to add, as many as one session holds
        (``max_jobs_per_session`` and the session item's size); what cannot go is put in error here."""
        jobs: list[AnyJob] = []
        size = 0

        def fits(new: Sequence[Job]) -> bool:
            nonlocal size
            more = sum(len(job.model_dump_json()) for job in new)
            if jobs and (len(jobs) + len(new) > self.max_jobs or size + more > SESSION_JOBS_BYTES):
                return False
            size += more
            return True

        names = self.export_names.pending_names(company_id, self.max_jobs) if self.export_names else None
        name_jobs = _name_jobs(names)
        if names is not None and not any(job.state is JobState.PLANNED for job in name_jobs):
            self._report_name_jobs(company_id, name_jobs)  # nothing to ask QuickBooks: every name was refused here
            name_jobs = []
        for name_job in name_jobs:
            if not fits([name_job]):
                for taken in jobs:  # the rest wait for the next session, and so does the export
                    if isinstance(taken, NameJob):
                        taken.last_of_run = False
                break
            jobs.append(name_job)
        for item in self.work.pending_bills(company_id, self.max_jobs - len(jobs)):
            bills = self._bill_jobs(company_id, item)
            if not fits(bills):
                break
            jobs.extend(bills)
        room = self.max_jobs - len(jobs)
        # Sales orders before invoices: an order's invoice links to its sales order (and waits for one on its way).
        for order in self.work.pending_sales_orders(company_id, room) if room > 0 else []:
            sales_order = self._sales_order_job(company_id, order)
            if sales_order is None:
                continue
            if not fits([sales_order]):
                return jobs
            jobs.append(sales_order)
        room = self.max_jobs - len(jobs)
        for work in self.work.pending_sales_invoices(company_id, room) if room > 0 else []:
            job = self._invoice_job(company_id, work)
            if job is None:
                continue
            if not fits([job]):
                break
            jobs.append(job)
        return jobs

    def _bill_jobs(self, company_id: str, item: DesktopWork) -> list[BillJob]:
        """The bills of one PO; none (and the PO in error) when it cannot become bills."""
        problem = _unfit_for_desktop(item) or item.problem
        if problem is None:
            problem = next(
                (f"The bill for vendor invoice {d.invoice_number} has no lines" for d in item.drafts if not d.lines),
                None,
            )
        if problem is not None:
            self.recorder.purchase_order_failed(company_id, item.order.id, problem)
            return []
        return [
            BillJob(draft=draft, reference=draft.reference(BILL_REFERENCE_MAX), replace=item.replace)
            for draft in item.drafts
        ]

    def _invoice_job(self, company_id: str, work: SalesInvoiceWork) -> AnyJob | None:
        """The job of one sales invoice; None (and the invoice in error) when it cannot go to QuickBooks Desktop."""
        problem: str | None
        if isinstance(work, InvoiceToCheck):
            return InvoiceCheckJob(document_id=work.document_id, reference=work.ref_number, memo=work.memo)
        if isinstance(work, InvoiceToDelete):
            if work.txn_id:
                return InvoiceDeleteJob(
                    document_id=work.document_id,
                    invoice_number=work.invoice_number,
                    reference=work.ref_number or "",
                    memo=work.memo,
                    txn_ids=[work.txn_id],
                    state=JobState.TO_DELETE,
                )
            if work.ref_number and work.memo and work.problem is None:
                return InvoiceDeleteJob(
                    document_id=work.document_id,
                    invoice_number=work.invoice_number,
                    reference=work.ref_number,
                    memo=work.memo,
                )
            problem = work.problem or (
                f"Ledgersync has no TxnID for invoice {work.ref_number or work.document_id} and cannot tell the "
                "memo it was sent with to look it up; delete it in QuickBooks Desktop yourself if it is there"
            )
        else:
            problem = work.problem or _unfit_invoice(work.draft)
            if problem is None and work.draft is not None:
                return InvoiceJob(
                    document_id=work.document_id,
                    draft=work.draft,
                    reference=work.draft.ref_number,
                    claimed=work.claimed,
                )
        self.recorder.sales_invoice_failed(company_id, work.document_id, problem or "the invoice has no draft")
        return None

    def _sales_order_job(self, company_id: str, work: SalesOrderToSend) -> SalesOrderJob | None:
        """The job of one sales order; None (and the sales order in error) when it cannot go to QuickBooks Desktop."""
        problem = work.problem or _unfit_invoice(work.draft, "sales order")
        if problem is None and work.draft is not None:
            return SalesOrderJob(
                document_id=work.document_id,
                draft=work.draft,
                part=work.part,
                reference=work.draft.ref_number,
                txn_id=work.txn_id,
                claimed=work.claimed,
                check_only=work.check_only,
            )
        self.recorder.sales_order_failed(company_id, work.document_id, problem or "the sales order has no draft")
        return None

    # ------------------------------------------------------------ sendRequestXML

    def send_request(
        self,
        ticket: str,
        *,
        host_response: str = "",
        company_file: str = "",
        country: str = "",
        major: int = 0,
        minor: int = 0,
    ) -> str:
        """The next qbXML message, or "" when there is nothing to send (getLastError then says why)."""
        del host_response, company_file, country  # the versions carry what this service needs
        session, problem = self._live(ticket)
        if session is None:
            return ""
        if problem or session.status is not SessionStatus.ACTIVE:
            return ""
        version = session.qbxml_version or choose_qbxml_version(major, minor)
        if version is None:
            return self._fail(
                session,
                f"This QuickBooks speaks qbXML {major}.{minor}; Ledgersync needs "
                f"{QBXML_OLDEST[0]}.{QBXML_OLDEST[1]} or later (QuickBooks 2007 or later).",
            )
        session.qbxml_version = version
        if session.pending is not None and session.pending.phase is Phase.WRITE:
            # The adds were sent but their answer never came: QuickBooks may have them. Look them up again.
            # (A TxnDel is simply sent again: one of a transaction already gone answers 3120, which counts as done.)
            for request_id in session.pending.request_ids:
                job = session.jobs[_job_index(request_id)]
                if job.state is JobState.TO_ADD:
                    job.state = JobState.PLANNED
        session.pending = None
        phase, operations = self._next_operations(session)
        if not operations:
            return self._fail(session, "Ledgersync had nothing left to send in this session.")
        session.pending = PendingMessage(
            phase=phase, batch=session.batch, request_ids=[op.request_id for op in operations]
        )
        session.messages_sent += 1
        self.sessions.claim_company(session.company_id, ticket, self.clock.now() + self.session_ttl)
        self._save(session)
        return self.messages.request(operations, version, OnError.CONTINUE)

    def _next_operations(self, session: WebConnectorSession) -> tuple[Phase, list[Operation]]:
        """The lookups of the current batch, else its writes; moves on to the next batch when both are done."""
        while session.batch * self.batch_size < len(session.jobs):
            batch = session.batch_jobs(self.batch_size)
            planned = [(i, job) for i, job in batch if job.state is JobState.PLANNED]
            if planned:
                others: list[tuple[int, AnyJob]] = [(i, j) for i, j in planned if not isinstance(j, SalesOrderJob)]
                return Phase.LOOKUP, self._lookups(session, others) + _sales_order_lookups(planned)
            writes = _sales_order_writes(batch, self._writes(batch))
            if writes:
                return Phase.WRITE, writes
            session.batch += 1
        return Phase.LOOKUP, []

    @staticmethod
    def _lookups(session: WebConnectorSession, planned: list[tuple[int, AnyJob]]) -> list[Operation]:
        """Each vendor not yet known, then one query per planned job (by RefNumber)."""
        names = sorted(
            {
                job.draft.vendor_name
                for _, job in planned
                if isinstance(job, BillJob) and session.vendors.get(job.draft.vendor_name) is None
            }
        )
        vendor_index = list(session.vendors)
        lookups = [Operation(f"V{vendor_index.index(name)}", OperationKind.VENDOR_QUERY, name) for name in names]
        multicurrency = _parse_version(session.qbxml_version or "") >= MULTICURRENCY_SINCE
        for i, job in planned:
            if isinstance(job, InvoiceJob) and multicurrency and _invoice_currency(job.draft):
                # its customer first, so a customer QuickBooks keeps in another currency fails before the add
                lookups.append(Operation(f"C{i}", OperationKind.CUSTOMER_QUERY, reference=job.draft.customer_name))
            if isinstance(job, BillJob):
                lookups.append(Operation(f"Q{i}", OperationKind.BILL_QUERY, job.draft.vendor_name, job.reference))
            elif isinstance(job, NameJob):
                query = OperationKind.CUSTOMER_QUERY if job.list_kind is ListKind.CUSTOMER else OperationKind.ITEM_QUERY
                lookups.append(Operation(f"Q{i}", query, reference=job.reference))
            else:
                lookups.append(Operation(f"Q{i}", OperationKind.INVOICE_QUERY, reference=job.reference))
        return lookups

    @staticmethod
    def _writes(batch: list[tuple[int, AnyJob]]) -> list[Operation]:
        """The adds and deletes due in a batch."""
        writes: list[Operation] = []
        for i, job in batch:
            if isinstance(job, BillJob) and job.state is JobState.TO_ADD:
                writes.append(
                    Operation(f"A{i}", OperationKind.BILL_ADD, job.draft.vendor_name, job.reference, job.draft)
                )
            elif isinstance(job, InvoiceJob) and job.state is JobState.TO_ADD:
                writes.append(Operation(f"A{i}", OperationKind.INVOICE_ADD, reference=job.reference, invoice=job.draft))
            elif isinstance(job, NameJob) and job.state is JobState.TO_ADD:
                add = (
                    OperationKind.CUSTOMER_ADD
                    if job.list_kind is ListKind.CUSTOMER
                    else OperationKind.ITEM_NON_INVENTORY_ADD
                )
                writes.append(Operation(f"A{i}", add, reference=job.reference, account_name=job.income_account))
            elif isinstance(job, InvoiceDeleteJob | BillJob) and job.state is JobState.TO_DELETE:
                kind = OperationKind.BILL_DELETE if isinstance(job, BillJob) else OperationKind.INVOICE_DELETE
                writes.extend(
                    Operation(f"D{i}.{k}", kind, reference=job.reference, txn_id=txn_id)
                    for k, txn_id in enumerate(job.txn_ids)
                    if txn_id not in job.deleted_ids
                )
        return writes

    # ------------------------------------------------------------ receiveResponseXML

    def receive_response(self, ticket: str, response: str, hresult: str, message: str) -> int:
        """Read QuickBooks' answer, record each job's outcome, and say how far the session has come."""
        session, problem = self._live(ticket)
        if session is None or problem:
            return -1
        pending = session.pending
        if pending is None:
            self._fail(session, "Ledgersync received an answer it did not ask for; the session was ended.")
            return -1
        session.pending = None
        if hresult.strip():
            reason = message.strip() or "no message"
            return self._fail_progress(
                session,
                f"QuickBooks could not process the request ({hresult.strip()}): "
                f"{reason}. The bills and invoices wait for the next update.",
            )
        try:
            results = {result.request_id: result for result in self.messages.results(response)}
        except PermanentError as err:
            return self._fail_progress(session, f"QuickBooks' answer could not be read: {err.message}")
        finished, failures = self._apply(session, pending, results)
        try:
            self._record(session.company_id, finished, failures)
            self._settle_replacements(session)
            self._report_names(session)
            self._claim(session)
        except RetryableError as err:
            return self._fail_progress(
                session,
                f"Ledgersync could not record the results ({err.message}); "
                "they will be checked again at the next update.",
            )
        progress = max(session.progress, session.computed_progress())
        session.progress = progress
        if progress >= 100:
            session.status = SessionStatus.DONE
            self.sessions.release_company(session.company_id, ticket)
        self._save(session)
        if session.status is SessionStatus.DONE:
            self._log(session)
        return progress

    def _apply(
        self, session: WebConnectorSession, pending: PendingMessage, results: dict[str, OperationResult]
    ) -> tuple[list[AnyJob], dict[str, tuple[AnyJob, list[str]]]]:
        """Fold the answers into the jobs; a request without an answer leaves its job as it was. Answers the jobs
        that finished (in QuickBooks, or gone from it) and the failures by document (a PO's bills fail together)."""
        finished: list[AnyJob] = []
        failures: dict[str, tuple[AnyJob, list[str]]] = {}
        names = list(session.vendors)

        def fail(job: AnyJob, reason: str) -> None:
            job.state, job.error = JobState.FAILED, reason
            failures.setdefault(job.document_key, (job, []))[1].append(reason)

        for request_id in pending.request_ids:
            result = results.get(request_id)
            if result is None or not request_id.startswith("V"):
                continue
            name = names[int(request_id[1:])]
            if result.status_code == 0 and result.records:
                session.vendors[name] = True
                for job in session.jobs:
                    if isinstance(job, BillJob) and job.draft.vendor_name == name and job.state is JobState.PLANNED:
                        _check_vendor_currency(job, result.records[0], fail)
            elif result.status_code in NOT_FOUND_CODES:
                session.vendors[name] = False
            else:
                for job in session.jobs:
                    if isinstance(job, BillJob) and job.draft.vendor_name == name and job.state is JobState.PLANNED:
                        fail(
                            job,
                            f"QuickBooks could not look up vendor '{name}' ({result.status_code}): "
                            f"{result.status_message}",
                        )
        for request_id in pending.request_ids:
            result = results.get(request_id)
            if result is None or request_id.startswith("V"):
                continue
            job = session.jobs[_job_index(request_id)]
            if job.state not in DUE:
                continue
            if request_id.startswith("Q"):
                self._apply_lookup(session, job, result, fail)
            elif request_id.startswith("S") and isinstance(job, InvoiceJob):
                _lookup_linked_sales_order(job, result, fail)
            elif request_id.startswith("M") and isinstance(job, InvoiceJob):
                _linked_sales_order_updated(job, result, fail)
            elif request_id.startswith("A"):
                _apply_add(job, result, fail)
            elif request_id.startswith("C"):
                _check_customer_currency(job, result, fail)
            elif isinstance(job, InvoiceDeleteJob):
                _apply_delete(job, int(request_id.partition(".")[2]), result, fail)
            elif isinstance(job, BillJob):
                _apply_bill_delete(job, int(request_id.partition(".")[2]), result, fail)
            if job.state in DONE and not any(j is job for j in finished):
                finished.append(job)
        for job in session.jobs:
            if job.document_key in failures and job.state in DUE:
                job.state = JobState.SKIPPED
        return finished, failures

    def _record(self, company_id: str, finished: list[AnyJob], failures: dict[str, tuple[AnyJob, list[str]]]) -> None:
        for job in finished:
            if isinstance(job, NameJob):
                continue  # reported to the export all at once (``_report_names``)
            if isinstance(job, BillJob) and job.replace:
                continue  # recorded once its PO's changed bills are gone (``_settle_replacements``)
            if isinstance(job, BillJob):
                draft = job.draft
                self.recorder.invoice_synchronized(
                    company_id, draft.purchase_order_id, draft.invoice_number, job.txn_id or ""
                )
            elif isinstance(job, InvoiceJob | InvoiceCheckJob):
                self.recorder.sales_invoice_synchronized(company_id, job.document_id, job.txn_id or "")
            elif isinstance(job, SalesOrderJob):
                self.recorder.sales_order_synchronized(company_id, job.document_id, job.part, job.txn_id or "")
            else:
                self.recorder.sales_invoice_deleted(company_id, job.document_id)
        for job, reasons in failures.values():
            reason = "; ".join(dict.fromkeys(reasons))
            if isinstance(job, NameJob):
                continue
            if isinstance(job, BillJob):
                self.recorder.purchase_order_failed(company_id, job.draft.purchase_order_id, reason)
            elif isinstance(job, SalesOrderJob):
                self.recorder.sales_order_failed(company_id, job.document_id, reason)
            else:
                self.recorder.sales_invoice_failed(company_id, job.document_id, reason)

    def _claim(self, session: WebConnectorSession) -> None:
        """Take each sales invoice whose InvoiceAdd is now due (queued → sending) before the add goes; one that someone
        else moved meanwhile, or that now sends another version, is left alone (its state says what follows)."""
        for job in session.jobs:
            if isinstance(job, SalesOrderJob) and job.state is JobState.TO_ADD and not job.claimed:
                if self.recorder.claim_sales_order(session.company_id, job.document_id, job.draft.document_version):
                    job.claimed = True
                else:
                    job.state = JobState.SKIPPED
                    job.error = (
                        f"sales order {job.reference} changed in Ledgersync while this session ran; it was not sent"
                    )
                continue
            if not isinstance(job, InvoiceJob) or job.state is not JobState.TO_ADD or job.claimed:
                continue
            if self.recorder.claim_sales_invoice(session.company_id, job.document_id, job.draft.document_version):
                job.claimed = True
            else:
                job.state = JobState.SKIPPED
                job.error = f"invoice {job.reference} changed in Ledgersync while this session ran; it was not sent"

    def _settle_replacements(self, session: WebConnectorSession) -> None:
        """A PO sent again with replace whose changed bills are all gone (deleted, or not there) and none failed: its
        state moves on to queued (``purchase_order_bills_deleted``), then the bills already in QuickBooks (adopted,
        or added in this session) are recorded on it; its remaining adds are then recorded as any bill's. Until then
        nothing of it is recorded, so a session cut short leaves it "deleting" and the next one looks again."""
        replacing: dict[int, list[BillJob]] = {}
        for job in session.jobs:
            if isinstance(job, BillJob) and job.replace:
                replacing.setdefault(job.draft.purchase_order_id, []).append(job)
        for po_id, jobs in replacing.items():
            if any(job.state in DELETE_PENDING for job in jobs):
                continue
            self.recorder.purchase_order_bills_deleted(session.company_id, po_id)
            for job in jobs:
                job.replace = False
            for job in jobs:
                if job.state is JobState.SYNCHRONIZED:
                    self.recorder.invoice_synchronized(
                        session.company_id, po_id, job.draft.invoice_number, job.txn_id or ""
                    )

    def _report_names(self, session: WebConnectorSession) -> None:
        """Once every name of the session is in QuickBooks Desktop or refused, tell the export, once. A name still
        due or busy keeps the report back: the next session looks them all up again (and adopts what this one added)."""
        names = [job for job in session.jobs if isinstance(job, NameJob)]
        if not names or any(job.reported for job in names):
            return
        if any(job.state not in (JobState.SYNCHRONIZED, JobState.FAILED) for job in names):
            return
        self._report_name_jobs(session.company_id, names)

    def _report_name_jobs(self, company_id: str, names: list[NameJob]) -> None:
        if self.export_names is None or not names:
            return
        results = [
            NameResult(
                job.list_kind,
                job.reference,
                tuple(job.record_ids),
                list_id=job.txn_id if job.state is JobState.SYNCHRONIZED else None,
                added=job.state is JobState.SYNCHRONIZED and not job.adopted,
                problem=job.error if job.state is JobState.FAILED else None,
            )
            for job in names
        ]
        self.export_names.names_done(company_id, names[0].run_id, results, all(job.last_of_run for job in names))
        for job in names:
            job.reported = True

    def _apply_lookup(self, session: WebConnectorSession, job: AnyJob, result: OperationResult, fail: Fail) -> None:
        if isinstance(job, NameJob):
            _lookup_name(job, result, fail)
        elif isinstance(job, BillJob):
            self._lookup(session, job, result, fail)
        elif isinstance(job, InvoiceJob):
            _lookup_invoice(job, result, fail)
        elif isinstance(job, InvoiceCheckJob):
            _lookup_check(job, result, fail)
        elif isinstance(job, SalesOrderJob):
            _lookup_sales_order(job, result, fail)
        else:
            _lookup_deletion(job, result, fail)

    @staticmethod
    def _lookup(session: WebConnectorSession, job: BillJob, result: OperationResult, fail: Fail) -> None:
        """A BillQuery's answer: adopt the bill QuickBooks already has, or plan its BillAdd."""
        vendor = job.draft.vendor_name
        if session.vendors.get(vendor) is False:
            fail(
                job,
                f"Vendor '{vendor}' was not found in QuickBooks; the names must match exactly "
                "(the vendor's Accounting Name in Ledgersync and its name in QuickBooks)",
            )
            return
        if result.status_code in NOT_FOUND_CODES:
            job.state = JobState.TO_ADD
            return
        if result.status_code != 0:
            fail(
                job,
                f"QuickBooks could not look up bill {job.reference} ({result.status_code}): {result.status_message}",
            )
            return
        same = [
            r
            for r in _same_reference(result, job.reference)
            if (r.vendor_name or vendor).casefold() == vendor.casefold()
        ]
        draft = job.draft
        shortened = job.reference != draft.full_reference
        mine = [r for r in same if r.txn_id and (not shortened or draft.full_reference in (r.memo or ""))]
        if not mine:
            if same:
                fail(
                    job,
                    f"QuickBooks already has a bill {job.reference} from vendor '{vendor}' that belongs to another "
                    f"document (its memo does not mention {draft.full_reference}); rename one of them",
                )
            else:
                job.state = JobState.TO_ADD
            return
        # The same comparison as send again's with QuickBooks Online: vendor, lines (item or account, amount,
        # class) and total.
        differences = {r.txn_id: bill_differences(draft, _accounting_bill(r, vendor)) for r in mine}
        kept = next((r for r in mine if not differences[r.txn_id]), None)
        changed = [r for r in mine if differences[r.txn_id]]
        if job.replace:
            job.txn_ids = [r.txn_id for r in changed if r.txn_id]
            job.deleted_ids = []
            job.txn_id = kept.txn_id if kept is not None else None
            job.state = JobState.TO_DELETE if job.txn_ids else JobState.SYNCHRONIZED
            job.adopted = kept is not None
        elif kept is not None:
            job.state, job.txn_id, job.adopted = JobState.SYNCHRONIZED, kept.txn_id, True
        else:
            fail(
                job,
                f"the bill in QuickBooks Desktop differs from ours (bill {job.reference}: "
                f"{'; '.join(differences[changed[0].txn_id])}); delete it in QuickBooks Desktop, then send again, "
                'or send again with {"replace": true} (POST /v1/purchase-orders/{id}/send-again) to have Ledgersync '
                "replace it",
            )

    # ------------------------------------------------------------ the rest of the protocol

    def last_error(self, ticket: str) -> str:
        """Why the last call returned "" or a negative progress; never the special value "NoOp"."""
        session = self.sessions.load(ticket)
        if session is None:
            return UNKNOWN_SESSION
        if session.last_error:
            return session.last_error
        if session.expires_at <= self.clock.now():
            return EXPIRED_SESSION
        return "No error." if session.status is not SessionStatus.NO_WORK else NOTHING_WAITING

    def connection_error(self, ticket: str, hresult: str, message: str) -> str:
        """The Web Connector could not reach QuickBooks: keep the work for next time and answer "done"."""
        session = self.sessions.load(ticket)
        if session is not None and session.status is SessionStatus.ACTIVE:
            self._fail(
                session,
                f"The Web Connector could not open QuickBooks ({hresult.strip()}): {message.strip()}. "
                "Open the company file in QuickBooks; the bills and invoices wait for the next update.",
            )
        return "done"

    def close(self, ticket: str) -> str:
        """The message the Web Connector shows when the session ends."""
        session = self.sessions.load(ticket)
        if session is None:
            return "Ledgersync: session ended."
        summary = _summary(session)
        if session.status is not SessionStatus.CLOSED:
            ended_early = session.status is SessionStatus.ACTIVE  # a DONE or FAILED session was logged as it ended
            session.status = SessionStatus.CLOSED
            self.sessions.release_company(session.company_id, ticket)
            with suppress(Conflict):
                self._save(session)
            if ended_early:
                self._log(session)
        return summary

    # ------------------------------------------------------------ helpers

    def _live(self, ticket: str) -> tuple[WebConnectorSession | None, bool]:
        """The session of a ticket, and whether it can no longer serve (unknown, expired or finished)."""
        session = self.sessions.load(ticket)
        if session is None:
            return None, True
        if session.expires_at <= self.clock.now():
            return session, True
        return session, session.status is not SessionStatus.ACTIVE

    def _save(self, session: WebConnectorSession) -> None:
        session.version += 1
        session.expires_at = self.clock.now() + self.session_ttl
        self.sessions.save(session)

    def _fail(self, session: WebConnectorSession, reason: str) -> str:
        session.status, session.last_error, session.pending = SessionStatus.FAILED, reason, None
        self.sessions.release_company(session.company_id, session.ticket)
        self._save(session)
        self._log(session)
        return ""

    def _log(self, session: WebConnectorSession) -> None:
        """The session's process log entry, written once as it ends (a session with no work is not logged)."""
        if self.process_log is None or not session.jobs:
            return
        self.process_log.record(
            session.company_id,
            RunName.WEB_CONNECTOR_SESSION,
            session.created_at,
            session_counts(session),
            session_messages(session),
            RunStatus.FAILED if session.status is SessionStatus.FAILED else None,
        )

    def _fail_progress(self, session: WebConnectorSession, reason: str) -> int:
        self._fail(session, reason)
        return -1


# ---------------------------------------------------------------- what each kind of job does with an answer


def _apply_add(job: AnyJob, result: OperationResult, fail: Fail) -> None:
    if job.state is not JobState.TO_ADD:
        return
    if isinstance(job, BillJob):
        _bill_added(job, result, fail)
    elif isinstance(job, InvoiceJob):
        _invoice_added(job, result, fail)
    elif isinstance(job, NameJob):
        _name_added(job, result, fail)
    elif isinstance(job, SalesOrderJob):
        _sales_order_written(job, result, fail)


def _bill_added(job: BillJob, result: OperationResult, fail: Fail) -> None:
    """A BillAdd's answer: the new bill's TxnID, or QuickBooks' refusal in words."""
    txn_id = next((r.txn_id for r in result.records if r.txn_id), None)
    if result.status_code == 0 and txn_id:
        job.state, job.txn_id = JobState.SYNCHRONIZED, txn_id
        return
    if result.status_code == 0:
        # QuickBooks accepted the bill but did not say which it is: neither an error nor a TxnID to record.
        # The PO stays "Sent to External System"; the next session's BillQuery by RefNumber adopts the bill.
        job.state = JobState.UNCONFIRMED
        job.error = (
            f"QuickBooks accepted bill {job.reference} ({result.status_message or 'status 0'}) but returned no "
            "TxnID; Ledgersync will look it up by its RefNumber at the next update"
        )
        return
    hint = ""
    if result.status_code == INVALID_REFERENCE:
        hint = (
            " Check that the vendor, bill item, expense accounts and classes exist in QuickBooks with exactly"
            " these names."
        )
    fail(job, f"QuickBooks refused bill {job.reference} ({result.status_code}): {result.status_message}.{hint}")


def _invoice_currency(draft: InvoiceDraft) -> str | None:
    return draft.currency or draft.company_currency


def _currency_refusal(noun: str, reference: str, ours: str, kind: str, name: str, theirs: str) -> str:
    return (
        f'QuickBooks Desktop would refuse {noun} {reference} ("{SAME_CURRENCY}"): the {noun} is in {ours} and '
        f"{kind} '{name}' is in {theirs} in QuickBooks; nothing was sent. "
    )


def _check_vendor_currency(job: BillJob, vendor: QbRecord, fail: Fail) -> None:
    """Fail a bill whose vendor QuickBooks keeps in another currency (its CurrencyRef), before its BillAdd; a vendor
    without a currency (multicurrency off) or in one whose name cannot be told is left to QuickBooks."""
    ours, theirs = job.draft.document_currency, desktop_currency_code(vendor.currency)
    if not ours or not theirs or ours == theirs:
        return
    name = job.draft.vendor_name
    fail(
        job,
        _currency_refusal("bill", job.reference, ours, "vendor", name, theirs)
        + f"A vendor's currency cannot change in QuickBooks once it has transactions: set the vendor's currency in "
        f"Ledgersync to {theirs} (PUT /v1/directory/vendors), or make a vendor in {ours} in QuickBooks Desktop and "
        "set the vendor's accountingName to its name, then send again.",
    )


def _check_customer_currency(job: AnyJob, result: OperationResult, fail: Fail) -> None:
    """A CustomerQuery's answer before an InvoiceAdd: fail the invoice when QuickBooks keeps its customer in another
    currency. A customer not found, or QuickBooks busy, is left to the InvoiceAdd (which names what is missing)."""
    if not isinstance(job, InvoiceJob) or job.state is not JobState.PLANNED:
        return
    if result.status_code != 0 or not result.records:
        return
    ours, theirs = _invoice_currency(job.draft), desktop_currency_code(result.records[0].currency)
    if not ours or not theirs or ours == theirs:
        return
    fail(
        job,
        _currency_refusal("invoice", job.reference, ours, "customer", job.draft.customer_name, theirs)
        + f"A customer's currency cannot change in QuickBooks once it has transactions: make a customer in {ours} in "
        "QuickBooks Desktop and set the customer's accountingName to its name (PUT /v1/directory/customers), then "
        "send again.",
    )


def _apply_bill_delete(job: BillJob, index: int, result: OperationResult, fail: Fail) -> None:
    """A bill TxnDel's answer (send again with replace): gone (deleted now, or 3120: not there any more), then ours
    is added (or the one found the same adopted); else QuickBooks' refusal with the fix."""
    if job.state is not JobState.TO_DELETE or index >= len(job.txn_ids):
        return
    txn_id = job.txn_ids[index]
    code = result.status_code
    if code in (0, TXN_NOT_FOUND):
        job.deleted_ids = [*job.deleted_ids, txn_id]
        if set(job.txn_ids) <= set(job.deleted_ids):
            job.state = JobState.SYNCHRONIZED if job.txn_id else JobState.TO_ADD
    elif code in BUSY_CODES:
        job.state = JobState.BUSY
        job.error = (
            f"QuickBooks Desktop could not delete bill {job.reference} now ({code}): {result.status_message}; "
            "Ledgersync tries again at the next update"
        )
    else:
        fail(
            job,
            f"QuickBooks Desktop could not delete bill {job.reference} (TxnID {txn_id}) to replace it ({code}): "
            f"{result.status_message.rstrip('.')}. Delete it in QuickBooks Desktop yourself (first removing what "
            "QuickBooks names, such as a bill payment), then send again.",
        )


def _accounting_bill(record: QbRecord, vendor: str) -> AccountingBill:
    """A BillQuery's record in the draft's terms, for ``bill_differences``."""
    lines = list(record.bill_lines)
    total = record.amount if record.amount is not None else sum((line.amount for line in lines), Decimal(0))
    return AccountingBill(
        external_id=record.txn_id or "",
        doc_number=record.ref_number,
        vendor_name=record.vendor_name or vendor,
        lines=lines,
        total=total,
    )


def _same_reference(result: OperationResult, reference: str) -> list[QbRecord]:
    """The records of a query's answer with this RefNumber, which QuickBooks compares without regard to case."""
    return [r for r in result.records if (r.ref_number or "").casefold() == reference.casefold()]


def _memo_names_invoice(memo: str | None, sent_memo: str) -> bool:
    """Whether a memo names the same Ledgersync invoice as ``sent_memo``, whatever its version (the memo ends in
    its version: "... (id 5, version 3)")."""
    stem = sent_memo.rpartition(" version ")[0]
    return bool(stem) and stem in (memo or "")


def _busy(job: AnyJob, result: OperationResult, doing: str) -> None:
    job.state = JobState.BUSY
    job.error = (
        f"QuickBooks Desktop could not {doing} invoice {job.reference} now ({result.status_code}): "
        f"{result.status_message}; Ledgersync tries again at the next update"
    )


def _lookup_found(job: AnyJob, result: OperationResult, fail: Fail, *, not_found: JobState, failure: str) -> bool:
    """Settle an InvoiceQuery's status before its records are read, the same for an add and a delete: nothing there
    moves the job to ``not_found``, a busy QuickBooks leaves it for the next update, any other error fails it with
    ``failure`` and QuickBooks' words. True when the query found records to read."""
    code = result.status_code
    if code in NOT_FOUND_CODES:
        job.state = not_found
    elif code in BUSY_CODES:
        _busy(job, result, "look up")
    elif code != 0:
        fail(job, f"{failure} ({code}): {result.status_message}")
    else:
        return True
    return False


def _lookup_invoice(job: InvoiceJob, result: OperationResult, fail: Fail) -> None:
    """An InvoiceQuery's answer before an InvoiceAdd: adopt the invoice QuickBooks already has for this version
    (same RefNumber, a memo naming this invoice and version), refuse when the RefNumber belongs to another
    invoice, else plan the add."""
    draft = job.draft
    failure = f"QuickBooks Desktop could not look up invoice {job.reference}"
    if not _lookup_found(job, result, fail, not_found=JobState.TO_ADD, failure=failure):
        return
    same = _same_reference(result, job.reference)
    mine = [r for r in same if draft.memo in (r.memo or "")]
    txn_id = next((r.txn_id for r in mine if r.txn_id), None)
    if txn_id:
        job.state, job.txn_id, job.adopted = JobState.SYNCHRONIZED, txn_id, True
    elif mine:
        job.state = JobState.UNCONFIRMED
        job.error = (
            f"QuickBooks Desktop has invoice {job.reference} for this version but did not say its TxnID; "
            "Ledgersync will look it up again at the next update"
        )
    elif earlier := next((r for r in same if _memo_names_invoice(r.memo, draft.memo)), None):
        fail(
            job,
            f"QuickBooks Desktop still has invoice {job.reference} of another version of invoice "
            f"{draft.invoice_number} (its memo: '{earlier.memo}'), and an order has only one invoice in "
            "QuickBooks; delete that invoice in QuickBooks Desktop, then send again",
        )
    elif same:
        other = same[0]
        fail(
            job,
            f"QuickBooks Desktop already has an invoice {job.reference} (customer '{other.customer_name or '?'}') "
            f"that Ledgersync did not make for invoice {draft.invoice_number} (its memo does not say "
            f"'{draft.memo}'); renumber or delete that invoice in QuickBooks Desktop, or give the store another "
            "invoicePrefix, then send again",
        )
    else:
        job.state = JobState.TO_ADD


def _invoice_added(job: InvoiceJob, result: OperationResult, fail: Fail) -> None:
    """An InvoiceAdd's answer: the new invoice's TxnID, or QuickBooks' refusal with the fix."""
    code = result.status_code
    txn_id = next((r.txn_id for r in result.records if r.txn_id), None)
    if code == 0 and txn_id:
        job.state, job.txn_id = JobState.SYNCHRONIZED, txn_id
    elif code == 0:
        # As for bills: the invoice stays "sending" and the next session's InvoiceQuery adopts it by its memo.
        job.state = JobState.UNCONFIRMED
        job.error = (
            f"QuickBooks accepted invoice {job.reference} ({result.status_message or 'status 0'}) but returned no "
            "TxnID; Ledgersync will look it up by its RefNumber at the next update"
        )
    elif code in BUSY_CODES:
        _busy(job, result, "add")
    else:
        fail(
            job,
            f"QuickBooks Desktop refused invoice {job.reference} ({code}): {result.status_message.rstrip('.')}. "
            + _invoice_fix(job.draft, code),
        )


def _invoice_fix(draft: InvoiceDraft, code: int) -> str:
    """What to do about a refused InvoiceAdd, in QuickBooks Desktop's words."""
    if code == INVALID_REFERENCE:
        items = ", ".join(f"'{name}'" for name in dict.fromkeys(line.item_name for line in draft.lines))
        return (
            f"Check that customer '{draft.customer_name}' and the items {items} exist in QuickBooks Desktop with "
            "exactly these names (Customer Center, Lists > Item List), or change the names in Ledgersync (the "
            "customer's accountingName or the channel store's accountingCustomer; the products' accountingItem, "
            "the settings' invoiceItemName and invoiceChargeItems), then send again."
        )
    return (
        "Correct what QuickBooks Desktop names (a date in a closed period: Company > Set Closing Date, or another "
        "ship date; a duplicate number: renumber the other invoice or give the store another invoicePrefix), "
        "then send again."
    )


def _lookup_deletion(job: InvoiceDeleteJob, result: OperationResult, fail: Fail) -> None:
    """An InvoiceQuery's answer before a delete without a recorded TxnID: the invoices Ledgersync made for the
    version sent (their memo says so) are deleted; none there means nothing to delete."""
    failure = f"QuickBooks Desktop could not look up invoice {job.reference} to delete it"
    if not _lookup_found(job, result, fail, not_found=JobState.DELETED, failure=failure):
        return
    memo = job.memo or ""
    job.txn_ids = [
        r.txn_id for r in _same_reference(result, job.reference) if r.txn_id and memo and memo in (r.memo or "")
    ]
    job.state = JobState.TO_DELETE if job.txn_ids else JobState.DELETED


def _lookup_check(job: InvoiceCheckJob, result: OperationResult, fail: Fail) -> None:
    """An InvoiceQuery's answer for an invoice whose add may have reached QuickBooks: there (its memo names the
    version sent), its TxnID is recorded; not there, it goes to error so that a person sends the order as it is now."""
    code = result.status_code
    if code in BUSY_CODES:
        _busy(job, result, "look up")
        return
    if code != 0 and code not in NOT_FOUND_CODES:
        fail(job, f"QuickBooks Desktop could not look up invoice {job.reference} ({code}): {result.status_message}")
        return
    found = next(
        (r.txn_id for r in _same_reference(result, job.reference) if r.txn_id and job.memo in (r.memo or "")), None
    )
    if found:
        job.state, job.txn_id, job.adopted = JobState.SYNCHRONIZED, found, True
        return
    fail(
        job,
        f"invoice {job.reference} changed in Ledgersync while it was being sent to QuickBooks Desktop, and QuickBooks "
        "Desktop does not have it; send it again (POST /v1/invoices/{invoiceId}/send-again) to send it as it is now",
    )


def _apply_delete(job: InvoiceDeleteJob, index: int, result: OperationResult, fail: Fail) -> None:
    """A TxnDel's answer: gone (deleted now, or 3120: not there any more), or QuickBooks' refusal with the fix."""
    if job.state is not JobState.TO_DELETE or index >= len(job.txn_ids):
        return
    txn_id = job.txn_ids[index]
    code = result.status_code
    if code in (0, TXN_NOT_FOUND):
        job.deleted_ids = [*job.deleted_ids, txn_id]
        if set(job.txn_ids) <= set(job.deleted_ids):
            job.state = JobState.DELETED
    elif code in BUSY_CODES:
        _busy(job, result, "delete")
    else:
        fail(
            job,
            f"QuickBooks Desktop could not delete invoice {job.reference or job.invoice_number} (TxnID {txn_id}) "
            f"({code}): {result.status_message.rstrip('.')}. Delete it in QuickBooks Desktop yourself (first "
            "removing what QuickBooks names, such as a payment received against it), then send again.",
        )


# ---------------------------------------------------------------- sales orders

SALES_ORDERS_UNAVAILABLE = 3250  # "This feature is not enabled or not available in this version of QuickBooks."
STALE_EDIT_SEQUENCE = 3200
SALES_ORDER_FIX = (
    "Sales orders need QuickBooks Desktop Premier or Enterprise with sales orders turned on (Edit > Preferences > "
    "Sales & Customers > Company Preferences > Enable Sales Orders); turn them on, then send the sales order again "
    "(POST /v1/invoices/{invoiceId}/send-sales-order), or send the order's invoice once it ships."
)


def _sales_order_lookups(planned: list[tuple[int, AnyJob]]) -> list[Operation]:
    """Each sales order's SalesOrderQuery (by its TxnID once recorded, else by RefNumber), and the one of the sales
    order a shipped invoice links to (``S``, beside the invoice's InvoiceQuery)."""
    lookups: list[Operation] = []
    for i, job in planned:
        if isinstance(job, SalesOrderJob):
            lookups.append(
                Operation(f"Q{i}", OperationKind.SALES_ORDER_QUERY, reference=job.reference, txn_id=job.txn_id)
            )
        elif isinstance(job, InvoiceJob) and job.draft.sales_order_id:
            lookups.append(Operation(f"S{i}", OperationKind.SALES_ORDER_QUERY, txn_id=job.draft.sales_order_id))
    return lookups


def _sales_order_writes(batch: list[tuple[int, AnyJob]], writes: list[Operation]) -> list[Operation]:
    """The batch's writes with the sales orders': each sales order's add or Mod, and, for an invoice whose sales order
    is open, its SalesOrderMod then its linked InvoiceAdd in place of the plain InvoiceAdd. When the session also
    carries the order's sales-order job, that job's write goes first (alone: two Mods at one EditSequence would
    refuse the second), and once it changed the sales order the invoice links it without a Mod of its own."""
    invoices = {f"A{i}": (i, job) for i, job in batch if isinstance(job, InvoiceJob) and job.draft.sales_order_id}
    orders = {job.document_id: job for _, job in batch if isinstance(job, SalesOrderJob)}
    ours: list[Operation] = []
    for op in writes:
        if op.request_id not in invoices:
            ours.append(op)
            continue
        index, invoice = invoices[op.request_id]
        order = orders.get(invoice.document_id)
        if order is not None and order.state is JobState.TO_ADD:
            continue  # its sales order is written in this message; the invoice goes in the next
        ours.append(_invoice_write(index, invoice, order_written=order is not None and order.state in DONE))
    written = [_sales_order_write(i, job) for i, job in batch if isinstance(job, SalesOrderJob)]
    return ours + [op for op in written if op is not None]


def _invoice_write(index: int, job: InvoiceJob, *, order_written: bool = False) -> Operation:
    """An invoice's write: plain InvoiceAdd; for an order whose sales order is open, first its SalesOrderMod to the
    order as shipped (``M``; not when ``order_written``: the session's sales-order job just made it the order as it
    is), then the InvoiceAdd that links it whole (LinkToTxnID, no lines of its own)."""
    draft = job.draft
    if not (draft.sales_order_id and job.sales_order_open):
        return Operation(f"A{index}", OperationKind.INVOICE_ADD, reference=job.reference, invoice=draft)
    if not (job.sales_order_updated or order_written):
        order = draft.model_copy(update={"memo": job.sales_order_memo or ""})
        return Operation(
            f"M{index}",
            OperationKind.SALES_ORDER_MOD,
            reference=job.reference,
            sales_order=order,
            txn_id=draft.sales_order_id,
            edit_sequence=job.sales_order_edit_sequence,
        )
    return Operation(
        f"A{index}",
        OperationKind.SALES_ORDER_INVOICE_ADD,
        reference=job.reference,
        invoice=draft,
        link_to_txn_id=draft.sales_order_id,
    )


def _lookup_linked_sales_order(job: InvoiceJob, result: OperationResult, fail: Fail) -> None:
    """The SalesOrderQuery of an invoice's sales order: open, the invoice will link it; closed (by hand in QuickBooks,
    or invoiced already) or gone (no match: 1, 500, 3120), the invoice goes with its own lines, unlinked (QuickBooks
    links no closed order). A busy QuickBooks leaves the invoice for the next update. Any other answer fails the
    invoice with QuickBooks' reason: sent unlinked, the sales order would stay open in QuickBooks, to be invoiced a
    second time by hand."""
    if result.status_code in BUSY_CODES:
        _busy(job, result, "look up the sales order of")
        return
    if result.status_code not in SALES_ORDER_QUERY_ANSWERS:
        fail(
            job,
            f"QuickBooks Desktop could not look up sales order {job.draft.sales_order_id}, which invoice "
            f"{job.reference} closes ({result.status_code}): {result.status_message.rstrip('.')}. Send the invoice "
            "again once QuickBooks answers; it then links the sales order, or goes with its own lines if the sales "
            "order was closed or deleted",
        )
        return
    record = next((r for r in result.records if r.txn_id == job.draft.sales_order_id), None)
    is_open = (
        result.status_code == 0
        and record is not None
        and record.edit_sequence is not None
        and not record.is_manually_closed
        and not record.is_fully_invoiced
    )
    job.sales_order_open = is_open
    job.sales_order_edit_sequence = record.edit_sequence if is_open and record is not None else None
    job.sales_order_memo = record.memo if record is not None else None
    job.sales_order_updated = False


def _linked_sales_order_updated(job: InvoiceJob, result: OperationResult, fail: Fail) -> None:
    """The SalesOrderMod before a linked InvoiceAdd: done, the add follows; changed meanwhile in QuickBooks (3200) or
    busy, the next update tries again; gone (3120), the invoice goes unlinked; refused, the invoice fails with why."""
    if job.state is not JobState.TO_ADD:
        return
    code = result.status_code
    if code == 0:
        job.sales_order_updated = True
    elif code == TXN_NOT_FOUND:
        job.sales_order_open = False
    elif code == STALE_EDIT_SEQUENCE or code in BUSY_CODES:
        _busy(job, result, "update the sales order of")
    else:
        fail(
            job,
            f"QuickBooks Desktop refused to update sales order {job.reference} to the order as shipped before "
            f"invoicing it ({code}): {result.status_message.rstrip('.')}. " + _invoice_fix(job.draft, code),
        )


def _sales_order_write(index: int, job: SalesOrderJob) -> Operation | None:
    """A sales order's write when one is due: a Mod of the one found (its TxnID at the EditSequence just read), else
    an add."""
    if job.state is not JobState.TO_ADD:
        return None
    if job.txn_id and job.edit_sequence:
        return Operation(
            f"A{index}",
            OperationKind.SALES_ORDER_MOD,
            reference=job.reference,
            sales_order=job.draft,
            txn_id=job.txn_id,
            edit_sequence=job.edit_sequence,
        )
    return Operation(f"A{index}", OperationKind.SALES_ORDER_ADD, reference=job.reference, sales_order=job.draft)


def _lookup_sales_order(job: SalesOrderJob, result: OperationResult, fail: Fail) -> None:
    """A SalesOrderQuery's answer: the one Ledgersync made for this order (its TxnID, or the RefNumber and a memo
    naming the order) is changed to this version (SalesOrderMod: its memo names the order, not the version, so a
    look-up cannot tell whether it already holds it, and a Mod that replaces every line is the same done twice);
    closed there, it is left as it is; none there is added (or, with a TxnID recorded, was deleted in QuickBooks)."""
    code = result.status_code
    if code == SALES_ORDERS_UNAVAILABLE:
        fail(job, f"QuickBooks Desktop has no sales orders ({code}): {result.status_message} {SALES_ORDER_FIX}")
        return
    if code in BUSY_CODES:
        job.state = JobState.BUSY
        job.error = (
            f"QuickBooks Desktop could not look up sales order {job.reference} now ({code}): "
            f"{result.status_message}; Ledgersync tries again at the next update"
        )
        return
    if code in NOT_FOUND_CODES and job.txn_id:
        fail(
            job,
            f"sales order {job.reference} (TxnID {job.txn_id}) is no longer in QuickBooks Desktop (deleted there); "
            "its changes cannot be sent. The order's invoice goes without it once the order ships.",
        )
        return
    failure = f"QuickBooks Desktop could not look up sales order {job.reference}"
    not_found = JobState.SKIPPED if job.check_only else JobState.TO_ADD
    if not _lookup_found(job, result, fail, not_found=not_found, failure=failure):
        if job.check_only and job.state is JobState.SKIPPED:
            _sales_order_not_there(job, fail)
        return
    if job.txn_id:
        mine = [r for r in result.records if r.txn_id == job.txn_id]
    else:
        same = _same_reference(result, job.reference)
        mine = [r for r in same if job.draft.memo in (r.memo or "")]
        if not mine and same:
            other = same[0]
            fail(
                job,
                f"QuickBooks Desktop already has a sales order {job.reference} (customer "
                f"'{other.customer_name or '?'}') that Ledgersync did not make for order {job.draft.invoice_number} "
                f"(its memo does not say '{job.draft.memo}'); renumber or delete that sales order in QuickBooks "
                "Desktop, or give the store another invoicePrefix, then send the sales order again",
            )
            return
    found = next((r for r in mine if r.txn_id), None)
    if found is None:
        if job.check_only:
            _sales_order_not_there(job, fail)
        else:
            job.state, job.edit_sequence = JobState.TO_ADD, None
        return
    job.txn_id = found.txn_id
    if job.check_only or found.is_manually_closed or found.is_fully_invoiced:
        job.state, job.adopted = JobState.SYNCHRONIZED, True
        return
    job.state, job.edit_sequence = JobState.TO_ADD, found.edit_sequence  # a Mod of the one found


def _sales_order_not_there(job: SalesOrderJob, fail: Fail) -> None:
    fail(
        job,
        f"sales order {job.reference} changed in Ledgersync while it was being sent to QuickBooks Desktop, and "
        "QuickBooks Desktop does not have it; send it again (POST /v1/invoices/{invoiceId}/send-sales-order) while "
        "the order is not shipped",
    )


def _sales_order_written(job: SalesOrderJob, result: OperationResult, fail: Fail) -> None:
    """A SalesOrderAdd's or SalesOrderMod's answer: the TxnID recorded, or why not with the fix."""
    code = result.status_code
    txn_id = next((r.txn_id for r in result.records if r.txn_id), None) or job.txn_id
    modding = bool(job.txn_id and job.edit_sequence)
    doing = "update" if modding else "add"
    if code == 0 and txn_id:
        job.state, job.txn_id = JobState.SYNCHRONIZED, txn_id
    elif code == 0:
        job.state = JobState.UNCONFIRMED
        job.error = (
            f"QuickBooks accepted sales order {job.reference} but returned no TxnID; Ledgersync will look it up by "
            "its RefNumber at the next update"
        )
    elif code == STALE_EDIT_SEQUENCE or code in BUSY_CODES:
        # Someone changed it in QuickBooks between the look-up and the Mod, or has it open: the next update reads it
        # again and changes it then (nothing of theirs is overwritten blindly).
        job.state = JobState.BUSY
        job.error = (
            f"QuickBooks Desktop could not {doing} sales order {job.reference} now ({code}): "
            f"{result.status_message.strip()}; Ledgersync tries again at the next update"
        )
    elif code == SALES_ORDERS_UNAVAILABLE:
        fail(job, f"QuickBooks Desktop has no sales orders ({code}): {result.status_message} {SALES_ORDER_FIX}")
    elif code == TXN_NOT_FOUND and modding:
        fail(
            job,
            f"sales order {job.reference} (TxnID {job.txn_id}) was deleted in QuickBooks Desktop while Ledgersync "
            "updated it; its changes cannot be sent. The order's invoice goes without it once the order ships.",
        )
    else:
        fail(
            job,
            f"QuickBooks Desktop refused to {doing} sales order {job.reference} ({code}): "
            f"{result.status_message.rstrip('.')}. "
            + _invoice_fix(job.draft, code).replace("then send again", "then send the sales order again"),
        )


def _job_index(request_id: str) -> int:
    """The job a request id names: ``Q3``, ``A3``, ``S3``/``M3`` (its sales order's query and Mod) and ``D3.0`` (the
    first TxnDel of job 3) name job 3."""
    return int(request_id[1:].partition(".")[0])


def _unfit_for_desktop(item: DesktopWork) -> str | None:
    """Seed 000's rules: a vendor with an Accounting Name, and each vendor invoice's number."""
    vendor = item.vendor
    if vendor is None or not (vendor.accounting_name or "").strip():
        return "The PO must be associated to a vendor with an Accounting Name (the vendor's name in QuickBooks)"
    if len(vendor.accounting_name or "") > VENDOR_NAME_MAX:
        return (
            f"The vendor's Accounting Name '{vendor.accounting_name}' is longer than QuickBooks allows "
            f"({VENDOR_NAME_MAX} characters)"
        )
    if not item.order.vendor_invoices:
        return "The PO has no vendor invoice to send"
    if any(not (invoice.invoice_number or "").strip() for invoice in item.order.vendor_invoices):
        return "The PO must have the invoice number the vendor uploaded from the Grower Portal"
    return None


def session_counts(session: WebConnectorSession) -> dict[str, int]:
    """A session's counts for the process log."""
    bills = [j for j in session.jobs if isinstance(j, BillJob)]
    invoices = [j for j in session.jobs if not isinstance(j, BillJob | NameJob | SalesOrderJob)]
    names = [j for j in session.jobs if isinstance(j, NameJob)]
    orders = [j for j in session.jobs if isinstance(j, SalesOrderJob)]
    synchronized = JobState.SYNCHRONIZED
    return (
        {
            "billsAdded": sum(1 for j in bills if j.state is synchronized and not j.adopted),
            "billsAlreadyInQuickBooks": sum(1 for j in bills if j.state is synchronized and j.adopted),
            "billsReplaced": sum(1 for j in bills if j.deleted_ids),
            "invoicesAdded": sum(1 for j in invoices if j.state is synchronized and not j.adopted),
            "invoicesAlreadyInQuickBooks": sum(1 for j in invoices if j.state is synchronized and j.adopted),
            "invoicesDeleted": sum(1 for j in invoices if j.state is JobState.DELETED),
            "failed": sum(1 for j in session.jobs if j.state is JobState.FAILED),
            "waiting": sum(1 for j in session.jobs if j.state not in DONE and j.state is not JobState.FAILED),
        }
        | (
            {
                "namesMatched": sum(1 for j in names if j.state is synchronized and j.adopted),
                "namesAdded": sum(1 for j in names if j.state is synchronized and not j.adopted),
            }
            if names
            else {}
        )
        | (
            {
                "salesOrdersSent": sum(1 for j in orders if j.state is synchronized and not j.adopted),
                "salesOrdersAlreadyInQuickBooks": sum(1 for j in orders if j.state is synchronized and j.adopted),
            }
            if orders
            else {}
        )
    )


def session_messages(session: WebConnectorSession) -> list[LogMessage]:
    """The summary the Web Connector showed, then one error per failed job, naming its document."""
    messages = [LogMessage.of(LogLevel.INFO, _summary(session))]
    for job in session.jobs:
        if job.state is JobState.FAILED:
            document = (
                f"purchase order {job.draft.purchase_order_id}"
                if isinstance(job, BillJob)
                else f"{job.list_kind.value} '{job.reference}'"
                if isinstance(job, NameJob)
                else f"sales order {job.reference}"
                if isinstance(job, SalesOrderJob)
                else f"invoice {job.reference}"
            )
            messages.append(LogMessage.of(LogLevel.ERROR, job.error or "failed", document))
    if session.status is SessionStatus.FAILED and session.last_error:
        messages.append(LogMessage.of(LogLevel.ERROR, session.last_error))
    return messages


def _summary(session: WebConnectorSession) -> str:
    """What the Web Connector shows at the end: the bills, then the sales invoices, each only when there were some."""
    if session.status is SessionStatus.NO_WORK or not session.jobs:
        return "Ledgersync: " + NOTHING_WAITING[0].lower() + NOTHING_WAITING[1:]
    bills = [j for j in session.jobs if isinstance(j, BillJob)]
    invoices = [j for j in session.jobs if not isinstance(j, BillJob | NameJob | SalesOrderJob)]
    names = [j for j in session.jobs if isinstance(j, NameJob)]
    orders = [j for j in session.jobs if isinstance(j, SalesOrderJob)]
    parts = _name_summary(names) if names else []
    parts += _bill_summary(bills) if bills else []
    if orders:
        parts += _sales_order_summary(orders)
    if invoices:
        parts += _invoice_summary(invoices)
    text = "Ledgersync: " + ", ".join(parts) + "."
    if session.status is SessionStatus.FAILED and session.last_error:
        text += " " + session.last_error
    return text


def _bill_summary(jobs: list[BillJob]) -> list[str]:
    added = sum(1 for j in jobs if j.state is JobState.SYNCHRONIZED and not j.adopted)
    adopted = sum(1 for j in jobs if j.state is JobState.SYNCHRONIZED and j.adopted)
    failed = len({j.draft.purchase_order_id for j in jobs if j.state is JobState.FAILED})
    waiting = sum(1 for j in jobs if j.state in DUE or j.state is JobState.BUSY)
    unconfirmed = [j.reference for j in jobs if j.state is JobState.UNCONFIRMED]
    replaced = sum(1 for j in jobs if j.deleted_ids)
    parts = [f"{added} bill(s) added", f"{adopted} already in QuickBooks"]
    if replaced:
        parts.append(f"{replaced} changed bill(s) deleted to be replaced")
    if unconfirmed:
        parts.append(
            f"{len(unconfirmed)} bill(s) accepted by QuickBooks without a TxnID ({', '.join(unconfirmed)}), "
            "to be looked up by RefNumber at the next update"
        )
    if failed:
        parts.append(f"{failed} purchase order(s) in error (see Ledgersync)")
    if waiting:
        parts.append(f"{waiting} bill(s) wait for the next update")
    return parts


def _sales_order_summary(jobs: list[SalesOrderJob]) -> list[str]:
    sent = sum(1 for j in jobs if j.state is JobState.SYNCHRONIZED and not j.adopted)
    adopted = sum(1 for j in jobs if j.state is JobState.SYNCHRONIZED and j.adopted)
    failed = sum(1 for j in jobs if j.state is JobState.FAILED)
    waiting = sum(
        1 for j in jobs if j.state in DUE or j.state in (JobState.BUSY, JobState.SKIPPED, JobState.UNCONFIRMED)
    )
    parts = [f"{sent} sales order(s) added or updated"]
    if adopted:
        parts.append(f"{adopted} sales order(s) already in QuickBooks")
    if failed:
        parts.append(f"{failed} sales order(s) in error (see Ledgersync)")
    if waiting:
        parts.append(f"{waiting} sales order(s) wait for the next update")
    return parts


def _invoice_summary(jobs: Sequence[AnyJob]) -> list[str]:
    adds = [j for j in jobs if isinstance(j, InvoiceJob | InvoiceCheckJob)]
    added = sum(1 for j in adds if j.state is JobState.SYNCHRONIZED and not j.adopted)
    adopted = sum(1 for j in adds if j.state is JobState.SYNCHRONIZED and j.adopted)
    deleted = sum(1 for j in jobs if isinstance(j, InvoiceDeleteJob) and j.state is JobState.DELETED)
    failed = sum(1 for j in jobs if j.state is JobState.FAILED)
    unconfirmed = [j.reference for j in jobs if j.state is JobState.UNCONFIRMED]
    waiting = sum(1 for j in jobs if j.state in DUE or j.state in (JobState.BUSY, JobState.SKIPPED))
    parts = [f"{added} invoice(s) added", f"{adopted} invoice(s) already in QuickBooks"]
    if deleted:
        parts.append(f"{deleted} invoice(s) deleted")
    if unconfirmed:
        parts.append(
            f"{len(unconfirmed)} invoice(s) accepted by QuickBooks without a TxnID ({', '.join(unconfirmed)}), "
            "to be looked up by RefNumber at the next update"
        )
    if failed:
        parts.append(f"{failed} sales invoice(s) in error (see Ledgersync)")
    if waiting:
        parts.append(f"{waiting} invoice(s) wait for the next update")
    return parts


def _unfit_invoice(draft: InvoiceDraft | None, what: str = "invoice") -> str | None:
    """What QuickBooks Desktop would refuse in an order's invoice or sales order (``what``) before it is sent: no
    lines (an add needs one), a RefNumber past its length."""
    if draft is None:
        return f"the {what} could not be read to send it; send it again"
    if not draft.lines:
        return (
            f"the {what} of order {draft.invoice_number} has no lines; add its items with PUT /v1/invoices/{{id}}, "
            "then send again"
        )
    if len(draft.ref_number) > DESKTOP_REF_NUMBER_LENGTH:
        return (
            f"order {draft.invoice_number}'s {what} number {draft.ref_number} is longer than the "
            f"{DESKTOP_REF_NUMBER_LENGTH} characters QuickBooks Desktop allows in a RefNumber"
        )
    return None


# ---------------------------------------------------------------- the Sales Invoice Export's names

CUSTOMER_NAME_MAX = 41
ITEM_NAME_MAX = 31
NAME_IN_USE = 3100


def _name_jobs(names: ExportNames | None) -> list[NameJob]:
    """One job per name; a name QuickBooks Desktop cannot hold is refused before it is sent."""
    if names is None:
        return []
    jobs = []
    for wanted in names.names:
        job = NameJob(
            run_id=names.run_id,
            list_kind=wanted.list_kind,
            reference=wanted.name,
            record_ids=list(wanted.record_ids),
            income_account=names.income_account,
            last_of_run=names.complete,
        )
        limit = CUSTOMER_NAME_MAX if wanted.list_kind is ListKind.CUSTOMER else ITEM_NAME_MAX
        if len(wanted.name) > limit:
            job.state, job.error = (
                JobState.FAILED,
                f"'{wanted.name}' is longer than the {limit} characters QuickBooks Desktop allows in a "
                f"{wanted.list_kind.value} name; give the record a shorter accounting name, then export again",
            )
        elif ":" in wanted.name:
            job.state, job.error = (
                JobState.FAILED,
                f"'{wanted.name}' has a colon, which QuickBooks Desktop reads as a parent and its sub-"
                f"{wanted.list_kind.value}; give the record an accounting name without one, then export again",
            )
        elif wanted.list_kind is ListKind.ITEM and not names.income_account:
            job.state, job.error = (
                JobState.FAILED,
                f"item '{wanted.name}' is not in QuickBooks Desktop and Ledgersync cannot add it without an income "
                'account: set it with PUT /v1/accounting/settings {"invoiceIncomeAccount": "..."}, then export again',
            )
        jobs.append(job)
    return jobs


def _lookup_name(job: NameJob, result: OperationResult, fail: Fail) -> None:
    """A CustomerQuery's or ItemQuery's answer: the name with exactly these capitals is linked; one QuickBooks has
    with other capitals (its names ignore case) is refused with the fix; none is added."""
    code = result.status_code
    what = job.list_kind.value
    if code in NOT_FOUND_CODES:
        job.state = JobState.TO_ADD
        return
    if code in BUSY_CODES:
        job.state = JobState.BUSY
        job.error = f"QuickBooks Desktop could not look up {what} '{job.reference}' now ({code}); tried again later"
        return
    if code != 0:
        fail(job, f"QuickBooks Desktop could not look up {what} '{job.reference}' ({code}): {result.status_message}")
        return
    named = [r for r in result.records if (r.name or "").casefold() == job.reference.casefold() and r.list_id]
    exact = next((r for r in named if r.name == job.reference), None)
    if exact is not None:
        job.state, job.txn_id, job.adopted = JobState.SYNCHRONIZED, exact.list_id, True
    elif named:
        fail(
            job,
            f"QuickBooks Desktop has {what} '{named[0].name}', not '{job.reference}' (it ignores capitals, Ledgersync "
            "links exact names only); make the record's accounting name match it exactly, then export again",
        )
    else:
        job.state = JobState.TO_ADD


def _name_added(job: NameJob, result: OperationResult, fail: Fail) -> None:
    """A CustomerAdd's or ItemNonInventoryAdd's answer: the new ListID, or QuickBooks' refusal with the fix."""
    code = result.status_code
    what = job.list_kind.value
    list_id = next((r.list_id for r in result.records if r.list_id), None)
    if code == 0 and list_id:
        job.state, job.txn_id = JobState.SYNCHRONIZED, list_id
    elif code == 0:
        job.state = JobState.UNCONFIRMED
        job.error = f"QuickBooks Desktop added {what} '{job.reference}' without saying its ListID; looked up again"
    elif code in BUSY_CODES:
        job.state = JobState.BUSY
        job.error = f"QuickBooks Desktop could not add {what} '{job.reference}' now ({code}); tried again later"
    elif code == NAME_IN_USE:
        fail(
            job,
            f"QuickBooks Desktop refused {what} '{job.reference}' ({code}): {result.status_message.rstrip('.')}. "
            "The name is taken by another kind of name (a vendor, an employee, another item type or an other "
            "name); rename one of them, then export again.",
        )
    elif code == INVALID_REFERENCE:
        fail(
            job,
            f"QuickBooks Desktop refused item '{job.reference}' ({code}): {result.status_message.rstrip('.')}. "
            f"Check that the income account '{job.income_account}' (the settings' invoiceIncomeAccount) exists in "
            "QuickBooks Desktop with exactly this name, then export again.",
        )
    else:
        fail(
            job,
            f"QuickBooks Desktop refused {what} '{job.reference}' ({code}): {result.status_message.rstrip('.')}.",
        )


def _name_summary(jobs: list[NameJob]) -> list[str]:
    matched = sum(1 for j in jobs if j.state is JobState.SYNCHRONIZED and j.adopted)
    added = sum(1 for j in jobs if j.state is JobState.SYNCHRONIZED and not j.adopted)
    failed = sum(1 for j in jobs if j.state is JobState.FAILED)
    parts = [f"{matched} name(s) matched and {added} added for the Sales Invoice Export"]
    if failed:
        parts.append(f"{failed} name(s) refused (see the process log)")
    return parts
