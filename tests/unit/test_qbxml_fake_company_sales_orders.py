"""The fake Desktop company's sales orders: SalesOrderAdd, SalesOrderQuery, SalesOrderMod at the EditSequence (3200
when stale), IsManuallyClosed, and the InvoiceAdd that links a whole order (LinkToTxnID: its lines come in, the order
is fully invoiced and closed; 3120 for an unknown one, 570 for a closed one), each answer valid against Intuit's
qbXML schema."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from devstack.fake_qb_company import FakeCompany
from lxml import etree

from ledgersync.adapters.quickbooks_desktop import QbxmlCodec
from ledgersync.domain.desktop_sync import OnError, Operation, OperationKind
from ledgersync.domain.sales_invoices import InvoiceDraft, InvoiceLine, InvoiceLineKind
from tests.unit.test_qbxml_fake_company import XSD_DIR, statuses
from tests.unit.test_qbxml_fake_company_sales import answer, txn_del

SO_MEMO = "Ledgersync sales order 1001 (id 7, version 1)"


def so_add(ref: str = "S1001", customer: str = "Ang Flowers LLC", item: str = "Fresh Cut Flowers") -> str:
    return (
        f'<SalesOrderAddRq requestID="so-{ref}"><SalesOrderAdd><CustomerRef><FullName>{customer}</FullName>'
        f"</CustomerRef><TxnDate>2026-12-01</TxnDate><RefNumber>{ref}</RefNumber><Memo>{SO_MEMO}</Memo>"
        f"<SalesOrderLineAdd><ItemRef><FullName>{item}</FullName></ItemRef><Quantity>60</Quantity><Rate>0.30</Rate>"
        "</SalesOrderLineAdd>"
        "<SalesOrderLineAdd><ItemRef><FullName>Freight</FullName></ItemRef><Amount>12.50</Amount></SalesOrderLineAdd>"
        "</SalesOrderAdd></SalesOrderAddRq>"
    )


def so_query(*, ref: str | None = None, txn_id: str | None = None, lines: bool = False, links: bool = False) -> str:
    selector = f"<TxnID>{txn_id}</TxnID>" if txn_id is not None else f"<RefNumber>{ref}</RefNumber>"
    include = ("<IncludeLineItems>true</IncludeLineItems>" if lines else "") + (
        "<IncludeLinkedTxns>true</IncludeLinkedTxns>" if links else ""
    )
    return f'<SalesOrderQueryRq requestID="q">{selector}{include}</SalesOrderQueryRq>'


def so_mod(txn_id: str, edit_sequence: str, body: str) -> str:
    return (
        f'<SalesOrderModRq requestID="m"><SalesOrderMod><TxnID>{txn_id}</TxnID>'
        f"<EditSequence>{edit_sequence}</EditSequence>{body}</SalesOrderMod></SalesOrderModRq>"
    )


def line_mod(line_id: str, quantity: str, item: str = "Fresh Cut Flowers", rate: str = "0.30") -> str:
    return (
        f"<SalesOrderLineMod><TxnLineID>{line_id}</TxnLineID><ItemRef><FullName>{item}</FullName></ItemRef>"
        f"<Quantity>{quantity}</Quantity><Rate>{rate}</Rate></SalesOrderLineMod>"
    )


def linked_invoice_add(so_txn_id: str, ref: str = "D1001", own_line: bool = False) -> str:
    own = (
        "<InvoiceLineAdd><ItemRef><FullName>Freight</FullName></ItemRef><Amount>5.00</Amount></InvoiceLineAdd>"
        if own_line
        else ""
    )
    return (
        '<InvoiceAddRq requestID="li"><InvoiceAdd><CustomerRef><FullName>Ang Flowers LLC</FullName></CustomerRef>'
        f"<TxnDate>2026-12-02</TxnDate><RefNumber>{ref}</RefNumber><LinkToTxnID>{so_txn_id}</LinkToTxnID>{own}"
        "</InvoiceAdd></InvoiceAddRq>"
    )


def ret(root: etree._Element, path: str) -> etree._Element:
    found = root.find(f"QBXMLMsgsRs/{path}")
    assert found is not None, etree.tostring(root).decode()
    return found


def added(company: FakeCompany, ref: str = "S1001") -> tuple[str, str]:
    """Add a sales order; its TxnID and EditSequence."""
    order = ret(answer(company, so_add(ref)), "SalesOrderAddRs/SalesOrderRet")
    return str(order.findtext("TxnID")), str(order.findtext("EditSequence"))


def codes(root: etree._Element) -> list[tuple[str, int]]:
    return statuses(etree.tostring(root).decode())


@pytest.fixture
def company() -> FakeCompany:
    return FakeCompany(
        items=["Fresh Cut Flowers", "Freight"], customers=["Ang Flowers LLC", "Bloom Wholesale Inc"], xsd_dir=XSD_DIR
    )


def test_sales_order_add_answers_a_schema_valid_sales_order_ret_with_lines_and_edit_sequence(
    company: FakeCompany,
) -> None:
    order = ret(answer(company, so_add()), "SalesOrderAddRs/SalesOrderRet")

    assert (order.findtext("RefNumber"), order.findtext("Memo"), order.findtext("TotalAmount")) == (
        "S1001",
        SO_MEMO,
        "30.50",
    )
    assert order.findtext("EditSequence") and order.findtext("IsManuallyClosed") == "false"
    assert order.findtext("IsFullyInvoiced") == "false"
    assert [line.findtext("Amount") for line in order.findall("SalesOrderLineRet")] == ["18.00", "12.50"]
    assert all(line.findtext("TxnLineID") for line in order.findall("SalesOrderLineRet"))
    assert [o.txn_id for o in company.sales_orders_with_ref("s1001")] == [order.findtext("TxnID")]


def test_sales_order_add_refuses_an_unknown_customer_or_item_with_3140(company: FakeCompany) -> None:
    root = answer(company, so_add("S2", customer="Nobody"), so_add("S3", item="Tulips"))

    assert codes(root) == [("SalesOrderAddRs", 3140), ("SalesOrderAddRs", 3140)]
    assert company.sales_orders == []


def test_sales_orders_answer_3250_in_an_edition_without_them() -> None:
    pro = FakeCompany(customers=["Ang Flowers LLC"], items=["Fresh Cut Flowers", "Freight"], xsd_dir=XSD_DIR)
    pro.sales_orders_enabled = False

    root = answer(pro, so_add(), so_query(ref="S1001"), so_mod("1-1", "1", "<Memo>x</Memo>"))

    assert codes(root) == [("SalesOrderAddRs", 3250), ("SalesOrderQueryRs", 3250), ("SalesOrderModRs", 3250)]
    assert pro.sales_orders == []


def test_sales_order_query_finds_by_ref_number_or_txn_id_with_lines_only_when_asked(company: FakeCompany) -> None:
    txn_id, edit_sequence = added(company)

    by_ref = ret(answer(company, so_query(ref="s1001")), "SalesOrderQueryRs/SalesOrderRet")
    by_id = ret(answer(company, so_query(txn_id=txn_id, lines=True)), "SalesOrderQueryRs/SalesOrderRet")
    none = answer(company, so_query(ref="S9"), so_query(txn_id="FFFF-1"))

    assert (by_ref.findtext("TxnID"), by_ref.findtext("EditSequence")) == (txn_id, edit_sequence)
    assert by_ref.findall("SalesOrderLineRet") == []
    assert len(by_id.findall("SalesOrderLineRet")) == 2
    assert codes(none) == [("SalesOrderQueryRs", 1), ("SalesOrderQueryRs", 500)]


def test_sales_order_mod_at_the_edit_sequence_replaces_the_lines_and_gives_a_new_edit_sequence(
    company: FakeCompany,
) -> None:
    txn_id, edit_sequence = added(company)
    memo = "Ledgersync sales order 1001 (id 7, version 2)"

    modded = ret(
        answer(company, so_mod(txn_id, edit_sequence, f"<Memo>{memo}</Memo>{line_mod('-1', '100')}")),
        "SalesOrderModRs/SalesOrderRet",
    )

    assert modded.findtext("EditSequence") not in (None, edit_sequence)
    assert (modded.findtext("Memo"), modded.findtext("TotalAmount")) == (memo, "30.00")
    assert [line.findtext("Quantity") for line in modded.findall("SalesOrderLineRet")] == ["100"]  # Freight removed
    (order,) = company.sales_orders
    assert [line["quantity"] for line in order.lines] == ["100"] and order.memo == memo


def test_sales_order_mod_with_a_stale_edit_sequence_answers_3200_and_changes_nothing(company: FakeCompany) -> None:
    txn_id, edit_sequence = added(company)
    answer(company, so_mod(txn_id, edit_sequence, "<Memo>first change</Memo>"))

    stale = answer(company, so_mod(txn_id, edit_sequence, f"<Memo>second</Memo>{line_mod('-1', '1')}"))
    unknown = answer(company, so_mod("FFFF-1", edit_sequence, "<Memo>x</Memo>"))

    rs = ret(stale, "SalesOrderModRs")
    assert (rs.get("statusCode"), rs.get("statusSeverity")) == ("3200", "Error")
    assert rs.get("statusMessage") == f'The provided edit sequence "{edit_sequence}" is out-of-date. '
    assert codes(unknown) == [("SalesOrderModRs", 3120)]
    (order,) = company.sales_orders
    assert order.memo == "first change" and len(order.lines) == 2


def test_sales_order_mod_keeps_a_named_line_and_refuses_an_unknown_txn_line_id(company: FakeCompany) -> None:
    txn_id, edit_sequence = added(company)
    first_line = company.sales_orders[0].lines[0]["id"]

    kept = ret(answer(company, so_mod(txn_id, edit_sequence, line_mod(first_line, "75"))), "SalesOrderModRs")
    refused = answer(company, so_mod(txn_id, str(kept.findtext("SalesOrderRet/EditSequence")), line_mod("9-9", "1")))

    assert [(line.findtext("TxnLineID"), line.findtext("Quantity")) for line in kept.iter("SalesOrderLineRet")] == [
        (first_line, "75")
    ]
    assert codes(refused) == [("SalesOrderModRs", 3120)]


def test_sales_order_mod_closes_by_hand_and_keeps_the_lines_when_it_names_none(company: FakeCompany) -> None:
    txn_id, edit_sequence = added(company)

    closed = ret(
        answer(company, so_mod(txn_id, edit_sequence, "<IsManuallyClosed>true</IsManuallyClosed>")),
        "SalesOrderModRs/SalesOrderRet",
    )

    assert closed.findtext("IsManuallyClosed") == "true"
    assert len(closed.findall("SalesOrderLineRet")) == 2
    assert company.sales_orders[0].is_closed


def test_invoice_add_linking_a_sales_order_brings_its_lines_and_closes_it_fully_invoiced(
    company: FakeCompany,
) -> None:
    txn_id, edit_sequence = added(company)

    invoice = ret(answer(company, linked_invoice_add(txn_id)), "InvoiceAddRs")
    after = ret(answer(company, so_query(ref="S1001", links=True, lines=True)), "SalesOrderQueryRs/SalesOrderRet")
    stale = answer(company, so_mod(txn_id, edit_sequence, "<Memo>too late</Memo>"))

    assert invoice.get("statusCode") == "0"
    assert [line.findtext("Amount") for line in invoice.iter("InvoiceLineRet")] == ["18.00", "12.50"]
    assert invoice.findtext("InvoiceRet/Subtotal") == "30.50"
    assert invoice.findtext("InvoiceRet/LinkedTxn/TxnID") == txn_id
    assert invoice.findtext("InvoiceRet/LinkedTxn/TxnType") == "SalesOrder"
    assert (after.findtext("IsFullyInvoiced"), after.findtext("IsManuallyClosed")) == ("true", "false")
    assert after.findtext("LinkedTxn/TxnID") == invoice.findtext("InvoiceRet/TxnID")
    assert [line.findtext("Invoiced") for line in after.findall("SalesOrderLineRet")] == ["60", "1"]
    assert after.findtext("EditSequence") != edit_sequence  # the link changed the order
    assert codes(stale) == [("SalesOrderModRs", 3200)]
    assert company.sales_orders[0].is_closed


def test_invoice_add_linking_an_unknown_sales_order_answers_3120_and_adds_nothing(company: FakeCompany) -> None:
    root = answer(company, linked_invoice_add("FFFF-1"))

    assert codes(root) == [("InvoiceAddRs", 3120)]
    assert ret(root, "InvoiceAddRs").get("statusMessage") == 'Object "FFFF-1" specified in the request cannot be found.'
    assert company.invoices == []


def test_invoice_add_linking_a_closed_sales_order_warns_570_or_is_refused_when_nothing_else_is_on_it(
    company: FakeCompany,
) -> None:
    txn_id, edit_sequence = added(company)
    answer(company, so_mod(txn_id, edit_sequence, "<IsManuallyClosed>true</IsManuallyClosed>"))

    empty = answer(company, linked_invoice_add(txn_id, ref="D1"))
    with_line = ret(answer(company, linked_invoice_add(txn_id, ref="D2", own_line=True)), "InvoiceAddRs")

    assert codes(empty) == [("InvoiceAddRs", 3180)]
    assert (with_line.get("statusCode"), with_line.get("statusSeverity")) == ("570", "Warn")
    assert txn_id in (with_line.get("statusMessage") or "")
    assert with_line.find("InvoiceRet/LinkedTxn") is None
    assert [i.ref_number for i in company.invoices] == ["D2"]
    assert company.sales_orders[0].linked == []


def test_sales_orders_are_kept_in_the_snapshot_and_deleted_by_txn_del(company: FakeCompany) -> None:
    txn_id, _ = added(company)
    answer(company, linked_invoice_add(txn_id))

    again = FakeCompany.from_snapshot(company.snapshot(), xsd_dir=XSD_DIR)
    deleted = answer(again, txn_del(txn_id, kind="SalesOrder"))

    assert again.sales_orders == [] and again.deleted_txn_ids == [txn_id]
    assert codes(deleted) == [("TxnDelRs", 0)]
    restored = FakeCompany.from_snapshot(company.snapshot(), xsd_dir=XSD_DIR)
    assert restored.sales_orders == company.sales_orders and restored.invoices == company.invoices


def test_the_codec_s_sales_order_requests_round_trip_through_the_fake_company(company: FakeCompany) -> None:
    # Given the sales order of an open order, built by the qbXML adapter
    codec = QbxmlCodec()
    draft = InvoiceDraft(
        company_id="c-1",
        invoice_id=7,
        invoice_number=1001,
        document_version=1,
        store_code="WEB",
        customer_name="Ang Flowers LLC",
        txn_date=date(2026, 12, 1),
        doc_number="1001",
        ref_number="1001",
        currency=None,
        exchange_rate=None,
        lines=[
            InvoiceLine(
                kind=InvoiceLineKind.ITEM,
                item_name="Fresh Cut Flowers",
                quantity=Decimal(60),
                rate=Decimal("0.30"),
                amount=Decimal("18.00"),
            )
        ],
        total=Decimal("18.00"),
        po_number=None,
        memo=SO_MEMO,
    )

    def send(op: Operation) -> tuple[int, str | None, str | None]:
        """One operation to the company: its status, and the TxnID and EditSequence answered."""
        reply = company.process(codec.request([op], "12.0", OnError.STOP))
        assert reply.hresult == "", reply.message
        (result,) = codec.results(reply.response)
        record = result.records[0] if result.records else None
        return result.status_code, record and record.txn_id, record and record.edit_sequence

    # When it is added, changed at the EditSequence answered, and the shipped invoice links it
    _, txn_id, edit_sequence = send(Operation("A0", OperationKind.SALES_ORDER_ADD, sales_order=draft))
    changed = draft.model_copy(update={"memo": SO_MEMO.replace("version 1", "version 2")})
    mod_code, _, _ = send(
        Operation("M0", OperationKind.SALES_ORDER_MOD, sales_order=changed, txn_id=txn_id, edit_sequence=edit_sequence)
    )
    link_code, invoice_id, _ = send(
        Operation(
            "L0",
            OperationKind.SALES_ORDER_INVOICE_ADD,
            invoice=draft.model_copy(update={"memo": "Ledgersync invoice 1001 (id 7, version 2)"}),
            link_to_txn_id=txn_id,
        )
    )
    looked_up = codec.results(
        company.process(
            codec.request([Operation("Q0", OperationKind.SALES_ORDER_QUERY, reference="1001")], "12.0", OnError.STOP)
        ).response
    )

    # Then QuickBooks has one closed sales order, linked to the invoice that carries its lines
    assert (mod_code, link_code) == (0, 0)
    (record,) = looked_up[0].records
    assert record.is_fully_invoiced is True and record.linked_txn_ids == (invoice_id,)
    assert record.memo == changed.memo and record.edit_sequence not in (None, edit_sequence)
    assert [line["amount"] for line in company.invoices[0].lines] == ["18.00"]
