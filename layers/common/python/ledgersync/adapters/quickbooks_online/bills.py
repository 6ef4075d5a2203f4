"""Bills in QuickBooks Online: the bill payload of a draft, the names it refers to and the gateway."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ledgersync.adapters.quickbooks_online.client import QuickBooksOnlineClient
from ledgersync.adapters.quickbooks_online.documents import (
    DESCRIPTION_MAX,
    PRIVATE_NOTE_MAX,
    DocumentKind,
    QuickBooksDocuments,
    RefKey,
    money,
    quote,
    transaction_fields,
)
from ledgersync.adapters.quickbooks_online.references import ReferenceIdCache
from ledgersync.domain.purchase_order_bills import AccountingBill, BillDraft, BillLine, BillLineKind
from ledgersync.domain.quickbooks_online import (
    DOC_NUMBER_MAX,
    BillRecord,
    DuplicateDocumentNumber,
    QuickBooksAccess,
)

__all__ = ["BILL", "QuickBooksOnlineGateway", "bill_payload", "bill_refs", "quote"]

BILL = DocumentKind(
    entity="Bill",
    noun="bill",
    references="its vendor, items, accounts and classes",
    missing_advice={
        "Vendor": "The vendor's Accounting Name in Ledgersync must be exactly its Display Name in QuickBooks; "
        "correct one of them, then send again.",
        "Item": "Create the item '{name}' in QuickBooks (Sales > Products and services) or choose another "
        "bill item in Ledgersync's QuickBooks settings, then send again.",
        "Account": "Create the account '{name}' in QuickBooks' chart of accounts or map the charge to an "
        "existing account in Ledgersync's QuickBooks settings (for the A/P account of a foreign vendor's bill: "
        "apAccountByCurrency), then send again.",
        "Class": "Create the class '{name}' in QuickBooks (with class tracking on) or change the class "
        "mapping in Ledgersync's QuickBooks settings, then send again.",
    },
    currency_advice={
        "Vendor": "A vendor's currency cannot change in QuickBooks: set the vendor's currency in Ledgersync to "
        "{theirs} (PUT /v1/directory/vendors), or make a vendor in {ours} in QuickBooks and set the vendor's "
        "accountingName to its name, then send again.",
        "Account": "Map {ours} to an A/P account in {ours} (PUT /v1/accounting/settings apAccountByCurrency), "
        "creating it in QuickBooks' chart of accounts if need be, then send again.",
    },
)


def bill_refs(draft: BillDraft) -> list[RefKey]:
    """Every (entity, name) a draft's bill refers to, vendor first, without repeats."""
    keys: list[RefKey] = [("Vendor", draft.vendor_name)]
    for line in draft.lines:
        keys.append(("Item" if line.kind is BillLineKind.ITEM else "Account", line.ref_name))
        if line.class_name:
            keys.append(("Class", line.class_name))
    if draft.ap_account:
        keys.append(("Account", draft.ap_account))
    return list(dict.fromkeys(keys))


def currency_refs(draft: BillDraft) -> list[RefKey]:
    """The names whose currency must be the bill's: its vendor, and the A/P account of a foreign one."""
    keys: list[RefKey] = [("Vendor", draft.vendor_name)]
    if draft.ap_account:
        keys.append(("Account", draft.ap_account))
    return keys


def bill_payload(draft: BillDraft, ids: dict[RefKey, str]) -> dict[str, Any]:
    """The QuickBooks Bill for a draft, given the ids of the names it refers to."""
    lines: list[dict[str, Any]] = []
    for line in draft.lines:
        if line.kind is BillLineKind.ITEM:
            detail_type = "ItemBasedExpenseLineDetail"
            detail: dict[str, Any] = {
                "ItemRef": {"value": ids[("Item", line.ref_name)], "name": line.ref_name},
                "Qty": 1,
                "UnitPrice": money(line.amount),
            }
        else:
            detail_type = "AccountBasedExpenseLineDetail"
            detail = {"AccountRef": {"value": ids[("Account", line.ref_name)], "name": line.ref_name}}
        if line.class_name:
            detail["ClassRef"] = {"value": ids[("Class", line.class_name)], "name": line.class_name}
        entry: dict[str, Any] = {"DetailType": detail_type, "Amount": money(line.amount), detail_type: detail}
        if line.description:
            entry["Description"] = line.description[:DESCRIPTION_MAX]
        lines.append(entry)
    body: dict[str, Any] = {
        "VendorRef": {"value": ids[("Vendor", draft.vendor_name)], "name": draft.vendor_name},
        "TxnDate": draft.txn_date.isoformat(),
        "DocNumber": draft.reference(DOC_NUMBER_MAX),
        "PrivateNote": draft.memo[:PRIVATE_NOTE_MAX],
        "Line": lines,
    }
    if draft.currency:
        body["CurrencyRef"] = {"value": draft.currency}
        if draft.exchange_rate is not None:
            body["ExchangeRate"] = money(draft.exchange_rate)  # home units per foreign unit, as QuickBooks keeps it
    if draft.ap_account:
        body["APAccountRef"] = {"value": ids[("Account", draft.ap_account)], "name": draft.ap_account}
    return body


def _ref_name(ref: dict[str, Any] | None) -> str:
    """The name a reference carries (QuickBooks answers refs with their names), else its id."""
    ref = ref or {}
    return str(ref.get("name") or ref.get("value") or "")


def sum_of(lines: list[BillLine]) -> Decimal:
    return sum((line.amount for line in lines), Decimal(0))


def accounting_bill(bill: dict[str, Any]) -> AccountingBill:
    """A QuickBooks Bill in the draft's terms (names, item and account lines), for send again's comparison."""
    lines: list[BillLine] = []
    for line in bill.get("Line") or []:
        detail_type = line.get("DetailType")
        detail = line.get(detail_type) or {}
        if detail_type == "ItemBasedExpenseLineDetail":
            kind, ref = BillLineKind.ITEM, detail.get("ItemRef")
        elif detail_type == "AccountBasedExpenseLineDetail":
            kind, ref = BillLineKind.ACCOUNT, detail.get("AccountRef")
        else:
            continue  # a subtotal or a description-only line carries no amount of its own
        lines.append(
            BillLine(
                kind=kind,
                ref_name=_ref_name(ref),
                amount=Decimal(str(line.get("Amount") or 0)),
                description=line.get("Description"),
                class_name=_ref_name(detail.get("ClassRef")) or None,
            )
        )
    return AccountingBill(
        external_id=str(bill["Id"]),
        sync_token=str(bill.get("SyncToken") or "0"),
        doc_number=bill.get("DocNumber"),
        vendor_name=_ref_name(bill.get("VendorRef")),
        lines=lines,
        # QuickBooks computes TotalAmt from the lines; a record without one is read by its lines
        total=Decimal(str(bill["TotalAmt"])) if bill.get("TotalAmt") is not None else sum_of(lines),
    )


def _bill_record(bill: dict[str, Any]) -> BillRecord:
    fields = transaction_fields(bill, "VendorRef")
    return BillRecord(vendor_id=fields.pop("party_id"), **fields)


class QuickBooksOnlineGateway:
    """Bills in QuickBooks Online, with names resolved to ids once and remembered."""

    def __init__(self, client: QuickBooksOnlineClient, ids: ReferenceIdCache) -> None:
        self.client = client
        self.ids = ids
        self.bills = QuickBooksDocuments(client, ids, BILL)

    def create_bill(self, access: QuickBooksAccess, draft: BillDraft, request_id: str) -> BillRecord:
        """Create the draft's bill (one call when every name is already known)."""
        ids = self.bills.resolve(access, bill_refs(draft))
        self.bills.check_currencies(access, draft.document_currency, currency_refs(draft), ids)
        number = draft.reference(DOC_NUMBER_MAX)
        duplicate = DuplicateDocumentNumber(
            f"QuickBooks already has a bill numbered {number} for vendor '{draft.vendor_name}' (6140).", number
        )
        return _bill_record(self.bills.create(access, bill_payload(draft, ids), request_id, ids, duplicate))

    def find_bills(self, access: QuickBooksAccess, draft: BillDraft) -> list[BillRecord]:
        """Bills of the draft's vendor numbered like the draft."""
        vendor_id = self.bills.resolve(access, [("Vendor", draft.vendor_name)])[("Vendor", draft.vendor_name)]
        rows = self.bills.numbered(access, draft.reference(DOC_NUMBER_MAX))
        return [record for record in map(_bill_record, rows) if record.vendor_id == vendor_id]

    def numbered_bills(self, access: QuickBooksAccess, draft: BillDraft) -> list[AccountingBill]:
        """Every bill numbered like the draft, whatever its vendor (one query)."""
        return [accounting_bill(row) for row in self.bills.numbered(access, draft.reference(DOC_NUMBER_MAX))]

    def read_bill(self, access: QuickBooksAccess, bill_id: str) -> BillRecord | None:
        """``GET bill/<id>``: the bill and its SyncToken, or None when QuickBooks has it no more (610)."""
        found = self.bills.read(access, bill_id)
        return _bill_record(found) if found is not None else None

    def delete_bill(self, access: QuickBooksAccess, bill_id: str, sync_token: str) -> None:
        """Delete the bill; one QuickBooks no longer has (610) is already deleted."""
        self.bills.delete(access, bill_id, sync_token)
