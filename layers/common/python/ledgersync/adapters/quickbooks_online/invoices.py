"""Sales invoices in QuickBooks Online: the Invoice payload of a draft, the names it refers to and the gateway."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ledgersync.adapters.quickbooks_online.client import QuickBooksOnlineClient
from ledgersync.adapters.quickbooks_online.documents import (
    DESCRIPTION_MAX,
    OBJECT_NOT_FOUND,
    PRIVATE_NOTE_MAX,
    DocumentKind,
    QuickBooksDocuments,
    RefKey,
    money,
    transaction_fields,
)
from ledgersync.adapters.quickbooks_online.faults import QuickBooksFault
from ledgersync.adapters.quickbooks_online.references import ReferenceIdCache
from ledgersync.domain.quickbooks_online import DuplicateDocumentNumber, InvoiceRecord, QuickBooksAccess
from ledgersync.domain.sales_invoices import InvoiceDraft, InvoiceLineKind

LINKABLE_ESTIMATES = frozenset({"Pending", "Accepted"})  # an invoice links an open Estimate, which it closes
SALES_INVOICE = DocumentKind(
    entity="Invoice",
    noun="sales invoice",
    references="its customer and items",
    missing_advice={
        "Customer": "The customer's Accounting Name in Ledgersync must be exactly its Display Name in QuickBooks "
        "(or, for a store that bills one channel customer, the store's accountingCustomer); correct one of them "
        "(PUT /v1/directory/customers or PUT /v1/directory/stores), then send again.",
        "Item": "Create the item '{name}' in QuickBooks (Sales > Products and services), or set the product's "
        "accountingItem (PUT /v1/directory/products) or the settings' invoiceItemName or invoiceChargeItems "
        "(PUT /v1/accounting/settings) to an item QuickBooks has, then send again.",
        "Account": "Create the A/R account '{name}' in QuickBooks' chart of accounts, in the invoice's currency, "
        "or map the currency to the A/R account QuickBooks has for it (PUT /v1/accounting/settings "
        "arAccountByCurrency), then send again.",
    },
    currency_advice={
        "Customer": "A customer's currency cannot change in QuickBooks: make a customer in {ours} in QuickBooks and "
        "set the customer's accountingName to its name (PUT /v1/directory/customers), then send again.",
        "Account": "Map {ours} to an A/R account in {ours} (PUT /v1/accounting/settings arAccountByCurrency), "
        "creating it in QuickBooks' chart of accounts if need be, then send again.",
    },
)


def invoice_refs(draft: InvoiceDraft) -> list[RefKey]:
    """Every (entity, name) a draft's invoice refers to, customer first, without repeats; a discount line refers to
    no item in QuickBooks Online (DiscountLineDetail), so its item is not looked up."""
    keys: list[RefKey] = [("Customer", draft.customer_name)]
    keys += [("Item", line.item_name) for line in draft.lines if line.kind is not InvoiceLineKind.DISCOUNT]
    if draft.ar_account:
        keys.append(("Account", draft.ar_account))
    return list(dict.fromkeys(keys))


def invoice_currency_refs(draft: InvoiceDraft) -> list[RefKey]:
    """The names whose currency must be the invoice's: its customer, and the A/R account of a foreign one."""
    keys: list[RefKey] = [("Customer", draft.customer_name)]
    if draft.ar_account:
        keys.append(("Account", draft.ar_account))
    return keys


def invoice_payload(draft: InvoiceDraft, ids: dict[RefKey, str]) -> dict[str, Any]:
    """The QuickBooks Invoice for a draft, given the ids of the names it refers to. Each line's Amount is its
    Qty times its UnitPrice to the cent, as QuickBooks checks (6070); currency and rate only for a foreign one."""
    lines: list[dict[str, Any]] = []
    for line in (x for x in draft.lines if x.kind is not InvoiceLineKind.DISCOUNT):
        entry: dict[str, Any] = {
            "DetailType": "SalesItemLineDetail",
            "Amount": money(line.amount),
            "SalesItemLineDetail": {
                "ItemRef": {"value": ids[("Item", line.item_name)], "name": line.item_name},
                "Qty": money(line.quantity),
                "UnitPrice": money(line.rate),
            },
        }
        if line.description:
            entry["Description"] = line.description[:DESCRIPTION_MAX]
        lines.append(entry)
    lines += _discount_lines(draft)
    body: dict[str, Any] = {
        "CustomerRef": {"value": ids[("Customer", draft.customer_name)], "name": draft.customer_name},
        "TxnDate": draft.txn_date.isoformat(),
        "DocNumber": draft.doc_number,
        "PrivateNote": draft.memo[:PRIVATE_NOTE_MAX],
        "Line": lines,
    }
    if draft.currency:
        body["CurrencyRef"] = {"value": draft.currency}
        if draft.exchange_rate is not None:
            body["ExchangeRate"] = money(draft.exchange_rate)
    if draft.ar_account:
        body["ARAccountRef"] = {"value": ids[("Account", draft.ar_account)], "name": draft.ar_account}
    if draft.sales_order_id:  # the order's sales order (an Estimate): linked, QuickBooks closes it
        body["LinkedTxn"] = [{"TxnId": draft.sales_order_id, "TxnType": "Estimate"}]
    return body


def _discount_lines(draft: InvoiceDraft) -> list[dict[str, Any]]:
    """The order's discounts as one fixed-amount DiscountLineDetail line (QuickBooks Online takes one discount per
    transaction, its Amount positive and subtracted from the total); the discount account is the company's default."""
    discounts = [line for line in draft.lines if line.kind is InvoiceLineKind.DISCOUNT]
    if not discounts:
        return []
    entry: dict[str, Any] = {
        "DetailType": "DiscountLineDetail",
        "Amount": money(-sum((line.amount for line in discounts), Decimal(0))),
        "DiscountLineDetail": {"PercentBased": False},
    }
    description = ", ".join(line.description for line in discounts if line.description)
    if description:
        entry["Description"] = description[:DESCRIPTION_MAX]
    return [entry]


def _invoice_record(invoice: dict[str, Any]) -> InvoiceRecord:
    fields = transaction_fields(invoice, "CustomerRef")
    return InvoiceRecord(customer_id=fields.pop("party_id"), **fields)


class QuickBooksOnlineInvoiceGateway:
    """Sales invoices in QuickBooks Online, with customer and item names resolved to ids once and remembered (in
    the same cache as the bills' names): once they are known, a create is the only call."""

    def __init__(self, client: QuickBooksOnlineClient, ids: ReferenceIdCache) -> None:
        self.client = client
        self.ids = ids
        self.invoices = QuickBooksDocuments(client, ids, SALES_INVOICE)

    def create_invoice(self, access: QuickBooksAccess, draft: InvoiceDraft, request_id: str) -> InvoiceRecord:
        """Create the draft's invoice (one call when every name is already known)."""
        ids = self.invoices.resolve(access, invoice_refs(draft))
        if draft.sales_order_id and not self._linkable(access, draft.sales_order_id):
            draft = draft.model_copy(update={"sales_order_id": None})
        self.invoices.check_currencies(
            access, draft.currency or draft.company_currency, invoice_currency_refs(draft), ids
        )
        duplicate = DuplicateDocumentNumber(
            f"QuickBooks already has a sales invoice numbered {draft.doc_number} (6140).", draft.doc_number
        )
        return _invoice_record(self.invoices.create(access, invoice_payload(draft, ids), request_id, ids, duplicate))

    def _linkable(self, access: QuickBooksAccess, estimate_id: str) -> bool:
        """The order's Estimate is there and open (Pending or Accepted): a link to one deleted in QuickBooks would be
        refused (610) on every send, and QuickBooks drops a link to a Closed or Rejected one; such an invoice goes
        with its own lines, unlinked. One read, only for an order that has a sales order."""
        try:
            estimate = self.client.read(access, "Estimate", estimate_id)
        except QuickBooksFault as refused:
            if refused.fault_code == OBJECT_NOT_FOUND:
                return False
            raise
        return str(estimate.get("TxnStatus") or "Pending") in LINKABLE_ESTIMATES

    def find_invoices(self, access: QuickBooksAccess, doc_number: str) -> list[InvoiceRecord]:
        """Invoices numbered ``doc_number``, whichever customer they bill (one query)."""
        return [_invoice_record(row) for row in self.invoices.numbered(access, doc_number)]

    def read_invoice(self, access: QuickBooksAccess, invoice_id: str) -> InvoiceRecord | None:
        """``GET invoice/<id>``: the invoice and its SyncToken, or None when QuickBooks has it no more (610)."""
        found = self.invoices.read(access, invoice_id)
        return _invoice_record(found) if found is not None else None

    def delete_invoice(self, access: QuickBooksAccess, invoice_id: str, sync_token: str) -> None:
        """Delete the invoice; one QuickBooks no longer has (610) is already deleted."""
        self.invoices.delete(access, invoice_id, sync_token)
