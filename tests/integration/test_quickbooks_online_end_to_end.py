"""Seed 000 end to end into QuickBooks Online, as a user does it through the local stack (issue 3's "done")."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from devstack.stack import LocalStack

from tests.support.http import PDF, Client, approved_purchase_order


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(seed=True, schedules=False, pollers=False) as running:
        yield running


def connect(api: Client) -> str:
    """Authorize at the emulator (it approves at once) and follow its redirect back to our callback."""
    authorize = api.call("GET", "/v1/accounting/quickbooks-online/authorize")
    assert authorize.status_code == 200, authorize.text
    consent = requests.get(authorize.json()["authorizationUrl"], allow_redirects=False, timeout=10)
    assert consent.status_code in (302, 303), consent.text
    callback = requests.get(consent.headers["Location"], timeout=30)
    assert callback.status_code == 200, callback.text
    assert callback.json()["status"] == "connected"
    return str(callback.json()["realmId"])


def connected_demo(stack: LocalStack) -> tuple[Client, str]:
    """The demo company on QuickBooks Online, connected to the emulator with its vendor, bill item and freight
    account there; done once per stack, whichever test asks first (each test runs alone too)."""
    assert stack.demo is not None and stack.demo.admin_token
    api = Client(stack.api_url, stack.demo.admin_token)
    qbo = stack.emulators["qbo"].url
    current = api.call("GET", "/v1/accounting/connection").json()
    if current.get("status") == "connected" and current.get("externalSystem") == "quickbooks_online":
        return api, str(current["realmId"])
    api.call(
        "PUT",
        "/v1/accounting/settings",
        {
            "externalSystem": "quickbooks_online",
            "chargeAccounts": {"FRT": "Freight In"},
            "notificationEmails": ["ap@example.com"],
        },
    )
    realm = connect(api)
    connection = api.call("GET", "/v1/accounting/connection").json()
    assert connection == {
        "externalSystem": "quickbooks_online",
        "status": "connected",
        "realmId": realm,
        "reason": None,
        "reconnectNoticePending": False,
    }
    requests.post(f"{qbo}/__emulator/{realm}/Vendor", json={"DisplayName": "Flora Farms S.A."}, timeout=10)
    requests.post(
        f"{qbo}/__emulator/{realm}/Item", json={"Name": "Fresh Cut Flowers", "Type": "NonInventory"}, timeout=10
    )
    requests.post(
        f"{qbo}/__emulator/{realm}/Account", json={"Name": "Freight In", "AccountType": "Expense"}, timeout=10
    )
    return api, realm


def test_a_vendor_invoice_sent_to_quickbooks_online_becomes_one_bill_and_turns_s(stack: LocalStack) -> None:
    # Given the demo company connected to the emulator, with its vendor, bill item and freight account there
    api, realm = connected_demo(stack)
    qbo = stack.emulators["qbo"].url
    # When a vendor invoice is uploaded, approved twice and sent
    po = {
        "poNumber": "P002271",
        "vendorId": api.vendor("FLORA")["id"],
        "shipDate": "2026-03-27",
        "items": [{"categoryProcurementAccountingCode": "CGEN", "totalCost": 50}],
        "additionalCharges": [{"code": "FRT", "amount": 10}],
    }
    invoice = {"invoiceNumber": "01-P002271", "invoiceAmount": 60, "totalAdditionalCharges": 10, "pdfBase64": PDF}
    approved_purchase_order(api, 12345, po, invoice, roles=("Procurement", "Accounting"))
    sent = api.call("POST", "/v1/purchase-orders/send-to-external", {"purchaseOrderIds": [12345]}).json()
    assert sent["results"][0]["vendorInvoiceStatus"] == "Sent to External System"
    stack.drain_queues()
    # Then the PO is "S" with the bill's id, and QuickBooks holds exactly one bill for it
    shown = api.call("GET", "/v1/purchase-orders/12345").json()
    assert shown["vendorInvoiceStatus"] == "S", shown
    bills = requests.get(f"{qbo}/__emulator/{realm}/Bill", timeout=10).json()["Bill"]
    assert len(bills) == 1
    bill = bills[0]
    assert shown["externalIds"] == {"01-P002271": bill["Id"]}
    assert bill["DocNumber"] == "P002271-01-P002271" and bill["TxnDate"] == "2026-03-27"
    assert float(bill["TotalAmt"]) == 60.0
    # And sending it again changes nothing
    again = api.call("POST", "/v1/purchase-orders/send-to-external", {"purchaseOrderIds": [12345]}).json()
    assert again["results"][0]["accepted"] is False
    stack.drain_queues()
    assert len(requests.get(f"{qbo}/__emulator/{realm}/Bill", timeout=10).json()["Bill"]) == 1


def test_a_crash_after_quickbooks_created_the_bill_still_leaves_exactly_one_bill(stack: LocalStack) -> None:
    # Given the connected demo company
    api, realm = connected_demo(stack)
    qbo = stack.emulators["qbo"].url
    po = {
        "poNumber": "P777",
        "vendorId": api.vendor("FLORA")["id"],
        "shipDate": "2026-04-01",
        "items": [{"categoryProcurementAccountingCode": "CGEN", "totalCost": 20}],
        "additionalCharges": [{"code": "FRT", "amount": 5}],
    }
    invoice = {"invoiceNumber": "X1", "invoiceAmount": 25, "totalAdditionalCharges": 5}
    approved_purchase_order(api, 777, po, invoice, roles=("Procurement Manager", "Accounts Payable"))
    # And QuickBooks that will create the next bill but answer as if it had failed (the outcome is unknown)
    injected = requests.post(
        f"{qbo}/__emulator/failures",
        json={"realmId": realm, "status": 500, "count": 1, "afterCommit": True, "operation": "write"},
        timeout=10,
    )
    assert injected.status_code in (200, 201), injected.text
    before = len(requests.get(f"{qbo}/__emulator/{realm}/Bill", timeout=10).json()["Bill"])
    # When the PO is sent and the queue redelivers after the failure
    api.call("POST", "/v1/purchase-orders/send-to-external", {"purchaseOrderIds": [777]})
    stack.drain_queues()
    # Then the injected failure was met ...
    assert all(rule.count <= 0 for rule in stack.emulators["qbo"].state.failures)
    # ... and the retry found the bill instead of creating another
    bills = requests.get(f"{qbo}/__emulator/{realm}/Bill", timeout=10).json()["Bill"]
    mine = [b for b in bills if b["DocNumber"] == "P777-X1"]
    assert len(bills) == before + 1 and len(mine) == 1
    shown = api.call("GET", "/v1/purchase-orders/777").json()
    assert shown["vendorInvoiceStatus"] == "S" and shown["externalIds"] == {"X1": mine[0]["Id"]}
