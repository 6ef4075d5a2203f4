"""The fake Desktop company's answers for bills sent again and the Sales Invoice Export: BillQuery with its lines,
TxnDel of a bill, CustomerQuery/CustomerAdd and ItemQuery/ItemNonInventoryAdd, each answer valid against Intuit's
qbXML schema (so what the codec reads back is what QuickBooks would send)."""

from __future__ import annotations

import pytest
from devstack.fake_qb_company import FakeCompany

from tests.unit.test_qbxml_fake_company import XSD_DIR
from tests.unit.test_qbxml_fake_company_sales import answer, txn_del

BILL_ADD = (
    '<BillAddRq requestID="a"><BillAdd><VendorRef><FullName>Flora</FullName></VendorRef><TxnDate>2026-12-01</TxnDate>'
    "<RefNumber>P1-INV1</RefNumber><Memo>Ledgersync PO P1</Memo>"
    "<ExpenseLineAdd><AccountRef><FullName>Freight</FullName></AccountRef><Amount>10.00</Amount>"
    "<Memo>Freight</Memo></ExpenseLineAdd>"
    "<ItemLineAdd><ItemRef><FullName>Fresh Cut Flowers</FullName></ItemRef><Desc>Flowers</Desc><Amount>50.00</Amount>"
    "<ClassRef><FullName>Chicago</FullName></ClassRef></ItemLineAdd></BillAdd></BillAddRq>"
)


@pytest.fixture
def company() -> FakeCompany:
    return FakeCompany(
        vendors=["Flora"],
        items=["Fresh Cut Flowers"],
        accounts=["Freight", "Sales"],
        classes=["Chicago"],
        customers=["Ang Flowers LLC"],
        xsd_dir=XSD_DIR,
    )


def test_bill_query_with_line_items_answers_the_lines_expense_lines_first(company: FakeCompany) -> None:
    answer(company, BILL_ADD)
    query = (
        '<BillQueryRq requestID="q"><RefNumber>P1-INV1</RefNumber><IncludeLineItems>true</IncludeLineItems>'
        "<IncludeRetElement>TxnID</IncludeRetElement><IncludeRetElement>AmountDue</IncludeRetElement>"
        "<IncludeRetElement>ExpenseLineRet</IncludeRetElement><IncludeRetElement>ItemLineRet</IncludeRetElement>"
        "</BillQueryRq>"
    )
    ret = answer(company, query).find("QBXMLMsgsRs/BillQueryRs/BillRet")
    assert ret is not None
    assert [child.tag for child in ret][-2:] == ["ExpenseLineRet", "ItemLineRet"]
    item = ret.find("ItemLineRet")
    assert item is not None and item.findtext("ItemRef/FullName") == "Fresh Cut Flowers"
    assert (item.findtext("Desc"), item.findtext("Amount"), item.findtext("ClassRef/FullName")) == (
        "Flowers",
        "50.00",
        "Chicago",
    )
    without = answer(company, query.replace("<IncludeLineItems>true</IncludeLineItems>", ""))
    assert without.find(".//ItemLineRet") is None


def test_txn_del_of_a_bill_removes_it_and_a_second_answers_3120(company: FakeCompany) -> None:
    answer(company, BILL_ADD)
    (bill,) = company.bills
    first = answer(company, txn_del(bill.txn_id, "Bill")).find("QBXMLMsgsRs/TxnDelRs")
    assert first is not None and first.get("statusCode") == "0" and company.bills == []
    again = answer(company, txn_del(bill.txn_id, "Bill")).find("QBXMLMsgsRs/TxnDelRs")
    assert again is not None and again.get("statusCode") == "3120"


def test_customers_and_items_are_found_by_full_name_added_once_and_refused_when_taken(company: FakeCompany) -> None:
    found = answer(company, '<CustomerQueryRq requestID="c"><FullName>ang flowers llc</FullName></CustomerQueryRq>')
    ret = found.find("QBXMLMsgsRs/CustomerQueryRs/CustomerRet")
    assert ret is not None and ret.findtext("FullName") == "Ang Flowers LLC" and ret.findtext("ListID")
    missing = answer(company, '<ItemQueryRq requestID="i"><FullName>Tulips</FullName></ItemQueryRq>')
    assert missing.find("QBXMLMsgsRs/ItemQueryRs").get("statusCode") == "500"  # type: ignore[union-attr]

    add = (
        '<ItemNonInventoryAddRq requestID="n"><ItemNonInventoryAdd><Name>Tulips</Name><SalesOrPurchase>'
        "<AccountRef><FullName>Sales</FullName></AccountRef></SalesOrPurchase></ItemNonInventoryAdd>"
        "</ItemNonInventoryAddRq>"
    )
    added = answer(company, add).find("QBXMLMsgsRs/ItemNonInventoryAddRs")
    assert added is not None and added.get("statusCode") == "0" and company.item_accounts == {"tulips": "Sales"}
    twice = answer(company, add).find("QBXMLMsgsRs/ItemNonInventoryAddRs")
    assert twice is not None and twice.get("statusCode") == "3100"
    no_account = answer(company, add.replace("Tulips", "Lilies").replace(">Sales<", ">Flower Sales<"))
    assert no_account.find("QBXMLMsgsRs/ItemNonInventoryAddRs").get("statusCode") == "3140"  # type: ignore[union-attr]

    vendor_name = '<CustomerAddRq requestID="v"><CustomerAdd><Name>Flora</Name></CustomerAdd></CustomerAddRq>'
    taken = answer(company, vendor_name).find("QBXMLMsgsRs/CustomerAddRs")
    assert taken is not None and taken.get("statusCode") == "3100"  # customers and vendors share one name space
