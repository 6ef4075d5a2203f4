"""A fake QuickBooks Desktop company file: answers qbXML the way QuickBooks does, and keeps what it is given.

It answers VendorQuery, VendorAdd, BillQuery, BillAdd and InvoiceAdd with QuickBooks' own status codes:
0 (OK), 1 (a query matched nothing), 500 (a named object of a query is missing), 3070 (a string is too long),
3100 (a name is already in use), 3140 (an invalid reference to a vendor, item, account, class or customer) and
any code injected for a test (3180 "error when saving", 3200 "out of date edit sequence", ...). Like QuickBooks,
it allows two bills with the same RefNumber: a client must query before it adds. Where ``xsd_dir`` is given, a
request that does not validate against qbxmlops120.xsd is refused as QuickBooks refuses it (an HRESULT, no reply).
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xmlschema
from lxml import etree

if TYPE_CHECKING:
    from lxml.etree import _Element

PARSE_ERROR_HRESULT = "0x80040400"
PARSE_ERROR_MESSAGE = "QuickBooks found an error when parsing the provided XML text stream."
SEVERITY = {0: "Info", 1: "Info", 500: "Warn"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@dataclass
class FakeBill:
    txn_id: str
    vendor: str
    ref_number: str | None
    txn_date: str | None
    memo: str | None
    amount: Decimal
    lines: list[dict[str, str]] = field(default_factory=list)


@dataclass
class FakeInvoice:
    txn_id: str
    customer: str
    ref_number: str | None
    amount: Decimal


@dataclass(frozen=True)
class FakeReply:
    """What the Web Connector hands back to the web service: the response, or an HRESULT and its message."""

    response: str
    hresult: str = ""
    message: str = ""


@dataclass
class InjectedError:
    request: str
    status_code: int
    message: str
    ref_number: str | None = None
    times: int = 1


class FakeCompany:
    """One company file: lists (vendors, items, accounts, classes, customers) and the transactions added."""

    def __init__(
        self,
        *,
        vendors: list[str] | None = None,
        items: list[str] | None = None,
        accounts: list[str] | None = None,
        classes: list[str] | None = None,
        customers: list[str] | None = None,
        xsd_dir: Path | None = None,
    ) -> None:
        self.vendors: dict[str, str] = {}
        self.items = {name.casefold(): name for name in items or ["Fresh Cut Flowers"]}
        self.accounts = {name.casefold(): name for name in accounts or ["Freight", "Cost of Goods Sold"]}
        self.classes = {name.casefold(): name for name in classes or []}
        self.customers = {name.casefold(): name for name in customers or []}
        self.bills: list[FakeBill] = []
        self.invoices: list[FakeInvoice] = []
        self.requests_seen: list[str] = []
        self.injected: list[InjectedError] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._schema: Any = None
        if xsd_dir is not None:
            self._schema = qbxml_schema(str(xsd_dir / "qbxmlops120.xsd"))
        for name in vendors or []:
            self.vendors[name.casefold()] = name

    # ------------------------------------------------------------ test controls

    def inject_error(
        self, request: str, status_code: int, message: str, ref_number: str | None = None, times: int = 1
    ) -> None:
        """Make the next ``times`` requests of that type (for that RefNumber, if given) fail with this status."""
        self.injected.append(InjectedError(request, status_code, message, ref_number, times))

    def bills_with_ref(self, ref_number: str) -> list[FakeBill]:
        return [b for b in self.bills if (b.ref_number or "").casefold() == ref_number.casefold()]

    # ------------------------------------------------------------ qbXML

    def process(self, request: str) -> FakeReply:
        """Answer one qbXML request message, as QuickBooks answers the Web Connector."""
        with self._lock:
            self.requests_seen.append(request)
            if self._schema is not None and not self._schema.is_valid(request):
                return FakeReply("", PARSE_ERROR_HRESULT, PARSE_ERROR_MESSAGE)
            try:
                root = etree.fromstring(request.encode(), _PARSER)
            except etree.XMLSyntaxError:
                return FakeReply("", PARSE_ERROR_HRESULT, PARSE_ERROR_MESSAGE)
            msgs = root.find("QBXMLMsgsRq")
            if root.tag != "QBXML" or msgs is None:
                return FakeReply("", PARSE_ERROR_HRESULT, PARSE_ERROR_MESSAGE)
            on_error = msgs.get("onError", "stopOnError")
            out_root = etree.Element("QBXML")
            out = etree.SubElement(out_root, "QBXMLMsgsRs")
            for rq in msgs:
                if not isinstance(rq.tag, str):
                    continue
                rs = self._answer(rq)
                out.append(rs)
                if on_error != "continueOnError" and rs.get("statusSeverity") == "Error":
                    break
            body: bytes = etree.tostring(out_root, encoding="utf-8")
            return FakeReply('<?xml version="1.0" ?>\n' + body.decode())

    def _answer(self, rq: _Element) -> _Element:
        kind = str(rq.tag).removesuffix("Rq")
        rs = etree.Element(f"{kind}Rs")
        if rq.get("requestID") is not None:
            rs.set("requestID", rq.get("requestID", ""))
        injected = self._injected(kind, rq)
        if injected is not None:
            return _status(rs, injected.status_code, injected.message)
        handler = {
            "VendorQuery": self._vendor_query,
            "VendorAdd": self._vendor_add,
            "BillQuery": self._bill_query,
            "BillAdd": self._bill_add,
            "InvoiceAdd": self._invoice_add,
        }.get(kind)
        if handler is None:
            return _status(
                rs, 3250, f"This feature is not enabled or not available in this version of QuickBooks ({kind})."
            )
        return handler(rq, rs)

    def _injected(self, kind: str, rq: _Element) -> InjectedError | None:
        ref = rq.findtext(".//RefNumber")
        for error in self.injected:
            if error.request == kind and error.times > 0 and (error.ref_number is None or error.ref_number == ref):
                error.times -= 1
                return error
        return None

    def _vendor_query(self, rq: _Element, rs: _Element) -> _Element:
        names = [n.text or "" for n in rq.findall("FullName")]
        if names:
            for name in names:
                if name.casefold() not in self.vendors:
                    return _status(
                        rs,
                        500,
                        "The query request has not been fully completed. There was a required "
                        f'element ("{name}") that could not be found in QuickBooks.',
                    )
            found = [self.vendors[n.casefold()] for n in names]
        else:
            found = list(self.vendors.values())
        if not found:
            return _status(rs, 1, "A query request did not find a matching object in QuickBooks")
        for name in found:
            ret = etree.SubElement(rs, "VendorRet")
            _text(ret, "ListID", _list_id(name))
            _text(ret, "Name", name)
            _text(ret, "IsActive", "true")
        return _status(rs, 0, "Status OK")

    def _vendor_add(self, rq: _Element, rs: _Element) -> _Element:
        name = rq.findtext("VendorAdd/Name") or ""
        if len(name) > 41:
            return _status(rs, 3070, f'The string "{name}" in the field "Name" is too long.')
        if name.casefold() in self.vendors or name.casefold() in self.customers:
            return _status(rs, 3100, f'The name "{name}" of the list element is already in use.')
        self.vendors[name.casefold()] = name
        ret = etree.SubElement(rs, "VendorRet")
        _text(ret, "ListID", _list_id(name))
        _text(ret, "Name", name)
        return _status(rs, 0, "Status OK")

    def _bill_query(self, rq: _Element, rs: _Element) -> _Element:
        bills = list(self.bills)
        exact = [r.text or "" for r in rq.findall("RefNumber")]
        if exact:
            bills = [b for b in bills if (b.ref_number or "").casefold() in {r.casefold() for r in exact}]
        vendor_names = [n.text or "" for n in rq.findall("EntityFilter/FullName")]
        if vendor_names:
            wanted = {n.casefold() for n in vendor_names}
            bills = [b for b in bills if b.vendor.casefold() in wanted]
        ref_filter = rq.find("RefNumberFilter")
        if ref_filter is not None:
            criterion = ref_filter.findtext("MatchCriterion")
            value = (ref_filter.findtext("RefNumber") or "").casefold()
            test = {"StartsWith": str.startswith, "EndsWith": str.endswith}.get(criterion or "", str.__contains__)
            bills = [b for b in bills if test((b.ref_number or "").casefold(), value)]
        if not bills:
            return _status(rs, 1, "A query request did not find a matching object in QuickBooks")
        wanted_elements = {e.text for e in rq.findall("IncludeRetElement")}
        for bill in bills:
            rs.append(_bill_ret(bill, wanted_elements))
        return _status(rs, 0, "Status OK")

    def _bill_add(self, rq: _Element, rs: _Element) -> _Element:
        add = rq.find("BillAdd")
        if add is None:
            return _status(rs, 3120, "Object cannot be added: the request has no BillAdd.")
        vendor = add.findtext("VendorRef/FullName") or ""
        if vendor.casefold() not in self.vendors:
            return _invalid_reference(rs, "Vendor", vendor, "Bill")
        ref = add.findtext("RefNumber")
        if ref is not None and len(ref) > 20:
            return _status(rs, 3070, f'The string "{ref}" in the field "RefNumber" is too long.')
        lines: list[dict[str, str]] = []
        total = Decimal(0)
        for line in add:
            if line.tag not in ("ExpenseLineAdd", "ItemLineAdd"):
                continue
            ref_tag, known, label = (
                ("AccountRef", self.accounts, "Account")
                if line.tag == "ExpenseLineAdd"
                else ("ItemRef", self.items, "Item")
            )
            name = line.findtext(f"{ref_tag}/FullName") or ""
            if name.casefold() not in known:
                return _invalid_reference(rs, label, name, "Bill")
            class_name = line.findtext("ClassRef/FullName")
            if class_name is not None and class_name.casefold() not in self.classes:
                return _invalid_reference(rs, "Class", class_name, "Bill")
            amount = Decimal(line.findtext("Amount") or "0")
            total += amount
            lines.append(
                {
                    "kind": line.tag,
                    "ref": name,
                    "amount": str(amount),
                    "class": class_name or "",
                    "desc": line.findtext("Desc") or line.findtext("Memo") or "",
                }
            )
        bill = FakeBill(
            txn_id=self._txn_id(),
            vendor=self.vendors[vendor.casefold()],
            ref_number=ref,
            txn_date=add.findtext("TxnDate"),
            memo=add.findtext("Memo"),
            amount=total,
            lines=lines,
        )
        self.bills.append(bill)
        rs.append(_bill_ret(bill, {e.text for e in rq.findall("IncludeRetElement")}))
        return _status(rs, 0, "Status OK")

    def _invoice_add(self, rq: _Element, rs: _Element) -> _Element:
        add = rq.find("InvoiceAdd")
        if add is None:
            return _status(rs, 3120, "Object cannot be added: the request has no InvoiceAdd.")
        customer = add.findtext("CustomerRef/FullName") or ""
        if customer.casefold() not in self.customers:
            return _invalid_reference(rs, "Customer", customer, "Invoice")
        ref = add.findtext("RefNumber")
        if ref is not None and len(ref) > 11:
            return _status(rs, 3070, f'The string "{ref}" in the field "RefNumber" is too long.')
        total = Decimal(0)
        for line in add.findall("InvoiceLineAdd"):
            item = line.findtext("ItemRef/FullName")
            if item is not None and item.casefold() not in self.items:
                return _invalid_reference(rs, "Item", item, "Invoice")
            total += Decimal(line.findtext("Amount") or "0")
        invoice = FakeInvoice(self._txn_id(), self.customers[customer.casefold()], ref, total)
        self.invoices.append(invoice)
        ret = etree.SubElement(rs, "InvoiceRet")
        _text(ret, "TxnID", invoice.txn_id)
        if ref is not None:
            _text(ret, "RefNumber", ref)
        return _status(rs, 0, "Status OK")

    def _txn_id(self) -> str:
        return f"{next(self._ids):X}-{int(datetime.now(UTC).timestamp())}"


@lru_cache(maxsize=2)
def qbxml_schema(path: str) -> Any:
    """Intuit's request schema, loaded once per process (it takes seconds)."""
    return xmlschema.XMLSchema(path)


def _status(rs: _Element, code: int, message: str) -> _Element:
    rs.set("statusCode", str(code))
    rs.set("statusSeverity", SEVERITY.get(code, "Error"))
    rs.set("statusMessage", message)
    return rs


def _invalid_reference(rs: _Element, list_name: str, name: str, txn: str) -> _Element:
    return _status(
        rs,
        3140,
        f'There is an invalid reference to QuickBooks {list_name} "{name}" in the {txn}. '
        "QuickBooks error message: Invalid argument. The specified record does not exist in "
        "the list.",
    )


def _text(parent: _Element, tag: str, value: str) -> None:
    etree.SubElement(parent, tag).text = value


def _list_id(name: str) -> str:
    return f"80000{abs(hash(name.casefold())) % 10**6:06d}-1234567890"


def _bill_ret(bill: FakeBill, wanted: set[str | None]) -> _Element:
    """A BillRet in schema order, limited to IncludeRetElement when the request names some."""
    ret = etree.Element("BillRet")
    values: list[tuple[str, str | None]] = [
        ("TxnID", bill.txn_id),
        ("TimeCreated", "2024-01-01T00:00:00"),
        ("TimeModified", "2024-01-01T00:00:00"),
        ("EditSequence", "1"),
        ("VendorRef", bill.vendor),
        ("TxnDate", bill.txn_date),
        ("AmountDue", f"{bill.amount:.2f}"),
        ("RefNumber", bill.ref_number),
        ("Memo", bill.memo),
    ]
    for tag, value in values:
        if value is None or (wanted and tag not in wanted):
            continue
        if tag == "VendorRef":
            ref = etree.SubElement(ret, "VendorRef")
            _text(ref, "ListID", _list_id(value))
            _text(ref, "FullName", value)
        else:
            _text(ret, tag, value)
    return ret
