"""The Web Connector's SOAP: read a call, answer it, and describe the service (WSDL), all in namespace
http://developer.intuit.com/ (document/literal, SOAP 1.1 as the Web Connector speaks it; SOAP 1.2 is answered too).

The envelopes are small and fixed, so they are read and written with lxml rather than a SOAP server framework;
zeep (the simulator's client) checks them against ``wsdl()`` in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from xml.sax.saxutils import quoteattr

from lxml import etree

from ledgersync.domain.desktop_sync import WebConnectorService

if TYPE_CHECKING:
    from lxml.etree import _Element

INTUIT_NS = "http://developer.intuit.com/"
SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
CONTENT_TYPES = {SOAP11_NS: "text/xml; charset=utf-8", SOAP12_NS: "application/soap+xml; charset=utf-8"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)

# The parameters of each method, in WSDL order; the ones typed int in the WSDL.
METHODS: dict[str, tuple[str, ...]] = {
    "serverVersion": (),
    "clientVersion": ("strVersion",),
    "authenticate": ("strUserName", "strPassword"),
    "sendRequestXML": (
        "ticket",
        "strHCPResponse",
        "strCompanyFileName",
        "qbXMLCountry",
        "qbXMLMajorVers",
        "qbXMLMinorVers",
    ),
    "receiveResponseXML": ("ticket", "response", "hresult", "message"),
    "connectionError": ("ticket", "hresult", "message"),
    "getLastError": ("ticket",),
    "closeConnection": ("ticket",),
}
INT_PARAMETERS = frozenset({"qbXMLMajorVers", "qbXMLMinorVers"})
INT_RESULTS = frozenset({"receiveResponseXML"})
ARRAY_RESULTS = frozenset({"authenticate"})

Result = str | int | list[str]


class SoapRequestError(Exception):
    """A call that cannot be understood; answered as a SOAP Fault."""

    def __init__(self, message: str, client_error: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.client_error = client_error


@dataclass(frozen=True)
class SoapCall:
    """One Web Connector call: the method, its parameters as text, and the envelope's SOAP version."""

    method: str
    params: dict[str, str]
    envelope_ns: str = SOAP11_NS

    def text(self, name: str) -> str:
        return self.params.get(name, "")

    def integer(self, name: str) -> int:
        value = self.params.get(name, "").strip()
        return int(value) if value.lstrip("-").isdigit() else 0

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.envelope_ns]


def parse_call(body: str | bytes) -> SoapCall:
    """Read a SOAP request; raise ``SoapRequestError`` for anything that is not a Web Connector call."""
    raw = body.encode() if isinstance(body, str) else body
    try:
        root = etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError as err:
        raise SoapRequestError(f"the request is not well-formed XML ({err})") from err
    qname = etree.QName(root)
    if qname.localname != "Envelope" or qname.namespace not in CONTENT_TYPES:
        raise SoapRequestError("the request is not a SOAP envelope")
    body_el = root.find(f"{{{qname.namespace}}}Body")
    operation = next((child for child in body_el if isinstance(child.tag, str)), None) if body_el is not None else None
    if operation is None:
        raise SoapRequestError("the SOAP body is empty")
    op_name = etree.QName(operation)
    if op_name.namespace != INTUIT_NS or op_name.localname not in METHODS:
        raise SoapRequestError(f"unknown method {{{op_name.namespace}}}{op_name.localname}")
    params = {etree.QName(child).localname: child.text or "" for child in operation if isinstance(child.tag, str)}
    return SoapCall(op_name.localname, params, qname.namespace)


def dispatch(service: WebConnectorService, call: SoapCall) -> Result:
    """Call the use case method that answers ``call``."""
    match call.method:
        case "serverVersion":
            return service.server_version()
        case "clientVersion":
            return service.client_version(call.text("strVersion"))
        case "authenticate":
            return service.authenticate(call.text("strUserName"), call.text("strPassword")).as_strings()
        case "sendRequestXML":
            return service.send_request(
                call.text("ticket"),
                host_response=call.text("strHCPResponse"),
                company_file=call.text("strCompanyFileName"),
                country=call.text("qbXMLCountry"),
                major=call.integer("qbXMLMajorVers"),
                minor=call.integer("qbXMLMinorVers"),
            )
        case "receiveResponseXML":
            return service.receive_response(
                call.text("ticket"), call.text("response"), call.text("hresult"), call.text("message")
            )
        case "connectionError":
            return service.connection_error(call.text("ticket"), call.text("hresult"), call.text("message"))
        case "getLastError":
            return service.last_error(call.text("ticket"))
        case "closeConnection":
            return service.close(call.text("ticket"))
    raise SoapRequestError(f"unknown method {call.method}")


def _envelope(envelope_ns: str) -> tuple[_Element, _Element]:
    envelope = etree.Element(f"{{{envelope_ns}}}Envelope", nsmap={"soap": envelope_ns})
    return envelope, etree.SubElement(envelope, f"{{{envelope_ns}}}Body")


def response(call: SoapCall, result: Result) -> str:
    """The SOAP response of a call: ``<methodResponse><methodResult>`` in the Intuit namespace."""
    envelope, body = _envelope(call.envelope_ns)
    answer = etree.SubElement(body, f"{{{INTUIT_NS}}}{call.method}Response", nsmap={None: INTUIT_NS})  # type: ignore[dict-item]
    value = etree.SubElement(answer, f"{{{INTUIT_NS}}}{call.method}Result")
    if isinstance(result, list):
        for item in result:
            etree.SubElement(value, f"{{{INTUIT_NS}}}string").text = item
    else:
        value.text = str(result)
    return _text(envelope)


def fault(message: str, client_error: bool = True, envelope_ns: str = SOAP11_NS) -> str:
    """A SOAP Fault (HTTP 500): only for calls that cannot be understood or a failure of the service itself."""
    envelope, body = _envelope(envelope_ns)
    fault_el = etree.SubElement(body, f"{{{envelope_ns}}}Fault")
    if envelope_ns == SOAP12_NS:
        code = etree.SubElement(etree.SubElement(fault_el, f"{{{envelope_ns}}}Code"), f"{{{envelope_ns}}}Value")
        code.text = "soap:Sender" if client_error else "soap:Receiver"
        reason = etree.SubElement(etree.SubElement(fault_el, f"{{{envelope_ns}}}Reason"), f"{{{envelope_ns}}}Text")
        reason.text = message
    else:
        etree.SubElement(fault_el, "faultcode").text = "soap:Client" if client_error else "soap:Server"
        etree.SubElement(fault_el, "faultstring").text = message
    return _text(envelope)


def _text(envelope: _Element) -> str:
    """The envelope as text (API Gateway passes text bodies through; bytes would be base64-encoded)."""
    body: bytes = etree.tostring(envelope, encoding="utf-8")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + body.decode()


def _element(name: str, params: tuple[str, ...]) -> str:
    fields = "".join(
        f'<s:element minOccurs="{1 if p in INT_PARAMETERS else 0}" maxOccurs="1" name="{p}" '
        f'type="{"s:int" if p in INT_PARAMETERS else "s:string"}"/>'
        for p in params
    )
    return f'<s:element name="{name}"><s:complexType><s:sequence>{fields}</s:sequence></s:complexType></s:element>'


def _result_element(method: str) -> str:
    if method in ARRAY_RESULTS:
        kind, occurs = "tns:ArrayOfString", 0
    elif method in INT_RESULTS:
        kind, occurs = "s:int", 1
    else:
        kind, occurs = "s:string", 0
    return (
        f'<s:element name="{method}Response"><s:complexType><s:sequence><s:element minOccurs="{occurs}" '
        f'maxOccurs="1" name="{method}Result" type="{kind}"/></s:sequence></s:complexType></s:element>'
    )


def wsdl(location: str) -> str:
    """The service description (QBWebConnectorSvc), with soap:address at ``location``."""
    elements = "".join(_element(m, p) + _result_element(m) for m, p in METHODS.items())
    messages = "".join(
        f'<wsdl:message name="{m}SoapIn"><wsdl:part name="parameters" element="tns:{m}"/></wsdl:message>'
        f'<wsdl:message name="{m}SoapOut"><wsdl:part name="parameters" element="tns:{m}Response"/></wsdl:message>'
        for m in METHODS
    )
    port_ops = "".join(
        f'<wsdl:operation name="{m}"><wsdl:input message="tns:{m}SoapIn"/>'
        f'<wsdl:output message="tns:{m}SoapOut"/></wsdl:operation>'
        for m in METHODS
    )

    def binding(prefix: str) -> str:
        return "".join(
            f'<wsdl:operation name="{m}"><{prefix}:operation soapAction="{INTUIT_NS}{m}" style="document"/>'
            f'<wsdl:input><{prefix}:body use="literal"/></wsdl:input>'
            f'<wsdl:output><{prefix}:body use="literal"/></wsdl:output></wsdl:operation>'
            for m in METHODS
        )

    address = quoteattr(location)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<wsdl:definitions xmlns:s="http://www.w3.org/2001/XMLSchema" '
        'xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/" '
        f'xmlns:tns="{INTUIT_NS}" xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" targetNamespace="{INTUIT_NS}">'
        f'<wsdl:types><s:schema elementFormDefault="qualified" targetNamespace="{INTUIT_NS}">'
        f"{elements}"
        '<s:complexType name="ArrayOfString"><s:sequence><s:element minOccurs="0" maxOccurs="unbounded" '
        'name="string" nillable="true" type="s:string"/></s:sequence></s:complexType>'
        "</s:schema></wsdl:types>"
        f"{messages}"
        f'<wsdl:portType name="QBWebConnectorSvcSoap">{port_ops}</wsdl:portType>'
        '<wsdl:binding name="QBWebConnectorSvcSoap" type="tns:QBWebConnectorSvcSoap">'
        f'<soap:binding transport="http://schemas.xmlsoap.org/soap/http"/>{binding("soap")}</wsdl:binding>'
        '<wsdl:binding name="QBWebConnectorSvcSoap12" type="tns:QBWebConnectorSvcSoap">'
        f'<soap12:binding transport="http://schemas.xmlsoap.org/soap/http"/>{binding("soap12")}</wsdl:binding>'
        '<wsdl:service name="QBWebConnectorSvc">'
        '<wsdl:port name="QBWebConnectorSvcSoap" binding="tns:QBWebConnectorSvcSoap">'
        f"<soap:address location={address}/></wsdl:port>"
        f'<wsdl:port name="QBWebConnectorSvcSoap12" binding="tns:QBWebConnectorSvcSoap12">'
        f"<soap12:address location={address}/></wsdl:port>"
        "</wsdl:service></wsdl:definitions>"
    )


SUPPORT_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>Ledgersync for QuickBooks Desktop</title></head><body>"
    "<h1>Ledgersync for QuickBooks Desktop</h1>"
    "<p>This address is the Ledgersync service of the QuickBooks Web Connector. In QuickBooks, choose File &gt; "
    "Update web services, add the .qwc file downloaded from Ledgersync, and enter an API token of your company as "
    "the password.</p>"
    "<p>Bills are sent each time the Web Connector runs. A purchase order that QuickBooks refuses is put in Error "
    "in Ledgersync with the reason, and an e-mail is sent to the addresses in your accounting settings.</p>"
    "</body></html>"
)
