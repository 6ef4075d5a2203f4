"""The fake Desktop company's sales side: InvoiceAdd, InvoiceQuery (by RefNumber and TxnID, with EditSequence) and
TxnDel, each answer valid against Intuit's qbXML schema."""

from __future__ import annotations

import pytest
from devstack.fake_qb_company import FakeCompany, qbxml_schema
from lxml import etree

from tests.unit.test_qbxml_fake_company import XSD_DIR, message, statuses


def invoice_add(ref: str = "D1001", customer: str = "Ang Flowers LLC", item: str = "Fresh Cut Flowers") -> str:
    return (
        f'<InvoiceAddRq requestID="add-{ref}"><InvoiceAdd><CustomerRef><FullName>{customer}</FullName></CustomerRef>'
        f"<TxnDate>2026-12-01</TxnDate><RefNumber>{ref}</RefNumber><ExchangeRate>1</ExchangeRate>"
        f"<InvoiceLineAdd><ItemRef><FullName>{item}</FullName></ItemRef><Quantity>60</Quantity><Rate>0.30</Rate>"
        "</InvoiceLineAdd>"
        "<InvoiceLineAdd><ItemRef><FullName>Freight</FullName></ItemRef><Amount>12.50</Amount></InvoiceLineAdd>"
        "</InvoiceAdd></InvoiceAddRq>"
    )


def invoice_query(*, ref: str | None = None, txn_id: str | None = None, lines: bool = False) -> str:
    selector = f"<TxnID>{txn_id}</TxnID>" if txn_id is not None else f"<RefNumber>{ref}</RefNumber>"
    include = "<IncludeLineItems>true</IncludeLineItems>" if lines else ""
    return f'<InvoiceQueryRq requestID="q">{selector}{include}</InvoiceQueryRq>'


def txn_del(txn_id: str, kind: str = "Invoice") -> str:
    return f'<TxnDelRq requestID="d"><TxnDelType>{kind}</TxnDelType><TxnID>{txn_id}</TxnID></TxnDelRq>'


def answer(company: FakeCompany, *requests: str) -> etree._Element:
    reply = company.process(message(*requests))
    assert reply.hresult == "", reply.message
    assert qbxml_schema(str(XSD_DIR / "qbxmlops120.xsd")).is_valid(reply.response), reply.response
    return etree.fromstring(reply.response.encode())


@pytest.fixture
def company() -> FakeCompany:
    return FakeCompany(
        items=["Fresh Cut Flowers", "Freight"], customers=["Ang Flowers LLC", "Bloom Wholesale Inc"], xsd_dir=XSD_DIR
    )


def test_invoice_add_answers_a_schema_valid_invoice_ret_with_its_edit_sequence(company: FakeCompany) -> None:
    root = answer(company, invoice_add())

    ret = root.find("QBXMLMsgsRs/InvoiceAddRs/InvoiceRet")
    assert ret is not None
    assert ret.findtext("RefNumber") == "D1001" and ret.findtext("EditSequence")
    assert ret.findtext("CustomerRef/FullName") == "Ang Flowers LLC"
    assert ret.findtext("Subtotal") == "30.50"
    assert [line.findtext("Amount") for line in ret.findall("InvoiceLineRet")] == ["18.00", "12.50"]
    assert [i.txn_id for i in company.invoices] == [ret.findtext("TxnID")]


def test_invoice_add_allows_a_repeated_ref_number_so_the_client_must_query_first(company: FakeCompany) -> None:
    root = answer(company, invoice_add("D7"), invoice_add("D7", customer="Bloom Wholesale Inc"))

    assert statuses(etree.tostring(root).decode()) == [("InvoiceAddRs", 0), ("InvoiceAddRs", 0)]
    assert len(company.invoices_with_ref("d7")) == 2


def test_invoice_add_refuses_an_unknown_customer_or_item_with_3140(company: FakeCompany) -> None:
    root = answer(company, invoice_add("D2", customer="Nobody"), invoice_add("D3", item="Tulips"))

    assert statuses(etree.tostring(root).decode()) == [("InvoiceAddRs", 3140), ("InvoiceAddRs", 3140)]
    assert company.invoices == []


def test_invoice_query_finds_by_ref_number_and_by_txn_id_with_edit_sequence(company: FakeCompany) -> None:
    added = answer(company, invoice_add("D5")).find("QBXMLMsgsRs/InvoiceAddRs/InvoiceRet")
    assert added is not None
    txn_id, edit_sequence = added.findtext("TxnID"), added.findtext("EditSequence")

    by_ref = answer(company, invoice_query(ref="d5"))
    by_id = answer(company, invoice_query(txn_id=str(txn_id), lines=True))
    none = answer(company, invoice_query(ref="D6"), invoice_query(txn_id="FFFF-1"))

    ref_rets = by_ref.findall("QBXMLMsgsRs/InvoiceQueryRs/InvoiceRet")
    assert [(r.findtext("TxnID"), r.findtext("EditSequence")) for r in ref_rets] == [(txn_id, edit_sequence)]
    assert ref_rets[0].findall("InvoiceLineRet") == []
    id_rets = by_id.findall("QBXMLMsgsRs/InvoiceQueryRs/InvoiceRet")
    assert [r.findtext("RefNumber") for r in id_rets] == ["D5"]
    assert len(id_rets[0].findall("InvoiceLineRet")) == 2
    assert statuses(etree.tostring(none).decode()) == [("InvoiceQueryRs", 1), ("InvoiceQueryRs", 500)]


def test_txn_del_deletes_an_invoice_once_and_answers_3120_for_an_unknown_txn_id(company: FakeCompany) -> None:
    added = answer(company, invoice_add("D9")).find("QBXMLMsgsRs/InvoiceAddRs/InvoiceRet")
    assert added is not None
    txn_id = str(added.findtext("TxnID"))

    deleted = answer(company, txn_del(txn_id))
    again = answer(company, txn_del(txn_id))
    after = answer(company, invoice_query(ref="D9"))

    rs = deleted.find("QBXMLMsgsRs/TxnDelRs")
    assert rs is not None and rs.get("statusCode") == "0"
    assert (rs.findtext("TxnDelType"), rs.findtext("TxnID"), rs.findtext("RefNumber")) == ("Invoice", txn_id, "D9")
    assert statuses(etree.tostring(again).decode()) == [("TxnDelRs", 3120)]
    assert statuses(etree.tostring(after).decode()) == [("InvoiceQueryRs", 1)]
    assert company.invoices == [] and company.deleted_txn_ids == [txn_id]
