"""Rootstock's Sales Invoice Export on QuickBooks Desktop through the local stack (issue 12): the POST records the
run, a Web Connector session matches or adds the customers and items (CustomerQuery/ItemQuery, then CustomerAdd/
ItemNonInventoryAdd) and links them, the export hands the invoices to the Desktop path (send now), the next session
adds them, and the run finishes with its counts. The Web Connector is the simulator over SOAP; the company file
refuses any request that breaks qbxmlops120.xsd."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from devstack.fake_qb_company import FakeCompany
from devstack.qbwc_simulator import run_session
from devstack.stack import LocalStack
from lxml import etree

from tests.support.desktop import XSD_DIR
from tests.support.http import Client

pytestmark = pytest.mark.integration

ROSE_LINE = 9999999  # the demo inventory: Rose Assorted 60cm


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    environment = {"EXPORT_DESKTOP_WAIT_SECONDS": "1"}  # the export looks for the Web Connector's work every second
    with LocalStack(seed=True, schedules=False, pollers=False, environment=environment) as running:
        yield running


def drain(stack: LocalStack) -> None:
    """Deliver what the queues hold, a delayed checkpoint after its (one second) delay."""
    stack.drain_queues()
    time.sleep(1.5)
    stack.drain_queues()


def test_an_export_on_desktop_links_names_in_a_web_connector_session_then_sends_the_invoices(
    stack: LocalStack,
) -> None:
    # Given a company on QuickBooks Desktop with a shipped invoice and products without links
    assert stack.demo is not None and stack.demo.admin_token and stack.demo.user_id
    token = stack.demo.admin_token
    api = Client(stack.api_url, token)
    settings = {
        "externalSystem": "quickbooks_desktop",
        "notificationEmails": ["ap@example.com"],
        "invoiceIncomeAccount": "Sales",
    }
    assert api.call("PUT", "/v1/accounting/settings", settings).status_code == 200
    products = [
        {"code": "RSAS60", "name": "Rose Assorted 60cm", "accountingItem": "Rose Assorted 60"},
        {"code": "TULIP", "name": "Tulip Mix", "accountingItem": "Tulip Mix"},
    ]
    assert api.call("PUT", "/v1/directory/products", {"records": products}).status_code == 200
    created = requests.post(
        f"{stack.api_url}/api/invoice.create",
        json={
            "authenticationToken": token,
            "customerCode": "ANG",
            "customerDescription": "Ang Flowers LLC",
            "carrierCode": "AR",
            "carrierDescription": "Armellini",
            "shipDate": "2026-12-14",
            "items": [{"orderItemId": ROSE_LINE, "boxes": 1, "price": 0.30}],
        },
        timeout=30,
    ).json()
    invoice_id = int(created["invoiceId"])
    for action in ("confirm", "ship"):
        assert api.call("POST", f"/v1/invoices/{invoice_id}/{action}").status_code == 200
    qwc = etree.fromstring(api.call("GET", "/v1/accounting/quickbooks-desktop/qwc").content)
    password = api.call(
        "POST", "/v1/tokens", {"userId": stack.demo.user_id, "apiMethods": [], "description": "Quickbooks"}
    ).json()["token"]
    url, user = qwc.findtext("AppURL") or "", qwc.findtext("UserName") or ""
    company = FakeCompany(
        items=["Fresh Cut Flowers", "Rose Assorted 60"], accounts=["Sales", "Freight"], xsd_dir=XSD_DIR
    )

    # When the export starts: 202 with its run, a second one refused while it runs, nothing sent yet
    started = api.call("POST", "/v1/accounting/export")
    assert started.status_code == 202, started.text
    run_id = started.json()["runId"]
    second = api.call("POST", "/v1/accounting/export")
    assert second.status_code == 409 and run_id in second.json()["message"]
    drain(stack)
    assert api.call("GET", f"/v1/process-log/{run_id}").json()["status"] == "running"

    # And the Web Connector runs: the names are matched or added in QuickBooks Desktop and linked
    names = run_session(url, user, password, company)
    assert names.completed, names
    assert "ang flowers llc" in company.customers and company.item_accounts.get("tulip mix") == "Sales"
    customers = {c["code"]: c for c in api.call("GET", "/v1/directory/customers").json()["records"]}
    link = customers["ANG"]["accountingLink"]
    assert link["system"] == "quickbooks_desktop" and link["name"] == "Ang Flowers LLC", link
    listed = {p["code"]: p for p in api.call("GET", "/v1/directory/products").json()["records"]}
    assert listed["RSAS60"]["accountingLink"]["name"] == "Rose Assorted 60"  # matched: the file has it

    # Then the export hands the invoice to the Desktop path, the next session adds it, and the run finishes
    drain(stack)
    invoices = run_session(url, user, password, company)
    assert invoices.completed, invoices
    drain(stack)
    entry: dict[str, Any] = api.call("GET", f"/v1/process-log/{run_id}").json()
    assert entry["name"] == "Sales Invoice Exporter" and entry["status"] in {"succeeded", "partial"}, entry
    assert entry["counts"]["invoicesExported"] == 1 and entry["counts"]["productsMatched"] >= 1, entry
    assert entry["counts"]["customersAdded"] >= 1 and entry["counts"]["productsAdded"] >= 1, entry
    number = str(created["invoiceNumber"])
    (added,) = [i for i in company.invoices if (i.ref_number or "").endswith(number)]
    assert added.customer == "Ang Flowers LLC"
    assert api.call("GET", f"/v1/invoices/{invoice_id}").json()["accounting"]["status"] == "sent"

    # And an export again finds everything linked and in QuickBooks Desktop: nothing is added twice
    again = api.call("POST", "/v1/accounting/export").json()["runId"]
    drain(stack)
    idle = run_session(url, user, password, company)
    assert idle.auth_status == "none"
    drain(stack)
    entry = api.call("GET", f"/v1/process-log/{again}").json()
    assert entry["status"] == "succeeded" and entry["counts"].get("invoicesExported", 0) == 0, entry
    assert len([i for i in company.invoices if (i.ref_number or "").endswith(number)]) == 1
