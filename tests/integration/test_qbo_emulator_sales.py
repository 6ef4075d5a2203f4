"""The QuickBooks Online emulator's sales side over loopback: Invoice create, read, query and delete, Customer and
Item as QuickBooks keeps them, the per-realm numbering preferences and ``DELETE /__emulator/...``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from devstack.qbo_emulator import RunningEmulator

from tests.integration.test_qbo_emulator import REALM, Company, fault_code, start

pytestmark = pytest.mark.integration


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    running = start()
    yield running
    running.shutdown()


@pytest.fixture
def company(emulator: RunningEmulator) -> Company:
    return Company(emulator)


@pytest.fixture
def sales(company: Company) -> dict[str, str]:
    """A company file with an income account, a USD and a CAD customer and a service item."""
    income = company.make("Account", {"Name": "Sales of Product Income", "AccountType": "Income"})["Id"]
    return {
        "income": income,
        "customer": company.make("Customer", {"DisplayName": "Ang Flowers LLC"})["Id"],
        "cad_customer": company.make(
            "Customer", {"DisplayName": "Bloom Wholesale Inc", "CurrencyRef": {"value": "CAD"}}
        )["Id"],
        "item": company.make(
            "Item", {"Name": "Fresh Cut Flowers", "Type": "Service", "IncomeAccountRef": {"value": income}}
        )["Id"],
    }


def invoice(customer_id: str, item_id: str, qty: float = 60, price: float = 0.3, **extra: Any) -> dict[str, Any]:
    return {
        "CustomerRef": {"value": customer_id},
        "Line": [
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": round(qty * price, 2),
                "SalesItemLineDetail": {"ItemRef": {"value": item_id}, "Qty": qty, "UnitPrice": price},
            }
        ],
        **extra,
    }


def control(emulator: RunningEmulator, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{emulator.url}/__emulator/{REALM}/{path}", json=body, timeout=10)


# ---------------------------------------------------------------------------------------------- Invoice


def test_an_invoice_is_created_read_and_found_by_its_doc_number(company: Company, sales: dict[str, str]) -> None:
    created = company.make("Invoice", invoice(sales["customer"], sales["item"], DocNumber="INV-1001"))

    read = company.get(f"invoice/{created['Id']}")
    found = company.query("select * from Invoice where DocNumber = 'INV-1001'")

    assert created["SyncToken"] == "0" and created["TotalAmt"] == 18.0
    assert created["CustomerRef"] == {"value": sales["customer"], "name": "Ang Flowers LLC"}
    assert created["CurrencyRef"] == {"value": "USD"}
    assert read.status_code == 200 and read.json()["Invoice"]["DocNumber"] == "INV-1001"
    assert [i["Id"] for i in found["Invoice"]] == [created["Id"]]


def test_a_repeated_requestid_creates_one_invoice(company: Company, sales: dict[str, str]) -> None:
    body = invoice(sales["customer"], sales["item"], DocNumber="INV-7")

    first = company.post("invoice", body, requestid="order-7-v1")
    second = company.post("invoice", body, requestid="order-7-v1")

    assert first.status_code == second.status_code == 200
    assert first.json()["Invoice"]["Id"] == second.json()["Invoice"]["Id"]
    assert len(company.emulator.state.records(REALM, "Invoice")) == 1


def test_an_invoice_is_deleted_with_its_current_sync_token_only(company: Company, sales: dict[str, str]) -> None:
    created = company.make("Invoice", invoice(sales["customer"], sales["item"], DocNumber="INV-2"))
    updated = company.make("Invoice", {**created, "PrivateNote": "changed"})

    stale = company.post("invoice", {"Id": created["Id"], "SyncToken": "0"}, operation="delete")
    deleted = company.post("invoice", {"Id": created["Id"], "SyncToken": updated["SyncToken"]}, operation="delete")
    again = company.post("invoice", {"Id": created["Id"], "SyncToken": updated["SyncToken"]}, operation="delete")
    unknown = company.post("invoice", {"Id": "9999", "SyncToken": "0"}, operation="delete")
    read = company.get(f"invoice/{created['Id']}")

    assert updated["SyncToken"] == "1"
    assert stale.status_code == 400 and fault_code(stale) == "5010"
    assert stale.json()["Fault"]["Error"][0]["Message"] == "Stale Object Error"
    assert deleted.status_code == 200
    assert deleted.json()["Invoice"] == {"status": "Deleted", "domain": "QBO", "Id": created["Id"]}
    assert fault_code(again) == "610" and "deleted this transaction" in again.json()["Fault"]["Error"][0]["Detail"]
    assert fault_code(unknown) == "610" and unknown.json()["Fault"]["Error"][0]["Message"] == "Object Not Found"
    assert fault_code(read) == "610"
    assert company.query("select * from Invoice where DocNumber = 'INV-2'") == {}


def test_a_batch_deletes_an_invoice_and_answers_each_stale_one_with_its_fault(
    company: Company, sales: dict[str, str]
) -> None:
    kept = company.make("Invoice", invoice(sales["customer"], sales["item"]))
    doomed = company.make("Invoice", invoice(sales["customer"], sales["item"]))

    answer = company.post(
        "batch",
        {
            "BatchItemRequest": [
                {"bId": "1", "operation": "delete", "Invoice": {"Id": doomed["Id"], "SyncToken": "0"}},
                {"bId": "2", "operation": "delete", "Invoice": {"Id": kept["Id"], "SyncToken": "3"}},
            ]
        },
    )

    items = answer.json()["BatchItemResponse"]
    assert items[0]["Invoice"] == {"status": "Deleted", "domain": "QBO", "Id": doomed["Id"]}
    assert items[1]["Fault"]["Error"][0]["code"] == "5010"
    assert [i["Id"] for i in company.emulator.state.records(REALM, "Invoice")] == [kept["Id"]]


def test_a_delete_without_a_sync_token_names_it(company: Company, sales: dict[str, str]) -> None:
    created = company.make("Invoice", invoice(sales["customer"], sales["item"]))

    answer = company.post("invoice", {"Id": created["Id"]}, operation="delete")

    assert fault_code(answer) == "2020" and answer.json()["Fault"]["Error"][0]["element"] == "SyncToken"


def test_a_duplicate_doc_number_is_refused_unless_the_company_allows_it(
    emulator: RunningEmulator, company: Company, sales: dict[str, str]
) -> None:
    first = company.make("Invoice", invoice(sales["customer"], sales["item"], DocNumber="1042"))

    duplicate = company.post("invoice", invoice(sales["cad_customer"], sales["item"], DocNumber="1042"))
    assert duplicate.status_code == 400 and fault_code(duplicate) == "6140"
    assert f"TxnId={first['Id']}" in duplicate.json()["Fault"]["Error"][0]["Detail"]

    turned_off = control(emulator, "PUT", "preferences", {"DuplicateDocNumberCheck": False})
    allowed = company.post("invoice", invoice(sales["customer"], sales["item"], DocNumber="1042"))

    assert turned_off.json()["Preferences"] == {"CustomTxnNumbers": False, "DuplicateDocNumberCheck": False}
    assert allowed.status_code == 200, allowed.text


def test_quickbooks_numbers_an_invoice_without_doc_number_unless_custom_numbers_are_on(
    emulator: RunningEmulator, company: Company, sales: dict[str, str]
) -> None:
    assert control(emulator, "GET", "preferences").json()["Preferences"]["CustomTxnNumbers"] is False
    numbered = [company.make("Invoice", invoice(sales["customer"], sales["item"]))["DocNumber"] for _ in range(2)]

    control(emulator, "PUT", "preferences", {"CustomTxnNumbers": True})
    blank = company.make("Invoice", invoice(sales["customer"], sales["item"]))
    refused = control(emulator, "PUT", "preferences", {"CustomTxnNumbers": "yes"})

    assert numbered == ["1001", "1002"]
    assert "DocNumber" not in blank
    assert refused.status_code == 400 and refused.json()["Fault"]["Error"][0]["element"] == "CustomTxnNumbers"


def test_an_invoice_for_an_inactive_customer_or_item_is_refused(
    emulator: RunningEmulator, company: Company, sales: dict[str, str]
) -> None:
    control(emulator, "DELETE", f"customer/{sales['customer']}")
    inactive_customer = company.post("invoice", invoice(sales["customer"], sales["item"]))
    control(emulator, "DELETE", f"item/{sales['item']}")
    inactive_item = company.post("invoice", invoice(sales["cad_customer"], sales["item"], ExchangeRate=0.73))
    unknown_customer = company.post("invoice", invoice("424242", sales["item"]))

    assert fault_code(inactive_customer) == "610"
    assert inactive_customer.json()["Fault"]["Error"][0]["element"] == "CustomerRef"
    assert fault_code(inactive_item) == "610"
    assert inactive_item.json()["Fault"]["Error"][0]["element"] == "Line.SalesItemLineDetail.ItemRef"
    assert fault_code(unknown_customer) == "610"


def test_a_line_whose_amount_is_not_qty_times_unit_price_is_refused(company: Company, sales: dict[str, str]) -> None:
    body = invoice(sales["customer"], sales["item"], qty=60, price=0.3)
    body["Line"][0]["Amount"] = 18.01

    answer = company.post("invoice", body)

    assert answer.status_code == 400 and fault_code(answer) == "6070"
    assert answer.json()["Fault"]["Error"][0]["Message"] == "Amount calculation error"


def test_a_fixed_discount_line_lowers_the_total_and_its_account_must_exist(
    company: Company, sales: dict[str, str]
) -> None:
    discount = {"DetailType": "DiscountLineDetail", "Amount": 4.5, "DiscountLineDetail": {"PercentBased": False}}
    body = invoice(sales["customer"], sales["item"])
    body["Line"].append(discount)
    created = company.make("Invoice", body)

    unknown = invoice(sales["customer"], sales["item"])
    unknown["Line"].append(discount | {"DiscountLineDetail": {"DiscountAccountRef": {"value": "999"}}})
    refused = company.post("invoice", unknown)

    assert created["TotalAmt"] == 13.5
    assert created["Line"][1]["LineNum"] == 2
    assert refused.status_code == 400 and fault_code(refused) == "610"


def test_a_foreign_currency_invoice_takes_the_customers_currency_and_its_rate(
    company: Company, sales: dict[str, str]
) -> None:
    created = company.make(
        "Invoice", invoice(sales["cad_customer"], sales["item"], CurrencyRef={"value": "CAD"}, ExchangeRate=0.73)
    )
    in_usd = company.post("invoice", invoice(sales["cad_customer"], sales["item"], CurrencyRef={"value": "USD"}))
    home_with_rate = company.post("invoice", invoice(sales["customer"], sales["item"], ExchangeRate=1.2))

    assert created["CurrencyRef"] == {"value": "CAD"}
    assert created["ExchangeRate"] == 0.73 and created["HomeTotalAmt"] == 13.14
    detail = in_usd.json()["Fault"]["Error"][0]["Detail"]
    assert fault_code(in_usd) == "6000" and "Transactions can have only one foreign currency at a time" in detail
    assert "(transaction USD, customer 'Bloom Wholesale Inc' CAD)" in detail
    assert fault_code(home_with_rate) == "6000"
    assert home_with_rate.json()["Fault"]["Error"][0]["element"] == "ExchangeRate"


# ---------------------------------------------------------------------------------------------- names


def test_an_invoice_ar_account_must_be_receivable_and_in_the_invoices_currency(
    company: Company, sales: dict[str, str]
) -> None:
    cad = company.make(
        "Account", {"Name": "A/R CAD", "AccountType": "Accounts Receivable", "CurrencyRef": {"value": "CAD"}}
    )
    usd = company.make("Account", {"Name": "A/R", "AccountType": "Accounts Receivable"})
    foreign = {"CurrencyRef": {"value": "CAD"}, "ExchangeRate": 0.73}

    made = company.make(
        "Invoice", invoice(sales["cad_customer"], sales["item"], ARAccountRef={"value": cad["Id"]}, **foreign)
    )
    mismatch = company.post(
        "invoice", invoice(sales["cad_customer"], sales["item"], ARAccountRef={"value": usd["Id"]}, **foreign)
    )
    not_receivable = company.post(
        "invoice", invoice(sales["customer"], sales["item"], ARAccountRef={"value": sales["income"]})
    )

    assert usd["CurrencyRef"] == {"value": "USD"}
    assert made["ARAccountRef"] == {"value": cad["Id"], "name": "A/R CAD"}
    assert mismatch.status_code == 400 and fault_code(mismatch) == "6000"
    assert "The transaction needs to be in the same currency as the A/R and A/P accounts" in mismatch.text
    assert not_receivable.status_code == 400 and "Accounts Receivable" in not_receivable.text


def test_customers_are_found_by_exact_display_name_with_apostrophes_and_accents(company: Company) -> None:
    obrien = company.make("Customer", {"DisplayName": "O'Brien Floral"})
    accented = company.make("Customer", {"DisplayName": "Floristería Ñandú"})
    company.make("Customer", {"DisplayName": "O'Brien Floral East"})

    by_apostrophe = company.query("select * from Customer where DisplayName = 'O\\'Brien Floral'")
    by_accent = company.query("select * from Customer where DisplayName = 'Floristería Ñandú'")

    assert [c["Id"] for c in by_apostrophe["Customer"]] == [obrien["Id"]]
    assert [c["Id"] for c in by_accent["Customer"]] == [accented["Id"]]


def test_a_display_name_is_one_name_space_for_customers_vendors_and_employees(
    emulator: RunningEmulator, company: Company
) -> None:
    company.make("Vendor", {"DisplayName": "Flora Farms"})
    company.make("Employee", {"DisplayName": "Maria Lopez", "GivenName": "Maria", "FamilyName": "Lopez"})
    retired = company.make("Customer", {"DisplayName": "Old Shop"})
    control(emulator, "DELETE", f"customer/{retired['Id']}")

    clashes = [company.post("customer", {"DisplayName": name}) for name in ("Flora Farms", "maria lopez", "Old Shop")]
    hidden = company.query("select * from Customer where DisplayName = 'Old Shop'")
    with_inactive = company.query("select * from Customer where DisplayName = 'Old Shop' and Active IN (true, false)")

    assert [(a.status_code, fault_code(a)) for a in clashes] == [(400, "6240")] * 3
    assert clashes[0].json()["Fault"]["Error"][0]["Message"] == "Duplicate Name Exists Error"
    assert hidden == {}
    assert [c["Active"] for c in with_inactive["Customer"]] == [False]


def test_an_item_needs_an_active_income_account_for_its_type(company: Company) -> None:
    income = company.make("Account", {"Name": "Sales", "AccountType": "Income"})["Id"]

    service = company.make("Item", {"Name": "Freight Charge", "Type": "Service", "IncomeAccountRef": {"value": income}})
    no_account = company.post("item", {"Name": "Handling", "Type": "Service"})
    bad_type = company.post("item", {"Name": "Handling", "Type": "Gadget", "IncomeAccountRef": {"value": income}})
    unknown_account = company.post(
        "item", {"Name": "Boxes", "Type": "NonInventory", "IncomeAccountRef": {"value": "77"}}
    )
    same_name = company.post(
        "item", {"Name": "freight charge", "Type": "Service", "IncomeAccountRef": {"value": income}}
    )

    assert service["IncomeAccountRef"] == {"value": income, "name": "Sales"} and service["Type"] == "Service"
    assert fault_code(no_account) == "2020" and no_account.json()["Fault"]["Error"][0]["element"] == "IncomeAccountRef"
    assert fault_code(bad_type) == "6000" and "Item/Type" in bad_type.json()["Fault"]["Error"][0]["Detail"]
    assert fault_code(unknown_account) == "610"
    assert fault_code(same_name) == "6240" and "product or service" in same_name.json()["Fault"]["Error"][0]["Detail"]


def test_a_customers_currency_cannot_change_once_set(company: Company, sales: dict[str, str]) -> None:
    current = company.get(f"customer/{sales['cad_customer']}").json()["Customer"]

    changed = company.post("customer", {**current, "CurrencyRef": {"value": "USD"}}, operation="update")
    renamed = company.make("Customer", {**current, "DisplayName": "Bloom Wholesale Canada"})

    assert fault_code(changed) == "6000" and changed.json()["Fault"]["Error"][0]["element"] == "CurrencyRef"
    assert renamed["CurrencyRef"] == {"value": "CAD"} and renamed["SyncToken"] == "1"


# ---------------------------------------------------------------------------------------------- /__emulator


def test_a_person_deleting_in_quickbooks_removes_a_transaction_and_inactivates_a_name(
    emulator: RunningEmulator, company: Company, sales: dict[str, str]
) -> None:
    created = company.make("Invoice", invoice(sales["customer"], sales["item"], DocNumber="INV-9"))
    listed = control(emulator, "GET", "invoice").json()["Invoice"]

    gone = control(emulator, "DELETE", f"Invoice/{created['Id']}")
    inactive = control(emulator, "DELETE", f"Customer/{sales['customer']}")
    missing = control(emulator, "DELETE", "Invoice/31337")

    assert [i["DocNumber"] for i in listed] == ["INV-9"]
    assert gone.status_code == 200 and gone.json()["Invoice"]["status"] == "Deleted"
    assert control(emulator, "GET", "invoice").json() == {"Invoice": []}
    assert fault_code(company.post("invoice", {"Id": created["Id"], "SyncToken": "0"}, operation="delete")) == "610"
    assert inactive.json()["Customer"]["Active"] is False and inactive.json()["Customer"]["SyncToken"] == "1"
    assert [c["Active"] for c in emulator.state.records(REALM, "Customer") if c["Id"] == sales["customer"]] == [False]
    assert missing.status_code == 400 and fault_code(missing) == "610"
