"""functions/qbwc/app.py served over loopback HTTP (werkzeug → API Gateway proxy events), the Web Connector played
by zeep from the service's own WSDL, and fakes for the sessions (tests/fakes.py, no moto) and the PO side."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import xmlschema
from devstack.fake_qb_company import FakeCompany
from devstack.qbwc_simulator import InMemoryPurchaseOrders, LocalGateway, run_session
from functions.qbwc import app as qbwc_app
from lxml import etree

from ledgersync.adapters.quickbooks_desktop import QbxmlCodec
from ledgersync.adapters.soap import INTUIT_NS, SOAP11_NS, SOAP12_NS
from ledgersync.domain.desktop_sync import WebConnectorService
from ledgersync.domain.purchase_orders import VendorInvoiceStatus
from tests.fakes import FakeClock, InMemorySessionStore
from tests.support.services import InstallServices
from tests.unit.test_desktop_sync import COMPANY, TOKEN, USER, VENDOR, purchase_order

XSD_DIR = Path(os.environ.get("QBXML_XSD_DIR") or Path(__file__).resolve().parents[3] / "shared/schemas/qbxml")
WSDL_NS = {
    "wsdl": "http://schemas.xmlsoap.org/wsdl/",
    "soap": "http://schemas.xmlsoap.org/wsdl/soap/",
    "s": "http://www.w3.org/2001/XMLSchema",
}


@dataclass
class Endpoint:
    url: str
    ledger: InMemoryPurchaseOrders
    clock: FakeClock
    gateway: LocalGateway

    def post(self, body: str, content_type: str = "text/xml; charset=utf-8") -> requests.Response:
        return requests.post(self.url, data=body.encode(), headers={"Content-Type": content_type}, timeout=10)

    def call(self, method: str, **params: str) -> etree._Element:
        """A raw SOAP 1.1 call as the Web Connector writes it; the answer's ``<methodResult>`` element."""
        fields = "".join(f"<{k}>{v}</{k}>" for k, v in params.items())
        answer = self.post(
            f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP11_NS}">'
            f'<soap:Body><{method} xmlns="{INTUIT_NS}">{fields}</{method}></soap:Body></soap:Envelope>'
        )
        assert answer.status_code == 200, answer.text
        result = etree.fromstring(answer.content).find(f".//{{{INTUIT_NS}}}{method}Result")
        assert result is not None, answer.text
        return result


@pytest.fixture
def endpoint(install_services: InstallServices) -> Iterator[Endpoint]:
    ledger = InMemoryPurchaseOrders()
    ledger.tokens[(USER, TOKEN)] = COMPANY
    clock = FakeClock(datetime.now(UTC))
    store = InMemorySessionStore(clock)
    service = WebConnectorService(ledger, ledger, ledger, store, QbxmlCodec(), clock=clock)
    install_services(use_cases={"web_connector": service})
    with LocalGateway(qbwc_app.lambda_handler) as gateway:
        yield Endpoint(f"{gateway.url}/qbwc", ledger, clock, gateway)


@pytest.fixture
def company() -> FakeCompany:
    return FakeCompany(
        vendors=[VENDOR], items=["Fresh Cut Flowers"], accounts=["Freight"], classes=["Chicago"], xsd_dir=XSD_DIR
    )


@pytest.fixture
def wsdl_schema(endpoint: Endpoint) -> Any:
    """The XML schema inside the service's WSDL, to check each answer's body against it."""
    wsdl = etree.fromstring(requests.get(f"{endpoint.url}?wsdl", timeout=10).content)
    schema = wsdl.find("wsdl:types/s:schema", WSDL_NS)
    assert schema is not None
    return xmlschema.XMLSchema(etree.tostring(schema).decode())


def test_wsdl_points_back_at_the_url_it_was_fetched_from(endpoint: Endpoint) -> None:
    answer = requests.get(f"{endpoint.url}?wsdl", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/xml")
    wsdl = etree.fromstring(answer.content)
    assert wsdl.get("targetNamespace") == INTUIT_NS
    address = wsdl.find(".//soap:address", WSDL_NS)
    assert address is not None and address.get("location") == endpoint.url
    operations = {op.get("name") for op in wsdl.iterfind("wsdl:portType/wsdl:operation", WSDL_NS)}
    assert operations == {
        "serverVersion",
        "clientVersion",
        "authenticate",
        "sendRequestXML",
        "receiveResponseXML",
        "getLastError",
        "connectionError",
        "closeConnection",
    }


def test_support_page_is_served_when_the_url_is_opened_without_wsdl(endpoint: Endpoint) -> None:
    answer = requests.get(f"{endpoint.url}?support", timeout=10)
    assert answer.status_code == 200
    assert "Ledgersync for QuickBooks Desktop" in answer.text


def test_bills_reach_quickbooks_when_the_web_connector_runs_a_session(endpoint: Endpoint, company: FakeCompany) -> None:
    # Given three POs waiting for QuickBooks Desktop
    for po_id in (1, 2, 3):
        endpoint.ledger.add(purchase_order(po_id))
    # When the Web Connector (zeep, from the WSDL) runs a session
    result = run_session(endpoint.url, USER, TOKEN, company)
    # Then the bills are in QuickBooks, the POs are synchronized and the session says so
    assert result.auth_status == ""
    assert result.completed
    assert sorted(b.ref_number or "" for b in company.bills) == ["PO1-INV1-0", "PO2-INV2-0", "PO3-INV3-0"]
    assert set(endpoint.ledger.status.values()) == {VendorInvoiceStatus.SYNCHRONIZED}
    assert result.close_message == "Ledgersync: 3 bill(s) added, 0 already in QuickBooks."
    assert result.soap_calls == 8


def test_authenticate_answers_nvu_when_the_password_is_wrong(endpoint: Endpoint, company: FakeCompany) -> None:
    endpoint.ledger.add(purchase_order(1))
    result = run_session(endpoint.url, USER, "not-a-token", company)
    assert result.auth_status == "nvu"
    assert company.requests_seen == []


def test_authenticate_answers_none_when_nothing_waits(endpoint: Endpoint, company: FakeCompany) -> None:
    result = run_session(endpoint.url, USER, TOKEN, company)
    assert result.auth_status == "none"
    assert result.close_message == "Ledgersync: no bills or invoices are waiting for QuickBooks."


def test_unknown_ticket_ends_politely_without_a_fault(endpoint: Endpoint) -> None:
    assert (
        endpoint.call("sendRequestXML", ticket="no-such-ticket", qbXMLMajorVers="13", qbXMLMinorVers="0").text is None
    )
    assert "does not know this Web Connector session" in (
        endpoint.call("getLastError", ticket="no-such-ticket").text or ""
    )
    assert (
        endpoint.call("receiveResponseXML", ticket="no-such-ticket", response="", hresult="", message="").text == "-1"
    )


def test_expired_session_ends_politely_and_keeps_the_work(endpoint: Endpoint) -> None:
    endpoint.ledger.add(purchase_order(1))
    ticket = endpoint.call("authenticate", strUserName=USER, strPassword=TOKEN).findtext(f"{{{INTUIT_NS}}}string")
    assert ticket
    endpoint.clock.advance(timedelta(hours=2))
    assert endpoint.call("sendRequestXML", ticket=ticket, qbXMLMajorVers="13", qbXMLMinorVers="0").text is None
    assert "expired" in (endpoint.call("getLastError", ticket=ticket).text or "")
    assert endpoint.ledger.status[1] is VendorInvoiceStatus.SENT_TO_EXTERNAL


def test_no_bill_is_duplicated_when_a_session_is_cut_and_the_next_one_resumes(
    endpoint: Endpoint, company: FakeCompany
) -> None:
    for po_id in range(1, 5):
        endpoint.ledger.add(purchase_order(po_id))
    cut = run_session(endpoint.url, USER, TOKEN, company, cut_after_messages=2)
    assert cut.cut and len(company.bills) == 4
    endpoint.clock.advance(timedelta(hours=1))
    resumed = run_session(endpoint.url, USER, TOKEN, company)
    assert resumed.completed
    assert len(company.bills) == 4
    assert set(endpoint.ledger.status.values()) == {VendorInvoiceStatus.SYNCHRONIZED}
    assert "0 bill(s) added, 4 already in QuickBooks" in (resumed.close_message or "")


def test_second_web_connector_is_told_busy_while_a_session_of_the_company_is_live(endpoint: Endpoint) -> None:
    endpoint.ledger.add(purchase_order(1))
    first = endpoint.call("authenticate", strUserName=USER, strPassword=TOKEN)
    second = endpoint.call("authenticate", strUserName=USER, strPassword=TOKEN)
    assert [s.text or "" for s in first][1] == ""
    assert [s.text or "" for s in second][1] == "busy"


def test_vendor_missing_puts_the_po_in_error_when_run_over_http(endpoint: Endpoint) -> None:
    company = FakeCompany(vendors=["Someone Else"], xsd_dir=XSD_DIR)
    endpoint.ledger.add(purchase_order(1))
    result = run_session(endpoint.url, USER, TOKEN, company)
    assert result.completed
    assert endpoint.ledger.errors[1].startswith(f"Vendor '{VENDOR}' was not found in QuickBooks")
    assert "1 purchase order(s) in error" in (result.close_message or "")


def test_quickbooks_hresult_gives_negative_progress_and_a_reason(endpoint: Endpoint) -> None:
    endpoint.ledger.add(purchase_order(1))
    ticket = endpoint.call("authenticate", strUserName=USER, strPassword=TOKEN).findtext(f"{{{INTUIT_NS}}}string")
    assert ticket
    assert "<BillQueryRq" in (
        endpoint.call("sendRequestXML", ticket=ticket, qbXMLMajorVers="13", qbXMLMinorVers="0").text or ""
    )
    progress = endpoint.call(
        "receiveResponseXML",
        ticket=ticket,
        response="",
        hresult="0x80040400",
        message="QuickBooks found an error when parsing the provided XML text stream.",
    )
    assert progress.text == "-1"
    assert "0x80040400" in (endpoint.call("getLastError", ticket=ticket).text or "")


def test_answers_match_the_wsdl_when_every_method_is_called(endpoint: Endpoint, wsdl_schema: Any) -> None:
    endpoint.ledger.add(purchase_order(1))
    answers = [
        endpoint.call("serverVersion"),
        endpoint.call("clientVersion", strVersion="2.3.0.215"),
        auth := endpoint.call("authenticate", strUserName=USER, strPassword=TOKEN),
    ]
    ticket = auth.findtext(f"{{{INTUIT_NS}}}string") or ""
    answers += [
        endpoint.call(
            "sendRequestXML",
            ticket=ticket,
            strHCPResponse="",
            strCompanyFileName="",
            qbXMLCountry="US",
            qbXMLMajorVers="13",
            qbXMLMinorVers="0",
        ),
        endpoint.call("receiveResponseXML", ticket=ticket, response="", hresult="0x1", message="x"),
        endpoint.call("getLastError", ticket=ticket),
        endpoint.call("connectionError", ticket=ticket, hresult="0x1", message="x"),
        endpoint.call("closeConnection", ticket=ticket),
    ]
    for result in answers:
        response = result.getparent()
        assert response is not None
        assert etree.QName(response).namespace == INTUIT_NS
        wsdl_schema.validate(etree.tostring(response).decode())
    assert [etree.QName(s).localname for s in auth] == ["string", "string"]
    assert answers[6].text == "done"


def test_soap_fault_answers_when_the_body_is_not_a_web_connector_call(endpoint: Endpoint) -> None:
    for body in (
        "not xml",
        f'<soap:Envelope xmlns:soap="{SOAP11_NS}"><soap:Body><hack xmlns="urn:x"/></soap:Body></soap:Envelope>',
    ):
        answer = endpoint.post(body)
        assert answer.status_code == 500
        fault = etree.fromstring(answer.content).find(f".//{{{SOAP11_NS}}}Fault")
        assert fault is not None
        assert fault.findtext("faultcode") == "soap:Client"


def test_soap12_calls_are_answered_in_soap12(endpoint: Endpoint) -> None:
    answer = endpoint.post(
        f'<e:Envelope xmlns:e="{SOAP12_NS}"><e:Body><serverVersion xmlns="{INTUIT_NS}"/></e:Body></e:Envelope>',
        "application/soap+xml; charset=utf-8",
    )
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/soap+xml")
    assert etree.fromstring(answer.content).tag == f"{{{SOAP12_NS}}}Envelope"
