"""A fake QuickBooks Desktop company file: answers qbXML the way QuickBooks does, and keeps what it is given.

It answers VendorQuery, VendorAdd, BillQuery, BillAdd, InvoiceAdd, InvoiceQuery, TxnDel, CustomerQuery, CustomerAdd,
ItemQuery and ItemNonInventoryAdd with QuickBooks' own
status codes: 0 (OK), 1 (a query matched nothing), 500 (a named object of a query is missing), 3070 (a string is
too long), 3100 (a name is already in use), 3120 (the object of a delete cannot be found), 3140 (an invalid
reference to a vendor, item, account, class or customer) and any code injected for a test (3180 "error when
saving", 3200 "out of date edit sequence", ...). Like QuickBooks through the SDK, it allows two bills or two
invoices with the same RefNumber (the "warn about duplicate numbers" preference only warns a person at the
keyboard): a client must query before it adds. Where ``xsd_dir`` is given, a request that does not validate
against qbxmlops120.xsd is refused as QuickBooks refuses it (an HRESULT, no reply). With ``currencies`` it keeps
multicurrency: vendors, customers and accounts each in one currency, answered as CurrencyRef by the currency's
name; an A/P or A/R account outside the home and the transaction's currency is QuickBooks' 3140 ("The currency of
the account must be either in home currency or the transaction currency.").
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import xmlschema
from lxml import etree

from ledgersync.currencies import desktop_currency_name

if TYPE_CHECKING:
    from lxml.etree import _Element

PARSE_ERROR_HRESULT = "0x80040400"
PARSE_ERROR_MESSAGE = "QuickBooks found an error when parsing the provided XML text stream."
SEVERITY = {0: "Info", 1: "Info", 500: "Warn", 570: "Warn"}
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
    ap_account: str | None = None
    exchange_rate: str | None = None


@dataclass
class FakeInvoice:
    txn_id: str
    customer: str
    ref_number: str | None
    amount: Decimal
    txn_date: str | None = None
    linked: list[dict[str, str]] = field(default_factory=list)  # the sales orders it invoiced (LinkToTxnID)
    memo: str | None = None
    edit_sequence: str = "1"
    exchange_rate: str | None = None
    lines: list[dict[str, str]] = field(default_factory=list)
    ar_account: str | None = None


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


@dataclass
class FakeSalesOrder:
    """A sales order: non-posting, changed by SalesOrderMod at its EditSequence, closed by hand (IsManuallyClosed) or
    by the InvoiceAdd that links it whole (LinkToTxnID: then fully invoiced).

    The company answers SalesOrderAdd, SalesOrderQuery and SalesOrderMod (and TxnDel SalesOrder) with QuickBooks'
    codes: 3200 for a Mod at an EditSequence that is no longer the order's, 3120 for an unknown TxnID or TxnLineID
    (and for a LinkToTxnID naming no sales order), 570 (a warning) for a LinkToTxnID naming a closed one, and 3250
    when the edition has no sales orders (QuickBooks Pro, or the preference off: ``sales_orders_enabled``)."""

    txn_id: str
    customer: str
    ref_number: str | None
    amount: Decimal
    edit_sequence: str
    txn_date: str | None = None
    memo: str | None = None
    exchange_rate: str | None = None
    is_manually_closed: bool = False
    is_fully_invoiced: bool = False
    lines: list[dict[str, str]] = field(default_factory=list)  # each with its TxnLineID ("id") and "invoiced"
    linked: list[dict[str, str]] = field(default_factory=list)  # the invoices that link it

    @property
    def is_closed(self) -> bool:
        return self.is_manually_closed or self.is_fully_invoiced


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
        sales_orders_enabled: bool = True,
        xsd_dir: Path | None = None,
        currencies: dict[str, str] | None = None,
        home_currency: str = "USD",
    ) -> None:
        """``currencies`` turns multicurrency on: the ISO code of each vendor, customer or account named in it (the
        others are in ``home_currency``); QuickBooks answers a currency by its name in the Currency List."""
        self.vendors: dict[str, str] = {}
        self.items = {name.casefold(): name for name in items or ["Fresh Cut Flowers"]}
        self.accounts = {name.casefold(): name for name in accounts or ["Freight", "Cost of Goods Sold"]}
        self.classes = {name.casefold(): name for name in classes or []}
        self.customers = {name.casefold(): name for name in customers or []}
        self.bills: list[FakeBill] = []
        self.invoices: list[FakeInvoice] = []
        # Sales orders come with QuickBooks Premier and Enterprise (Preferences > Sales & Customers); Pro has none.
        self.sales_orders_enabled = sales_orders_enabled
        self.sales_orders: list[FakeSalesOrder] = []
        self.deleted_txn_ids: list[str] = []
        self.item_accounts: dict[str, str] = {}  # the income account of each item added through qbXML
        self.requests_seen: list[str] = []
        self.injected: list[InjectedError] = []
        self._next_id = 1
        self._lock = threading.Lock()
        self._schema: Any = None
        if xsd_dir is not None:
            self._schema = qbxml_schema(str(xsd_dir / "qbxmlops120.xsd"))
        for name in vendors or []:
            self.vendors[name.casefold()] = name
        self.currencies = {name.casefold(): code for name, code in (currencies or {}).items()}
        self.home_currency = home_currency

    # ------------------------------------------------------------ test controls

    def inject_error(
        self, request: str, status_code: int, message: str, ref_number: str | None = None, times: int = 1
    ) -> None:
        """Make the next ``times`` requests of that type (for that RefNumber, if given) fail with this status."""
        self.injected.append(InjectedError(request, status_code, message, ref_number, times))

    def snapshot(self) -> dict[str, Any]:
        """Everything the company file holds, as JSON-ready data (the simulator keeps it between sessions)."""
        with self._lock:
            return {
                "vendors": list(self.vendors.values()),
                "items": list(self.items.values()),
                "accounts": list(self.accounts.values()),
                "classes": list(self.classes.values()),
                "customers": list(self.customers.values()),
                "currencies": dict(self.currencies),
                "homeCurrency": self.home_currency,
                "bills": [asdict(bill) | {"amount": str(bill.amount)} for bill in self.bills],
                "invoices": [asdict(invoice) | {"amount": str(invoice.amount)} for invoice in self.invoices],
                "salesOrdersEnabled": self.sales_orders_enabled,
                "salesOrders": [asdict(order) | {"amount": str(order.amount)} for order in self.sales_orders],
                "deletedTxnIds": list(self.deleted_txn_ids),
                "nextId": self._next_id,
            }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any], *, xsd_dir: Path | None = None) -> FakeCompany:
        """The company file a ``snapshot`` describes."""
        company = cls(
            vendors=data.get("vendors", []),
            items=data.get("items"),
            accounts=data.get("accounts"),
            classes=data.get("classes", []),
            customers=data.get("customers", []),
            sales_orders_enabled=bool(data.get("salesOrdersEnabled", True)),
            xsd_dir=xsd_dir,
            currencies=data.get("currencies") or None,
            home_currency=data.get("homeCurrency", "USD"),
        )
        company.bills = [FakeBill(**(b | {"amount": Decimal(b["amount"])})) for b in data.get("bills", [])]
        company.invoices = [FakeInvoice(**(i | {"amount": Decimal(i["amount"])})) for i in data.get("invoices", [])]
        company.sales_orders = [
            FakeSalesOrder(**(o | {"amount": Decimal(o["amount"])})) for o in data.get("salesOrders", [])
        ]
        company.deleted_txn_ids = list(data.get("deletedTxnIds", []))
        company._next_id = int(data.get("nextId", 1))
        return company

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
            "InvoiceQuery": self._invoice_query,
            "SalesOrderAdd": self._sales_order_add,
            "SalesOrderQuery": self._sales_order_query,
            "SalesOrderMod": self._sales_order_mod,
            "TxnDel": self._txn_del,
            "CustomerQuery": self._customer_query,
            "CustomerAdd": self._customer_add,
            "ItemQuery": self._item_query,
            "ItemNonInventoryAdd": self._item_non_inventory_add,
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
            self._currency_ref(ret, name, _wanted(rq))
        return _status(rs, 0, "Status OK")

    # ------------------------------------------------------------ currencies (multicurrency)

    @property
    def multicurrency(self) -> bool:
        return bool(self.currencies)

    def currency_of(self, name: str) -> str:
        """The ISO code of a vendor's, customer's or account's currency (the home one unless set)."""
        return self.currencies.get(name.casefold(), self.home_currency)

    def _currency_ref(self, ret: _Element, name: str, wanted: set[str | None]) -> None:
        """A list element's CurrencyRef (by the currency's name, as QuickBooks answers it), with multicurrency on."""
        if self.multicurrency and (not wanted or "CurrencyRef" in wanted):
            currency = etree.SubElement(ret, "CurrencyRef")
            _text(currency, "FullName", desktop_currency_name(self.currency_of(name)))

    def _control_account(self, rs: _Element, add: _Element, tag: str, party: str, txn: str) -> _Element | None:
        """The A/P (bill) or A/R (invoice) account a transaction names: one the company has, in the home currency
        or the transaction's (its vendor's or customer's), else QuickBooks' 3140 in its own words."""
        name = add.findtext(f"{tag}/FullName")
        if name is None:
            return None
        label = "AP Account" if tag == "APAccountRef" else "AR Account"
        if name.casefold() not in self.accounts:
            return _invalid_reference(rs, label, name, txn)
        if self.multicurrency and self.currency_of(name) not in {self.home_currency, self.currency_of(party)}:
            return _status(
                rs,
                3140,
                f'There is an invalid reference to QuickBooks {label} "{name}" in the {txn}. QuickBooks error '
                "message: The currency of the account must be either in home currency or the transaction currency.",
            )
        return None

    def _vendor_add(self, rq: _Element, rs: _Element) -> _Element:
        name = rq.findtext("VendorAdd/Name") or ""
        if len(name) > 41:
            return _too_long(rs, "Name", name)
        if name.casefold() in self.vendors or name.casefold() in self.customers:
            return _status(rs, 3100, f'The name "{name}" of the list element is already in use.')
        self.vendors[name.casefold()] = name
        ret = etree.SubElement(rs, "VendorRet")
        _text(ret, "ListID", _list_id(name))
        _text(ret, "Name", name)
        return _status(rs, 0, "Status OK")

    def _customer_query(self, rq: _Element, rs: _Element) -> _Element:
        answered = _list_query(rq, rs, self.customers, "CustomerRet")
        for ret in answered.findall("CustomerRet"):  # with multicurrency, each customer's currency (issue 12)
            self._currency_ref(ret, ret.findtext("Name") or "", _wanted(rq))
        return answered

    def _item_query(self, rq: _Element, rs: _Element) -> _Element:
        """Items of every type, by FullName (the fake keeps no item types: each answers as an ItemNonInventoryRet)."""
        return _list_query(rq, rs, self.items, "ItemNonInventoryRet")

    def _customer_add(self, rq: _Element, rs: _Element) -> _Element:
        name = rq.findtext("CustomerAdd/Name") or ""
        if len(name) > 41:
            return _too_long(rs, "Name", name)
        if name.casefold() in self.customers or name.casefold() in self.vendors:
            return _status(rs, 3100, f'The name "{name}" of the list element is already in use.')
        self.customers[name.casefold()] = name
        rs.append(_list_ret("CustomerRet", name))
        return _status(rs, 0, "Status OK")

    def _item_non_inventory_add(self, rq: _Element, rs: _Element) -> _Element:
        """A NonInventory item; its SalesOrPurchase AccountRef must be an account of the file (else 3140)."""
        name = rq.findtext("ItemNonInventoryAdd/Name") or ""
        if len(name) > 31:
            return _too_long(rs, "Name", name)
        if name.casefold() in self.items:
            return _status(rs, 3100, f'The name "{name}" of the list element is already in use.')
        account = rq.findtext("ItemNonInventoryAdd/SalesOrPurchase/AccountRef/FullName") or ""
        if account.casefold() not in self.accounts:
            return _invalid_reference(rs, "Account", account, "Item")
        self.items[name.casefold()] = name
        self.item_accounts[name.casefold()] = self.accounts[account.casefold()]
        rs.append(_list_ret("ItemNonInventoryRet", name))
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
        bills = _ref_number_filtered(bills, rq.find("RefNumberFilter"))
        if not bills:
            return _status(rs, 1, "A query request did not find a matching object in QuickBooks")
        wanted_elements = _wanted(rq)
        with_lines = rq.findtext("IncludeLineItems") == "true"
        for bill in bills:
            rs.append(_bill_ret(bill, wanted_elements, with_lines=with_lines))
        return _status(rs, 0, "Status OK")

    def _bill_add(self, rq: _Element, rs: _Element) -> _Element:
        add = rq.find("BillAdd")
        if add is None:
            return _status(rs, 3120, "Object cannot be added: the request has no BillAdd.")
        vendor = add.findtext("VendorRef/FullName") or ""
        if vendor.casefold() not in self.vendors:
            return _invalid_reference(rs, "Vendor", vendor, "Bill")
        refused = self._control_account(rs, add, "APAccountRef", vendor, "Bill")
        if refused is not None:
            return refused
        ref = add.findtext("RefNumber")
        if ref is not None and len(ref) > 20:
            return _too_long(rs, "RefNumber", ref)
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
            ap_account=add.findtext("APAccountRef/FullName"),
            exchange_rate=add.findtext("ExchangeRate"),
        )
        self.bills.append(bill)
        rs.append(_bill_ret(bill, _wanted(rq)))
        return _status(rs, 0, "Status OK")

    def _invoice_add(self, rq: _Element, rs: _Element) -> _Element:
        add = rq.find("InvoiceAdd")
        if add is None:
            return _status(rs, 3120, "Object cannot be added: the request has no InvoiceAdd.")
        customer = add.findtext("CustomerRef/FullName") or ""
        if customer.casefold() not in self.customers:
            return _invalid_reference(rs, "Customer", customer, "Invoice")
        refused = self._control_account(rs, add, "ARAccountRef", customer, "Invoice")
        if refused is not None:
            return refused
        ref = add.findtext("RefNumber")
        if ref is not None and len(ref) > 11:
            return _too_long(rs, "RefNumber", ref)
        total = Decimal(0)
        lines: list[dict[str, str]] = []
        for line in add.findall("InvoiceLineAdd"):
            item = line.findtext("ItemRef/FullName")
            if item is not None and item.casefold() not in self.items:
                return _invalid_reference(rs, "Item", item, "Invoice")
            quantity, rate = line.findtext("Quantity"), line.findtext("Rate")
            given = line.findtext("Amount")
            if given is not None:
                amount = Decimal(given)
            elif quantity is not None and rate is not None:  # QuickBooks computes it, as on the form
                amount = (Decimal(quantity) * Decimal(rate)).quantize(Decimal("0.01"))
            else:
                amount = Decimal(rate or "0")
            total += amount
            lines.append(
                {
                    "item": self.items[item.casefold()] if item is not None else "",
                    "desc": line.findtext("Desc") or "",
                    "quantity": quantity or "",
                    "rate": rate or "",
                    "amount": f"{amount:.2f}",
                }
            )
        orders, refusal = self._orders_to_link(rs, [t.text or "" for t in add.findall("LinkToTxnID")], bool(lines))
        if refusal is not None:
            return refusal
        # QuickBooks brings in every line of a sales order linked whole (before the invoice's own lines, if any).
        brought = [
            {key: line[key] for key in ("item", "desc", "quantity", "rate", "amount")}
            for order in orders
            for line in order.lines
        ]
        lines[:0] = brought
        total += sum((order.amount for order in orders), Decimal(0))
        invoice = FakeInvoice(
            txn_id=self._txn_id(),
            customer=self.customers[customer.casefold()],
            ref_number=ref,
            amount=total,
            txn_date=add.findtext("TxnDate") or datetime.now(UTC).date().isoformat(),
            memo=add.findtext("Memo"),
            edit_sequence=str(int(datetime.now(UTC).timestamp())),
            exchange_rate=add.findtext("ExchangeRate"),
            lines=lines,
            ar_account=add.findtext("ARAccountRef/FullName"),
        )
        self.invoices.append(invoice)
        for order in orders:
            self._invoice_whole(order, invoice)
        rs.append(_invoice_ret(invoice, _wanted(rq), with_lines=True, with_links=True))
        if rs.get("statusCode") is not None:  # a warning from _orders_to_link (570: that order was already closed)
            return rs
        return _status(rs, 0, "Status OK")

    def invoices_with_ref(self, ref_number: str) -> list[FakeInvoice]:
        return [i for i in self.invoices if (i.ref_number or "").casefold() == ref_number.casefold()]

    def _invoice_query(self, rq: _Element, rs: _Element) -> _Element:
        """By TxnID (a missing one answers 500, as a named object), by RefNumber (case-insensitive, or
        RefNumberCaseSensitive), or by InvoiceFilter's EntityFilter and RefNumberFilter; no match answers 1."""
        txn_ids = [t.text or "" for t in rq.findall("TxnID")]
        if txn_ids:
            by_id = {i.txn_id: i for i in self.invoices}
            for txn_id in txn_ids:
                if txn_id not in by_id:
                    return _status(
                        rs,
                        500,
                        "The query request has not been fully completed. There was a required "
                        f'element ("{txn_id}") that could not be found in QuickBooks.',
                    )
            invoices = [by_id[t] for t in txn_ids]
        else:
            invoices = list(self.invoices)
        invoices = _referenced(invoices, rq, "InvoiceFilter/")
        if not invoices:
            return _status(rs, 1, "A query request did not find a matching object in QuickBooks")
        wanted_elements = _wanted(rq)
        with_lines = rq.findtext("IncludeLineItems") == "true"
        with_links = rq.findtext("IncludeLinkedTxns") == "true"
        for invoice in invoices:
            rs.append(_invoice_ret(invoice, wanted_elements, with_lines=with_lines, with_links=with_links))
        return _status(rs, 0, "Status OK")

    def _txn_del(self, rq: _Element, rs: _Element) -> _Element:
        """TxnDel of an invoice or a bill by TxnID; an unknown (or already deleted) TxnID answers 3120."""
        txn_type = rq.findtext("TxnDelType") or ""
        txn_id = rq.findtext("TxnID") or ""
        stores: dict[str, list[Any]] = {"Invoice": self.invoices, "Bill": self.bills, "SalesOrder": self.sales_orders}
        if txn_type not in stores:
            return _status(rs, 3250, f"This feature is not enabled or not available in this version ({txn_type}).")
        found = next((t for t in stores[txn_type] if t.txn_id == txn_id), None)
        if found is None:
            return _status(rs, 3120, f'Object "{txn_id}" specified in the request cannot be found.')
        stores[txn_type].remove(found)
        self.deleted_txn_ids.append(txn_id)
        _text(rs, "TxnDelType", txn_type)
        _text(rs, "TxnID", txn_id)
        _text(rs, "TimeDeleted", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00"))
        if found.ref_number is not None:
            _text(rs, "RefNumber", found.ref_number)
        return _status(rs, 0, "Status OK")

    def _txn_id(self) -> str:
        number, self._next_id = self._next_id, self._next_id + 1
        return f"{number:X}-{int(datetime.now(UTC).timestamp())}"

    # ------------------------------------------------------------ sales orders

    def sales_orders_with_ref(self, ref_number: str) -> list[FakeSalesOrder]:
        return [o for o in self.sales_orders if (o.ref_number or "").casefold() == ref_number.casefold()]

    def _no_sales_orders(self, rs: _Element) -> _Element | None:
        if self.sales_orders_enabled:
            return None
        return _status(rs, 3250, "This feature is not enabled or not available in this version of QuickBooks.")

    def _order_lines(
        self, rs: _Element, parent: _Element, tag: str, kept: dict[str, dict[str, str]] | None = None
    ) -> tuple[list[dict[str, str]], Decimal] | _Element:
        """The lines of a SalesOrderAdd (``SalesOrderLineAdd``) or a Mod (``SalesOrderLineMod``: TxnLineID -1 is a
        new line, an existing one is changed, and the order's lines the Mod leaves out are removed), with the total;
        or the refusal (3140 an unknown item, 3120 an unknown TxnLineID)."""
        lines: list[dict[str, str]] = []
        total = Decimal(0)
        for line in parent.findall(tag):
            line_id = line.findtext("TxnLineID")
            before = (kept or {}).get(line_id or "") if line_id not in (None, "-1") else None
            if line_id not in (None, "-1") and before is None:
                return _status(rs, 3120, f'Object "{line_id}" specified in the request cannot be found.')
            item = line.findtext("ItemRef/FullName") or (before or {}).get("item")
            if item and item.casefold() not in self.items:
                return _invalid_reference(rs, "Item", item, "SalesOrder")
            quantity, rate, given = line.findtext("Quantity"), line.findtext("Rate"), line.findtext("Amount")
            if given is not None:
                amount = Decimal(given)
            elif quantity is not None and rate is not None:
                amount = (Decimal(quantity) * Decimal(rate)).quantize(Decimal("0.01"))
            else:
                amount = Decimal(rate or (before or {}).get("amount") or "0")
            total += amount
            lines.append(
                {
                    "id": (before or {}).get("id") or f"{self._next_id:X}-{len(lines) + 1}",
                    "item": self.items[item.casefold()] if item else "",
                    "desc": line.findtext("Desc") or "",
                    "quantity": quantity or "",
                    "rate": rate or "",
                    "amount": f"{amount:.2f}",
                    "invoiced": (before or {}).get("invoiced", ""),
                }
            )
        self._next_id += 1
        return lines, total

    def _sales_order_add(self, rq: _Element, rs: _Element) -> _Element:
        add = rq.find("SalesOrderAdd")
        if add is None:
            return _status(rs, 3120, "Object cannot be added: the request has no SalesOrderAdd.")
        if (refusal := self._no_sales_orders(rs)) is not None:
            return refusal
        customer = add.findtext("CustomerRef/FullName") or ""
        if customer.casefold() not in self.customers:
            return _invalid_reference(rs, "Customer", customer, "SalesOrder")
        ref = add.findtext("RefNumber")
        if ref is not None and len(ref) > 11:
            return _too_long(rs, "RefNumber", ref)
        read = self._order_lines(rs, add, "SalesOrderLineAdd")
        if not isinstance(read, tuple):
            return read
        lines, total = read
        order = FakeSalesOrder(
            txn_id=self._txn_id(),
            customer=self.customers[customer.casefold()],
            ref_number=ref,
            amount=total,
            edit_sequence=_next_edit_sequence(None),
            txn_date=add.findtext("TxnDate") or datetime.now(UTC).date().isoformat(),
            memo=add.findtext("Memo"),
            exchange_rate=add.findtext("ExchangeRate"),
            is_manually_closed=add.findtext("IsManuallyClosed") == "true",
            lines=lines,
        )
        self.sales_orders.append(order)
        rs.append(_sales_order_ret(order, _wanted(rq), with_lines=True, with_links=False))
        return _status(rs, 0, "Status OK")

    def _sales_order_query(self, rq: _Element, rs: _Element) -> _Element:
        """As InvoiceQuery: by TxnID (500 for a missing one), RefNumber (without regard to case),
        RefNumberCaseSensitive, or EntityFilter and RefNumberFilter; with lines (IncludeLineItems) and the invoices
        that link each order (IncludeLinkedTxns) only when asked."""
        if (refusal := self._no_sales_orders(rs)) is not None:
            return refusal
        orders = list(self.sales_orders)
        txn_ids = [t.text or "" for t in rq.findall("TxnID")]
        if txn_ids:
            by_id = {o.txn_id: o for o in orders}
            missing = next((t for t in txn_ids if t not in by_id), None)
            if missing is not None:
                return _status(
                    rs,
                    500,
                    "The query request has not been fully completed. There was a required "
                    f'element ("{missing}") that could not be found in QuickBooks.',
                )
            orders = [by_id[t] for t in txn_ids]
        orders = _referenced(orders, rq, "")
        if not orders:
            return _status(rs, 1, "A query request did not find a matching object in QuickBooks")
        wanted = _wanted(rq)
        with_lines = rq.findtext("IncludeLineItems") == "true"
        with_links = rq.findtext("IncludeLinkedTxns") == "true"
        for order in orders:
            rs.append(_sales_order_ret(order, wanted, with_lines=with_lines, with_links=with_links))
        return _status(rs, 0, "Status OK")

    def _sales_order_mod(self, rq: _Element, rs: _Element) -> _Element:
        """A SalesOrderMod of one TxnID at its current EditSequence (else 3200, as QuickBooks when someone changed
        the order since it was read); each Mod gives the order a new EditSequence."""
        mod = rq.find("SalesOrderMod")
        if mod is None:
            return _status(rs, 3120, "Object cannot be modified: the request has no SalesOrderMod.")
        if (refusal := self._no_sales_orders(rs)) is not None:
            return refusal
        txn_id = mod.findtext("TxnID") or ""
        order = next((o for o in self.sales_orders if o.txn_id == txn_id), None)
        if order is None:
            return _status(rs, 3120, f'Object "{txn_id}" specified in the request cannot be found.')
        edit_sequence = mod.findtext("EditSequence") or ""
        if edit_sequence != order.edit_sequence:
            return _status(rs, 3200, f'The provided edit sequence "{edit_sequence}" is out-of-date. ')
        customer = mod.findtext("CustomerRef/FullName")
        if customer is not None and customer.casefold() not in self.customers:
            return _invalid_reference(rs, "Customer", customer, "SalesOrder")
        ref = mod.findtext("RefNumber")
        if ref is not None and len(ref) > 11:
            return _too_long(rs, "RefNumber", ref)
        if mod.find("SalesOrderLineMod") is not None:  # no line in a Mod keeps the lines as they are
            read = self._order_lines(rs, mod, "SalesOrderLineMod", {line["id"]: line for line in order.lines})
            if not isinstance(read, tuple):
                return read
            order.lines, order.amount = read
        if customer is not None:
            order.customer = self.customers[customer.casefold()]
        if ref is not None:
            order.ref_number = ref
        for tag, attribute in (("TxnDate", "txn_date"), ("Memo", "memo"), ("ExchangeRate", "exchange_rate")):
            if (value := mod.findtext(tag)) is not None:
                setattr(order, attribute, value)
        if (closed := mod.findtext("IsManuallyClosed")) is not None:
            order.is_manually_closed = closed == "true"
        order.edit_sequence = _next_edit_sequence(order.edit_sequence)
        rs.append(_sales_order_ret(order, _wanted(rq), with_lines=True, with_links=False))
        return _status(rs, 0, "Status OK")

    def _orders_to_link(
        self, rs: _Element, txn_ids: list[str], has_lines: bool
    ) -> tuple[list[FakeSalesOrder], _Element | None]:
        """The open sales orders an InvoiceAdd links whole (LinkToTxnID). An unknown TxnID is refused (3120, the
        status of an object a request names that QuickBooks does not have). A closed order is not linked: the
        invoice is added with a warning (570, Intuit's "Unable to link to transaction ... already been closed"), or
        refused when nothing else is left on it (Intuit: an error for an empty transaction; its code is not given,
        so 3180 "error when saving" stands in)."""
        orders: list[FakeSalesOrder] = []
        closed: list[str] = []
        for txn_id in txn_ids:
            order = next((o for o in self.sales_orders if o.txn_id == txn_id), None)
            if order is None:
                return [], _status(rs, 3120, f'Object "{txn_id}" specified in the request cannot be found.')
            if order.is_closed:
                closed.append(txn_id)
            elif order not in orders:
                orders.append(order)
        if closed and not orders and not has_lines:
            return [], _status(
                rs,
                3180,
                "There was an error when saving a Invoice.  QuickBooks error message: The transaction is empty "
                f'(sales order "{closed[0]}" is already closed).',
            )
        if closed:
            _status(rs, 570, f'Unable to link to transaction "{closed[0]}" because it has already been closed.')
        return orders, None

    def _invoice_whole(self, order: FakeSalesOrder, invoice: FakeInvoice) -> None:
        """What QuickBooks does to a sales order an invoice links whole: every line invoiced, the order fully
        invoiced (so closed), linked both ways, and a new EditSequence."""
        for line in order.lines:
            line["invoiced"] = line["quantity"] or "1"
        order.is_fully_invoiced = True
        order.edit_sequence = _next_edit_sequence(order.edit_sequence)
        order.linked.append(
            {
                "txn_id": invoice.txn_id,
                "txn_type": "Invoice",
                "txn_date": invoice.txn_date or "",
                "ref_number": invoice.ref_number or "",
                "amount": f"{order.amount:.2f}",
            }
        )
        invoice.linked.append(
            {
                "txn_id": order.txn_id,
                "txn_type": "SalesOrder",
                "txn_date": order.txn_date or "",
                "ref_number": order.ref_number or "",
                "amount": f"{order.amount:.2f}",
            }
        )


@lru_cache(maxsize=2)
def qbxml_schema(path: str) -> Any:
    """Intuit's request schema, loaded once per process (it takes seconds)."""
    return xmlschema.XMLSchema(path)


def _status(rs: _Element, code: int, message: str) -> _Element:
    rs.set("statusCode", str(code))
    rs.set("statusSeverity", SEVERITY.get(code, "Error"))
    rs.set("statusMessage", message)
    return rs


def _wanted(rq: _Element) -> set[str | None]:
    """The elements a query or add asks back (IncludeRetElement); none named means all."""
    return {e.text for e in rq.findall("IncludeRetElement")}


def _list_ret(tag: str, name: str) -> _Element:
    ret = etree.Element(tag)
    _text(ret, "ListID", _list_id(name))
    _text(ret, "Name", name)
    _text(ret, "FullName", name)
    return ret


def _list_query(rq: _Element, rs: _Element, names: dict[str, str], tag: str) -> _Element:
    """A list query by FullName (without regard to case; a missing one answers 500, as a named object), or all."""
    wanted = [n.text or "" for n in rq.findall("FullName")]
    for name in wanted:
        if name.casefold() not in names:
            return _status(
                rs,
                500,
                "The query request has not been fully completed. There was a required "
                f'element ("{name}") that could not be found in QuickBooks.',
            )
    found = [names[n.casefold()] for n in wanted] if wanted else list(names.values())
    if not found:
        return _status(rs, 1, "A query request did not find a matching object in QuickBooks")
    for name in found:
        rs.append(_list_ret(tag, name))
    return _status(rs, 0, "Status OK")


def _too_long(rs: _Element, field: str, value: str) -> _Element:
    """QuickBooks' 3070 for a value longer than its field holds."""
    return _status(rs, 3070, f'The string "{value}" in the field "{field}" is too long.')


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


def _fill_ret(ret: _Element, values: list[tuple[str, str | None]], wanted: set[str | None], ref_tag: str) -> None:
    """Add ``values`` to ``ret`` in their order, those IncludeRetElement asks for when it names some; ``ref_tag``
    (the customer or vendor) becomes a reference with its ListID and FullName."""
    for tag, value in values:
        if value is None or (wanted and tag not in wanted):
            continue
        if tag == ref_tag:
            ref = etree.SubElement(ret, ref_tag)
            _text(ref, "ListID", _list_id(value))
            _text(ref, "FullName", value)
        else:
            _text(ret, tag, value)


def _bill_ret(bill: FakeBill, wanted: set[str | None], with_lines: bool = False) -> _Element:
    """A BillRet in schema order, limited to IncludeRetElement when the request names some; with its lines (expense
    lines first, as the schema orders them) when ``with_lines`` (IncludeLineItems)."""
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
    _fill_ret(ret, values, wanted, "VendorRef")
    if with_lines:
        for tag, add_tag in (("ExpenseLineRet", "ExpenseLineAdd"), ("ItemLineRet", "ItemLineAdd")):
            if wanted and tag not in wanted:
                continue
            for number, line in enumerate((x for x in bill.lines if x["kind"] == add_tag), start=1):
                ret.append(_bill_line_ret(tag, f"{number}-{bill.txn_id}", line))
    return ret


def _bill_line_ret(tag: str, line_id: str, line: dict[str, str]) -> _Element:
    """An ExpenseLineRet (AccountRef, Amount, Memo, ClassRef) or ItemLineRet (ItemRef, Desc, Amount, ClassRef)."""
    ret = etree.Element(tag)
    _text(ret, "TxnLineID", line_id)

    def ref(ref_tag: str, name: str) -> None:
        element = etree.SubElement(ret, ref_tag)
        _text(element, "ListID", _list_id(name))
        _text(element, "FullName", name)

    expense = tag == "ExpenseLineRet"
    ref("AccountRef" if expense else "ItemRef", line["ref"])
    if not expense and line.get("desc"):
        _text(ret, "Desc", line["desc"])
    _text(ret, "Amount", f"{Decimal(line['amount']):.2f}")
    if expense and line.get("desc"):
        _text(ret, "Memo", line["desc"])
    if line.get("class"):
        ref("ClassRef", line["class"])
    return ret


def _invoice_ret(
    invoice: FakeInvoice, wanted: set[str | None], with_lines: bool, *, with_links: bool = False
) -> _Element:
    """An InvoiceRet in schema order, limited to IncludeRetElement when the request names some; ``with_links``: the
    sales orders it invoiced (LinkedTxn)."""
    ret = etree.Element("InvoiceRet")
    values: list[tuple[str, str | None]] = [
        ("TxnID", invoice.txn_id),
        ("TimeCreated", "2024-01-01T00:00:00"),
        ("TimeModified", "2024-01-01T00:00:00"),
        ("EditSequence", invoice.edit_sequence),
        ("CustomerRef", invoice.customer),
        ("TxnDate", invoice.txn_date),
        ("RefNumber", invoice.ref_number),
        ("Subtotal", f"{invoice.amount:.2f}"),
        ("BalanceRemaining", f"{invoice.amount:.2f}"),
        ("ExchangeRate", invoice.exchange_rate),
        ("Memo", invoice.memo),
    ]
    _fill_ret(ret, values, wanted, "CustomerRef")
    if with_links and (not wanted or "LinkedTxn" in wanted):
        for link in invoice.linked:
            _linked_txn(ret, link)
    if with_lines and (not wanted or "InvoiceLineRet" in wanted):
        for number, line in enumerate(invoice.lines, start=1):
            line_ret = etree.SubElement(ret, "InvoiceLineRet")
            _text(line_ret, "TxnLineID", f"{number}-{invoice.txn_id}")
            if line["item"]:
                item = etree.SubElement(line_ret, "ItemRef")
                _text(item, "ListID", _list_id(line["item"]))
                _text(item, "FullName", line["item"])
            for tag, key in (("Desc", "desc"), ("Quantity", "quantity"), ("Rate", "rate"), ("Amount", "amount")):
                if line[key]:
                    _text(line_ret, tag, line[key])
    return ret


def _next_edit_sequence(previous: str | None) -> str:
    """A new EditSequence (QuickBooks' are timestamps): later than the previous one even within a second."""
    now = int(datetime.now(UTC).timestamp())
    return str(max(now, int(previous) + 1) if previous and previous.isdigit() else now)


def _linked_txn(parent: _Element, link: dict[str, str]) -> None:
    """A LinkedTxn aggregate in schema order."""
    linked = etree.SubElement(parent, "LinkedTxn")
    for tag, key in (
        ("TxnID", "txn_id"),
        ("TxnType", "txn_type"),
        ("TxnDate", "txn_date"),
        ("RefNumber", "ref_number"),
    ):
        if link[key]:
            _text(linked, tag, link[key])
    _text(linked, "LinkType", "QUANTYPE")
    _text(linked, "Amount", link["amount"])


def _sales_order_ret(order: FakeSalesOrder, wanted: set[str | None], *, with_lines: bool, with_links: bool) -> _Element:
    """A SalesOrderRet in schema order, limited to IncludeRetElement when the request names some."""
    ret = etree.Element("SalesOrderRet")
    values: list[tuple[str, str | None]] = [
        ("TxnID", order.txn_id),
        ("TimeCreated", "2024-01-01T00:00:00"),
        ("TimeModified", "2024-01-01T00:00:00"),
        ("EditSequence", order.edit_sequence),
        ("CustomerRef", order.customer),
        ("TxnDate", order.txn_date),
        ("RefNumber", order.ref_number),
        ("Subtotal", f"{order.amount:.2f}"),
        ("TotalAmount", f"{order.amount:.2f}"),
        ("ExchangeRate", order.exchange_rate),
        ("IsManuallyClosed", str(order.is_manually_closed).lower()),
        ("IsFullyInvoiced", str(order.is_fully_invoiced).lower()),
        ("Memo", order.memo),
    ]
    _fill_ret(ret, values, wanted, "CustomerRef")
    if with_links and (not wanted or "LinkedTxn" in wanted):
        for link in order.linked:
            _linked_txn(ret, link)
    if with_lines and (not wanted or "SalesOrderLineRet" in wanted):
        for line in order.lines:
            line_ret = etree.SubElement(ret, "SalesOrderLineRet")
            _text(line_ret, "TxnLineID", line["id"])
            if line["item"]:
                item = etree.SubElement(line_ret, "ItemRef")
                _text(item, "ListID", _list_id(line["item"]))
                _text(item, "FullName", line["item"])
            for tag, key in (
                ("Desc", "desc"),
                ("Quantity", "quantity"),
                ("Rate", "rate"),
                ("Amount", "amount"),
                ("Invoiced", "invoiced"),
            ):
                if line[key]:
                    _text(line_ret, tag, line[key])
            _text(line_ret, "IsManuallyClosed", "false")
    return ret


class _Numbered(Protocol):
    @property
    def ref_number(self) -> str | None: ...


_NumberedT = TypeVar("_NumberedT", bound=_Numbered)


class _Billed(_Numbered, Protocol):
    @property
    def customer(self) -> str: ...


_BilledT = TypeVar("_BilledT", bound=_Billed)


def _referenced(records: list[_BilledT], rq: _Element, filters: str) -> list[_BilledT]:
    """The sales transactions an InvoiceQuery or a SalesOrderQuery keeps by its RefNumbers (case-insensitive),
    RefNumberCaseSensitive, customer (EntityFilter) and RefNumberFilter; ``filters`` is where the last two stand
    ("InvoiceFilter/", or "" in the request itself)."""
    refs = {(r.text or "").casefold() for r in rq.findall("RefNumber")}
    if refs:
        records = [r for r in records if (r.ref_number or "").casefold() in refs]
    exact = {r.text or "" for r in rq.findall("RefNumberCaseSensitive")}
    if exact:
        records = [r for r in records if r.ref_number in exact]
    customers = {n.text.casefold() for n in rq.findall(f"{filters}EntityFilter/FullName") if n.text}
    if customers:
        records = [r for r in records if r.customer.casefold() in customers]
    return _ref_number_filtered(records, rq.find(f"{filters}RefNumberFilter"))


def _ref_number_filtered(records: list[_NumberedT], ref_filter: _Element | None) -> list[_NumberedT]:
    """The records a query's RefNumberFilter keeps (StartsWith, EndsWith, else Contains; case-insensitive)."""
    if ref_filter is None:
        return records
    criterion = ref_filter.findtext("MatchCriterion")
    value = (ref_filter.findtext("RefNumber") or "").casefold()
    test = {"StartsWith": str.startswith, "EndsWith": str.endswith}.get(criterion or "", str.__contains__)
    return [r for r in records if test((r.ref_number or "").casefold(), value)]
