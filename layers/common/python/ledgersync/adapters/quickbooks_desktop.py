"""QuickBooks Desktop: the .qwc file, qbXML requests built with lxml and qbXML responses read back.

qbXML exists only here. Element order follows qbxmlops120.xsd (QuickBooks refuses a message whose elements are
out of order), every value goes through lxml so it is escaped, and responses are parsed without entities or DTDs.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from lxml import etree

from ledgersync.domain.desktop_sync import (
    OnError,
    Operation,
    OperationKind,
    OperationResult,
    QbRecord,
)
from ledgersync.domain.purchase_order_bills import BillDraft, BillLine, BillLineKind
from ledgersync.domain.sales_invoices import InvoiceDraft, InvoiceLineKind
from ledgersync.errors import FieldError, PermanentError, ValidationFailed
from ledgersync.money import to_cents

if TYPE_CHECKING:
    from lxml.etree import _Element

APP_NAME = "Ledgersync"
# The application's OwnerID: one GUID for Ledgersync, never changed (QuickBooks ties the app's data to it).
OWNER_ID = "{6B1E4C52-8F0A-4C3E-9D1B-2A7F5E3C9B14}"
# The namespace the FileID of each company is derived from (uuid5), so every download gives the same FileID.
FILE_ID_NAMESPACE = uuid.UUID("0b8f2a6e-5d43-4c1f-a9e2-7c3d1f6b8a50")
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1"})
EXCHANGE_RATE_SINCE = (8, 0)  # InvoiceAdd's and BillAdd's ExchangeRate came with qbXML 8.0 (multicurrency, 2009)
QUANTITY_PLACES = 5  # QUANTYPE and PRICETYPE: at most five decimals
SAFE_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_blank_text=True
)


# ---------------------------------------------------------------- the .qwc file


def file_id_for(company_id: str) -> str:
    """The FileID of a company: a GUID in braces derived from the company id, the same at every download."""
    return "{" + str(uuid.uuid5(FILE_ID_NAMESPACE, f"ledgersync-company:{company_id}")).upper() + "}"


def check_app_url(app_url: str) -> None:
    """The Web Connector accepts only https, except for localhost; raise ``ValidationFailed`` otherwise."""
    parts = urlsplit(app_url)
    host = (parts.hostname or "").lower()
    if not host:
        raise ValidationFailed(FieldError("appUrl", f"'{app_url}' is not an absolute URL"))
    if parts.scheme == "https" or (parts.scheme == "http" and host in LOCAL_HOSTS):
        return
    raise ValidationFailed(FieldError("appUrl", "the Web Connector needs an https AppURL (http only for localhost)"))


def support_url(app_url: str) -> str:
    """AppSupport: a page on the same host as AppURL (the Web Connector checks the domains match)."""
    return app_url.split("?", 1)[0] + "?support"


def render_qwc(company_id: str, company_name: str, user_name: str, app_url: str, run_every_minutes: int) -> bytes:
    """The .qwc file a company adds to its Web Connector (File > Update web services > Add an application)."""
    check_app_url(app_url)
    if not 1 <= run_every_minutes <= 10080:
        raise ValidationFailed(FieldError("runEveryNMinutes", "must be between 1 and 10080 minutes"))
    if not user_name.strip():
        raise ValidationFailed(FieldError("userName", "must not be empty"))
    root = etree.Element("QBWCXML")
    values = (
        ("AppName", f"{APP_NAME} ({company_name})" if company_name else APP_NAME),
        ("AppID", ""),
        ("AppURL", app_url),
        (
            "AppDescription",
            f"Sends the approved vendor invoices of {company_name or 'your company'} to QuickBooks as bills, "
            "and its shipped orders as invoices",
        ),
        ("AppSupport", support_url(app_url)),
        ("UserName", user_name),
        ("OwnerID", OWNER_ID),
        ("FileID", file_id_for(company_id)),
        ("QBType", "QBFS"),
    )
    for tag, text in values:
        etree.SubElement(root, tag).text = text
    scheduler = etree.SubElement(root, "Scheduler")
    etree.SubElement(scheduler, "RunEveryNMinutes").text = str(run_every_minutes)
    etree.SubElement(root, "IsReadOnly").text = "false"
    document: bytes = etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)
    return document


# ---------------------------------------------------------------- qbXML


def _amount(value: Decimal) -> str:
    return f"{to_cents(value):.2f}"


def _ref(parent: _Element, tag: str, full_name: str) -> None:
    etree.SubElement(etree.SubElement(parent, tag), "FullName").text = full_name


def _include(rq: _Element, *tags: str) -> None:
    """Ask QuickBooks to answer only these elements of each record (IncludeRetElement, in this order)."""
    for tag in tags:
        _text(rq, "IncludeRetElement", tag)


def _text(parent: _Element, tag: str, value: str) -> None:
    etree.SubElement(parent, tag).text = value


class QbxmlCodec:
    """Builds qbXML request messages and reads response messages (implements the domain's QbxmlMessages)."""

    def request(self, operations: Sequence[Operation], version: str, on_error: OnError) -> str:
        """One QBXML document holding every operation, in order, under the given qbXML version."""
        root = etree.Element("QBXML")
        msgs = etree.SubElement(root, "QBXMLMsgsRq", onError=on_error.value)
        spoken = _version(version)
        for op in operations:
            tag, builder = _BUILDERS[op.kind]
            builder(etree.SubElement(msgs, tag, requestID=op.request_id), op, spoken)
        body: bytes = etree.tostring(root, encoding="utf-8")
        # The prolog is written by hand: QuickBooks wants double quotes and the qbxml instruction before the root.
        return f'<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="{version}"?>\n{body.decode()}'

    def results(self, response: str) -> list[OperationResult]:
        """Every ``*Rs`` element of the response with its status and returned objects."""
        try:
            root = etree.fromstring(response.encode(), SAFE_PARSER)
        except etree.XMLSyntaxError as err:
            raise PermanentError(f"the qbXML response is not well-formed XML ({err})") from err
        msgs = root.find("QBXMLMsgsRs")
        if root.tag != "QBXML" or msgs is None:
            raise PermanentError("the qbXML response has no QBXML/QBXMLMsgsRs element")
        results: list[OperationResult] = []
        for rs in msgs:
            if not isinstance(rs.tag, str) or not rs.tag.endswith("Rs"):
                continue
            code = rs.get("statusCode", "")
            if not code.lstrip("-").isdigit():
                raise PermanentError(f"{rs.tag} has no numeric statusCode")
            records = [_edited_record(ret) for ret in rs if isinstance(ret.tag, str) and ret.tag.endswith("Ret")]
            results.append(
                OperationResult(
                    request_id=rs.get("requestID", ""),
                    status_code=int(code),
                    status_severity=rs.get("statusSeverity", ""),
                    status_message=rs.get("statusMessage", ""),
                    records=records,
                )
            )
        return results


def _record(ret: _Element) -> QbRecord:
    def text(path: str) -> str | None:
        """The element's text, or None when it is absent or blank (an empty ``<TxnID/>`` is no TxnID)."""
        found = ret.findtext(path)
        return found if found is not None and found.strip() else None

    return QbRecord(
        txn_id=text("TxnID"),
        list_id=text("ListID"),
        name=text("FullName") or text("Name"),
        ref_number=text("RefNumber"),
        vendor_name=text("VendorRef/FullName"),
        memo=text("Memo"),
        customer_name=text("CustomerRef/FullName"),
        amount=_read_decimal(text("AmountDue")),
        currency=text("CurrencyRef/FullName"),
        bill_lines=_bill_lines(ret),
    )


def _bill_lines(ret: _Element) -> tuple[BillLine, ...]:
    """A BillRet's expense and item lines in the draft's terms (names, not ids); none for other records."""
    lines: list[BillLine] = []
    for line in ret:
        if line.tag not in ("ExpenseLineRet", "ItemLineRet"):
            continue
        expense = line.tag == "ExpenseLineRet"
        amount = _read_decimal(line.findtext("Amount"))
        lines.append(
            BillLine(
                kind=BillLineKind.ACCOUNT if expense else BillLineKind.ITEM,
                ref_name=line.findtext("AccountRef/FullName" if expense else "ItemRef/FullName") or "",
                amount=amount if amount is not None else Decimal(0),
                description=line.findtext("Memo" if expense else "Desc") or None,
                class_name=line.findtext("ClassRef/FullName") or None,
            )
        )
    return tuple(lines)


def _read_decimal(value: str | None) -> Decimal | None:
    try:
        return Decimal(value) if value is not None else None
    except InvalidOperation:
        return None


def _vendor_query(rq: _Element, op: Operation, version: tuple[int, int]) -> None:
    _text(rq, "FullName", op.vendor_name)
    _include(rq, "ListID", "Name", "IsActive")
    if version >= EXCHANGE_RATE_SINCE:
        _include(rq, "CurrencyRef")  # the vendor's currency, which its bills must be in (multicurrency)


def _bill_query(rq: _Element, op: Operation, version: tuple[int, int]) -> None:
    entity = etree.SubElement(rq, "EntityFilter")
    _text(entity, "FullName", op.vendor_name)
    ref_filter = etree.SubElement(rq, "RefNumberFilter")
    _text(ref_filter, "MatchCriterion", "StartsWith")
    _text(ref_filter, "RefNumber", op.reference or "")
    _text(rq, "IncludeLineItems", "true")  # the lines, compared with ours before a bill is adopted
    # AmountDue: the bill's total; the line elements must be named too, or IncludeRetElement leaves them out
    _include(rq, "TxnID", "VendorRef", "RefNumber", "Memo", "AmountDue", "ExpenseLineRet", "ItemLineRet")


def _bill_add(rq: _Element, op: Operation, version: tuple[int, int]) -> None:
    bill: BillDraft | None = op.bill
    if bill is None:
        raise ValueError("a BillAdd operation needs its bill")
    add = etree.SubElement(rq, "BillAdd")
    _ref(add, "VendorRef", bill.vendor_name)
    if bill.ap_account:
        _ref(add, "APAccountRef", bill.ap_account)  # the A/P account of a foreign bill's currency
    _text(add, "TxnDate", bill.txn_date.isoformat())
    _text(add, "RefNumber", op.reference or bill.reference(20))
    _text(add, "Memo", bill.memo)
    if bill.exchange_rate is not None and version >= EXCHANGE_RATE_SINCE:
        # Home units per foreign unit, as QuickBooks Desktop keeps it; the currency is the vendor's own.
        _text(add, "ExchangeRate", f"{bill.exchange_rate:f}")
    for line in (x for x in bill.lines if x.kind is BillLineKind.ACCOUNT):
        expense = etree.SubElement(add, "ExpenseLineAdd")
        _ref(expense, "AccountRef", line.ref_name)
        _text(expense, "Amount", _amount(line.amount))
        if line.description:
            _text(expense, "Memo", line.description)
        if line.class_name:
            _ref(expense, "ClassRef", line.class_name)
    for line in (x for x in bill.lines if x.kind is BillLineKind.ITEM):
        item = etree.SubElement(add, "ItemLineAdd")
        _ref(item, "ItemRef", line.ref_name)
        if line.description:
            _text(item, "Desc", line.description)
        _text(item, "Amount", _amount(line.amount))
        if line.class_name:
            _ref(item, "ClassRef", line.class_name)
    _include(rq, "TxnID", "RefNumber", "VendorRef")


def _version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return (int(major), int(minor or 0)) if major.isdigit() and (minor or "0").isdigit() else (0, 0)


def _decimal(value: Decimal) -> str:
    """A QUANTYPE/PRICETYPE value: plain digits, at most five decimals (rounded half up), no trailing zeros."""
    text = f"{value.quantize(Decimal(1).scaleb(-QUANTITY_PLACES), rounding=ROUND_HALF_UP):f}"
    return text.rstrip("0").rstrip(".")


# ---------------------------------------------------------------- sales orders


SALES_ORDER_RETURNS = ("TxnID", "EditSequence", "CustomerRef", "RefNumber", "TotalAmount", "IsManuallyClosed")


def _sales_order_query(rq: _Element, op: Operation, version: tuple[int, int]) -> None:
    """By TxnID when it is known, else by RefNumber (as InvoiceQuery); with the invoices linked to it (one tells the
    order was invoiced) and, for a Mod, its lines. The EditSequence answered is the one a SalesOrderMod must name."""
    if op.txn_id:
        _text(rq, "TxnID", op.txn_id)
    else:
        _text(rq, "RefNumber", op.reference or "")
    if op.include_lines:
        _text(rq, "IncludeLineItems", "true")
    _text(rq, "IncludeLinkedTxns", "true")
    lines = ("SalesOrderLineRet",) if op.include_lines else ()
    _include(rq, *SALES_ORDER_RETURNS, "IsFullyInvoiced", "Memo", "LinkedTxn", *lines)


def _order_lines(parent: _Element, tag: str, draft: InvoiceDraft, *, new_line_ids: bool) -> None:
    """An order's lines, in an InvoiceAdd or a sales order's add or Mod; in a Mod each is a new line (TxnLineID -1),
    so the lines the order had and the Mod leaves out are removed: the Mod replaces them all. A discount item takes
    no quantity: its line's Amount is negative and lowers the total."""
    for line in draft.lines:
        item = etree.SubElement(parent, tag)
        if new_line_ids:
            _text(item, "TxnLineID", "-1")
        _ref(item, "ItemRef", line.item_name)
        if line.description:
            _text(item, "Desc", line.description)
        if line.kind is InvoiceLineKind.DISCOUNT:
            _text(item, "Amount", _amount(line.amount))
            continue
        _text(item, "Quantity", _decimal(line.quantity))
        _text(item, "Rate", _decimal(line.rate))
        _text(item, "Amount", _amount(line.amount))


def _sales_order_draft(op: Operation) -> InvoiceDraft:
    draft = op.sales_order
    if draft is None:
        raise ValueError(f"a {op.kind} operation needs its sales order")
    if not draft.lines:
        raise ValueError("a sales order needs at least one line (SalesOrderAdd refuses none)")
    return draft


def _sales_order_add(rq: _Element, op: Operation, version: tuple[int, int]) -> None:
    """SalesOrderAdd in schema order: customer, date, RefNumber, the memo naming the order and version, lines."""
    draft = _sales_order_draft(op)
    add = etree.SubElement(rq, "SalesOrderAdd")
    _ref(add, "CustomerRef", draft.customer_name)
    _text(add, "TxnDate", draft.txn_date.isoformat())
    _text(add, "RefNumber", op.reference or draft.ref_number)
    _text(add, "Memo", draft.memo)
    if draft.exchange_rate is not None and version >= EXCHANGE_RATE_SINCE:
        _text(add, "ExchangeRate", f"{draft.exchange_rate:f}")
    _order_lines(add, "SalesOrderLineAdd", draft, new_line_ids=False)
    _include(rq, *SALES_ORDER_RETURNS)


def _sales_order_mod(rq: _Element, op: Operation, version: tuple[int, int]) -> None:
    """SalesOrderMod of ``txn_id`` at ``edit_sequence``: the order as the draft has it now (every line replaced),
    and/or closed (IsManuallyClosed)."""
    if not op.txn_id or not op.edit_sequence:
        raise ValueError("a SalesOrderMod needs the TxnID and the EditSequence QuickBooks answered last")
    draft = _sales_order_draft(op) if op.sales_order is not None or not op.close else None
    mod = etree.SubElement(rq, "SalesOrderMod")
    _text(mod, "TxnID", op.txn_id)
    _text(mod, "EditSequence", op.edit_sequence)
    if draft is not None:
        _ref(mod, "CustomerRef", draft.customer_name)
        _text(mod, "TxnDate", draft.txn_date.isoformat())
        _text(mod, "RefNumber", op.reference or draft.ref_number)
    if op.close:
        _text(mod, "IsManuallyClosed", "true")
    if draft is not None:
        _text(mod, "Memo", draft.memo)
        if draft.exchange_rate is not None and version >= EXCHANGE_RATE_SINCE:
            _text(mod, "ExchangeRate", f"{draft.exchange_rate:f}")
        _order_lines(mod, "SalesOrderLineMod", draft, new_line_ids=True)
    _include(rq, *SALES_ORDER_RETURNS)


def _sales_order_invoice_add(rq: _Element, op: Operation, version: tuple[int, int]) -> None:
    """The InvoiceAdd of a shipped order that has a sales order: its header as ``_invoice_add`` writes it, then
    LinkToTxnID and no lines of its own. QuickBooks brings in every line of a LinkToTxnID sales order and marks it
    fully invoiced and closed; lines of our own would be on the invoice twice. So the sales order must hold the
    shipped version (a SalesOrderMod first when it does not)."""
    if not op.link_to_txn_id:
        raise ValueError("an InvoiceAdd of a sales order needs the sales order's TxnID")
    _invoice_add(rq, op, version)
    add = rq.find("InvoiceAdd")
    if add is None:  # pragma: no cover - _invoice_add always writes it
        raise ValueError("the InvoiceAdd was not built")
    for line in add.findall("InvoiceLineAdd"):
        add.remove(line)
    # After ExchangeRate, where the schema has it (the lines, SetCredit and ExternalGUID are not written).
    _text(add, "LinkToTxnID", op.link_to_txn_id)


def _edited_record(ret: _Element) -> QbRecord:
    """``_record`` and what a Mod or a link needs of a transaction: its EditSequence, whether it is closed (manually,
    or fully invoiced), the transactions linked to it (IncludeLinkedTxns) and its lines' TxnLineIDs."""
    record = _record(ret)
    return dataclasses.replace(
        record,
        total=_read_decimal(ret.findtext("TotalAmount")),
        edit_sequence=(ret.findtext("EditSequence") or "").strip() or None,
        is_manually_closed=_read_bool(ret.findtext("IsManuallyClosed")),
        is_fully_invoiced=_read_bool(ret.findtext("IsFullyInvoiced")),
        linked_txn_ids=tuple(t for t in (x.findtext("TxnID") for x in ret.findall("LinkedTxn")) if t),
        line_ids=tuple(
            t for t in (x.findtext("TxnLineID") for x in ret if str(x.tag).endswith("LineRet")) if t and t.strip()
        ),
    )


def _read_bool(value: str | None) -> bool | None:
    text = (value or "").strip().casefold()
    return True if text == "true" else False if text == "false" else None


def _invoice_query(rq: _Element, op: Operation, version: tuple[int, int]) -> None:
    """By RefNumber (QuickBooks matches it without regard to case); the memo tells which invoice is Ledgersync's."""
    _text(rq, "RefNumber", op.reference or "")
    _include(rq, "TxnID", "CustomerRef", "RefNumber", "Memo")


def _invoice_add(rq: _Element, op: Operation, version: tuple[int, int]) -> None:
    invoice: InvoiceDraft | None = op.invoice
    if invoice is None:
        raise ValueError("an InvoiceAdd operation needs its invoice")
    add = etree.SubElement(rq, "InvoiceAdd")
    _ref(add, "CustomerRef", invoice.customer_name)
    if invoice.ar_account:
        _ref(add, "ARAccountRef", invoice.ar_account)  # the A/R account of the invoice's currency
    _text(add, "TxnDate", invoice.txn_date.isoformat())
    _text(add, "RefNumber", op.reference or invoice.ref_number)
    _text(add, "Memo", invoice.memo)
    if invoice.exchange_rate is not None and version >= EXCHANGE_RATE_SINCE:
        # Home units per foreign unit, as QuickBooks Desktop keeps it; the currency is the customer's own.
        _text(add, "ExchangeRate", f"{invoice.exchange_rate:f}")
    _order_lines(add, "InvoiceLineAdd", invoice, new_line_ids=False)
    _include(rq, "TxnID", "RefNumber", "CustomerRef")


def _invoice_delete(rq: _Element, op: Operation, version: tuple[int, int]) -> None:
    if not op.txn_id:
        raise ValueError("a TxnDel operation needs the TxnID to delete")
    _text(rq, "TxnDelType", "Invoice")
    _text(rq, "TxnID", op.txn_id)


def _bill_delete(rq: _Element, op: Operation, version: tuple[int, int]) -> None:
    if not op.txn_id:
        raise ValueError("a TxnDel operation needs the TxnID to delete")
    _text(rq, "TxnDelType", "Bill")
    _text(rq, "TxnID", op.txn_id)


def _list_query(rq: _Element, op: Operation, version: tuple[int, int]) -> None:
    """A CustomerQuery or ItemQuery by FullName (QuickBooks matches it without regard to case)."""
    _text(rq, "FullName", op.reference or "")
    _include(rq, "ListID", "Name", "FullName")
    if rq.tag == "CustomerQueryRq" and version >= EXCHANGE_RATE_SINCE:
        _include(rq, "CurrencyRef")  # the customer's currency, which its invoices must be in (multicurrency)


def _customer_add(rq: _Element, op: Operation, version: tuple[int, int]) -> None:
    add = etree.SubElement(rq, "CustomerAdd")
    _text(add, "Name", op.reference or "")
    _include(rq, "ListID", "Name", "FullName")


def _item_non_inventory_add(rq: _Element, op: Operation, version: tuple[int, int]) -> None:
    """A NonInventory item sold on the income account (SalesOrPurchase: one account, no purchase side)."""
    if not op.account_name:
        raise ValueError("an ItemNonInventoryAdd operation needs its income account")
    add = etree.SubElement(rq, "ItemNonInventoryAdd")
    _text(add, "Name", op.reference or "")
    sales = etree.SubElement(add, "SalesOrPurchase")
    _ref(sales, "AccountRef", op.account_name)
    _include(rq, "ListID", "Name", "FullName")


Builder = Callable[["_Element", Operation, tuple[int, int]], None]
_BUILDERS: dict[OperationKind, tuple[str, Builder]] = {
    OperationKind.VENDOR_QUERY: ("VendorQueryRq", _vendor_query),
    OperationKind.BILL_QUERY: ("BillQueryRq", _bill_query),
    OperationKind.BILL_ADD: ("BillAddRq", _bill_add),
    OperationKind.SALES_ORDER_QUERY: ("SalesOrderQueryRq", _sales_order_query),
    OperationKind.SALES_ORDER_ADD: ("SalesOrderAddRq", _sales_order_add),
    OperationKind.SALES_ORDER_MOD: ("SalesOrderModRq", _sales_order_mod),
    OperationKind.SALES_ORDER_INVOICE_ADD: ("InvoiceAddRq", _sales_order_invoice_add),
    OperationKind.INVOICE_QUERY: ("InvoiceQueryRq", _invoice_query),
    OperationKind.INVOICE_ADD: ("InvoiceAddRq", _invoice_add),
    OperationKind.INVOICE_DELETE: ("TxnDelRq", _invoice_delete),
    OperationKind.BILL_DELETE: ("TxnDelRq", _bill_delete),
    OperationKind.CUSTOMER_QUERY: ("CustomerQueryRq", _list_query),
    OperationKind.CUSTOMER_ADD: ("CustomerAddRq", _customer_add),
    OperationKind.ITEM_QUERY: ("ItemQueryRq", _list_query),
    OperationKind.ITEM_NON_INVENTORY_ADD: ("ItemNonInventoryAddRq", _item_non_inventory_add),
}
