"""qbXML requests (checked against Intuit's qbxmlops120.xsd), qbXML responses, and the .qwc file."""

from __future__ import annotations

import os
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from devstack.fake_qb_company import qbxml_schema
from lxml import etree

from ledgersync.adapters.quickbooks_desktop import OWNER_ID, QbxmlCodec, file_id_for, render_qwc
from ledgersync.domain.desktop_sync import OnError, Operation, OperationKind
from ledgersync.domain.purchase_order_bills import BillDraft, BillLine, BillLineKind
from ledgersync.errors import PermanentError, ValidationFailed

REPO_ROOT = Path(__file__).resolve().parents[2]


def one(element: etree._Element, path: str) -> etree._Element:
    found = element.find(path)
    assert found is not None, path
    return found


def text(element: etree._Element, path: str) -> str:
    found = element.findtext(path)
    assert found is not None, path
    return found


def xsd_dir() -> Path:
    return Path(os.environ.get("QBXML_XSD_DIR") or REPO_ROOT.parent / "shared" / "schemas" / "qbxml")


@pytest.fixture(scope="module")
def schema() -> Any:
    return qbxml_schema(str(xsd_dir() / "qbxmlops120.xsd"))


def draft(po_number: str = "PO1001", invoice_number: str = "A-77", vendor: str = "Flores & Hijos <S.A.>") -> BillDraft:
    return BillDraft(
        company_id="c-1",
        purchase_order_id=1001,
        po_number=po_number,
        invoice_number=invoice_number,
        vendor_name=vendor,
        txn_date=date(2024, 4, 28),
        currency=None,
        memo=f"Ledgersync {po_number}-{invoice_number}",
        lines=[
            BillLine(
                kind=BillLineKind.ITEM,
                ref_name="Fresh Cut Flowers",
                amount=Decimal("60.00"),
                description="Fresh Cut Flowers",
                class_name="Miami",
            ),
            BillLine(kind=BillLineKind.ITEM, ref_name="Roses", amount=Decimal("40.01"), description="Roses"),
            BillLine(
                kind=BillLineKind.ACCOUNT,
                ref_name="Freight",
                amount=Decimal("12.50"),
                description="Freight",
                class_name="Miami",
            ),
            BillLine(kind=BillLineKind.ACCOUNT, ref_name="Discounts", amount=Decimal("-2.51"), description=None),
        ],
    )


def operations(bill: BillDraft) -> list[Operation]:
    reference = bill.reference(20)
    return [
        Operation("V0", OperationKind.VENDOR_QUERY, bill.vendor_name),
        Operation("Q0", OperationKind.BILL_QUERY, bill.vendor_name, reference),
        Operation("A0", OperationKind.BILL_ADD, bill.vendor_name, reference, bill),
    ]


@pytest.mark.parametrize("version", ["12.0", "8.0"])
@pytest.mark.parametrize("on_error", list(OnError))
def test_request_validates_against_qbxmlops120_when_built(schema: Any, version: str, on_error: OnError) -> None:
    request = QbxmlCodec().request(operations(draft()), version, on_error)
    schema.validate(request)
    assert request.startswith(f'<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="{version}"?>\n<QBXML>')
    assert one(etree.fromstring(request.encode()), "QBXMLMsgsRq").get("onError") == on_error.value


def test_request_validates_when_the_reference_had_to_be_shortened(schema: Any) -> None:
    long = draft(po_number="PO-2024-0000001001", invoice_number="GROWER-INVOICE-000077")
    request = QbxmlCodec().request(operations(long), "12.0", OnError.CONTINUE)
    schema.validate(request)
    root = etree.fromstring(request.encode())
    assert len(text(root, ".//BillAdd/RefNumber")) == 20
    assert "PO-2024-0000001001-GROWER-INVOICE-000077" in text(root, ".//BillAdd/Memo")


def test_bill_add_carries_the_mapping_when_built() -> None:
    root = etree.fromstring(QbxmlCodec().request(operations(draft()), "12.0", OnError.CONTINUE).encode())
    add = one(root, ".//BillAdd")
    assert add.findtext("VendorRef/FullName") == "Flores & Hijos <S.A.>"
    assert add.findtext("TxnDate") == "2024-04-28"
    assert add.findtext("RefNumber") == "PO1001-A-77"
    items = [
        (x.findtext("ItemRef/FullName"), x.findtext("Desc"), x.findtext("Amount"), x.findtext("ClassRef/FullName"))
        for x in add.findall("ItemLineAdd")
    ]
    assert items == [("Fresh Cut Flowers", "Fresh Cut Flowers", "60.00", "Miami"), ("Roses", "Roses", "40.01", None)]
    expenses = [
        (x.findtext("AccountRef/FullName"), x.findtext("Amount"), x.findtext("ClassRef/FullName"))
        for x in add.findall("ExpenseLineAdd")
    ]
    assert expenses == [("Freight", "12.50", "Miami"), ("Discounts", "-2.51", None)]
    total = sum((Decimal(a.text or "") for a in add.iter("Amount")), Decimal(0))
    assert total == draft().total == Decimal("110.00")


def test_values_are_escaped_when_they_hold_markup() -> None:
    request = QbxmlCodec().request(operations(draft(vendor='A&B "<x>" Flowers')), "12.0", OnError.STOP)
    assert "A&amp;B" in request and "&lt;x&gt;" in request
    assert text(etree.fromstring(request.encode()), ".//VendorQueryRq/FullName") == 'A&B "<x>" Flowers'


def test_bill_query_looks_for_the_reference_of_that_vendor_when_built() -> None:
    root = etree.fromstring(QbxmlCodec().request(operations(draft()), "12.0", OnError.CONTINUE).encode())
    query = one(root, ".//BillQueryRq")
    assert query.get("requestID") == "Q0"
    assert query.findtext("EntityFilter/FullName") == "Flores & Hijos <S.A.>"
    assert query.findtext("RefNumberFilter/RefNumber") == "PO1001-A-77"
    assert "Memo" in [e.text for e in query.findall("IncludeRetElement")]


def test_results_carry_status_and_records_when_quickbooks_answers() -> None:
    response = """<?xml version="1.0" ?><QBXML><QBXMLMsgsRs>
      <VendorQueryRs requestID="V0" statusCode="500" statusSeverity="Warn" statusMessage="not found"/>
      <BillQueryRs requestID="Q0" statusCode="0" statusSeverity="Info" statusMessage="Status OK">
        <BillRet><TxnID>12-345</TxnID><VendorRef><ListID>80-1</ListID><FullName>Flores</FullName></VendorRef>
        <RefNumber>PO1-A</RefNumber><Memo>PO1-A</Memo></BillRet></BillQueryRs>
      <BillAddRs requestID="A0" statusCode="3140" statusSeverity="Error" statusMessage="invalid reference"/>
    </QBXMLMsgsRs></QBXML>"""
    vendor, query, add = QbxmlCodec().results(response)
    assert (vendor.request_id, vendor.status_code, vendor.records) == ("V0", 500, [])
    assert query.records[0].txn_id == "12-345"
    assert query.records[0].vendor_name == "Flores"
    assert query.records[0].ref_number == "PO1-A"
    assert (add.status_code, add.status_severity, add.status_message) == (3140, "Error", "invalid reference")


@pytest.mark.parametrize(
    "response",
    [
        "not xml",
        "<html><body>502</body></html>",
        '<QBXML><QBXMLMsgsRs><BillAddRs statusCode="x"/></QBXMLMsgsRs></QBXML>',
        '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><QBXML>&e;</QBXML>',
    ],
)
def test_results_raise_permanent_error_when_the_answer_is_not_qbxml(response: str) -> None:
    with pytest.raises(PermanentError):
        QbxmlCodec().results(response)


# ---------------------------------------------------------------- the .qwc file


def qwc(**overrides: Any) -> etree._Element:
    args: dict[str, Any] = {
        "company_id": "c-1",
        "company_name": "Demo & <Flowers>",
        "user_name": "demo_user",
        "app_url": "https://api.example.com/prod/qbwc",
        "run_every_minutes": 15,
        **overrides,
    }
    return etree.fromstring(render_qwc(**args))


def test_qwc_has_every_field_in_order_when_rendered() -> None:
    root = qwc()
    assert [child.tag for child in root] == [
        "AppName",
        "AppID",
        "AppURL",
        "AppDescription",
        "AppSupport",
        "UserName",
        "OwnerID",
        "FileID",
        "QBType",
        "Scheduler",
        "IsReadOnly",
    ]
    assert root.findtext("AppURL") == "https://api.example.com/prod/qbwc"
    assert text(root, "AppSupport").startswith("https://api.example.com/")
    assert root.findtext("UserName") == "demo_user"
    assert root.findtext("QBType") == "QBFS"
    assert root.findtext("Scheduler/RunEveryNMinutes") == "15"
    assert root.findtext("IsReadOnly") == "false"
    assert "Demo & <Flowers>" in text(root, "AppName")


def test_qwc_escapes_values_when_they_hold_markup() -> None:
    document = render_qwc("c-1", "A&B <Flowers>", "u&<>", "https://h.example.com/qbwc", 30).decode()
    assert "A&amp;B &lt;Flowers&gt;" in document
    assert "<UserName>u&amp;&lt;&gt;</UserName>" in document


def test_qwc_ids_are_stable_when_downloaded_again() -> None:
    first, again, other = qwc(), qwc(company_name="Renamed"), qwc(company_id="c-2")
    assert first.findtext("FileID") == again.findtext("FileID") == file_id_for("c-1")
    assert first.findtext("FileID") != other.findtext("FileID")
    assert first.findtext("OwnerID") == other.findtext("OwnerID") == OWNER_ID
    for guid in (text(first, "FileID"), OWNER_ID):
        assert guid.startswith("{") and guid.endswith("}")
        uuid.UUID(guid[1:-1])


def test_qwc_schedule_follows_the_setting_when_rendered() -> None:
    assert qwc(run_every_minutes=60).findtext("Scheduler/RunEveryNMinutes") == "60"
    with pytest.raises(ValidationFailed):
        qwc(run_every_minutes=0)


@pytest.mark.parametrize("url", ["http://api.example.com/qbwc", "ftp://api.example.com/qbwc", "/qbwc"])
def test_qwc_is_refused_when_the_app_url_is_not_https(url: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        qwc(app_url=url)
    assert refused.value.errors[0].field == "appUrl"


@pytest.mark.parametrize("url", ["http://localhost:3000/qbwc", "http://127.0.0.1:3000/qbwc"])
def test_qwc_accepts_http_when_the_app_url_is_local(url: str) -> None:
    assert qwc(app_url=url).findtext("AppURL") == url
