"""A QuickBooks Web Connector simulator: plays the real call sequence over HTTP with zeep, in front of a fake
company file (``devstack.fake_qb_company``).

The sequence is the Web Connector's: serverVersion, clientVersion, authenticate, then sendRequestXML /
receiveResponseXML until the progress reaches 100 or turns negative (getLastError after "" or a negative
progress), then closeConnection. ``cut_after_messages`` drops the connection after QuickBooks has processed a
message but before its answer reaches the service, the way a closed laptop does.

Also here: ``LocalGateway``, a tiny HTTP server (werkzeug) that turns requests into API Gateway REST proxy
events for a Lambda handler, so tests and the benchmark can put the real endpoint behind a loopback URL.

    python -m devstack.qbwc_simulator --url http://127.0.0.1:3000/qbwc --username U --password TOKEN
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request
from zeep import Client
from zeep.transports import Transport

from devstack.fake_qb_company import FakeCompany
from devstack.lambda_proxy import proxy_event
from devstack.runtime import LambdaContext
from devstack.seed import DEMO_AP_ACCOUNTS, DEMO_AR_ACCOUNTS, DEMO_CUSTOMERS, DEMO_SALES_ITEMS
from ledgersync.clock import Clock, SystemClock
from ledgersync.domain.desktop_sync import (
    DesktopWork,
    InvoiceToAdd,
    InvoiceToDelete,
    SalesInvoiceWork,
    SalesOrderToSend,
    WebConnectorSession,
)
from ledgersync.domain.purchase_orders import VendorInvoiceStatus
from ledgersync.errors import Conflict, RetryableError

WEB_CONNECTOR_VERSION = "2.3.0.215"
# The expense accounts of the fake company file when --accounts is not given: the charge accounts the README's
# settings name ("Freight", "Freight In") and QuickBooks' own "Cost of Goods Sold".
DEFAULT_ACCOUNTS = (
    "Freight",
    "Freight In",
    "Cost of Goods Sold",
    *(name for name, _ in DEMO_AR_ACCOUNTS + DEMO_AP_ACCOUNTS),
)
# The demo's foreign customer and the A/R and A/P accounts of its currency (issue 12): multicurrency is on.
DEMO_CURRENCIES = tuple(
    (name, code) for name, code in DEMO_CUSTOMERS + DEMO_AR_ACCOUNTS + DEMO_AP_ACCOUNTS if code != "USD"
)
HOST_RESPONSE = (
    '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs><HostQueryRs requestID="0" statusCode="0" statusSeverity="Info" '
    'statusMessage="Status OK"><HostRet><ProductName>QuickBooks Enterprise Solutions 23.0</ProductName>'
    "<MajorVersion>33</MajorVersion><MinorVersion>0</MinorVersion><Country>US</Country>"
    "<SupportedQBXMLVersion>12.0</SupportedQBXMLVersion><SupportedQBXMLVersion>13.0</SupportedQBXMLVersion>"
    "<IsAutomaticLogin>false</IsAutomaticLogin><QBFileMode>SingleUser</QBFileMode></HostRet></HostQueryRs>"
    "</QBXMLMsgsRs></QBXML>"
)


@dataclass
class SessionResult:
    """What one Web Connector session did, as its log would show it."""

    server_version: str = ""
    client_version_answer: str = ""
    ticket: str = ""
    auth_status: str = ""
    progress: list[int] = field(default_factory=list)
    last_errors: list[str] = field(default_factory=list)
    close_message: str | None = None
    soap_calls: int = 0
    messages: int = 0
    cut: bool = False

    @property
    def completed(self) -> bool:
        return bool(self.progress) and self.progress[-1] == 100

    @property
    def failed(self) -> bool:
        return bool(self.progress) and self.progress[-1] < 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ticket": self.ticket,
            "authStatus": self.auth_status,
            "progress": self.progress,
            "lastErrors": self.last_errors,
            "closeMessage": self.close_message,
            "soapCalls": self.soap_calls,
            "messages": self.messages,
            "completed": self.completed,
            "cut": self.cut,
        }


class _CountingService:
    """zeep's service proxy, counting the SOAP round trips."""

    def __init__(self, service: Any, result: SessionResult) -> None:
        self._service = service
        self._result = result

    def call(self, method: str, **kwargs: Any) -> Any:
        self._result.soap_calls += 1
        return getattr(self._service, method)(**kwargs)


def _strings(value: Any) -> list[str]:
    """zeep gives an ArrayOfString as an object with ``string``, or as a plain list."""
    items = getattr(value, "string", value)
    return [item or "" for item in (items or [])]


def run_session(
    url: str,
    username: str,
    password: str,
    company: FakeCompany,
    *,
    qbxml_version: tuple[int, int] = (13, 0),
    cut_after_messages: int | None = None,
    client_version: str = WEB_CONNECTOR_VERSION,
    max_messages: int = 500,
) -> SessionResult:
    """Play one Web Connector session against the endpoint at ``url`` (its WSDL at ``url?wsdl``)."""
    result = SessionResult()
    with requests.Session() as http:
        transport = Transport(session=http, timeout=30, operation_timeout=60)  # type: ignore[no-untyped-call]
        client = Client(f"{url}?wsdl", transport=transport)  # type: ignore[no-untyped-call]
        service = _CountingService(client.service, result)
        result.server_version = service.call("serverVersion") or ""
        result.client_version_answer = service.call("clientVersion", strVersion=client_version) or ""
        if result.client_version_answer.startswith("E:"):
            return result
        answer = _strings(service.call("authenticate", strUserName=username, strPassword=password))
        result.ticket = answer[0] if answer else ""
        result.auth_status = answer[1] if len(answer) > 1 else ""
        if result.auth_status == "nvu":
            return result
        if result.auth_status in ("none", "busy"):
            result.close_message = service.call("closeConnection", ticket=result.ticket)
            return result
        host_response = HOST_RESPONSE
        while result.messages < max_messages:
            request = (
                service.call(
                    "sendRequestXML",
                    ticket=result.ticket,
                    strHCPResponse=host_response,
                    strCompanyFileName="C:\\Company Files\\demo.qbw",
                    qbXMLCountry="US",
                    qbXMLMajorVers=qbxml_version[0],
                    qbXMLMinorVers=qbxml_version[1],
                )
                or ""
            )
            host_response = ""
            if not request:
                result.last_errors.append(service.call("getLastError", ticket=result.ticket) or "")
                break
            reply = company.process(request)
            result.messages += 1
            if cut_after_messages is not None and result.messages >= cut_after_messages:
                result.cut = True
                return result
            progress = int(
                service.call(
                    "receiveResponseXML",
                    ticket=result.ticket,
                    response=reply.response,
                    hresult=reply.hresult,
                    message=reply.message,
                )
            )
            result.progress.append(progress)
            if progress < 0:
                result.last_errors.append(service.call("getLastError", ticket=result.ticket) or "")
                break
            if progress >= 100:
                break
        result.close_message = service.call("closeConnection", ticket=result.ticket)
    return result


# ---------------------------------------------------------------- the Ledgersync side, in memory


@dataclass
class InMemoryPurchaseOrders:
    """The ports the Ledgersync side implements (CredentialVerifier, WorkSource, SyncRecorder), in memory.

    It behaves like the real side: a PO leaves the work list once every vendor invoice has a TxnID ("S") or
    once it is put in error; a sales invoice once its invoice is recorded, deleted or in error (a queued one is
    claimed, "sending", before its add). It records every outcome so a test can read what a user would see.
    """

    tokens: dict[tuple[str, str], str] = field(default_factory=dict)
    work: dict[int, DesktopWork] = field(default_factory=dict)
    txn_ids: dict[tuple[int, str], str] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    status: dict[int, VendorInvoiceStatus] = field(default_factory=dict)
    failing_recorder: int = 0
    sales: dict[str, SalesInvoiceWork] = field(default_factory=dict)
    sales_status: dict[str, str] = field(default_factory=dict)  # queued, sending, synchronized, error, deleted
    sales_txn_ids: dict[str, str] = field(default_factory=dict)
    sales_errors: dict[str, str] = field(default_factory=dict)
    sales_companies: dict[str, str] = field(default_factory=dict)
    deleted_for_replace: list[int] = field(default_factory=list)  # POs whose changed bills were deleted (replace)
    orders: dict[str, SalesOrderToSend] = field(default_factory=dict)
    order_status: dict[str, str] = field(default_factory=dict)  # queued, sending, synchronized, error
    order_txn_ids: dict[str, dict[str, str]] = field(default_factory=dict)  # by part, as the state keeps them
    order_errors: dict[str, str] = field(default_factory=dict)
    order_companies: dict[str, str] = field(default_factory=dict)

    def add_sales_order(self, company_id: str, item: SalesOrderToSend) -> None:
        """Queue a sales order's add or change (``SalesOrderToSend``; "sending" when ``claimed``) for Desktop."""
        self.orders[item.document_id] = item
        self.order_companies[item.document_id] = company_id
        self.order_errors.pop(item.document_id, None)
        self.order_status[item.document_id] = "sending" if item.claimed else "queued"

    def add(self, item: DesktopWork) -> None:
        self.work[item.order.id] = item
        self.status[item.order.id] = VendorInvoiceStatus.SENT_TO_EXTERNAL

    def add_sales_invoice(self, company_id: str, item: SalesInvoiceWork) -> None:
        """Queue a sales invoice's add (``InvoiceToAdd``) or delete (``InvoiceToDelete``) for QuickBooks Desktop."""
        self.sales[item.document_id] = item
        self.sales_companies[item.document_id] = company_id
        self.sales_errors.pop(item.document_id, None)
        claimed = isinstance(item, InvoiceToAdd) and item.claimed
        self.sales_status[item.document_id] = (
            "deleting" if isinstance(item, InvoiceToDelete) else "sending" if claimed else "queued"
        )

    def company_for(self, user_name: str, password: str) -> str | None:
        return self.tokens.get((user_name, password))

    def pending_bills(self, company_id: str, limit: int) -> list[DesktopWork]:
        return [
            w
            for po_id, w in sorted(self.work.items())
            if w.order.company_id == company_id and self.status[po_id] is VendorInvoiceStatus.SENT_TO_EXTERNAL
        ][:limit]

    def pending_sales_invoices(self, company_id: str, limit: int) -> list[SalesInvoiceWork]:
        mine = [d for d, c in self.sales_companies.items() if c == company_id]
        deletes = [self.sales[d] for d in mine if self.sales_status[d] == "deleting"]
        adds = [
            InvoiceToAdd(d, work.draft, work.problem, claimed=self.sales_status[d] == "sending")
            for d in mine
            if self.sales_status[d] in ("queued", "sending") and isinstance(work := self.sales[d], InvoiceToAdd)
        ]
        return [*deletes, *adds][:limit]

    def pending_sales_orders(self, company_id: str, limit: int) -> list[SalesOrderToSend]:
        mine = [d for d, c in self.order_companies.items() if c == company_id]
        return [
            SalesOrderToSend(
                d,
                work.draft,
                work.part,
                work.txn_id,
                work.problem,
                claimed=self.order_status[d] == "sending",
                check_only=work.check_only,
            )
            for d in mine
            if self.order_status[d] in ("queued", "sending") and (work := self.orders[d])
        ][:limit]

    def claim_sales_order(self, company_id: str, document_id: str, document_version: int) -> bool:
        self._maybe_fail()
        item = self.orders.get(document_id)
        if self.order_status.get(document_id) not in ("queued", "sending") or item is None or item.draft is None:
            return False
        if item.draft.document_version != document_version:
            return False
        self.order_status[document_id] = "sending"
        return True

    def sales_order_synchronized(self, company_id: str, document_id: str, part: str, txn_id: str) -> None:
        self._maybe_fail()
        if self.order_status.get(document_id) in ("queued", "sending"):
            self.order_txn_ids.setdefault(document_id, {})[part] = txn_id
            self.order_status[document_id] = "synchronized"

    def sales_order_failed(self, company_id: str, document_id: str, message: str) -> None:
        self._maybe_fail()
        self.order_errors[document_id] = message
        self.order_status[document_id] = "error"

    def invoice_synchronized(self, company_id: str, purchase_order_id: int, invoice_number: str, txn_id: str) -> None:
        self._maybe_fail()
        self.txn_ids[(purchase_order_id, invoice_number)] = txn_id
        order = self.work[purchase_order_id].order
        if all((purchase_order_id, inv.invoice_number or "") in self.txn_ids for inv in order.vendor_invoices):
            self.status[purchase_order_id] = VendorInvoiceStatus.SYNCHRONIZED

    def purchase_order_failed(self, company_id: str, purchase_order_id: int, message: str) -> None:
        self._maybe_fail()
        self.errors[purchase_order_id] = message
        self.status[purchase_order_id] = VendorInvoiceStatus.ERROR

    def purchase_order_bills_deleted(self, company_id: str, purchase_order_id: int) -> None:
        """A PO sent again with replace lost its changed bills: its new bills are sent as any PO's (no replace)."""
        self._maybe_fail()
        self.deleted_for_replace.append(purchase_order_id)
        item = self.work[purchase_order_id]
        if item.replace and self.status[purchase_order_id] is VendorInvoiceStatus.SENT_TO_EXTERNAL:
            self.work[purchase_order_id] = dataclasses.replace(item, replace=False)
            for invoice in item.order.vendor_invoices:
                self.txn_ids.pop((purchase_order_id, invoice.invoice_number or ""), None)

    def claim_sales_invoice(self, company_id: str, document_id: str, document_version: int) -> bool:
        self._maybe_fail()
        item = self.sales.get(document_id)
        if self.sales_status.get(document_id) not in ("queued", "sending") or not isinstance(item, InvoiceToAdd):
            return False
        if item.draft is None or item.draft.document_version != document_version:
            return False
        self.sales_status[document_id] = "sending"
        return True

    def sales_invoice_synchronized(self, company_id: str, document_id: str, txn_id: str) -> None:
        self._maybe_fail()
        if self.sales_status.get(document_id) in ("queued", "sending"):
            self.sales_txn_ids[document_id] = txn_id
            self.sales_status[document_id] = "synchronized"

    def sales_invoice_failed(self, company_id: str, document_id: str, message: str) -> None:
        self._maybe_fail()
        self.sales_errors[document_id] = message
        self.sales_status[document_id] = "error"

    def sales_invoice_deleted(self, company_id: str, document_id: str) -> None:
        self._maybe_fail()
        if self.sales_status.get(document_id) == "deleting":
            self.sales_txn_ids.pop(document_id, None)
            self.sales_status[document_id] = "deleted"

    def resend(self, purchase_order_id: int, *, replace: bool = False) -> None:
        """What "Send to External System" does again after an error has been fixed; ``replace``: send again with
        replace (the state "deleting": a changed bill is deleted before ours is added)."""
        self.errors.pop(purchase_order_id, None)
        self.status[purchase_order_id] = VendorInvoiceStatus.SENT_TO_EXTERNAL
        self.work[purchase_order_id] = dataclasses.replace(self.work[purchase_order_id], replace=replace)

    def _maybe_fail(self) -> None:
        if self.failing_recorder > 0:
            self.failing_recorder -= 1
            raise RetryableError("the table is busy")


class InMemorySessionStore:
    """The SessionStore port in memory, with the same version check and company lock as the DynamoDB one."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.sessions: dict[str, str] = {}
        self.locks: dict[str, tuple[str, datetime]] = {}
        self.clock = clock or SystemClock()

    def create(self, session: WebConnectorSession) -> None:
        if session.ticket in self.sessions:
            raise Conflict("the ticket is already in use")
        self.sessions[session.ticket] = session.model_dump_json()

    def load(self, ticket: str) -> WebConnectorSession | None:
        stored = self.sessions.get(ticket)
        return WebConnectorSession.model_validate_json(stored) if stored else None

    def save(self, session: WebConnectorSession) -> None:
        current = self.load(session.ticket)
        if current is None or current.version != session.version - 1:
            raise Conflict("the session changed since it was read")
        self.sessions[session.ticket] = session.model_dump_json()

    def claim_company(self, company_id: str, ticket: str, until: datetime) -> bool:
        held = self.locks.get(company_id)
        if held is not None and held[0] != ticket and held[1] > self.clock.now():
            return False
        self.locks[company_id] = (ticket, until)
        return True

    def release_company(self, company_id: str, ticket: str) -> None:
        held = self.locks.get(company_id)
        if held is not None and held[0] == ticket:
            del self.locks[company_id]


# ---------------------------------------------------------------- a loopback API Gateway for one handler


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class LocalGateway:
    """Serves one Lambda handler on 127.0.0.1 (an ephemeral port unless given); use as a context manager."""

    def __init__(self, handler: Handler, port: int = 0) -> None:
        self.handler = handler
        self.durations: list[float] = []
        # One thread serves every request, as one warm Lambda instance would (the Web Connector is serial).
        self._server = make_server("127.0.0.1", port, self._wsgi, threaded=False)
        # shutdown() waits for the next poll: 0.05 s, as the other local servers, not serve_forever's 0.5 s
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> LocalGateway:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        request = Request(environ)
        event = proxy_event(
            request.method,
            request.path,
            request.query_string.decode(),
            dict(request.headers),
            request.get_data(as_text=True) or None,
            stage="local",
        )
        started = time.perf_counter()
        answer = self.handler(event, LambdaContext(function_name="qbwc-local"))
        self.durations.append(time.perf_counter() - started)
        body = answer.get("body") or ""
        if answer.get("isBase64Encoded"):
            body = base64.b64decode(body)
        headers = [(k, str(v)) for k, v in (answer.get("headers") or {}).items()]
        headers += [(k, str(v)) for k, values in (answer.get("multiValueHeaders") or {}).items() for v in values]
        start_response(f"{answer['statusCode']} {'OK' if answer['statusCode'] < 400 else 'Error'}", headers)
        return [body.encode() if isinstance(body, str) else body]


@contextmanager
def serve(handler: Handler) -> Iterator[str]:
    """The handler behind a loopback URL, for the time of the ``with`` block."""
    with LocalGateway(handler) as gateway:
        yield gateway.url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Play a QuickBooks Web Connector session against an endpoint.")
    parser.add_argument("--url", required=True, help="the AppURL, e.g. http://127.0.0.1:3000/qbwc")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True, help="an API token of the company")
    parser.add_argument("--vendors", default="", help="comma-separated vendor names the fake company file has")
    parser.add_argument(
        "--items",
        default=",".join(("Fresh Cut Flowers", *DEMO_SALES_ITEMS)),
        help="comma-separated item names (default: %(default)s)",
    )
    parser.add_argument(
        "--customers",
        default=",".join(name for name, _ in DEMO_CUSTOMERS),
        help="comma-separated customer names (default: %(default)s)",
    )
    parser.add_argument(
        "--accounts",
        default=",".join(DEFAULT_ACCOUNTS),
        help="comma-separated expense account names (default: %(default)s)",
    )
    parser.add_argument("--classes", default="", help="comma-separated class names")
    parser.add_argument(
        "--currencies",
        default=",".join(f"{name}={code}" for name, code in DEMO_CURRENCIES),
        help="comma-separated name=ISO code of the vendors, customers and accounts not in US dollars (multicurrency "
        "on when any; default: %(default)s)",
    )
    parser.add_argument("--qbxml", default="13.0", help="the qbXML version QuickBooks reports")
    parser.add_argument(
        "--company-file",
        type=Path,
        help="a JSON file that keeps the fake company file between runs (created when missing; its lists win "
        "over --vendors, --items, ...), so that a later session finds what an earlier one added",
    )
    args = parser.parse_args(argv)

    def split(text: str) -> list[str]:
        return [part.strip() for part in text.split(",") if part.strip()]

    if args.company_file is not None and args.company_file.exists():
        company = FakeCompany.from_snapshot(json.loads(args.company_file.read_text()))
    else:
        company = FakeCompany(
            vendors=split(args.vendors),
            items=split(args.items),
            accounts=split(args.accounts),
            classes=split(args.classes),
            customers=split(args.customers),
            currencies=dict(part.rpartition("=")[::2] for part in split(args.currencies)) or None,
        )
    major, _, minor = args.qbxml.partition(".")
    result = run_session(args.url, args.username, args.password, company, qbxml_version=(int(major), int(minor or 0)))
    if args.company_file is not None:
        args.company_file.write_text(json.dumps(company.snapshot(), indent=2))
    report = result.as_dict()
    report["invoices"] = [
        {
            "txnId": i.txn_id,
            "customer": i.customer,
            "refNumber": i.ref_number,
            "txnDate": i.txn_date,
            "amount": str(i.amount),
            "memo": i.memo,
        }
        for i in company.invoices
    ]
    report["salesOrders"] = [
        {
            "txnId": o.txn_id,
            "customer": o.customer,
            "refNumber": o.ref_number,
            "amount": str(o.amount),
            "memo": o.memo,
            "editSequence": o.edit_sequence,
            "closed": o.is_closed,
            "fullyInvoiced": o.is_fully_invoiced,
            "linkedTxnIds": [link["txn_id"] for link in o.linked],
        }
        for o in company.sales_orders
    ]
    report["deletedTxnIds"] = list(company.deleted_txn_ids)
    report["bills"] = [
        {
            "txnId": b.txn_id,
            "vendor": b.vendor,
            "refNumber": b.ref_number,
            "txnDate": b.txn_date,
            "amount": str(b.amount),
            "memo": b.memo,
        }
        for b in company.bills
    ]
    print(json.dumps(report, indent=2))
    return 0 if result.completed or result.auth_status == "none" else 1


if __name__ == "__main__":
    raise SystemExit(main())
