"""The QuickBooks Online emulator's Estimate over loopback (issue 12: an order's sales order): create, read, query,
sparse update with its SyncToken (a stale one is 5010 "Stale Object Error"), validation against the v3 schema, and an
Invoice linked to it (LinkedTxn) closing it; a Closed estimate is not linked again, a deleted invoice reopens it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from devstack.qbo_emulator import RunningEmulator

from tests.integration.test_qbo_emulator import REALM, Company, fault_code, start
from tests.integration.test_qbo_emulator_sales import invoice

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
    income = company.make("Account", {"Name": "Sales of Product Income", "AccountType": "Income"})["Id"]
    return {
        "customer": company.make("Customer", {"DisplayName": "Ang Flowers LLC"})["Id"],
        "other": company.make("Customer", {"DisplayName": "Bloom Wholesale"})["Id"],
        "item": company.make(
            "Item", {"Name": "Fresh Cut Flowers", "Type": "Service", "IncomeAccountRef": {"value": income}}
        )["Id"],
    }


def estimate(customer_id: str, item_id: str, qty: float = 60, **extra: Any) -> dict[str, Any]:
    return invoice(customer_id, item_id, qty=qty, **extra)


def test_an_estimate_is_created_pending_read_and_found_by_its_doc_number(
    company: Company, sales: dict[str, str]
) -> None:
    created = company.make("Estimate", estimate(sales["customer"], sales["item"], DocNumber="SO-1001"))

    read = company.get(f"estimate/{created['Id']}")
    found = company.query("select * from Estimate where DocNumber = 'SO-1001'")

    assert created["TxnStatus"] == "Pending" and created["SyncToken"] == "0" and created["TotalAmt"] == 18.0
    assert created["LinkedTxn"] == []
    assert read.status_code == 200 and read.json()["Estimate"]["DocNumber"] == "SO-1001"
    assert [e["Id"] for e in found["Estimate"]] == [created["Id"]]


def test_a_sparse_update_needs_the_current_sync_token_and_a_stale_one_is_5010(
    company: Company, sales: dict[str, str]
) -> None:
    created = company.make("Estimate", estimate(sales["customer"], sales["item"], DocNumber="SO-2"))
    lines = estimate(sales["customer"], sales["item"], qty=100)["Line"]

    updated = company.post("estimate", {"Id": created["Id"], "SyncToken": "0", "sparse": True, "Line": lines})
    stale = company.post("estimate", {"Id": created["Id"], "SyncToken": "0", "sparse": True, "Line": lines})

    assert updated.status_code == 200
    body = updated.json()["Estimate"]
    assert body["SyncToken"] == "1" and body["TotalAmt"] == 30.0 and body["DocNumber"] == "SO-2"
    assert stale.status_code == 400 and fault_code(stale) == "5010"
    assert stale.json()["Fault"]["Error"][0]["Message"] == "Stale Object Error"


def test_an_estimate_off_the_v3_schema_or_with_an_unknown_status_is_refused(
    company: Company, sales: dict[str, str]
) -> None:
    unknown = company.post("estimate", {**estimate(sales["customer"], sales["item"]), "SalesOrderNumber": "7"})
    status = company.post("estimate", {**estimate(sales["customer"], sales["item"]), "TxnStatus": "Converted"})
    no_lines = company.post("estimate", {"CustomerRef": {"value": sales["customer"]}})

    assert unknown.status_code == 400 and fault_code(unknown) == "2010"
    assert status.status_code == 400 and fault_code(status) == "2010"
    assert no_lines.status_code == 400 and fault_code(no_lines) == "2020"


def test_an_invoice_linked_to_an_estimate_closes_it_and_the_estimate_links_back(
    company: Company, sales: dict[str, str]
) -> None:
    created = company.make("Estimate", estimate(sales["customer"], sales["item"], DocNumber="SO-3"))
    link = [{"TxnId": created["Id"], "TxnType": "Estimate"}]

    made = company.make("Invoice", invoice(sales["customer"], sales["item"], DocNumber="INV-3", LinkedTxn=link))
    closed = company.get(f"estimate/{created['Id']}").json()["Estimate"]

    assert made["LinkedTxn"] == link
    assert closed["TxnStatus"] == "Closed" and closed["SyncToken"] == "1"
    assert closed["LinkedTxn"] == [{"TxnId": made["Id"], "TxnType": "Invoice"}]


def test_a_closed_estimate_is_not_linked_again_and_a_deleted_invoice_reopens_it(
    company: Company, sales: dict[str, str]
) -> None:
    created = company.make("Estimate", estimate(sales["customer"], sales["item"], DocNumber="SO-4"))
    link = [{"TxnId": created["Id"], "TxnType": "Estimate"}]
    first = company.make("Invoice", invoice(sales["customer"], sales["item"], DocNumber="INV-4", LinkedTxn=link))

    second = company.make("Invoice", invoice(sales["customer"], sales["item"], DocNumber="INV-5", LinkedTxn=link))
    deleted = company.post("invoice", {"Id": first["Id"], "SyncToken": first["SyncToken"]}, operation="delete")
    reopened = company.get(f"estimate/{created['Id']}").json()["Estimate"]

    assert second["LinkedTxn"] == []  # "Closed and Rejected estimates will be ignored"
    assert deleted.status_code == 200
    assert reopened["TxnStatus"] == "Pending" and reopened["LinkedTxn"] == []


def test_an_invoice_linked_to_an_unknown_or_another_customers_estimate_is_refused(
    company: Company, sales: dict[str, str]
) -> None:
    theirs = company.make("Estimate", estimate(sales["other"], sales["item"], DocNumber="SO-5"))

    unknown = company.post(
        "invoice", invoice(sales["customer"], sales["item"], LinkedTxn=[{"TxnId": "9999", "TxnType": "Estimate"}])
    )
    other = company.post(
        "invoice",
        invoice(sales["customer"], sales["item"], LinkedTxn=[{"TxnId": theirs["Id"], "TxnType": "Estimate"}]),
    )

    assert unknown.status_code == 400 and fault_code(unknown) == "610"
    assert other.status_code == 400 and fault_code(other) == "6000"
    assert company.emulator.state.records(REALM, "Invoice") == []
