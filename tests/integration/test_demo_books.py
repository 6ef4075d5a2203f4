"""The demo company's accounting file (what `make run` seeds into the QuickBooks Online emulator) has what a sales
invoice demo needs: the directory's customers in their currencies, an item per product and charge, an income
account; and the Web Connector simulator's fake company file has the same names."""

from __future__ import annotations

from typing import Any

import pytest
from devstack.fake_qb_company import FakeCompany
from devstack.qbo_emulator import DEFAULT_REALM
from devstack.qbwc_simulator import main
from devstack.seed import DEMO_CUSTOMERS, DEMO_SALES_ITEMS, DIRECTORY, seed_demo_books
from devstack.stack import LocalStack

from tests.integration.test_qbo_emulator import REALM, Company, start

pytestmark = pytest.mark.integration


def test_the_seeded_books_take_a_sales_invoice_for_each_directory_customer() -> None:
    with start() as running:
        seeded = seed_demo_books(running.state, REALM)
        company = Company(running)
        ar_cad = seeded["Account"][1]  # the demo's CAD A/R account
        item = company.query("select * from Item where Name = 'Rose Assorted 60cm'")["Item"][0]
        made = []
        for customer in DIRECTORY["customers"]:
            found = company.query(f"select * from Customer where DisplayName = '{customer['name']}'")["Customer"]
            assert [c["CurrencyRef"]["value"] for c in found] == [customer["currency"]]
            rate = {} if customer["currency"] == "USD" else {"ExchangeRate": 0.73, "ARAccountRef": {"value": ar_cad}}
            made.append(
                company.make(
                    "Invoice",
                    {
                        "CustomerRef": {"value": found[0]["Id"]},
                        "CurrencyRef": {"value": customer["currency"]},
                        "Line": [
                            {
                                "DetailType": "SalesItemLineDetail",
                                "Amount": 18,
                                "SalesItemLineDetail": {"ItemRef": {"value": item["Id"]}, "Qty": 60, "UnitPrice": 0.3},
                            }
                        ],
                        **rate,
                    },
                )
            )

    assert [len(seeded[kind]) for kind in ("Account", "Customer", "Item")] == [3, 3, 4]
    assert item["Type"] == "Service" and item["IncomeAccountRef"]["name"] == "Sales of Product Income"
    assert [i["CurrencyRef"]["value"] for i in made] == ["USD", "CAD"]
    assert made[1]["ARAccountRef"] == {"value": ar_cad, "name": "Accounts Receivable - CAD"}


def test_make_run_seeds_the_demo_books_into_the_realm_the_demo_connects_to() -> None:
    with LocalStack(seed=True, schedules=False, pollers=False) as stack:
        state = stack.emulators["qbo"].state
        customers = [c["DisplayName"] for c in state.records(DEFAULT_REALM, "Customer")]
        items = [i["Name"] for i in state.records(DEFAULT_REALM, "Item")]

    assert customers == [name for name, _ in DEMO_CUSTOMERS]
    assert items == list(DEMO_SALES_ITEMS)


def test_the_simulators_fake_company_file_has_the_demo_customers_and_items(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[FakeCompany] = []

    class Stop(Exception):
        """Raised where the simulator would start its session: the company file is made by then."""

    def no_session(url: str, username: str, password: str, company: FakeCompany, **options: Any) -> None:
        made.append(company)
        raise Stop

    monkeypatch.setattr("devstack.qbwc_simulator.run_session", no_session)

    with pytest.raises(Stop):
        main(["--url", "http://127.0.0.1:9/qbwc", "--username", "c", "--password", "p"])

    assert sorted(made[0].customers.values()) == sorted(name for name, _ in DEMO_CUSTOMERS)
    assert set(DEMO_SALES_ITEMS) | {"Fresh Cut Flowers"} == set(made[0].items.values())
    # with multicurrency on: the CAD customer and the A/R and A/P accounts a CAD invoice or bill is mapped to
    assert made[0].currency_of("Bloom Wholesale Inc") == "CAD" and made[0].currency_of("Ang Flowers LLC") == "USD"
    assert {"Accounts Receivable - CAD", "Accounts Payable - CAD"} <= set(made[0].accounts.values())
    assert made[0].currency_of("Accounts Payable - CAD") == "CAD"


def test_the_demo_books_take_a_cad_vendors_bill_on_the_ap_account_in_cad() -> None:
    with start() as running:
        seeded = seed_demo_books(running.state, REALM)
        company = Company(running)
        ap_cad = seeded["Account"][2]
        vendor = company.make("Vendor", {"DisplayName": "Maple Growers Ltd", "CurrencyRef": {"value": "CAD"}})
        expense = company.make("Account", {"Name": "Freight", "AccountType": "Expense"})
        line = {"DetailType": "AccountBasedExpenseLineDetail", "Amount": 10}
        made = company.make(
            "Bill",
            {
                "VendorRef": {"value": vendor["Id"]},
                "CurrencyRef": {"value": "CAD"},
                "ExchangeRate": 0.73,
                "APAccountRef": {"value": ap_cad},
                "Line": [line | {"AccountBasedExpenseLineDetail": {"AccountRef": {"value": expense["Id"]}}}],
            },
        )

    assert made["APAccountRef"] == {"value": ap_cad, "name": "Accounts Payable - CAD"}
