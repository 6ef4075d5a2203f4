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
from ledgersync.domain.sales_invoices import InvoiceDraft, InvoiceLine, InvoiceLineKind, invoice_memo
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


def foreign_draft() -> BillDraft:
    return draft().model_copy(
        update={
            "currency": "CAD",
            "exchange_rate": Decimal("0.73125"),
            "ap_account": "Accounts Payable - CAD",
            "company_currency": "USD",
        }
    )


@pytest.mark.parametrize("version", ["12.0", "8.0", "7.0"])
def test_a_foreign_bill_add_validates_with_its_ap_account_and_rate_in_schema_order(schema: Any, version: str) -> None:
    request = QbxmlCodec().request(operations(foreign_draft()), version, OnError.CONTINUE)

    schema.validate(request)
    add = one(etree.fromstring(request.encode()), ".//BillAdd")
    heading = [child.tag for child in add if child.tag not in ("ItemLineAdd", "ExpenseLineAdd")]
    with_rate = version != "7.0"  # ExchangeRate came with qbXML 8.0
    assert heading == ["VendorRef", "APAccountRef", "TxnDate", "RefNumber", "Memo"] + (["ExchangeRate"] * with_rate)
    assert add.findtext("APAccountRef/FullName") == "Accounts Payable - CAD"
    assert add.findtext("ExchangeRate") == ("0.73125" if with_rate else None)


def test_a_home_bill_add_names_no_ap_account_nor_rate() -> None:
    add = one(
        etree.fromstring(QbxmlCodec().request(operations(draft()), "12.0", OnError.CONTINUE).encode()), ".//BillAdd"
    )
    assert add.find("APAccountRef") is None and add.find("ExchangeRate") is None


@pytest.mark.parametrize("version", ["12.0", "8.0"])
def test_vendor_and_customer_queries_ask_for_the_currency_from_qbxml_8(schema: Any, version: str) -> None:
    ops = [
        Operation("V0", OperationKind.VENDOR_QUERY, "Maple & Sons"),
        Operation("C1", OperationKind.CUSTOMER_QUERY, reference="Bloom <Wholesale>"),
    ]
    request = QbxmlCodec().request(ops, version, OnError.CONTINUE)

    schema.validate(request)
    root = etree.fromstring(request.encode())
    vendor, customer = one(root, ".//VendorQueryRq"), one(root, ".//CustomerQueryRq")
    assert [e.text for e in vendor.findall("IncludeRetElement")] == ["ListID", "Name", "IsActive", "CurrencyRef"]
    assert customer.findtext("FullName") == "Bloom <Wholesale>"
    assert "CurrencyRef" in [e.text for e in customer.findall("IncludeRetElement")]
    old = etree.fromstring(QbxmlCodec().request(ops, "7.0", OnError.CONTINUE).encode())
    assert "CurrencyRef" not in [e.text for e in old.iter("IncludeRetElement")]


def test_results_carry_a_vendors_currency_by_its_name_when_quickbooks_answers() -> None:
    response = (
        '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs><VendorQueryRs requestID="V0" statusCode="0" '
        'statusSeverity="Info" statusMessage="Status OK"><VendorRet><ListID>8000-1</ListID><Name>Maple</Name>'
        "<IsActive>true</IsActive><CurrencyRef><ListID>C-2</ListID><FullName>Canadian Dollar</FullName>"
        "</CurrencyRef></VendorRet></VendorQueryRs></QBXMLMsgsRs></QBXML>"
    )

    (result,) = QbxmlCodec().results(response)

    assert result.records[0].currency == "Canadian Dollar"
    assert result.records[0].name == "Maple"


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


# ---------------------------------------------------------------- sales invoices


def invoice(
    customer: str = "Blumen & Söhne <GmbH>", exchange_rate: Decimal | None = Decimal("1.08372913")
) -> InvoiceDraft:
    return InvoiceDraft(
        company_id="c-1",
        invoice_id=5,
        invoice_number=123456,
        document_version=3,
        store_code="WEB",
        customer_name=customer,
        txn_date=date(2026, 12, 1),
        doc_number="WEB-123456",
        ref_number="WEB~123456",
        currency="EUR" if exchange_rate else None,
        exchange_rate=exchange_rate,
        lines=[
            InvoiceLine(
                kind=InvoiceLineKind.ITEM,
                item_name="Roses",
                quantity=Decimal("250"),
                rate=Decimal("0.3333333"),
                amount=Decimal("83.33"),
                description="Rose Freedom 60cm <HB>",
            ),
            InvoiceLine(
                kind=InvoiceLineKind.CHARGE,
                item_name="Discount",
                quantity=Decimal(1),
                rate=Decimal("-2.50"),
                amount=Decimal("-2.50"),
            ),
        ],
        total=Decimal("80.83"),
        po_number=None,
        memo=invoice_memo(5, 123456, 3),
    )


def invoice_operations(draft: InvoiceDraft) -> list[Operation]:
    return [
        Operation("Q0", OperationKind.INVOICE_QUERY, reference=draft.ref_number),
        Operation("A0", OperationKind.INVOICE_ADD, reference=draft.ref_number, invoice=draft),
        Operation("D1.0", OperationKind.INVOICE_DELETE, reference="WEB~99", txn_id="1A-1700000000"),
    ]


@pytest.mark.parametrize("version", ["12.0", "8.0", "7.0"])
def test_invoice_requests_validate_against_qbxmlops120_when_built(schema: Any, version: str) -> None:
    request = QbxmlCodec().request(invoice_operations(invoice()), version, OnError.CONTINUE)
    schema.validate(request)
    root = etree.fromstring(request.encode())
    assert [rq.tag for rq in one(root, "QBXMLMsgsRq")] == ["InvoiceQueryRq", "InvoiceAddRq", "TxnDelRq"]


def test_invoice_add_carries_the_draft_in_schema_order_when_built() -> None:
    root = etree.fromstring(QbxmlCodec().request(invoice_operations(invoice()), "12.0", OnError.CONTINUE).encode())
    add = one(root, ".//InvoiceAdd")
    assert [child.tag for child in add] == [
        "CustomerRef",
        "TxnDate",
        "RefNumber",
        "Memo",
        "ExchangeRate",
        "InvoiceLineAdd",
        "InvoiceLineAdd",
    ]
    assert add.findtext("CustomerRef/FullName") == "Blumen & Söhne <GmbH>"
    assert (add.findtext("TxnDate"), add.findtext("RefNumber")) == ("2026-12-01", "WEB~123456")
    assert add.findtext("Memo") == "Ledgersync invoice 123456 (id 5, version 3)"
    assert add.findtext("ExchangeRate") == "1.08372913"
    lines = [
        [(child.tag, child.findtext("FullName") if child.tag == "ItemRef" else child.text) for child in line]
        for line in add.findall("InvoiceLineAdd")
    ]
    assert lines == [
        [
            ("ItemRef", "Roses"),
            ("Desc", "Rose Freedom 60cm <HB>"),
            ("Quantity", "250"),
            ("Rate", "0.33333"),
            ("Amount", "83.33"),
        ],
        [("ItemRef", "Discount"), ("Quantity", "1"), ("Rate", "-2.5"), ("Amount", "-2.50")],
    ]


def test_invoice_add_leaves_the_exchange_rate_out_when_the_qbxml_version_predates_it() -> None:
    old = etree.fromstring(QbxmlCodec().request(invoice_operations(invoice()), "7.0", OnError.CONTINUE).encode())
    home = etree.fromstring(
        QbxmlCodec().request(invoice_operations(invoice(exchange_rate=None)), "12.0", OnError.CONTINUE).encode()
    )
    assert old.find(".//InvoiceAdd/ExchangeRate") is None
    assert home.find(".//InvoiceAdd/ExchangeRate") is None


def test_invoice_query_and_delete_name_what_they_look_for_when_built() -> None:
    root = etree.fromstring(QbxmlCodec().request(invoice_operations(invoice()), "12.0", OnError.CONTINUE).encode())
    query = one(root, ".//InvoiceQueryRq")
    assert (query.get("requestID"), query.findtext("RefNumber")) == ("Q0", "WEB~123456")
    assert query.find("IncludeLineItems") is None
    assert {e.text for e in query.findall("IncludeRetElement")} == {"TxnID", "CustomerRef", "RefNumber", "Memo"}
    delete = one(root, ".//TxnDelRq")
    assert (delete.get("requestID"), delete.findtext("TxnDelType"), delete.findtext("TxnID")) == (
        "D1.0",
        "Invoice",
        "1A-1700000000",
    )


def test_results_carry_the_customer_and_memo_of_an_invoice_when_quickbooks_answers() -> None:
    response = """<?xml version="1.0" ?><QBXML><QBXMLMsgsRs>
      <InvoiceQueryRs requestID="Q0" statusCode="0" statusSeverity="Info" statusMessage="Status OK">
        <InvoiceRet><TxnID>7-1</TxnID><CustomerRef><ListID>80-2</ListID><FullName>Ang</FullName></CustomerRef>
        <RefNumber>W1</RefNumber><Memo>Ledgersync invoice 1 (id 1, version 1)</Memo></InvoiceRet></InvoiceQueryRs>
      <TxnDelRs requestID="D1.0" statusCode="3120" statusSeverity="Error" statusMessage="cannot be found"/>
    </QBXMLMsgsRs></QBXML>"""
    query, delete = QbxmlCodec().results(response)
    (record,) = query.records
    assert (record.txn_id, record.customer_name, record.ref_number) == ("7-1", "Ang", "W1")
    assert record.memo == "Ledgersync invoice 1 (id 1, version 1)"
    assert (delete.request_id, delete.status_code, delete.records) == ("D1.0", 3120, [])


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
