"""QuickBooks Online in pure Python: tokens that refresh themselves, bills and sales invoices sent exactly once.

Nothing here knows HTTP, intuit-oauth, boto3 or QuickBooks JSON; the adapters in
``ledgersync.adapters.quickbooks_online`` implement the ports and translate every outside failure into
``RetryableError``, ``PermanentError``, ``ReauthorizationRequired`` or the two errors declared below.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel, Field

from ledgersync.clock import Clock
from ledgersync.domain.process_log import LogLevel, LogMessage, ProcessLog, RunName, RunStatus
from ledgersync.domain.purchase_order_bills import AccountingBill, BillDraft
from ledgersync.domain.sales_invoices import InvoiceDraft
from ledgersync.domain.sync.documents import DocumentRef
from ledgersync.domain.sync.targets import ExternalDocument
from ledgersync.errors import PermanentError, ReauthorizationRequired, RetryableError

DOC_NUMBER_MAX = 21
REQUEST_ID_MAX = 50
ACCESS_TOKEN_MARGIN = timedelta(minutes=5)

T = TypeVar("T")
D = TypeVar("D")  # what is sent: a BillDraft, an InvoiceDraft
R = TypeVar("R")  # what a send answers: a BillReceipt, an InvoiceReceipt
D_contra = TypeVar("D_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)


# ---------------------------------------------------------------------------------------------- models


class TokenSet(BaseModel):
    """One company's QuickBooks Online OAuth tokens and their expiry times (UTC)."""

    realm_id: str
    access_token: str
    refresh_token: str
    access_expires_at: datetime
    refresh_expires_at: datetime
    refreshed_at: datetime
    reauthorization_reason: str | None = None

    def access_valid_at(self, now: datetime, margin: timedelta = ACCESS_TOKEN_MARGIN) -> bool:
        """True while the access token has more than ``margin`` left to live."""
        return self.access_expires_at - margin > now

    def refresh_days_left(self, now: datetime) -> float:
        """Days until the refresh token dies; the customer must reconnect after that."""
        return round((self.refresh_expires_at - now).total_seconds() / 86400, 2)


@dataclass(frozen=True)
class QuickBooksAccess:
    """What a call to the QuickBooks API needs: the company file (realm) and a live access token."""

    realm_id: str
    access_token: str


class TransactionRecord(BaseModel):
    """A transaction (bill, sales invoice) as QuickBooks holds it, reduced to what reconciliation needs."""

    id: str
    doc_number: str | None = None
    private_note: str | None = None
    sync_token: str | None = None


class BillRecord(TransactionRecord):
    """A bill as QuickBooks holds it."""

    vendor_id: str | None = None


class InvoiceRecord(TransactionRecord):
    """A sales invoice as QuickBooks holds it."""

    customer_id: str | None = None


class SendOutcome(StrEnum):
    """How a document came to stand in QuickBooks: created by this send, adopted (an earlier attempt created it,
    found by its number and memo), or already synchronized (the dedup entry had it)."""

    CREATED = "created"
    ADOPTED = "adopted"
    ALREADY_SYNCHRONIZED = "already_synchronized"


BillOutcome = SendOutcome
InvoiceOutcome = SendOutcome


class BillReceipt(BaseModel):
    """The result of sending a bill: which QuickBooks bill now stands for the vendor invoice, and how."""

    bill_id: str
    doc_number: str
    outcome: SendOutcome

    @property
    def external_id(self) -> str:
        """The QuickBooks id, under the name every receipt shares (so one consumer can take bills and invoices)."""
        return self.bill_id


class InvoiceReceipt(BaseModel):
    """The result of sending a sales invoice: which QuickBooks invoice now stands for this version, and how."""

    invoice_id: str  # the QuickBooks Invoice Id (not Ledgersync's invoice id)
    doc_number: str
    outcome: SendOutcome

    @property
    def external_id(self) -> str:
        """The QuickBooks id, under the name every receipt shares (so one consumer can take bills and invoices)."""
        return self.invoice_id


class DedupState(StrEnum):
    PENDING = "pending"
    UNKNOWN = "unknown"
    FAILED = "failed"
    COMPLETED = "completed"


class DedupEntry(BaseModel):
    """The dedup record of one outside send, written before the send (see ``ExactlyOnceCreate``)."""

    state: DedupState
    attempt: int = Field(ge=1)
    started_at: datetime
    reference: str
    result_id: str | None = None


class RefreshSummary(BaseModel):
    """What one scheduled token refresh run did, company by company."""

    refreshed: list[str] = Field(default_factory=list)
    not_due: list[str] = Field(default_factory=list)
    not_connected: list[str] = Field(default_factory=list)
    skipped_locked: list[str] = Field(default_factory=list)
    reauthorization_required: list[str] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------- errors


class AccessTokenRejected(RetryableError):
    """QuickBooks answered 401 (fault 3200): the access token expired or was revoked; refresh once and retry."""


class DuplicateDocumentNumber(PermanentError):
    """QuickBooks refused a document because its DocNumber is already used (fault 6140): for that vendor's bills,
    or by any sales invoice of the company."""

    def __init__(self, message: str, doc_number: str) -> None:
        super().__init__(message)
        self.doc_number = doc_number


# ---------------------------------------------------------------------------------------------- ports


class TokenStore(Protocol):
    """Where each company's tokens live (Secrets Manager in production)."""

    def load(self, company_id: str) -> TokenSet | None: ...

    def save(self, company_id: str, tokens: TokenSet) -> None: ...


class OAuthTokens(Protocol):
    """Intuit's token endpoint. ``refresh`` raises ReauthorizationRequired on ``invalid_grant``."""

    def refresh(self, realm_id: str, refresh_token: str) -> TokenSet: ...


class Lock(Protocol):
    """A lease that expires by itself; ``acquire`` returns an owner token, or None when someone else holds it."""

    def acquire(self, company_id: str, name: str, ttl_seconds: int) -> str | None: ...

    def release(self, company_id: str, name: str, owner: str) -> None: ...


class ReauthorizationNotifier(Protocol):
    """Holds the company's QuickBooks work and tells its people to reconnect (implemented outside this module)."""

    def mark_reauthorization_required(self, company_id: str, reason: str) -> None: ...


class TokenMetrics(Protocol):
    def refresh_token_days_left(self, company_id: str, days: float) -> None: ...

    def token_refresh_failed(self, company_id: str, reason: str) -> None: ...


class DedupStore(Protocol):
    """Dedup records keyed per company; every write is conditional."""

    def put_if_absent(self, company_id: str, key: str, entry: DedupEntry) -> DedupEntry | None:
        """Write ``entry`` unless the key exists; return the existing entry when it does."""

    def replace(self, company_id: str, key: str, expected: DedupEntry, new: DedupEntry) -> bool:
        """Swap ``expected`` for ``new`` only if the stored entry still is ``expected``; False if it changed."""

    def complete(self, company_id: str, key: str, attempt: int, result_id: str) -> None: ...


class QuickBooksOnlineGateway(Protocol):
    """The bill side of the QuickBooks Online API, as the exactly-once logic needs it."""

    def create_bill(self, access: QuickBooksAccess, draft: BillDraft, request_id: str) -> BillRecord: ...

    def find_bills(self, access: QuickBooksAccess, draft: BillDraft) -> list[BillRecord]:
        """Bills of the draft's vendor whose DocNumber is the draft's reference."""

    def read_bill(self, access: QuickBooksAccess, bill_id: str) -> BillRecord | None:
        """The bill with its SyncToken; None when QuickBooks has no such bill (610: deleted or never there)."""

    def numbered_bills(self, access: QuickBooksAccess, draft: BillDraft) -> list[AccountingBill]:
        """Every bill numbered like the draft (whatever its vendor), in the draft's terms (names, not ids)."""

    def delete_bill(self, access: QuickBooksAccess, bill_id: str, sync_token: str) -> None:
        """Delete the bill; one already gone is not an error. A stale SyncToken raises ``RetryableError`` (5010)."""


class ReadableDedupStore(DedupStore, Protocol):
    """A dedup store that also answers what it holds, for a delete that must know what an earlier send created."""

    def get(self, company_id: str, key: str) -> DedupEntry | None: ...


class QuickBooksInvoiceGateway(Protocol):
    """The sales invoice side of the QuickBooks Online API, as the exactly-once logic needs it."""

    def create_invoice(self, access: QuickBooksAccess, draft: InvoiceDraft, request_id: str) -> InvoiceRecord: ...

    def find_invoices(self, access: QuickBooksAccess, doc_number: str) -> list[InvoiceRecord]:
        """Invoices numbered ``doc_number`` (QuickBooks keeps sales invoice numbers unique per company, not per
        customer)."""

    def read_invoice(self, access: QuickBooksAccess, invoice_id: str) -> InvoiceRecord | None:
        """The invoice with its SyncToken; None when QuickBooks has no such invoice (610: deleted or never there)."""

    def delete_invoice(self, access: QuickBooksAccess, invoice_id: str, sync_token: str) -> None:
        """Delete the invoice; one already gone is not an error. A stale SyncToken raises ``RetryableError``."""


# ---------------------------------------------------------------------------------------------- tokens


class QuickBooksTokens:
    """Live access tokens per company: refreshed before expiry, one refresher per company at a time."""

    LOCK_NAME = "qbo-token-refresh"

    def __init__(
        self,
        store: TokenStore,
        oauth: OAuthTokens,
        lock: Lock,
        connection: ReauthorizationNotifier,
        *,
        metrics: TokenMetrics,
        clock: Clock,
        lock_ttl_seconds: int = 60,
        wait_seconds: float = 10.0,
        poll_seconds: float = 0.5,
    ) -> None:
        self.store = store
        self.oauth = oauth
        self.lock = lock
        self.connection = connection
        self.metrics = metrics
        self.clock = clock
        self.lock_ttl_seconds = lock_ttl_seconds
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds

    def access_for(self, company_id: str) -> QuickBooksAccess:
        """A live access token for the company, refreshing first when it is about to expire."""
        tokens = self._load(company_id)
        if not tokens.access_valid_at(self.clock.now()):
            tokens = self.refresh(company_id, rejected_access_token=tokens.access_token)
        return QuickBooksAccess(tokens.realm_id, tokens.access_token)

    def refresh(self, company_id: str, rejected_access_token: str | None = None) -> TokenSet:
        """Refresh the company's tokens, storing the rotated refresh token before handing out the access token.

        With ``rejected_access_token`` (the token QuickBooks refused or that is about to expire), a refresh that
        another instance finished meanwhile is used instead of refreshing again; without it the refresh is forced.
        """
        owner = self.lock.acquire(company_id, self.LOCK_NAME, self.lock_ttl_seconds)
        if owner is None:
            return self._wait_for_other_refresher(company_id, rejected_access_token)
        try:
            current = self._load(company_id)
            if (
                rejected_access_token is not None
                and current.access_token != rejected_access_token
                and current.access_valid_at(self.clock.now())
            ):
                return current  # another refresher finished just before we took the lock
            return self.refresh_holding_lock(company_id, current)
        finally:
            self.lock.release(company_id, self.LOCK_NAME, owner)

    def refresh_holding_lock(self, company_id: str, current: TokenSet) -> TokenSet:
        """Refresh ``current`` (the caller holds the company's refresh lock) and store the result first."""
        try:
            fresh = self.oauth.refresh(current.realm_id, current.refresh_token)
        except ReauthorizationRequired as refused:
            self.store.save(company_id, current.model_copy(update={"reauthorization_reason": refused.message}))
            self.metrics.token_refresh_failed(company_id, "invalid_grant")
            self.connection.mark_reauthorization_required(company_id, refused.message)
            raise
        except (RetryableError, PermanentError) as failure:
            self.metrics.token_refresh_failed(company_id, failure.code)
            raise
        # The old refresh token dies soon after rotation: keep the new one before anything else can fail.
        self.store.save(company_id, fresh)
        self.metrics.refresh_token_days_left(company_id, fresh.refresh_days_left(self.clock.now()))
        return fresh

    def _wait_for_other_refresher(self, company_id: str, rejected_access_token: str | None) -> TokenSet:
        waited = 0.0
        while waited < self.wait_seconds:
            self.clock.sleep(self.poll_seconds)
            waited += self.poll_seconds
            current = self._load(company_id)
            if current.access_token != rejected_access_token and current.access_valid_at(self.clock.now()):
                return current
        raise RetryableError(
            "Another QuickBooks token refresh for this company is still running; try again shortly.",
            retry_after_seconds=self.lock_ttl_seconds,
        )

    def _load(self, company_id: str) -> TokenSet:
        tokens = self.store.load(company_id)
        if tokens is None:
            raise ReauthorizationRequired(
                "This company is not connected to QuickBooks Online. Connect it in Settings > Integrations > "
                "QuickBooks, then send again."
            )
        if tokens.reauthorization_reason:
            raise ReauthorizationRequired(
                "QuickBooks Online must be reconnected (" + tokens.reauthorization_reason + "). Reconnect it in "
                "Settings > Integrations > QuickBooks; held documents are sent after that."
            )
        return tokens


class TokenRefresher:
    """The scheduled run: refresh every connected company that is due, one at a time per company."""

    def __init__(
        self,
        tokens: QuickBooksTokens,
        keepalive: timedelta = timedelta(hours=20),
        refresh_days_floor: float = 30.0,
        process_log: ProcessLog | None = None,
    ) -> None:
        self.tokens = tokens
        self.keepalive = keepalive
        self.refresh_days_floor = refresh_days_floor
        self.process_log = process_log

    def is_due(self, tokens: TokenSet, now: datetime) -> bool:
        """Due once a day (so the rotated refresh token never ages) or when the refresh token runs low."""
        return now - tokens.refreshed_at >= self.keepalive or tokens.refresh_days_left(now) <= self.refresh_days_floor

    def run(self, company_ids: Iterable[str]) -> RefreshSummary:
        """Refresh those of ``company_ids`` that are connected and due (the rest are reported not connected)."""
        summary = RefreshSummary()
        for company_id in company_ids:
            self._refresh_one(company_id, summary)
        return summary

    def _refresh_one(self, company_id: str, summary: RefreshSummary) -> None:
        store, metrics, clock = self.tokens.store, self.tokens.metrics, self.tokens.clock
        tokens = store.load(company_id)
        if tokens is None:
            summary.not_connected.append(company_id)
            return
        if tokens.reauthorization_reason:
            summary.reauthorization_required.append(company_id)
            return
        now = clock.now()
        if not self.is_due(tokens, now):
            metrics.refresh_token_days_left(company_id, tokens.refresh_days_left(now))
            summary.not_due.append(company_id)
            return
        owner = self.tokens.lock.acquire(company_id, QuickBooksTokens.LOCK_NAME, self.tokens.lock_ttl_seconds)
        if owner is None:
            summary.skipped_locked.append(company_id)
            return
        try:
            current = store.load(company_id) or tokens
            if not self.is_due(current, clock.now()):
                summary.not_due.append(company_id)
                return
            self.tokens.refresh_holding_lock(company_id, current)
            summary.refreshed.append(company_id)
            self._log(company_id, now, "refreshed", LogLevel.INFO, "the QuickBooks Online tokens were refreshed")
        except ReauthorizationRequired as stopped:
            summary.reauthorization_required.append(company_id)
            self._log(company_id, now, "reauthorizationRequired", LogLevel.ERROR, stopped.message)
        except (RetryableError, PermanentError) as fault:
            summary.failed.append(company_id)
            self._log(company_id, now, "failed", LogLevel.ERROR, f"the refresh failed: {fault.message}")
        finally:
            self.tokens.lock.release(company_id, QuickBooksTokens.LOCK_NAME, owner)

    def _log(self, company_id: str, started_at: datetime, outcome: str, level: LogLevel, message: str) -> None:
        """A refresh that was due and ran, in the process log (the companies not due are not logged)."""
        if self.process_log is None:
            return
        status = RunStatus.SUCCEEDED if level is LogLevel.INFO else RunStatus.FAILED
        self.process_log.record(
            company_id, RunName.TOKEN_REFRESH, started_at, {outcome: 1}, [LogMessage.of(level, message)], status
        )


def refresh_tokens(refresher: TokenRefresher, company_ids: Iterable[str]) -> RefreshSummary:
    """Refresh each due company's tokens before they expire (the EventBridge schedule's use case).

    The caller names the companies (the table's company list): listing them from the token store would need
    ``secretsmanager:ListSecrets`` over every secret of the account.
    """
    return refresher.run(list(company_ids))


# ---------------------------------------------------------------------------------------------- exactly once


class CreationStrategy(Protocol[D_contra, R_co]):
    """What one kind of document brings to ``ExactlyOnceCreate``: its keys, its QuickBooks calls and its receipt."""

    @property
    def noun(self) -> str:
        """The document in a person's words ("bill", "sales invoice"), for the messages of a send that waits."""

    def company_id(self, draft: D_contra) -> str: ...

    def dedup_key(self, draft: D_contra) -> str:
        """Stable across retries, clicks and redeliveries of what must exist once in QuickBooks."""

    def reference(self, draft: D_contra) -> str:
        """The DocNumber the document carries in QuickBooks."""

    def request_id(self, draft: D_contra, attempt: int) -> str:
        """QuickBooks ``requestid``: the same for every retry of one attempt, another for the next attempt."""

    def create(self, access: QuickBooksAccess, draft: D_contra, request_id: str) -> str:
        """Create the document and answer its QuickBooks id; raises ``DuplicateDocumentNumber`` on 6140."""

    def find_created(self, access: QuickBooksAccess, draft: D_contra) -> str | None:
        """The id of the document an earlier attempt created for this draft (its number, and its memo naming the
        draft), or None."""

    def foreign_duplicate(self, draft: D_contra, duplicate: DuplicateDocumentNumber) -> PermanentError:
        """The refusal when the number is taken by a document Ledgersync did not create for this draft."""

    def receipt(self, external_id: str, doc_number: str, outcome: SendOutcome) -> R_co: ...


class ExactlyOnceCreate(Generic[D, R]):
    """Create a document in QuickBooks Online exactly once, whatever the retries, redeliveries and crashes.

    A dedup entry is written (conditionally) before QuickBooks is called. Each attempt carries its own
    deterministic ``requestid``, so a retry of the same attempt cannot create a second document; a retry after an
    unknown outcome first looks the document up by its number and memo. An attempt that QuickBooks refused for
    good is marked failed, and the next send is a new attempt with a new ``requestid`` (QuickBooks would
    otherwise replay the old refusal). A refusal before the create (a reconnection needed, a name gone) of an attempt
    that took over an unknown outcome leaves the outcome unknown, so the next send still looks before it creates.
    """

    def __init__(
        self,
        strategy: CreationStrategy[D, R],
        tokens: QuickBooksTokens,
        dedup: DedupStore,
        clock: Clock,
        in_flight_lease: timedelta = timedelta(minutes=2),
    ) -> None:
        self.strategy = strategy
        self.tokens = tokens
        self.dedup = dedup
        self.clock = clock
        self.in_flight_lease = in_flight_lease

    def send(self, draft: D) -> R:
        """Create the draft's document, or adopt the one an earlier attempt already created."""
        strategy = self.strategy
        company_id, key, reference = strategy.company_id(draft), strategy.dedup_key(draft), strategy.reference(draft)
        fresh = DedupEntry(state=DedupState.PENDING, attempt=1, started_at=self.clock.now(), reference=reference)
        existing = self.dedup.put_if_absent(company_id, key, fresh)
        look_first = False
        entry = fresh
        if existing is not None:
            if existing.state is DedupState.COMPLETED and existing.result_id:
                return strategy.receipt(existing.result_id, existing.reference, SendOutcome.ALREADY_SYNCHRONIZED)
            entry, look_first = self._take_over(company_id, key, existing, reference)
        return self._attempt(draft, key, entry, look_first)

    def in_flight_seconds(self, entry: DedupEntry) -> float | None:
        """Seconds left of a pending attempt's lease, or None when no attempt is in flight (or its lease ran out)."""
        remaining = (entry.started_at + self.in_flight_lease - self.clock.now()).total_seconds()
        return remaining if entry.state is DedupState.PENDING and remaining > 0 else None

    def wait_for(self, entry: DedupEntry) -> RetryableError:
        """The answer to anyone who finds an attempt in flight: wait for its lease."""
        remaining = self.in_flight_seconds(entry) or 0.0
        return RetryableError(
            f"This {self.strategy.noun} is being sent to QuickBooks right now; it will be checked again shortly.",
            retry_after_seconds=max(1.0, remaining),
        )

    def _take_over(self, company_id: str, key: str, existing: DedupEntry, reference: str) -> tuple[DedupEntry, bool]:
        if self.in_flight_seconds(existing) is not None:
            raise self.wait_for(existing)
        now = self.clock.now()
        if existing.state is DedupState.FAILED:
            new = DedupEntry(
                state=DedupState.PENDING, attempt=existing.attempt + 1, started_at=now, reference=reference
            )
            look_first = False
        else:  # a crashed or timed-out attempt: QuickBooks may or may not hold the document
            new = DedupEntry(
                state=DedupState.PENDING, attempt=existing.attempt, started_at=now, reference=existing.reference
            )
            look_first = True
        if not self.dedup.replace(company_id, key, existing, new):
            raise RetryableError(
                f"Another send of this {self.strategy.noun} started at the same moment; it will be checked again."
            )
        return new, look_first

    def _attempt(self, draft: D, key: str, entry: DedupEntry, look_first: bool) -> R:
        strategy, company_id = self.strategy, self.strategy.company_id(draft)
        reached_create = False
        try:
            access = self.tokens.access_for(company_id)
            if look_first:
                found, access = self._with_token(company_id, access, lambda a: strategy.find_created(a, draft))
                if found is not None:
                    return self._complete(company_id, key, entry, found, SendOutcome.ADOPTED)
            request_id = strategy.request_id(draft, entry.attempt)
            reached_create = True
            try:
                created, access = self._with_token(company_id, access, lambda a: strategy.create(a, draft, request_id))
            except DuplicateDocumentNumber as duplicate:
                found, access = self._with_token(company_id, access, lambda a: strategy.find_created(a, draft))
                if found is None:
                    raise strategy.foreign_duplicate(draft, duplicate) from duplicate
                return self._complete(company_id, key, entry, found, SendOutcome.ADOPTED)
            return self._complete(company_id, key, entry, created, SendOutcome.CREATED)
        except (PermanentError, ReauthorizationRequired):
            # Refused before the create, after an unknown outcome: still unknown, so the next send looks first.
            self._mark(
                company_id, key, entry, DedupState.FAILED if reached_create or not look_first else DedupState.UNKNOWN
            )
            raise
        except Exception:
            self._mark(company_id, key, entry, DedupState.UNKNOWN)
            raise

    def created(
        self, company_id: str, entry: DedupEntry | None, find: Callable[[QuickBooksAccess, DedupEntry], str | None]
    ) -> str | None:
        """What the sends recorded in ``entry`` created: its id once completed; after an unknown outcome, what
        ``find`` finds in QuickBooks; None when nothing was. Raises ``RetryableError`` while an attempt is in flight."""
        if entry is None or entry.state is DedupState.FAILED:
            return None  # never sent, or the last attempt was refused after looking for any earlier one
        if entry.state is DedupState.COMPLETED and entry.result_id:
            return entry.result_id
        if self.in_flight_seconds(entry) is not None:
            raise self.wait_for(entry)
        access = self.tokens.access_for(company_id)
        found, _ = self._with_token(company_id, access, lambda a: find(a, entry))
        return found

    def _with_token(
        self, company_id: str, access: QuickBooksAccess, call: Callable[[QuickBooksAccess], T]
    ) -> tuple[T, QuickBooksAccess]:
        return with_token(self.tokens, company_id, access, call)

    def _complete(self, company_id: str, key: str, entry: DedupEntry, external_id: str, outcome: SendOutcome) -> R:
        self.dedup.complete(company_id, key, entry.attempt, external_id)
        return self.strategy.receipt(external_id, entry.reference, outcome)

    def _mark(self, company_id: str, key: str, entry: DedupEntry, state: DedupState) -> None:
        # Best effort: if this write fails the entry stays pending, and its lease turns it into an unknown outcome.
        try:
            self.dedup.replace(company_id, key, entry, entry.model_copy(update={"state": state}))
        except (RetryableError, PermanentError):
            return


def with_token(
    tokens: QuickBooksTokens, company_id: str, access: QuickBooksAccess, call: Callable[[QuickBooksAccess], T]
) -> tuple[T, QuickBooksAccess]:
    """Run ``call``; on a rejected access token refresh once and run it again."""
    try:
        return call(access), access
    except AccessTokenRejected:
        fresh = tokens.refresh(company_id, rejected_access_token=access.access_token)
        renewed = QuickBooksAccess(fresh.realm_id, fresh.access_token)
        return call(renewed), renewed


def short_request_id(prefix: str, seed: str) -> str:
    """A QuickBooks ``requestid`` (at most 50 characters) that is always the same for one seed."""
    request_id = prefix + hashlib.sha256(seed.encode()).hexdigest()[:40]
    assert len(request_id) <= REQUEST_ID_MAX
    return request_id


# ---------------------------------------------------------------------------------------------- bills


def bill_dedup_key(draft: BillDraft) -> str:
    """The dedup key of one vendor invoice's bill: stable across retries, clicks and redeliveries."""
    key = f"bill#{draft.purchase_order_id}#{draft.invoice_number}"
    return key + (f"#g{draft.generation}" if draft.generation else "")


def bill_request_id(draft: BillDraft, attempt: int) -> str:
    """QuickBooks ``requestid`` (at most 50 characters): the same for every retry of one attempt."""
    seed = f"{draft.company_id}|{draft.purchase_order_id}|{draft.invoice_number}|{attempt}"
    return short_request_id("ls-bill-", seed + (f"|g{draft.generation}" if draft.generation else ""))


@dataclass(frozen=True)
class BillCreation:
    """A vendor invoice's bill: keyed by PO and vendor invoice number, found by vendor, DocNumber and memo."""

    gateway: QuickBooksOnlineGateway
    noun: str = "bill"

    def company_id(self, draft: BillDraft) -> str:
        return draft.company_id

    def dedup_key(self, draft: BillDraft) -> str:
        return bill_dedup_key(draft)

    def reference(self, draft: BillDraft) -> str:
        return draft.reference(DOC_NUMBER_MAX)

    def request_id(self, draft: BillDraft, attempt: int) -> str:
        return bill_request_id(draft, attempt)

    def create(self, access: QuickBooksAccess, draft: BillDraft, request_id: str) -> str:
        return self.gateway.create_bill(access, draft, request_id).id

    def find_created(self, access: QuickBooksAccess, draft: BillDraft) -> str | None:
        reference = draft.reference(DOC_NUMBER_MAX)
        for bill in self.gateway.find_bills(access, draft):
            if bill.doc_number == reference and draft.full_reference in (bill.private_note or ""):
                return bill.id
        return None

    def foreign_duplicate(self, draft: BillDraft, duplicate: DuplicateDocumentNumber) -> PermanentError:
        return PermanentError(
            f"QuickBooks already has a bill numbered {duplicate.doc_number} for vendor "
            f"'{draft.vendor_name}' that Ledgersync did not create (its memo does not name "
            f"{draft.full_reference}). Renumber or delete that bill in QuickBooks, then send again."
        )

    def receipt(self, external_id: str, doc_number: str, outcome: SendOutcome) -> BillReceipt:
        return BillReceipt(bill_id=external_id, doc_number=doc_number, outcome=outcome)


class BillSync:
    """Send a bill to QuickBooks Online exactly once (``ExactlyOnceCreate`` over ``BillCreation``)."""

    def __init__(
        self,
        gateway: QuickBooksOnlineGateway,
        tokens: QuickBooksTokens,
        dedup: DedupStore,
        clock: Clock,
        in_flight_lease: timedelta = timedelta(minutes=2),
    ) -> None:
        self.gateway = gateway
        self.once = ExactlyOnceCreate(BillCreation(gateway), tokens, dedup, clock, in_flight_lease)

    def send(self, draft: BillDraft) -> BillReceipt:
        """Create the draft's bill in QuickBooks, or adopt the one an earlier attempt already created."""
        return self.once.send(draft)


# ---------------------------------------------------------------------------------------------- sales invoices


def invoice_dedup_key(invoice_id: int, document_version: int, generation: int = 0) -> str:
    """The dedup key of one send of one version of a sales invoice: a reshipped order (a new version) and a send
    again after the accounting invoice was deleted (a new generation) get a new key, every retry, redelivery or
    double click of one send the same."""
    return f"invoice#{invoice_id}#v{document_version}" + (f"#g{generation}" if generation else "")


def invoice_request_id(draft: InvoiceDraft, attempt: int) -> str:
    """QuickBooks ``requestid`` (at most 50 characters) of one attempt at one version of a sales invoice."""
    seed = f"{draft.company_id}|{draft.invoice_id}|{draft.document_version}|{attempt}"
    return short_request_id("ls-inv-", seed + (f"|g{draft.generation}" if draft.generation else ""))


def names_version(private_note: str | None, invoice_id: int, document_version: int) -> bool:
    """Whether a QuickBooks memo is the one ``invoice_memo`` writes for this invoice id and version. The closing
    parenthesis is part of the match, so version 1 is not taken for version 12."""
    return f"(id {invoice_id}, version {document_version})" in (private_note or "")


@dataclass(frozen=True)
class InvoiceCreation:
    """A version of a sales invoice: keyed by invoice id and version, found by DocNumber and the memo naming both."""

    gateway: QuickBooksInvoiceGateway
    noun: str = "sales invoice"

    def company_id(self, draft: InvoiceDraft) -> str:
        return draft.company_id

    def dedup_key(self, draft: InvoiceDraft) -> str:
        return invoice_dedup_key(draft.invoice_id, draft.document_version, draft.generation)

    def reference(self, draft: InvoiceDraft) -> str:
        return draft.doc_number

    def request_id(self, draft: InvoiceDraft, attempt: int) -> str:
        return invoice_request_id(draft, attempt)

    def create(self, access: QuickBooksAccess, draft: InvoiceDraft, request_id: str) -> str:
        return self.gateway.create_invoice(access, draft, request_id).id

    def find_created(self, access: QuickBooksAccess, draft: InvoiceDraft) -> str | None:
        return self.find_numbered(access, draft.doc_number, draft.invoice_id, draft.document_version)

    def find_numbered(
        self, access: QuickBooksAccess, doc_number: str, invoice_id: int, document_version: int
    ) -> str | None:
        """The invoice numbered ``doc_number`` whose memo names this invoice id and version (one query)."""
        for invoice in self.gateway.find_invoices(access, doc_number):
            if invoice.doc_number == doc_number and names_version(invoice.private_note, invoice_id, document_version):
                return invoice.id
        return None

    def foreign_duplicate(self, draft: InvoiceDraft, duplicate: DuplicateDocumentNumber) -> PermanentError:
        return PermanentError(
            f"QuickBooks already has a sales invoice numbered {duplicate.doc_number} that Ledgersync did not create "
            f"for version {draft.document_version} of invoice {draft.invoice_number} (its memo does not read "
            f"'{draft.memo}'). Delete or renumber that invoice in QuickBooks, or give the store another "
            "invoicePrefix with PUT /v1/directory/stores, then send again."
        )

    def receipt(self, external_id: str, doc_number: str, outcome: SendOutcome) -> InvoiceReceipt:
        return InvoiceReceipt(invoice_id=external_id, doc_number=doc_number, outcome=outcome)


class InvoiceSync:
    """Send one version of a sales invoice to QuickBooks Online exactly once (``ExactlyOnceCreate`` over
    ``InvoiceCreation``), and tell what an earlier send of a version created."""

    def __init__(
        self,
        gateway: QuickBooksInvoiceGateway,
        tokens: QuickBooksTokens,
        dedup: ReadableDedupStore,
        clock: Clock,
        in_flight_lease: timedelta = timedelta(minutes=2),
    ) -> None:
        self.dedup = dedup
        self.creation = InvoiceCreation(gateway)
        self.once = ExactlyOnceCreate(self.creation, tokens, dedup, clock, in_flight_lease)

    def send(self, draft: InvoiceDraft) -> InvoiceReceipt:
        """Create the draft's invoice in QuickBooks, or adopt the one an earlier attempt at this version created."""
        return self.once.send(draft)

    def created_id(self, company_id: str, invoice_id: int, document_version: int, generation: int = 0) -> str | None:
        """The QuickBooks id of the invoice an earlier send of this version created, so that a delete cannot miss
        one whose id was never recorded: the dedup entry's once completed; after an unknown outcome, one query by
        DocNumber matched by the memo; None when nothing was created. ``RetryableError`` while a send of the
        version is in flight (ask again when its lease ends)."""
        return self.once.created(
            company_id,
            self.dedup.get(company_id, invoice_dedup_key(invoice_id, document_version, generation)),
            lambda access, entry: self.creation.find_numbered(access, entry.reference, invoice_id, document_version),
        )


# ---------------------------------------------------------------------------------------------- documents


class QuickBooksTransactions(ABC):
    """The QuickBooks Online target's document operations on the transactions it created: look one up (is it
    still there, and its SyncToken) and delete it."""

    tokens: QuickBooksTokens

    @abstractmethod
    def read(self, access: QuickBooksAccess, external_id: str) -> TransactionRecord | None:
        """The transaction, or None when QuickBooks has it no more."""

    @abstractmethod
    def remove(self, access: QuickBooksAccess, external_id: str, sync_token: str) -> None:
        """Delete the transaction with the SyncToken it has in QuickBooks."""

    def look_up(self, company_id: str, external_id: str) -> ExternalDocument | None:
        access = self.tokens.access_for(company_id)
        found, _ = with_token(self.tokens, company_id, access, lambda a: self.read(a, external_id))
        if found is None:
            return None
        return ExternalDocument(external_id=found.id, sync_token=found.sync_token or "0")

    def delete(self, company_id: str, external_id: str, sync_token: str) -> None:
        access = self.tokens.access_for(company_id)
        with_token(self.tokens, company_id, access, lambda a: self.remove(a, external_id, sync_token))


@dataclass
class QuickBooksBills(QuickBooksTransactions):
    """Look-up and delete of the bills Ledgersync created."""

    gateway: QuickBooksOnlineGateway
    tokens: QuickBooksTokens

    def read(self, access: QuickBooksAccess, external_id: str) -> TransactionRecord | None:
        return self.gateway.read_bill(access, external_id)

    def remove(self, access: QuickBooksAccess, external_id: str, sync_token: str) -> None:
        self.gateway.delete_bill(access, external_id, sync_token)


@dataclass
class QuickBooksInvoices(QuickBooksTransactions):
    """Look-up and delete of the sales invoices Ledgersync created (a stale SyncToken: ``RetryableError``, looked
    up again; one already gone: deleted)."""

    gateway: QuickBooksInvoiceGateway
    tokens: QuickBooksTokens

    def read(self, access: QuickBooksAccess, external_id: str) -> TransactionRecord | None:
        return self.gateway.read_invoice(access, external_id)

    def remove(self, access: QuickBooksAccess, external_id: str, sync_token: str) -> None:
        self.gateway.delete_invoice(access, external_id, sync_token)


@dataclass
class QuickBooksBillsByNumber:
    """Send again's look-up of a vendor invoice's bill in QuickBooks Online by its bill number (one query)."""

    gateway: QuickBooksOnlineGateway
    tokens: QuickBooksTokens

    def bills_numbered(self, company_id: str, draft: BillDraft) -> list[AccountingBill]:
        access = self.tokens.access_for(company_id)
        found, _ = with_token(self.tokens, company_id, access, lambda a: self.gateway.numbered_bills(a, draft))
        return found


@dataclass(frozen=True)
class SalesInvoiceCreatedIds:
    """``CreatedIds`` of the sync core for sales invoices: what an earlier send of a state's version created."""

    invoices: InvoiceSync

    def created_id(
        self, company_id: str, ref: DocumentRef, document_version: int | None, generation: int
    ) -> str | None:
        return self.invoices.created_id(company_id, int(ref.id), document_version or 0, generation)
