"""A foreign vendor's bill end to end through the local stack (issue 12), on QuickBooks Online and on QuickBooks
Desktop: the demo company (USD) buys from a vendor in CAD; its bill goes in CAD, at the directory's rate in force on
the ship date, to the A/P account settings map CAD to. A vendor QuickBooks keeps in another currency ends the PO in
Error before anything is sent, in QuickBooks' words and with the fix."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from devstack.fake_qb_company import FakeCompany
from devstack.qbwc_simulator import run_session
from devstack.stack import LocalStack
from lxml import etree

from tests.integration.test_quickbooks_online_end_to_end import connect
from tests.support.http import PDF, Client, approved_purchase_order

pytestmark = pytest.mark.integration

MAPLE = {"code": "MAPLE", "name": "Maple Growers", "accountingName": "Maple Growers Ltd", "currency": "CAD"}
# Ledgersync has this one in CAD, but its accounting name is the demo's US-dollar vendor
WRONG = {"code": "FLORACA", "name": "Flora Farms Canada", "accountingName": "Flora Farms S.A.", "currency": "CAD"}
SAME_CURRENCY = "The transaction needs to be in the same currency as the A/R and A/P accounts"


def settings(system: str) -> dict[str, Any]:
    return {
        "externalSystem": system,
        "chargeAccounts": {"FRT": "Freight In"},
        "apAccountByCurrency": {"CAD": "Accounts Payable - CAD"},
    }


def foreign_vendors_po(api: Client, po_id: int, vendor_code: str) -> None:
    """A PO of 50.00 of flowers and 10.00 freight shipped 2026-03-27, approved and sent to the external system."""
    api.call("PUT", "/v1/directory/vendors", {"records": [MAPLE, WRONG]})
    # the demo's CAD rate is 0.73 from 2024; this one is in force from the ship date
    api.call(
        "PUT",
        "/v1/directory/exchange-rates",
        {"records": [{"currency": "CAD", "rate": "0.7315", "effectiveFrom": "2026-03-27"}]},
    )
    po = {
        "poNumber": f"P{po_id}",
        "vendorId": api.vendor(vendor_code)["id"],
        "shipDate": "2026-03-27",
        "items": [{"categoryProcurementAccountingCode": "CGEN", "totalCost": 50}],
        "additionalCharges": [{"code": "FRT", "amount": 10}],
    }
    invoice = {"invoiceNumber": f"M{po_id}", "invoiceAmount": 60, "totalAdditionalCharges": 10, "pdfBase64": PDF}
    approved_purchase_order(api, po_id, po, invoice)
    sent = api.call("POST", "/v1/purchase-orders/send-to-external", {"purchaseOrderIds": [po_id]}).json()
    assert sent["results"][0]["accepted"], sent


def test_a_cad_vendors_bill_reaches_quickbooks_online_in_cad_on_the_cad_ap_account() -> None:
    with LocalStack(seed=True, schedules=False, pollers=False) as stack:
        # Given the demo company on QuickBooks Online, CAD mapped to the demo books' A/P account in CAD
        assert stack.demo is not None and stack.demo.admin_token
        api = Client(stack.api_url, stack.demo.admin_token)
        assert api.call("PUT", "/v1/accounting/settings", settings("quickbooks_online")).status_code == 200
        realm = connect(api)
        qbo = stack.emulators["qbo"].url
        for entity, record in (
            ("Vendor", {"DisplayName": "Maple Growers Ltd", "CurrencyRef": {"value": "CAD"}}),
            ("Vendor", {"DisplayName": "Flora Farms S.A."}),
            ("Item", {"Name": "Fresh Cut Flowers", "Type": "NonInventory"}),
            ("Account", {"Name": "Freight In", "AccountType": "Expense"}),
        ):
            requests.post(f"{qbo}/__emulator/{realm}/{entity}", json=record, timeout=10)

        # When the CAD vendor's PO and the mis-set vendor's PO are sent
        foreign_vendors_po(api, 501, "MAPLE")
        foreign_vendors_po(api, 502, "FLORACA")
        stack.drain_queues()

        # Then the CAD bill is in QuickBooks in CAD at the rate of the ship date, on the A/P account in CAD
        shown = api.call("GET", "/v1/purchase-orders/501").json()
        assert shown["vendorInvoiceStatus"] == "S", shown
        (bill,) = requests.get(f"{qbo}/__emulator/{realm}/Bill", timeout=10).json()["Bill"]
        assert bill["DocNumber"] == "P501-M501" and shown["externalIds"] == {"M501": bill["Id"]}
        assert (bill["CurrencyRef"], bill["ExchangeRate"]) == ({"value": "CAD"}, 0.7315)
        assert bill["APAccountRef"]["name"] == "Accounts Payable - CAD"
        assert bill["HomeBalance"] == 43.89
        # And the other PO is in Error, nothing sent for it, saying which vendor is in which currency and the fix
        refused = api.call("GET", "/v1/purchase-orders/502").json()
        assert refused["vendorInvoiceStatus"] == "Error", refused
        message = str(refused["error"])
        assert SAME_CURRENCY in message
        assert "the bill is in CAD and the vendor 'Flora Farms S.A.' is in USD in QuickBooks" in message
        assert "PUT /v1/directory/vendors" in message


def test_a_cad_vendors_bill_reaches_quickbooks_desktop_on_the_cad_ap_account_with_the_rate() -> None:
    with LocalStack(seed=True, schedules=False, pollers=False) as stack:
        # Given the demo company on QuickBooks Desktop, CAD mapped to an A/P account in CAD, a multicurrency file
        assert stack.demo is not None and stack.demo.admin_token and stack.demo.user_id
        api = Client(stack.api_url, stack.demo.admin_token)
        assert api.call("PUT", "/v1/accounting/settings", settings("quickbooks_desktop")).status_code == 200
        qwc = etree.fromstring(api.call("GET", "/v1/accounting/quickbooks-desktop/qwc").content)
        password = api.call(
            "POST", "/v1/tokens", {"userId": stack.demo.user_id, "apiMethods": [], "description": "Quickbooks"}
        ).json()["token"]
        company = FakeCompany(
            vendors=["Maple Growers Ltd", "Flora Farms S.A."],
            accounts=["Freight In", "Accounts Payable - CAD"],
            currencies={"Maple Growers Ltd": "CAD", "Accounts Payable - CAD": "CAD"},
        )
        foreign_vendors_po(api, 601, "MAPLE")
        foreign_vendors_po(api, 602, "FLORACA")

        # When the Web Connector runs
        result = run_session(qwc.findtext("AppURL") or "", qwc.findtext("UserName") or "", password, company)

        # Then the CAD bill is in the company file on the A/P account in CAD with the rate, and the PO is "S"
        assert result.completed, result.as_dict()
        (bill,) = company.bills
        assert (bill.ref_number, bill.ap_account, bill.exchange_rate) == (
            "P601-M601",
            "Accounts Payable - CAD",
            "0.7315",
        )
        shown = api.call("GET", "/v1/purchase-orders/601").json()
        assert shown["vendorInvoiceStatus"] == "S" and shown["externalIds"] == {"M601": bill.txn_id}
        # And the mis-set vendor's PO is in Error before any BillAdd, in QuickBooks' words
        refused = api.call("GET", "/v1/purchase-orders/602").json()
        assert refused["vendorInvoiceStatus"] == "Error", refused
        message = str(refused["error"])
        assert SAME_CURRENCY in message
        assert "the bill is in CAD and vendor 'Flora Farms S.A.' is in USD in QuickBooks" in message
