"""The demo company, created through the stack's own API as a customer would create it.

While the API is being written a route may answer 404 or 501: the seed then warns and goes on. Any other
refusal is an error in the API or in this data, and stops the stack with the answer it got.
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from devstack.qbo_emulator import EmulatorState

NOT_THERE_YET = {404, 501}

DIRECTORY: dict[str, list[dict[str, Any]]] = {
    "customers": [
        {"id": 99999, "code": "ANG", "name": "Ang Flowers LLC", "currency": "USD"},
        {"code": "BLM", "name": "Bloom Wholesale Inc", "currency": "CAD"},
    ],
    "vendors": [
        {"code": "FLORA", "name": "Flora Farms", "accountingName": "Flora Farms S.A.", "currency": "USD"},
        {"code": "ROSAS", "name": "Rosas del Valle", "accountingName": "Rosas del Valle Ltda", "currency": "USD"},
    ],
    "carriers": [
        {"id": 423, "code": "AR", "name": "Armellini"},
        {"code": "FDX", "name": "FedEx"},
    ],
    "locations": [
        {"code": "MIA", "name": "Miami Warehouse"},
        {"code": "BOG", "name": "Bogota Farm"},
    ],
    "products": [
        {"code": "RSAS60", "name": "Rose Assorted 60cm"},
        {"code": "CARMIX", "name": "Carnation Mixed"},
        {"code": "GYPXL", "name": "Gypsophila Xlence"},
    ],
    "box-types": [
        {"code": "HB", "name": "Half Box"},
        {"code": "QB", "name": "Quarter Box"},
        {"code": "FB", "name": "Full Box"},
    ],
    "inventory": [
        {
            "orderItemId": 9999999,
            "productCode": "RSAS60",
            "boxTypeCode": "HB",
            "unitsPerBox": 6,
            "unitType": "Bunch",
            "availableBoxes": 120,
            "cost": "0.20",
            "locationCode": "MIA",
        },
        {
            "orderItemId": 9999998,
            "productCode": "RSAS60",
            "boxTypeCode": "HB",
            "unitsPerBox": 6,
            "unitType": "Bunch",
            "availableBoxes": 40,
            "cost": "0.22",
            "locationCode": "BOG",
        },
        {
            "orderItemId": 9999997,
            "productCode": "CARMIX",
            "boxTypeCode": "QB",
            "unitsPerBox": 200,
            "unitType": "Stem",
            "availableBoxes": 60,
            "cost": "0.08",
            "locationCode": "MIA",
        },
        {
            "orderItemId": 9999996,
            "productCode": "GYPXL",
            "boxTypeCode": "FB",
            "unitsPerBox": 10,
            "unitType": "Bunch",
            "availableBoxes": 25,
            "cost": "1.10",
            "locationCode": "MIA",
        },
    ],
    "charges": [
        {"code": "BT", "name": "Balance Transfer"},
        {"code": "FRT", "name": "Freight"},
        {"code": "HND", "name": "Handling"},
    ],
    # rate: company-currency (USD) units per unit of that currency: 1 CAD is about 0.73 USD, 1 EUR about 1.09 USD
    "exchange-rates": [
        {"currency": "CAD", "rate": "0.73000000", "effectiveFrom": "2024-01-01"},
        {"currency": "EUR", "rate": "1.09000000", "effectiveFrom": "2024-01-01"},
    ],
}


# What the demo's accounting company file holds for sales invoices, in QuickBooks' words: the directory's customers
# by name (in their currencies), a channel customer, an item per product and per charge, and the income account
# they post to. "Fresh Cut Flowers" (the default invoice item) is left out: the README walkthrough adds it.
INCOME_ACCOUNT = "Sales of Product Income"
# The A/R account of each foreign demo customer's currency (issue 12): map it with arAccountByCurrency to send them.
DEMO_AR_ACCOUNTS: tuple[tuple[str, str], ...] = (("Accounts Receivable - CAD", "CAD"),)
# The A/P account of a foreign vendor's currency: map it with apAccountByCurrency to send a CAD vendor's bills.
DEMO_AP_ACCOUNTS: tuple[tuple[str, str], ...] = (("Accounts Payable - CAD", "CAD"),)
DEMO_CUSTOMERS: tuple[tuple[str, str], ...] = (
    ("Ang Flowers LLC", "USD"),
    ("Bloom Wholesale Inc", "CAD"),
    ("Amazon Marketplace", "USD"),
)
DEMO_SALES_ITEMS: tuple[str, ...] = ("Rose Assorted 60cm", "Carnation Mixed", "Gypsophila Xlence", "Freight Income")


def seed_demo_books(state: EmulatorState, realm_id: str) -> dict[str, list[str]]:
    """Put the demo's customers, sales items and income account into the QuickBooks Online emulator's company."""
    account = state.add_record(realm_id, "Account", {"Name": INCOME_ACCOUNT, "AccountType": "Income"})
    customers = [
        state.add_record(realm_id, "Customer", {"DisplayName": name, "CurrencyRef": {"value": currency}})["Id"]
        for name, currency in DEMO_CUSTOMERS
    ]
    items = [
        state.add_record(
            realm_id,
            "Item",
            {
                "Name": name,
                "Type": "Service",
                "IncomeAccountRef": {"value": account["Id"], "name": INCOME_ACCOUNT},
            },
        )["Id"]
        for name in DEMO_SALES_ITEMS
    ]
    receivables = [
        state.add_record(
            realm_id, "Account", {"Name": name, "AccountType": "Accounts Receivable", "CurrencyRef": {"value": code}}
        )["Id"]
        for name, code in DEMO_AR_ACCOUNTS
    ]
    payables = [
        state.add_record(
            realm_id, "Account", {"Name": name, "AccountType": "Accounts Payable", "CurrencyRef": {"value": code}}
        )["Id"]
        for name, code in DEMO_AP_ACCOUNTS
    ]
    return {"Account": [account["Id"], *receivables, *payables], "Customer": customers, "Item": items}


@dataclass
class DemoCompany:
    """The company the seed created, with the tokens to call the API as it."""

    company_id: str | None = None
    user_id: str | None = None
    admin_token: str | None = None
    token: str | None = None
    warnings: list[str] = field(default_factory=list)


class SeedError(Exception):
    """The API refused the demo data; the message carries the route, status and answer."""


def seed_demo_company(api_url: str, admin_api_key: str, timeout: float = 30.0) -> DemoCompany:
    """Create the demo company, its directory and a demo token through the API."""
    demo = DemoCompany()
    session = requests.Session()
    created = _call(
        session,
        demo,
        "POST",
        f"{api_url}/v1/companies",
        {"name": "Demo Flowers", "currency": "USD"},
        headers={"X-Admin-Key": admin_api_key},
        timeout=timeout,
    )
    if created is None:
        return demo
    demo.company_id, demo.user_id, demo.admin_token = created["companyId"], created["userId"], created["adminToken"]
    session.headers["Authorization"] = f"Bearer {demo.admin_token}"
    for kind, records in DIRECTORY.items():
        _call(session, demo, "PUT", f"{api_url}/v1/directory/{kind}", {"records": records}, timeout=timeout)
    issued = _call(
        session,
        demo,
        "POST",
        f"{api_url}/v1/tokens",
        {"userId": demo.user_id, "apiMethods": ["*"], "description": "devstack demo token"},
        timeout=timeout,
    )
    demo.token = issued["token"] if issued is not None else demo.admin_token
    return demo


def _call(
    session: requests.Session,
    demo: DemoCompany,
    method: str,
    url: str,
    body: Any,
    *,
    headers: dict[str, str] | None = None,
    timeout: float,
) -> dict[str, Any] | None:
    answer = session.request(method, url, json=body, headers=headers, timeout=timeout)
    if answer.status_code in NOT_THERE_YET:
        warning = f"{method} {url} answered {answer.status_code}: not available yet, skipped"
        demo.warnings.append(warning)
        print(f"devstack: warning: {warning}", file=sys.stderr)
        return None
    if not answer.ok:
        raise SeedError(f"{method} {url} answered {answer.status_code}: {answer.text[:2000]}")
    payload = answer.json() if answer.content else {}
    return payload if isinstance(payload, dict) else {"items": payload}


def example_invoice() -> dict[str, Any]:
    """Seed 002's second sample, with a ship date that is not in the past."""
    return {
        "customerCode": "ANG",
        "customerDescription": "Ang Flowers LLC",
        "carrierCode": "AR",
        "carrierDescription": "Armellini",
        "poNumber": "2728",
        "reference": "DEMO-1",
        "shipDate": (datetime.now(UTC).date() + timedelta(days=1)).isoformat(),
        "returnAvailableBoxes": 1,
        "items": [
            {
                "productCode": "RSAS60",
                "boxes": 10,
                "price": 0.30,
                "boxTypeCode": "HB",
                "unitsPerBox": 6,
                "unitType": "Bunch",
            }
        ],
    }


def example_curl(api_url: str, token: str) -> str:
    """A curl that creates an invoice with the demo token."""
    body = {"authenticationToken": token, **example_invoice()}
    return (
        f"curl -sS -X POST {api_url}/api/invoice.create -H 'Content-Type: application/json' "
        f"-d {shlex.quote(json.dumps(body))}"
    )
