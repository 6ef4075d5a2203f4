"""An order's sales order in QuickBooks Online: the Estimate payload of a sales-order draft and the gateway (create,
find by number, read, sparse update with the SyncToken, delete)."""

from __future__ import annotations

from typing import Any

from ledgersync.adapters.quickbooks_online.client import QuickBooksOnlineClient
from ledgersync.adapters.quickbooks_online.documents import (
    PRIVATE_NOTE_MAX,
    DocumentKind,
    QuickBooksDocuments,
    transaction_fields,
)
from ledgersync.adapters.quickbooks_online.faults import StaleObjectError
from ledgersync.adapters.quickbooks_online.invoices import SALES_INVOICE, invoice_payload, invoice_refs
from ledgersync.adapters.quickbooks_online.references import ReferenceIdCache
from ledgersync.domain.quickbooks_online import (
    DuplicateDocumentNumber,
    QuickBooksAccess,
    TransactionRecord,
    short_request_id,
)
from ledgersync.domain.sales_order_online import StaleSyncToken, estimate_note
from ledgersync.domain.sales_orders import SalesOrderDraft

ESTIMATE = DocumentKind(
    entity="Estimate",
    noun="sales order (estimate)",
    references="its customer and items",
    missing_advice={k: v for k, v in SALES_INVOICE.missing_advice.items() if k != "Account"},
)
# What a sparse update changes: the order's customer, date, number, memo and lines (its status and links are
# QuickBooks' own: an invoice linked to it closes it)
UPDATED_FIELDS = ("CustomerRef", "TxnDate", "DocNumber", "PrivateNote", "Line", "CurrencyRef", "ExchangeRate")


def estimate_payload(draft: SalesOrderDraft, ids: dict[tuple[str, str], str]) -> dict[str, Any]:
    """The Estimate for a sales-order draft: the invoice's customer, lines and numbers, without an A/R account (an
    estimate posts nothing) or a link."""
    body = invoice_payload(draft, ids)
    body.pop("ARAccountRef", None)
    body.pop("LinkedTxn", None)
    body["PrivateNote"] = estimate_note(draft)[:PRIVATE_NOTE_MAX]
    return body


def _record(row: dict[str, Any]) -> TransactionRecord:
    fields = transaction_fields(row, "CustomerRef")
    fields.pop("party_id")
    return TransactionRecord(**fields)


class QuickBooksOnlineEstimateGateway:
    """Estimates in QuickBooks Online, over the client and the name-id cache the invoices use."""

    def __init__(self, client: QuickBooksOnlineClient, ids: ReferenceIdCache) -> None:
        self.client = client
        self.estimates = QuickBooksDocuments(client, ids, ESTIMATE)

    def _refs(self, draft: SalesOrderDraft) -> list[tuple[str, str]]:
        return [key for key in invoice_refs(draft) if key[0] != "Account"]

    def create_estimate(self, access: QuickBooksAccess, draft: SalesOrderDraft, request_id: str) -> TransactionRecord:
        ids = self.estimates.resolve(access, self._refs(draft))
        duplicate = DuplicateDocumentNumber(
            f"QuickBooks already has an estimate numbered {draft.doc_number} (6140).", draft.doc_number
        )
        return _record(self.estimates.create(access, estimate_payload(draft, ids), request_id, ids, duplicate))

    def find_estimates(self, access: QuickBooksAccess, doc_number: str) -> list[TransactionRecord]:
        return [_record(row) for row in self.estimates.numbered(access, doc_number)]

    def read_estimate(self, access: QuickBooksAccess, estimate_id: str) -> TransactionRecord | None:
        found = self.estimates.read(access, estimate_id)
        return _record(found) if found is not None else None

    def update_estimate(
        self, access: QuickBooksAccess, estimate_id: str, sync_token: str, draft: SalesOrderDraft
    ) -> TransactionRecord:
        """``POST estimate`` with ``sparse: true``, the Id and the SyncToken read just before; the lines replace the
        Estimate's. A stale SyncToken (5010) is ``StaleSyncToken``: read it again and update with the new one."""
        ids = self.estimates.resolve(access, self._refs(draft))
        payload = estimate_payload(draft, ids)
        body = {
            "Id": estimate_id,
            "SyncToken": sync_token,
            "sparse": True,
            **{key: payload[key] for key in UPDATED_FIELDS if key in payload},
        }
        duplicate = DuplicateDocumentNumber(
            f"QuickBooks already has an estimate numbered {draft.doc_number} (6140).", draft.doc_number
        )
        # one per (estimate, SyncToken, version): a retry of this update replays it, any other update is new
        seed = f"{draft.company_id}|{estimate_id}|{sync_token}|v{draft.document_version}|g{draft.generation}"
        try:
            return _record(self.estimates.create(access, body, short_request_id("ls-soup-", seed), ids, duplicate))
        except StaleObjectError as stale:
            raise StaleSyncToken(
                f"QuickBooks Online says estimate {estimate_id} changed since its SyncToken {sync_token} was read "
                "(5010 Stale Object Error); it is read again and updated with the SyncToken it has now."
            ) from stale

    def delete_estimate(self, access: QuickBooksAccess, estimate_id: str, sync_token: str) -> None:
        self.estimates.delete(access, estimate_id, sync_token)
