"""QuickBooks Online in pure Python: tokens that refresh themselves and bills sent exactly once, over ports.

Nothing here knows HTTP, intuit-oauth, boto3 or QuickBooks JSON; the adapters in
``ledgersync.adapters.quickbooks_online`` implement the ports and translate every outside failure into
``RetryableError``, ``PermanentError``, ``ReauthorizationRequired`` or the two errors declared below.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol, TypeVar

from pydantic import BaseModel, Field

from ledgersync.clock import Clock
from ledgersync.domain.purchase_order_bills import BillDraft
from ledgersync.domain.sync.targets import ExternalDocument
from ledgersync.errors import PermanentError, ReauthorizationRequired, RetryableError

DOC_NUMBER_MAX = 21
REQUEST_ID_MAX = 50
ACCESS_TOKEN_MARGIN = timedelta(minutes=5)

T = TypeVar("T")


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


class BillRecord(BaseModel):
    """A bill as QuickBooks holds it, reduced to what reconciliation needs."""

    id: str
    doc_number: str | None = None
    vendor_id: str | None = None
    private_note: str | None = None
    sync_token: str | None = None


class BillOutcome(StrEnum):
    CREATED = "created"
    ADOPTED = "adopted"
    ALREADY_SYNCHRONIZED = "already_synchronized"


class BillReceipt(BaseModel):
    """The result of sending a bill: which QuickBooks bill now stands for the vendor invoice, and how."""

    bill_id: str
    doc_number: str
    outcome: BillOutcome

    @property
    def external_id(self) -> str:
        return self.bill_id


class DedupState(StrEnum):
    PENDING = "pending"
    UNKNOWN = "unknown"
    FAILED = "failed"
    COMPLETED = "completed"


class DedupEntry(BaseModel):
    """The dedup record of one outside send, written before the send (see ``BillSync``)."""

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
    """QuickBooks refused a bill because its DocNumber is already used for that vendor (fault 6140)."""

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

    def delete_bill(self, access: QuickBooksAccess, bill_id: str, sync_token: str) -> None:
        """Delete the bill; one already gone is not an error. A stale SyncToken raises ``RetryableError`` (5010)."""


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
        self, tokens: QuickBooksTokens, keepalive: timedelta = timedelta(hours=20), refresh_days_floor: float = 30.0
    ) -> None:
        self.tokens = tokens
        self.keepalive = keepalive
        self.refresh_days_floor = refresh_days_floor

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
        except ReauthorizationRequired:
            summary.reauthorization_required.append(company_id)
        except (RetryableError, PermanentError):
            summary.failed.append(company_id)
        finally:
            self.tokens.lock.release(company_id, QuickBooksTokens.LOCK_NAME, owner)


def refresh_tokens(refresher: TokenRefresher, company_ids: Iterable[str]) -> RefreshSummary:
    """Refresh each due company's tokens before they expire (the EventBridge schedule's use case).

    The caller names the companies (the table's company list): listing them from the token store would need
    ``secretsmanager:ListSecrets`` over every secret of the account.
    """
    return refresher.run(list(company_ids))


# ---------------------------------------------------------------------------------------------- bills


def bill_dedup_key(draft: BillDraft) -> str:
    """The dedup key of one vendor invoice's bill: stable across retries, clicks and redeliveries."""
    return f"bill#{draft.purchase_order_id}#{draft.invoice_number}"


def bill_request_id(draft: BillDraft, attempt: int) -> str:
    """QuickBooks ``requestid`` (at most 50 characters): the same for every retry of one attempt."""
    seed = f"{draft.company_id}|{draft.purchase_order_id}|{draft.invoice_number}|{attempt}"
    request_id = "ls-bill-" + hashlib.sha256(seed.encode()).hexdigest()[:40]
    assert len(request_id) <= REQUEST_ID_MAX
    return request_id


class BillSync:
    """Send a bill to QuickBooks Online exactly once.

    A dedup entry is written (conditionally) before QuickBooks is called. Each attempt carries its own
    deterministic ``requestid``, so a retry of the same attempt cannot create a second bill; a retry after an
    unknown outcome first looks the bill up by DocNumber and vendor. An attempt that QuickBooks refused for
    good is marked failed, and the next send is a new attempt with a new ``requestid`` (QuickBooks would
    otherwise replay the old refusal).
    """

    def __init__(
        self,
        gateway: QuickBooksOnlineGateway,
        tokens: QuickBooksTokens,
        dedup: DedupStore,
        clock: Clock,
        in_flight_lease: timedelta = timedelta(minutes=2),
    ) -> None:
        self.gateway = gateway
        self.tokens = tokens
        self.dedup = dedup
        self.clock = clock
        self.in_flight_lease = in_flight_lease

    def send(self, draft: BillDraft) -> BillReceipt:
        """Create the draft's bill in QuickBooks, or adopt the one an earlier attempt already created."""
        company_id, key = draft.company_id, bill_dedup_key(draft)
        reference = draft.reference(DOC_NUMBER_MAX)
        fresh = DedupEntry(state=DedupState.PENDING, attempt=1, started_at=self.clock.now(), reference=reference)
        existing = self.dedup.put_if_absent(company_id, key, fresh)
        look_first = False
        entry = fresh
        if existing is not None:
            if existing.state is DedupState.COMPLETED and existing.result_id:
                return BillReceipt(
                    bill_id=existing.result_id, doc_number=existing.reference, outcome=BillOutcome.ALREADY_SYNCHRONIZED
                )
            entry, look_first = self._take_over(company_id, key, existing, reference)
        return self._attempt(draft, key, entry, look_first)

    def _take_over(self, company_id: str, key: str, existing: DedupEntry, reference: str) -> tuple[DedupEntry, bool]:
        now = self.clock.now()
        if existing.state is DedupState.PENDING and now - existing.started_at < self.in_flight_lease:
            remaining = (existing.started_at + self.in_flight_lease - now).total_seconds()
            raise RetryableError(
                "This bill is being sent to QuickBooks right now; it will be checked again shortly.",
                retry_after_seconds=max(1.0, remaining),
            )
        if existing.state is DedupState.FAILED:
            new = DedupEntry(
                state=DedupState.PENDING, attempt=existing.attempt + 1, started_at=now, reference=reference
            )
            look_first = False
        else:  # a crashed or timed-out attempt: QuickBooks may or may not hold the bill
            new = DedupEntry(
                state=DedupState.PENDING, attempt=existing.attempt, started_at=now, reference=existing.reference
            )
            look_first = True
        if not self.dedup.replace(company_id, key, existing, new):
            raise RetryableError("Another send of this bill started at the same moment; it will be checked again.")
        return new, look_first

    def _attempt(self, draft: BillDraft, key: str, entry: DedupEntry, look_first: bool) -> BillReceipt:
        company_id = draft.company_id
        try:
            access = self.tokens.access_for(company_id)
            if look_first:
                found, access = self._with_token(company_id, access, lambda a: self._matching_bill(a, draft))
                if found is not None:
                    return self._complete(company_id, key, entry, found.id, BillOutcome.ADOPTED)
            request_id = bill_request_id(draft, entry.attempt)
            try:
                created, access = self._with_token(
                    company_id, access, lambda a: self.gateway.create_bill(a, draft, request_id)
                )
            except DuplicateDocumentNumber as duplicate:
                found, access = self._with_token(company_id, access, lambda a: self._matching_bill(a, draft))
                if found is None:
                    raise PermanentError(
                        f"QuickBooks already has a bill numbered {duplicate.doc_number} for vendor "
                        f"'{draft.vendor_name}' that Ledgersync did not create (its memo does not name "
                        f"{draft.full_reference}). Renumber or delete that bill in QuickBooks, then send again."
                    ) from duplicate
                return self._complete(company_id, key, entry, found.id, BillOutcome.ADOPTED)
            return self._complete(company_id, key, entry, created.id, BillOutcome.CREATED)
        except (PermanentError, ReauthorizationRequired):
            self._mark(company_id, key, entry, DedupState.FAILED)
            raise
        except Exception:
            self._mark(company_id, key, entry, DedupState.UNKNOWN)
            raise

    def _with_token(
        self, company_id: str, access: QuickBooksAccess, call: Callable[[QuickBooksAccess], T]
    ) -> tuple[T, QuickBooksAccess]:
        return with_token(self.tokens, company_id, access, call)

    def _matching_bill(self, access: QuickBooksAccess, draft: BillDraft) -> BillRecord | None:
        reference = draft.reference(DOC_NUMBER_MAX)
        for bill in self.gateway.find_bills(access, draft):
            if bill.doc_number == reference and draft.full_reference in (bill.private_note or ""):
                return bill
        return None

    def _complete(
        self, company_id: str, key: str, entry: DedupEntry, bill_id: str, outcome: BillOutcome
    ) -> BillReceipt:
        self.dedup.complete(company_id, key, entry.attempt, bill_id)
        return BillReceipt(bill_id=bill_id, doc_number=entry.reference, outcome=outcome)

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


@dataclass
class QuickBooksBills:
    """The QuickBooks Online target's document operations on the bills it created: look one up (is it still there,
    and its SyncToken) and delete it."""

    gateway: QuickBooksOnlineGateway
    tokens: QuickBooksTokens

    def look_up(self, company_id: str, external_id: str) -> ExternalDocument | None:
        access = self.tokens.access_for(company_id)
        found, _ = with_token(self.tokens, company_id, access, lambda a: self.gateway.read_bill(a, external_id))
        if found is None:
            return None
        return ExternalDocument(external_id=found.id, sync_token=found.sync_token or "0")

    def delete(self, company_id: str, external_id: str, sync_token: str) -> None:
        access = self.tokens.access_for(company_id)
        with_token(self.tokens, company_id, access, lambda a: self.gateway.delete_bill(a, external_id, sync_token))
