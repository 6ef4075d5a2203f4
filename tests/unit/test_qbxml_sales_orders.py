"""qbXML for sales orders: SalesOrderQuery, SalesOrderAdd, SalesOrderMod and the InvoiceAdd that invoices a whole
sales order (LinkToTxnID), each checked against Intuit's qbxmlops120.xsd; and SalesOrderRet read back."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from devstack.fake_qb_company import qbxml_schema
from lxml import etree

from ledgersync.adapters.quickbooks_desktop import QbxmlCodec
from ledgersync.domain.desktop_sync import OnError, Operation, OperationKind
from ledgersync.domain.sales_invoices import InvoiceDraft, InvoiceLine, InvoiceLineKind
from tests.unit.test_qbxml import invoice, one, xsd_dir

SO_MEMO = "Ledgersync sales order 123456 (id 5, version 3)"


@pytest.fixture(scope="module")
def schema() -> Any:
    return qbxml_schema(str(xsd_dir() / "qbxmlops120.xsd"))


def order(exchange_rate: Decimal | None = Decimal("1.08372913")) -> InvoiceDraft:
    """The sales order of invoice 123456: the invoice's draft, with a memo naming the sales order and version."""
    draft = invoice(exchange_rate=exchange_rate)
    discount = InvoiceLine(
        kind=InvoiceLineKind.DISCOUNT, item_name="Early Pay", quantity=Decimal(1), rate=Decimal(-1), amount=Decimal(-1)
    )
    return draft.model_copy(update={"memo": SO_MEMO, "lines": [*draft.lines, discount], "total": Decimal("79.83")})


def operations(draft: InvoiceDraft) -> list[Operation]:
    return [
        Operation("Q0", OperationKind.SALES_ORDER_QUERY, reference=draft.ref_number),
        Operation("Q1", OperationKind.SALES_ORDER_QUERY, txn_id="1F-1700000000", include_lines=True),
        Operation("A0", OperationKind.SALES_ORDER_ADD, reference=draft.ref_number, sales_order=draft),
        Operation(
            "M0",
            OperationKind.SALES_ORDER_MOD,
            reference=draft.ref_number,
            sales_order=draft,
            txn_id="1F-1700000000",
            edit_sequence="1700000123",
        ),
        Operation("M1", OperationKind.SALES_ORDER_MOD, txn_id="1F-1700000000", edit_sequence="1700000124", close=True),
        Operation(
            "L0",
            OperationKind.SALES_ORDER_INVOICE_ADD,
            reference=draft.ref_number,
            invoice=invoice(),
            link_to_txn_id="1F-1700000000",
        ),
    ]


def build(ops: list[Operation], version: str = "12.0") -> etree._Element:
    return etree.fromstring(QbxmlCodec().request(ops, version, OnError.STOP).encode())


@pytest.mark.parametrize("version", ["12.0", "8.0", "7.0"])
def test_sales_order_requests_validate_against_qbxmlops120_when_built(schema: Any, version: str) -> None:
    request = QbxmlCodec().request(operations(order()), version, OnError.CONTINUE)
    schema.validate(request)
    tags = [rq.tag for rq in one(etree.fromstring(request.encode()), "QBXMLMsgsRq")]
    assert tags == [
        "SalesOrderQueryRq",
        "SalesOrderQueryRq",
        "SalesOrderAddRq",
        "SalesOrderModRq",
        "SalesOrderModRq",
        "InvoiceAddRq",
    ]


def test_sales_order_add_carries_the_order_in_schema_order_when_built() -> None:
    add = one(build(operations(order())), ".//SalesOrderAdd")

    assert [child.tag for child in add] == [
        "CustomerRef",
        "TxnDate",
        "RefNumber",
        "Memo",
        "ExchangeRate",
        "SalesOrderLineAdd",
        "SalesOrderLineAdd",
        "SalesOrderLineAdd",
    ]
    assert add.findtext("CustomerRef/FullName") == "Blumen & Söhne <GmbH>"
    assert (add.findtext("TxnDate"), add.findtext("RefNumber"), add.findtext("Memo")) == (
        "2026-12-01",
        "WEB~123456",
        SO_MEMO,
    )
    lines = [
        [(child.tag, child.findtext("FullName") if child.tag == "ItemRef" else child.text) for child in line]
        for line in add.findall("SalesOrderLineAdd")
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
        [("ItemRef", "Early Pay"), ("Amount", "-1.00")],
    ]


def test_sales_order_mod_replaces_every_line_at_the_edit_sequence_when_built() -> None:
    mod = one(build(operations(order())), ".//SalesOrderModRq[@requestID='M0']/SalesOrderMod")

    assert [child.tag for child in mod][:6] == ["TxnID", "EditSequence", "CustomerRef", "TxnDate", "RefNumber", "Memo"]
    assert (mod.findtext("TxnID"), mod.findtext("EditSequence")) == ("1F-1700000000", "1700000123")
    assert mod.find("IsManuallyClosed") is None
    lines = mod.findall("SalesOrderLineMod")
    assert [line.findtext("TxnLineID") for line in lines] == ["-1", "-1", "-1"]
    assert [line.findtext("ItemRef/FullName") for line in lines] == ["Roses", "Discount", "Early Pay"]
    assert [line.findtext("Amount") for line in lines] == ["83.33", "-2.50", "-1.00"]


def test_sales_order_mod_that_closes_names_only_the_order_and_is_manually_closed_when_built() -> None:
    mod = one(build(operations(order())), ".//SalesOrderModRq[@requestID='M1']/SalesOrderMod")

    assert [(child.tag, child.text) for child in mod] == [
        ("TxnID", "1F-1700000000"),
        ("EditSequence", "1700000124"),
        ("IsManuallyClosed", "true"),
    ]


def test_sales_order_mod_that_changes_and_closes_puts_is_manually_closed_before_the_memo(schema: Any) -> None:
    op = Operation(
        "M2", OperationKind.SALES_ORDER_MOD, sales_order=order(), txn_id="1F-1", edit_sequence="7", close=True
    )
    request = QbxmlCodec().request([op], "12.0", OnError.STOP)

    schema.validate(request)
    mod = one(etree.fromstring(request.encode()), ".//SalesOrderMod")
    tags = [child.tag for child in mod]
    assert tags.index("RefNumber") < tags.index("IsManuallyClosed") < tags.index("Memo")


def test_sales_order_query_asks_for_links_and_lines_only_for_a_mod_when_built() -> None:
    root = build(operations(order()))
    by_ref = one(root, ".//SalesOrderQueryRq[@requestID='Q0']")
    by_id = one(root, ".//SalesOrderQueryRq[@requestID='Q1']")

    assert (by_ref.findtext("RefNumber"), by_ref.find("TxnID")) == ("WEB~123456", None)
    assert by_ref.find("IncludeLineItems") is None
    assert by_ref.findtext("IncludeLinkedTxns") == "true"
    wanted = [e.text for e in by_ref.findall("IncludeRetElement")]
    assert {"TxnID", "EditSequence", "Memo", "LinkedTxn", "IsFullyInvoiced", "IsManuallyClosed"} <= set(wanted)
    assert "SalesOrderLineRet" not in wanted
    assert (by_id.findtext("TxnID"), by_id.find("RefNumber")) == ("1F-1700000000", None)
    assert by_id.findtext("IncludeLineItems") == "true"
    assert "SalesOrderLineRet" in [e.text for e in by_id.findall("IncludeRetElement")]


def test_invoice_add_of_a_sales_order_links_it_and_carries_no_lines_of_its_own_when_built() -> None:
    add = one(build(operations(order())), ".//InvoiceAddRq[@requestID='L0']/InvoiceAdd")

    assert [child.tag for child in add] == [
        "CustomerRef",
        "TxnDate",
        "RefNumber",
        "Memo",
        "ExchangeRate",
        "LinkToTxnID",
    ]
    assert add.findtext("LinkToTxnID") == "1F-1700000000"
    assert add.findtext("Memo") == "Ledgersync invoice 123456 (id 5, version 3)"  # the invoice's memo, not the order's


def test_sales_orders_leave_the_exchange_rate_out_when_the_qbxml_version_predates_it() -> None:
    old = build(operations(order()), "7.0")
    home = build(operations(order(exchange_rate=None)))

    for root in (old, home):
        assert root.find(".//SalesOrderAdd/ExchangeRate") is None
        assert root.find(".//SalesOrderMod/ExchangeRate") is None


@pytest.mark.parametrize(
    "op",
    [
        Operation("A0", OperationKind.SALES_ORDER_ADD, reference="W1"),
        Operation("M0", OperationKind.SALES_ORDER_MOD, txn_id="1-1", close=True),
        Operation("M0", OperationKind.SALES_ORDER_MOD, txn_id="1-1", edit_sequence="1"),
        Operation("L0", OperationKind.SALES_ORDER_INVOICE_ADD, reference="W1", invoice=invoice()),
    ],
    ids=["add-without-order", "mod-without-edit-sequence", "mod-with-nothing-to-change", "link-without-txn-id"],
)
def test_sales_order_builders_refuse_an_operation_that_lacks_what_qbxml_requires(op: Operation) -> None:
    with pytest.raises(ValueError, match=r"needs"):
        QbxmlCodec().request([op], "12.0", OnError.STOP)


def test_sales_order_add_refuses_an_order_without_lines() -> None:
    empty = order().model_copy(update={"lines": []})
    with pytest.raises(ValueError, match="at least one line"):
        QbxmlCodec().request([Operation("A0", OperationKind.SALES_ORDER_ADD, sales_order=empty)], "12.0", OnError.STOP)


def test_results_carry_the_edit_state_links_and_lines_of_a_sales_order_when_quickbooks_answers() -> None:
    response = """<?xml version="1.0" ?><QBXML><QBXMLMsgsRs>
      <SalesOrderQueryRs requestID="Q0" statusCode="0" statusSeverity="Info" statusMessage="Status OK">
        <SalesOrderRet><TxnID>1F-1</TxnID><EditSequence>1700000125</EditSequence>
        <CustomerRef><ListID>80-2</ListID><FullName>Ang</FullName></CustomerRef><RefNumber>W1</RefNumber>
        <TotalAmount>79.83</TotalAmount><IsManuallyClosed>false</IsManuallyClosed>
        <IsFullyInvoiced>true</IsFullyInvoiced><Memo>Ledgersync sales order 1 (id 1, version 2)</Memo>
        <LinkedTxn><TxnID>20-1</TxnID><TxnType>Invoice</TxnType><TxnDate>2026-12-02</TxnDate>
        <Amount>79.83</Amount></LinkedTxn>
        <SalesOrderLineRet><TxnLineID>21-1</TxnLineID></SalesOrderLineRet>
        <SalesOrderLineRet><TxnLineID>22-1</TxnLineID></SalesOrderLineRet></SalesOrderRet></SalesOrderQueryRs>
      <SalesOrderModRs requestID="M0" statusCode="3200" statusSeverity="Error"
        statusMessage="The provided edit sequence &quot;1700000124&quot; is out-of-date. "/>
    </QBXMLMsgsRs></QBXML>"""
    query, mod = QbxmlCodec().results(response)
    (record,) = query.records

    assert (record.txn_id, record.edit_sequence, record.ref_number, record.customer_name) == (
        "1F-1",
        "1700000125",
        "W1",
        "Ang",
    )
    assert (record.is_manually_closed, record.is_fully_invoiced) == (False, True)
    assert record.total == Decimal("79.83")
    assert record.linked_txn_ids == ("20-1",)
    assert record.line_ids == ("21-1", "22-1")
    assert record.memo == "Ledgersync sales order 1 (id 1, version 2)"
    assert (mod.status_code, mod.records) == (3200, [])
