"""Issue 10's accounting fields: customers' accountingName, products' accountingItem, and the sales-invoice settings."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.events import Api


def test_the_sales_invoice_settings_have_their_defaults_when_never_set(api: Api, company: dict[str, Any]) -> None:
    settings = api.get("/v1/accounting/settings").json()

    assert settings["invoiceItemName"] == "Fresh Cut Flowers"
    assert settings["invoiceChargeItems"] == {}
    assert settings["autoSyncWindowMinutes"] == 60


def test_the_sales_invoice_settings_are_kept_when_put(api: Api, company: dict[str, Any]) -> None:
    body = {"invoiceItemName": "Roses", "invoiceChargeItems": {"frt": "Freight"}, "autoSyncWindowMinutes": 1}

    answer = api.put("/v1/accounting/settings", body)

    assert answer.status == 200, answer.text
    kept = api.get("/v1/accounting/settings").json()
    assert (kept["invoiceItemName"], kept["invoiceChargeItems"], kept["autoSyncWindowMinutes"]) == (
        "Roses",
        {"FRT": "Freight"},  # charge codes compare as the directory keeps them: upper case
        1,
    )
    assert kept["billItemName"] == "Fresh Cut Flowers"  # the other fields keep theirs


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"invoiceItemName": "x" * 32}, "invoiceItemName"),
        ({"invoiceItemName": ""}, "invoiceItemName"),
        ({"autoSyncWindowMinutes": 0}, "autoSyncWindowMinutes"),
        ({"autoSyncWindowMinutes": 1441}, "autoSyncWindowMinutes"),
        ({"invoiceChargeItems": {"FRT": "y" * 32}}, "invoiceChargeItems.FRT"),
        ({"invoiceChargeItems": {"C" * 11: "Freight"}}, "invoiceChargeItems"),
        ({"invoiceChargeItems": {f"C{i}": "Freight" for i in range(501)}}, "invoiceChargeItems"),
    ],
)
def test_a_sales_invoice_setting_out_of_bounds_is_400_naming_the_field_when_put(
    api: Api, company: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    answer = api.put("/v1/accounting/settings", body)

    assert answer.status == 400, answer.text
    fields = [e["field"] for e in answer.json()["errors"]]
    assert any(f.startswith(field) for f in fields), fields
    assert api.get("/v1/accounting/settings").json()["autoSyncWindowMinutes"] == 60  # nothing written


def test_customers_keep_an_accounting_name_and_products_an_accounting_item_when_put(
    api: Api, company: dict[str, Any]
) -> None:
    customers = api.put(
        "/v1/directory/customers", {"records": [{"code": "ANG", "name": "Ang", "accountingName": "Ang Flowers LLC"}]}
    )
    products = api.put(
        "/v1/directory/products", {"records": [{"code": "RS", "name": "Rose", "accountingItem": "Roses"}]}
    )

    assert (customers.status, products.status) == (200, 200), customers.text + products.text
    assert api.get("/v1/directory/customers").json()["records"][0]["accountingName"] == "Ang Flowers LLC"
    assert api.get("/v1/directory/products").json()["records"][0]["accountingItem"] == "Roses"


@pytest.mark.parametrize(
    ("kind", "record", "field"),
    [
        ("customers", {"code": "ANG", "name": "Ang", "accountingName": "a" * 42}, "records[0].accountingName"),
        ("products", {"code": "RS", "name": "Rose", "accountingItem": "i" * 32}, "records[0].accountingItem"),
    ],
)
def test_an_accounting_name_over_quickbooks_limit_is_400_naming_the_field_when_put(
    api: Api, company: dict[str, Any], kind: str, record: dict[str, Any], field: str
) -> None:
    answer = api.put(f"/v1/directory/{kind}", {"records": [record]})

    assert answer.status == 400
    assert [e["field"] for e in answer.json()["errors"]] == [field]
