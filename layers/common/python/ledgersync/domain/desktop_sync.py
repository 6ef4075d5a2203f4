"""QuickBooks Desktop through the Web Connector: one session's work, over ports (no SOAP and no qbXML here).

The Web Connector calls ``authenticate``, then ``sendRequestXML``/``receiveResponseXML`` until the progress
reaches 100 (or turns negative), then ``closeConnection``. Each call may land on another Lambda instance, so
everything the session knows lives in a ``WebConnectorSession`` that the ``SessionStore`` keeps with an expiry.

A batch of bills takes two messages: first every VendorQuery and BillQuery of the batch, then every BillAdd
still needed. A bill that QuickBooks already has (same RefNumber and vendor, and the full reference in its memo
when the RefNumber had to be shortened) is adopted, never added twice: this is what makes a session cut in the
middle safe to resume in a new one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, Field

from ledgersync.clock import SYSTEM_CLOCK, Clock
from ledgersync.domain.purchase_order_bills import BillDraft, PurchaseOrderDocument
from ledgersync.domain.purchase_orders import PurchaseOrder, VendorRef
from ledgersync.errors import Conflict, PermanentError, RetryableError

SERVER_VERSION = "Ledgersync QuickBooks Web Connector service 1.0"
QBXML_LATEST = (12, 0)
QBXML_OLDEST = (6, 0)
BILL_REFERENCE_MAX = 20
VENDOR_NAME_MAX = 41
NOT_FOUND_CODES = frozenset({1, 500})  # 1: a filter matched nothing; 500: a named object (FullName) is missing
OLDEST_WEB_CONNECTOR = (2, 1)


# ---------------------------------------------------------------- the neutral qbXML vocabulary


class OnError(StrEnum):
    """qbXML's ``onError``: what QuickBooks does with the rest of a message after one request fails."""

    CONTINUE = "continueOnError"
    STOP = "stopOnError"


class OperationKind(StrEnum):
    VENDOR_QUERY = "VendorQuery"
    BILL_QUERY = "BillQuery"
    BILL_ADD = "BillAdd"


@dataclass(frozen=True)
class Operation:
    """One request of a qbXML message, in neutral terms; ``request_id`` ties it to its response."""

    request_id: str
    kind: OperationKind
    vendor_name: str
    reference: str | None = None
    bill: BillDraft | None = None


@dataclass(frozen=True)
class QbRecord:
    """What a response says about one object (a vendor or a bill); absent fields are None."""

    txn_id: str | None = None
    list_id: str | None = None
    name: str | None = None
    ref_number: str | None = None
    vendor_name: str | None = None
    memo: str | None = None


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

    def request(self, operations: Sequence[Operation], version: str, on_error: OnError) -> str: ...

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

    @property
    def order(self) -> PurchaseOrder:
        return self.document.order

    @property
    def vendor(self) -> VendorRef | None:
        return self.document.vendor


class WorkSource(Protocol):
    """POs of a company in status "Sent to External System" whose external system is quickbooks_desktop."""

    def pending_bills(self, company_id: str, limit: int) -> list[DesktopWork]: ...


class SyncRecorder(Protocol):
    """Where results go: each vendor invoice's TxnID, or the PO's error (which also e-mails the company)."""

    def invoice_synchronized(self, company_id: str, purchase_order_id: int, invoice_number: str, txn_id: str) -> None:
        """Record the bill of one vendor invoice; the PO becomes "S" once every invoice has one."""

    def purchase_order_failed(self, company_id: str, purchase_order_id: int, message: str) -> None:
        """Put the PO in "Error" with a message a person can act on, and notify."""


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
    PLANNED = "planned"  # its BillQuery is still to be answered
    TO_ADD = "to_add"  # QuickBooks has no such bill: a BillAdd is due
    SYNCHRONIZED = "synchronized"
    FAILED = "failed"
    SKIPPED = "skipped"  # another bill of the same PO failed; the PO waits for a resend
    UNCONFIRMED = "unconfirmed"  # QuickBooks said OK without a TxnID: the next session looks it up by RefNumber


class BillJob(BaseModel):
    """One vendor invoice on its way to becoming a bill."""

    draft: BillDraft
    reference: str
    state: JobState = JobState.PLANNED
    txn_id: str | None = None
    adopted: bool = False
    error: str | None = None

    @property
    def units_done(self) -> int:
        """Two units of progress per bill: the lookup, then the add (or its not being needed)."""
        if self.state is JobState.PLANNED:
            return 0
        return 1 if self.state is JobState.TO_ADD else 2


class PendingMessage(BaseModel):
    """The message sent last and not yet answered: which phase of which batch."""

    phase: OperationKind
    batch: int
    request_ids: list[str]


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
    jobs: list[BillJob] = Field(default_factory=list)
    vendors: dict[str, bool | None] = Field(default_factory=dict)
    batch: int = 0
    pending: PendingMessage | None = None
    progress: int = 0
    messages_sent: int = 0
    last_error: str = ""

    def batch_jobs(self, batch_size: int) -> list[tuple[int, BillJob]]:
        start = self.batch * batch_size
        return list(enumerate(self.jobs))[start : start + batch_size]

    def computed_progress(self) -> int:
        """Percentage of planned requests done: 100 only when every bill is finished."""
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
    "Nothing was lost: the bills will be sent at the next scheduled update."
)
EXPIRED_SESSION = (
    "This Web Connector session expired after a long pause. "
    "Nothing was lost: the bills will be sent at the next scheduled update."
)


class WebConnectorService:
    """The Web Connector session use case: plans the bills, builds each message, reads each answer."""

    def __init__(
        self,
        credentials: CredentialVerifier,
        work: WorkSource,
        recorder: SyncRecorder,
        sessions: SessionStore,
        messages: QbxmlMessages,
        *,
        batch_size: int = 50,
        max_bills_per_session: int = 200,
        session_minutes: int = 30,
        clock: Clock = SYSTEM_CLOCK,
        new_ticket: Callable[[], str] = _new_ticket,
    ) -> None:
        self.credentials = credentials
        self.work = work
        self.recorder = recorder
        self.sessions = sessions
        self.messages = messages
        self.batch_size = batch_size
        self.max_bills = max_bills_per_session
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
        """Check the password (an API token of the company), then plan the session's bills."""
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
            vendors={job.draft.vendor_name: None for job in jobs},
        )
        self.sessions.create(session)
        if not jobs:
            self.sessions.release_company(company_id, ticket)
            return AuthenticateAnswer(ticket, "none")
        return AuthenticateAnswer(ticket, "")

    def _plan(self, company_id: str) -> list[BillJob]:
        """The bills of every waiting PO; a PO that cannot become bills is put in error here."""
        jobs: list[BillJob] = []
        for item in self.work.pending_bills(company_id, self.max_bills):
            problem = _unfit_for_desktop(item) or item.problem
            drafts: list[BillDraft] = []
            if problem is None:
                drafts = item.drafts
                problem = next(
                    (f"The bill for vendor invoice {d.invoice_number} has no lines" for d in drafts if not d.lines),
                    None,
                )
            if problem is not None:
                self.recorder.purchase_order_failed(company_id, item.order.id, problem)
                continue
            jobs.extend(BillJob(draft=draft, reference=draft.reference(BILL_REFERENCE_MAX)) for draft in drafts)
            if len(jobs) >= self.max_bills:  # one session is one DynamoDB item (400 KB); the rest waits
                break
        return jobs

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
        if session.pending is not None and session.pending.phase is OperationKind.BILL_ADD:
            # The adds were sent but their answer never came: QuickBooks may have them. Look them up again.
            for index in session.pending.request_ids:
                job = session.jobs[int(index[1:])]
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

    def _next_operations(self, session: WebConnectorSession) -> tuple[OperationKind, list[Operation]]:
        """The lookups of the current batch, else its adds; moves on to the next batch when both are done."""
        while session.batch * self.batch_size < len(session.jobs):
            batch = session.batch_jobs(self.batch_size)
            lookups: list[Operation] = []
            planned = [(i, job) for i, job in batch if job.state is JobState.PLANNED]
            names = sorted(
                {job.draft.vendor_name for _, job in planned if session.vendors.get(job.draft.vendor_name) is None}
            )
            lookups.extend(
                Operation(f"V{n}", OperationKind.VENDOR_QUERY, name)
                for n, name in ((list(session.vendors).index(name), name) for name in names)
            )
            lookups.extend(
                Operation(f"Q{i}", OperationKind.BILL_QUERY, job.draft.vendor_name, job.reference) for i, job in planned
            )
            if planned:
                return OperationKind.BILL_QUERY, lookups
            adds = [
                Operation(f"A{i}", OperationKind.BILL_ADD, job.draft.vendor_name, job.reference, job.draft)
                for i, job in batch
                if job.state is JobState.TO_ADD
            ]
            if adds:
                return OperationKind.BILL_ADD, adds
            session.batch += 1
        return OperationKind.BILL_QUERY, []

    # ------------------------------------------------------------ receiveResponseXML

    def receive_response(self, ticket: str, response: str, hresult: str, message: str) -> int:
        """Read QuickBooks' answer, record each bill's outcome, and say how far the session has come."""
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
                f"{reason}. The bills wait for the next update.",
            )
        try:
            results = {result.request_id: result for result in self.messages.results(response)}
        except PermanentError as err:
            return self._fail_progress(session, f"QuickBooks' answer could not be read: {err.message}")
        synchronized, failures = self._apply(session, pending, results)
        try:
            for job in synchronized:
                self.recorder.invoice_synchronized(
                    session.company_id, job.draft.purchase_order_id, job.draft.invoice_number, job.txn_id or ""
                )
            for po_id, reasons in failures.items():
                self.recorder.purchase_order_failed(session.company_id, po_id, "; ".join(dict.fromkeys(reasons)))
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
        return progress

    def _apply(
        self, session: WebConnectorSession, pending: PendingMessage, results: dict[str, OperationResult]
    ) -> tuple[list[BillJob], dict[int, list[str]]]:
        """Fold the answers into the jobs; a request without an answer leaves its job as it was."""
        synchronized: list[BillJob] = []
        failures: dict[int, list[str]] = {}
        names = list(session.vendors)

        def fail(job: BillJob, reason: str) -> None:
            job.state, job.error = JobState.FAILED, reason
            failures.setdefault(job.draft.purchase_order_id, []).append(reason)

        for request_id in pending.request_ids:
            result = results.get(request_id)
            if result is None:
                continue
            if request_id.startswith("V"):
                name = names[int(request_id[1:])]
                if result.status_code == 0 and result.records:
                    session.vendors[name] = True
                elif result.status_code in NOT_FOUND_CODES:
                    session.vendors[name] = False
                else:
                    for job in session.jobs:
                        if job.draft.vendor_name == name and job.state is JobState.PLANNED:
                            fail(
                                job,
                                f"QuickBooks could not look up vendor '{name}' ({result.status_code}): "
                                f"{result.status_message}",
                            )
        for request_id in pending.request_ids:
            result = results.get(request_id)
            if result is None or request_id.startswith("V"):
                continue
            job = session.jobs[int(request_id[1:])]
            if job.state in (JobState.FAILED, JobState.SKIPPED, JobState.SYNCHRONIZED):
                continue
            if request_id.startswith("Q"):
                state = self._apply_lookup(session, job, result, fail)
            else:
                state = self._apply_add(job, result, fail)
            if state is JobState.SYNCHRONIZED:
                synchronized.append(job)
        for job in session.jobs:
            if job.draft.purchase_order_id in failures and job.state in (JobState.PLANNED, JobState.TO_ADD):
                job.state = JobState.SKIPPED
        return synchronized, failures

    def _apply_lookup(
        self, session: WebConnectorSession, job: BillJob, result: OperationResult, fail: Callable[[BillJob, str], None]
    ) -> JobState:
        self._lookup(session, job, result, fail)
        return job.state

    @staticmethod
    def _lookup(
        session: WebConnectorSession, job: BillJob, result: OperationResult, fail: Callable[[BillJob, str], None]
    ) -> None:
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
            for r in result.records
            if (r.ref_number or "").casefold() == job.reference.casefold()
            and (r.vendor_name or vendor).casefold() == vendor.casefold()
        ]
        shortened = job.reference != job.draft.full_reference
        mine = [r for r in same if not shortened or job.draft.full_reference in (r.memo or "")]
        if mine and mine[0].txn_id:
            job.state, job.txn_id, job.adopted = JobState.SYNCHRONIZED, mine[0].txn_id, True
        elif same:
            fail(
                job,
                f"QuickBooks already has a bill {job.reference} from vendor '{vendor}' that belongs to another "
                f"document (its memo does not mention {job.draft.full_reference}); rename one of them",
            )
        else:
            job.state = JobState.TO_ADD

    @staticmethod
    def _apply_add(job: BillJob, result: OperationResult, fail: Callable[[BillJob, str], None]) -> JobState:
        """A BillAdd's answer: the new bill's TxnID, or QuickBooks' refusal in words."""
        if job.state is not JobState.TO_ADD:
            return job.state
        txn_id = next((r.txn_id for r in result.records if r.txn_id), None)
        if result.status_code == 0 and txn_id:
            job.state, job.txn_id = JobState.SYNCHRONIZED, txn_id
            return job.state
        if result.status_code == 0:
            # QuickBooks accepted the bill but did not say which it is: neither an error nor a TxnID to record.
            # The PO stays "Sent to External System"; the next session's BillQuery by RefNumber adopts the bill.
            job.state = JobState.UNCONFIRMED
            job.error = (
                f"QuickBooks accepted bill {job.reference} ({result.status_message or 'status 0'}) but returned no "
                "TxnID; Ledgersync will look it up by its RefNumber at the next update"
            )
            return job.state
        hint = ""
        if result.status_code == 3140:
            hint = (
                " Check that the vendor, bill item, expense accounts and classes exist in QuickBooks with exactly"
                " these names."
            )
        fail(job, f"QuickBooks refused bill {job.reference} ({result.status_code}): {result.status_message}.{hint}")
        return job.state

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
        return "No error." if session.status is not SessionStatus.NO_WORK else "No bills are waiting for QuickBooks."

    def connection_error(self, ticket: str, hresult: str, message: str) -> str:
        """The Web Connector could not reach QuickBooks: keep the work for next time and answer "done"."""
        session = self.sessions.load(ticket)
        if session is not None and session.status is SessionStatus.ACTIVE:
            self._fail(
                session,
                f"The Web Connector could not open QuickBooks ({hresult.strip()}): {message.strip()}. "
                "Open the company file in QuickBooks; the bills wait for the next update.",
            )
        return "done"

    def close(self, ticket: str) -> str:
        """The message the Web Connector shows when the session ends."""
        session = self.sessions.load(ticket)
        if session is None:
            return "Ledgersync: session ended."
        summary = _summary(session)
        if session.status is not SessionStatus.CLOSED:
            session.status = SessionStatus.CLOSED
            self.sessions.release_company(session.company_id, ticket)
            with suppress(Conflict):
                self._save(session)
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
        return ""

    def _fail_progress(self, session: WebConnectorSession, reason: str) -> int:
        self._fail(session, reason)
        return -1


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


def _summary(session: WebConnectorSession) -> str:
    added = sum(1 for j in session.jobs if j.state is JobState.SYNCHRONIZED and not j.adopted)
    adopted = sum(1 for j in session.jobs if j.state is JobState.SYNCHRONIZED and j.adopted)
    failed = len({j.draft.purchase_order_id for j in session.jobs if j.state is JobState.FAILED})
    waiting = sum(1 for j in session.jobs if j.state in (JobState.PLANNED, JobState.TO_ADD))
    unconfirmed = [j.reference for j in session.jobs if j.state is JobState.UNCONFIRMED]
    if session.status is SessionStatus.NO_WORK or not session.jobs:
        return "Ledgersync: no bills are waiting for QuickBooks."
    parts = [f"{added} bill(s) added", f"{adopted} already in QuickBooks"]
    if unconfirmed:
        parts.append(
            f"{len(unconfirmed)} bill(s) accepted by QuickBooks without a TxnID ({', '.join(unconfirmed)}), "
            "to be looked up by RefNumber at the next update"
        )
    if failed:
        parts.append(f"{failed} purchase order(s) in error (see Ledgersync)")
    if waiting:
        parts.append(f"{waiting} bill(s) wait for the next update")
    text = "Ledgersync: " + ", ".join(parts) + "."
    if session.status is SessionStatus.FAILED and session.last_error:
        text += " " + session.last_error
    return text
