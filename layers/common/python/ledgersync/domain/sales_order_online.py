"""An order's sales order in QuickBooks Online: an Estimate (its API has no sales order), created exactly once per
order and changed in place afterwards (a sparse update with the SyncToken read fresh).

The create goes through ``ExactlyOnceCreate`` keyed by the order and its generation, not its version: whatever
version a send carries, a second create of the order's sales order adopts the Estimate the first one made. A send
that adopts one (or names one: ``SalesOrderDraft.external_id``) then changes it to the draft, so the Estimate always
ends holding the version the send was for, and there is never a second Estimate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from pydantic import BaseModel

from ledgersync.clock import Clock
from ledgersync.domain.quickbooks_online import (
    DuplicateDocumentNumber,
    ExactlyOnceCreate,
    QuickBooksAccess,
    QuickBooksTokens,
    QuickBooksTransactions,
    ReadableDedupStore,
    SendOutcome,
    TransactionRecord,
    short_request_id,
    with_token,
)
from ledgersync.domain.sales_orders import SalesOrderDraft
from ledgersync.domain.sync.documents import DocumentRef
from ledgersync.errors import PermanentError, RetryableError

UPDATE_ATTEMPTS = 2  # a stale SyncToken is read again once before the queue retries
NOTED_VERSION = re.compile(r", version (\d+)$")


def estimate_note(draft: SalesOrderDraft) -> str:
    """The Estimate's memo: the order's (found by it whatever the version) and the version it holds, so an update of
    an older version that lands after a newer one's leaves the newer in place."""
    return f"{draft.memo}, version {draft.document_version}"


def noted_version(note: str | None) -> int | None:
    """The order version an Estimate's memo says it holds (None for one written before versions were noted)."""
    found = NOTED_VERSION.search(note or "")
    return int(found.group(1)) if found else None


class StaleSyncToken(RetryableError):
    """QuickBooks Online's 5010 "Stale Object Error": the Estimate changed since its SyncToken was read."""


class QuickBooksEstimateGateway(Protocol):
    """Estimates in QuickBooks Online (``QuickBooksOnlineEstimateGateway``)."""

    def create_estimate(self, access: QuickBooksAccess, draft: SalesOrderDraft, request_id: str) -> TransactionRecord:
        """Create the draft's Estimate; ``DuplicateDocumentNumber`` on 6140, ``PermanentError`` with the fix."""

    def find_estimates(self, access: QuickBooksAccess, doc_number: str) -> list[TransactionRecord]:
        """Estimates numbered ``doc_number`` (one query)."""

    def read_estimate(self, access: QuickBooksAccess, estimate_id: str) -> TransactionRecord | None:
        """``GET estimate/<id>`` (its SyncToken now), or None when QuickBooks has it no more (610)."""

    def update_estimate(
        self, access: QuickBooksAccess, estimate_id: str, sync_token: str, draft: SalesOrderDraft
    ) -> TransactionRecord:
        """Sparse update of the Estimate to the draft's customer, date, lines and memo; ``StaleSyncToken`` on 5010."""

    def delete_estimate(self, access: QuickBooksAccess, estimate_id: str, sync_token: str) -> None:
        """Delete the Estimate; one already gone (610) is deleted."""


class EstimateReceipt(BaseModel):
    """Which Estimate stands for the order's sales order now, and how it came to."""

    estimate_id: str
    doc_number: str
    outcome: SendOutcome
    updated: bool = False  # changed to the draft after it was adopted or named

    @property
    def external_id(self) -> str:
        return self.estimate_id


def sales_order_dedup_key(invoice_id: int, generation: int = 0) -> str:
    """One Estimate per order (and generation: a send after it was deleted in QuickBooks is a new one)."""
    return f"sales_order#{invoice_id}" + (f"#g{generation}" if generation else "")


def sales_order_request_id(draft: SalesOrderDraft, attempt: int) -> str:
    seed = f"{draft.company_id}|{draft.invoice_id}|so|{attempt}"
    return short_request_id("ls-so-", seed + (f"|g{draft.generation}" if draft.generation else ""))


@dataclass(frozen=True)
class EstimateCreation:
    """An order's Estimate: keyed by order and generation, found by DocNumber and the memo naming the order."""

    gateway: QuickBooksEstimateGateway
    noun: str = "sales order (estimate)"

    def company_id(self, draft: SalesOrderDraft) -> str:
        return draft.company_id

    def dedup_key(self, draft: SalesOrderDraft) -> str:
        return sales_order_dedup_key(draft.invoice_id, draft.generation)

    def reference(self, draft: SalesOrderDraft) -> str:
        return draft.doc_number

    def request_id(self, draft: SalesOrderDraft, attempt: int) -> str:
        return sales_order_request_id(draft, attempt)

    def create(self, access: QuickBooksAccess, draft: SalesOrderDraft, request_id: str) -> str:
        return self.gateway.create_estimate(access, draft, request_id).id

    def find_created(self, access: QuickBooksAccess, draft: SalesOrderDraft) -> str | None:
        return self.find_numbered(access, draft.doc_number, draft.memo)

    def find_numbered(self, access: QuickBooksAccess, doc_number: str, memo: str) -> str | None:
        for estimate in self.gateway.find_estimates(access, doc_number):
            if estimate.doc_number == doc_number and memo in (estimate.private_note or ""):
                return estimate.id
        return None

    def foreign_duplicate(self, draft: SalesOrderDraft, duplicate: DuplicateDocumentNumber) -> PermanentError:
        return PermanentError(
            f"QuickBooks already has an estimate numbered {duplicate.doc_number} that Ledgersync did not create for "
            f"order {draft.invoice_number} (its memo does not read '{draft.memo}'). Delete or renumber that estimate "
            "in QuickBooks, or give the store another invoicePrefix with PUT /v1/directory/stores, then send the "
            "sales order again."
        )

    def receipt(self, external_id: str, doc_number: str, outcome: SendOutcome) -> EstimateReceipt:
        return EstimateReceipt(estimate_id=external_id, doc_number=doc_number, outcome=outcome)


class EstimateSync:
    """The order's Estimate in QuickBooks Online: created once, then changed to each version sent."""

    def __init__(
        self,
        gateway: QuickBooksEstimateGateway,
        tokens: QuickBooksTokens,
        dedup: ReadableDedupStore,
        clock: Clock,
        in_flight_lease: timedelta = timedelta(minutes=2),
    ) -> None:
        self.gateway = gateway
        self.tokens = tokens
        self.dedup = dedup
        self.creation = EstimateCreation(gateway)
        self.once = ExactlyOnceCreate(self.creation, tokens, dedup, clock, in_flight_lease)

    def send(self, draft: SalesOrderDraft) -> EstimateReceipt:
        """Create the order's Estimate, or change the one it has (named by the draft, or made by an earlier send)."""
        if draft.external_id is None:
            receipt = self.once.send(draft)
            if receipt.outcome is SendOutcome.CREATED:
                return receipt
            estimate_id = receipt.estimate_id
        else:
            estimate_id = draft.external_id
        self._update(draft, estimate_id)
        return EstimateReceipt(
            estimate_id=estimate_id, doc_number=draft.doc_number, outcome=SendOutcome.ADOPTED, updated=True
        )

    def _update(self, draft: SalesOrderDraft, estimate_id: str) -> None:
        """A sparse update with the SyncToken read just before it (one more read and try on a stale one)."""
        company_id = draft.company_id
        access = self.tokens.access_for(company_id)
        for attempt in range(1, UPDATE_ATTEMPTS + 1):
            try:
                with_token(self.tokens, company_id, access, lambda a: self._read_and_update(a, draft, estimate_id))
            except StaleSyncToken:
                if attempt == UPDATE_ATTEMPTS:
                    raise
                continue
            return

    def _read_and_update(self, access: QuickBooksAccess, draft: SalesOrderDraft, estimate_id: str) -> None:
        current = self.gateway.read_estimate(access, estimate_id)
        if current is None:
            raise PermanentError(
                f"the estimate {estimate_id} that is order {draft.invoice_number}'s sales order is no longer in "
                "QuickBooks Online (deleted there); send the sales order again "
                "(POST /v1/invoices/{invoiceId}/send-sales-order) to create a new one"
            )
        held = noted_version(current.private_note)
        if held is not None and held > draft.document_version:
            return  # a newer version's update landed first (two in flight): this older one changes nothing
        self.gateway.update_estimate(access, estimate_id, current.sync_token or "0", draft)

    def created_id(self, company_id: str, invoice_id: int, generation: int = 0) -> str | None:
        """The Estimate an earlier send of the order created, when its id was never recorded (``RetryableError``
        while one is in flight)."""
        return self.once.created(
            company_id,
            self.dedup.get(company_id, sales_order_dedup_key(invoice_id, generation)),
            lambda access, entry: self._find(access, entry.reference, company_id, invoice_id),
        )

    def _find(self, access: QuickBooksAccess, doc_number: str, company_id: str, invoice_id: int) -> str | None:
        marker = f"(id {invoice_id})"
        for estimate in self.gateway.find_estimates(access, doc_number):
            note = estimate.private_note or ""
            if estimate.doc_number == doc_number and note.startswith("Ledgersync sales order") and marker in note:
                return estimate.id
        return None


@dataclass
class QuickBooksEstimates(QuickBooksTransactions):
    """Look-up and delete of the Estimates Ledgersync created (send-sales-order's check after an Error)."""

    gateway: QuickBooksEstimateGateway
    tokens: QuickBooksTokens

    def read(self, access: QuickBooksAccess, external_id: str) -> TransactionRecord | None:
        return self.gateway.read_estimate(access, external_id)

    def remove(self, access: QuickBooksAccess, external_id: str, sync_token: str) -> None:
        self.gateway.delete_estimate(access, external_id, sync_token)


@dataclass(frozen=True)
class SalesOrderCreatedIds:
    """``CreatedIds`` of the sync core for sales orders: the Estimate an earlier send of the order created."""

    estimates: EstimateSync

    def created_id(
        self, company_id: str, ref: DocumentRef, document_version: int | None, generation: int
    ) -> str | None:
        return self.estimates.created_id(company_id, int(ref.id), generation)
