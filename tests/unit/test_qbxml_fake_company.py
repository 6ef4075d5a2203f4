"""The fake company file answers qbXML with QuickBooks' status codes, so the service's tests mean something."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from devstack.fake_qb_company import PARSE_ERROR_HRESULT, FakeCompany
from lxml import etree

XSD_DIR = Path(os.environ.get("QBXML_XSD_DIR") or Path(__file__).resolve().parents[3] / "shared/schemas/qbxml")


def message(*requests: str, on_error: str = "continueOnError") -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="12.0"?>\n<QBXML>'
        f'<QBXMLMsgsRq onError="{on_error}">{"".join(requests)}</QBXMLMsgsRq></QBXML>'
    )


def bill_add(
    vendor: str = "Flores",
    ref: str = "PO1-A",
    item: str = "Fresh Cut Flowers",
    klass: str | None = None,
    request_id: str = "1",
) -> str:
    class_ref = f"<ClassRef><FullName>{klass}</FullName></ClassRef>" if klass else ""
    return (
        f'<BillAddRq requestID="{request_id}"><BillAdd><VendorRef><FullName>{vendor}</FullName></VendorRef>'
        f"<TxnDate>2024-04-28</TxnDate><RefNumber>{ref}</RefNumber><Memo>{ref}</Memo>"
        f"<ItemLineAdd><ItemRef><FullName>{item}</FullName></ItemRef><Amount>10.00</Amount>{class_ref}"
        "</ItemLineAdd></BillAdd></BillAddRq>"
    )


def statuses(response: str) -> list[tuple[str, int]]:
    msgs = etree.fromstring(response.encode()).find("QBXMLMsgsRs")
    assert msgs is not None
    return [(str(rs.tag), int(rs.get("statusCode", ""))) for rs in msgs]


@pytest.fixture
def company() -> FakeCompany:
    return FakeCompany(
        vendors=["Flores"], items=["Fresh Cut Flowers"], classes=["Miami"], customers=["ANG"], xsd_dir=XSD_DIR
    )


def test_vendor_query_answers_500_when_the_named_vendor_is_missing(company: FakeCompany) -> None:
    reply = company.process(
        message(
            '<VendorQueryRq requestID="1"><FullName>Flores</FullName></VendorQueryRq>',
            '<VendorQueryRq requestID="2"><FullName>Nobody</FullName></VendorQueryRq>',
        )
    )
    assert statuses(reply.response) == [("VendorQueryRs", 0), ("VendorQueryRs", 500)]


def test_bill_query_answers_1_when_nothing_matches_and_0_with_the_bill_when_it_exists(company: FakeCompany) -> None:
    query = (
        '<BillQueryRq requestID="q"><EntityFilter><FullName>Flores</FullName></EntityFilter><RefNumberFilter>'
        "<MatchCriterion>StartsWith</MatchCriterion><RefNumber>PO1-A</RefNumber></RefNumberFilter></BillQueryRq>"
    )
    assert statuses(company.process(message(query)).response) == [("BillQueryRs", 1)]
    company.process(message(bill_add()))
    found = etree.fromstring(company.process(message(query)).response.encode())
    assert found.findtext(".//BillRet/RefNumber") == "PO1-A"
    assert found.findtext(".//BillRet/VendorRef/FullName") == "Flores"


def test_bill_add_answers_3140_when_a_reference_is_invalid(company: FakeCompany) -> None:
    reply = company.process(
        message(
            bill_add(vendor="Nobody", request_id="v"),
            bill_add(item="Tulips", request_id="i"),
            bill_add(klass="Chicago", request_id="c"),
            bill_add(request_id="ok"),
        )
    )
    assert statuses(reply.response) == [("BillAddRs", 3140)] * 3 + [("BillAddRs", 0)]
    messages = [rs.get("statusMessage") for rs in etree.fromstring(reply.response.encode()).iter("BillAddRs")]
    assert str(messages[0]).startswith('There is an invalid reference to QuickBooks Vendor "Nobody" in the Bill.')
    assert len(company.bills) == 1


def test_bill_add_keeps_both_bills_when_the_ref_number_repeats(company: FakeCompany) -> None:
    company.process(message(bill_add(request_id="1"), bill_add(request_id="2")))
    assert len(company.bills_with_ref("PO1-A")) == 2


def test_messages_stop_at_the_first_error_when_on_error_is_stop(company: FakeCompany) -> None:
    reply = company.process(message(bill_add(vendor="Nobody"), bill_add(), on_error="stopOnError"))
    assert statuses(reply.response) == [("BillAddRs", 3140)]
    assert company.bills == []


def test_vendor_add_answers_3100_when_the_name_is_in_use(company: FakeCompany) -> None:
    reply = company.process(
        message('<VendorAddRq requestID="1"><VendorAdd><Name>Flores</Name></VendorAdd></VendorAddRq>')
    )
    assert statuses(reply.response) == [("VendorAddRs", 3100)]


def test_invoice_add_answers_3140_for_an_unknown_customer_and_0_otherwise(company: FakeCompany) -> None:
    def invoice(customer: str) -> str:
        return (
            f'<InvoiceAddRq requestID="{customer}"><InvoiceAdd><CustomerRef><FullName>{customer}</FullName>'
            "</CustomerRef><RefNumber>01-P002272</RefNumber><InvoiceLineAdd><ItemRef><FullName>Fresh Cut Flowers"
            "</FullName></ItemRef><Amount>30.00</Amount></InvoiceLineAdd></InvoiceAdd></InvoiceAddRq>"
        )

    reply = company.process(message(invoice("Nobody"), invoice("ANG")))
    assert statuses(reply.response) == [("InvoiceAddRs", 3140), ("InvoiceAddRs", 0)]
    assert [i.ref_number for i in company.invoices] == ["01-P002272"]


def test_injected_errors_answer_with_their_code_when_set(company: FakeCompany) -> None:
    company.inject_error("BillAdd", 3180, "There was an error when saving a Bill.")
    reply = company.process(message(bill_add(request_id="1"), bill_add(request_id="2")))
    assert statuses(reply.response) == [("BillAddRs", 3180), ("BillAddRs", 0)]


def test_invalid_requests_get_an_hresult_not_a_response_when_they_break_the_schema(company: FakeCompany) -> None:
    out_of_order = (
        "<BillAddRq><BillAdd><RefNumber>PO1</RefNumber><VendorRef><FullName>Flores</FullName>"
        "</VendorRef></BillAdd></BillAddRq>"
    )
    reply = company.process(message(out_of_order))
    assert (reply.response, reply.hresult) == ("", PARSE_ERROR_HRESULT)
    assert company.bills == []
