"""Seed 000 into QuickBooks Desktop through the local stack: download the .qwc, run the Web Connector with a
method-less token as its password, see the PO turn "S" and the Bill in the company file (issue 5's "done")."""

from __future__ import annotations

from devstack.fake_qb_company import FakeCompany
from devstack.qbwc_simulator import run_session
from devstack.stack import LocalStack
from lxml import etree

from tests.support.http import PDF, Client, approved_purchase_order


def test_a_sent_po_becomes_one_bill_in_quickbooks_desktop_and_turns_s() -> None:
    with LocalStack(seed=True, schedules=False, pollers=False) as stack:
        assert stack.demo is not None and stack.demo.admin_token and stack.demo.user_id
        api = Client(stack.api_url, stack.demo.admin_token)
        api.call(
            "PUT",
            "/v1/accounting/settings",
            {"externalSystem": "quickbooks_desktop", "chargeAccounts": {"FRT": "Freight"}},
        )
        qwc = etree.fromstring(api.call("GET", "/v1/accounting/quickbooks-desktop/qwc").content)
        password = api.call(
            "POST", "/v1/tokens", {"userId": stack.demo.user_id, "apiMethods": [], "description": "Quickbooks"}
        ).json()["token"]
        po = {
            "poNumber": "P002271",
            "vendorId": api.vendor("FLORA")["id"],
            "shipDate": "2026-03-27",
            "items": [{"categoryProcurementAccountingCode": "CGEN", "totalCost": 50}],
            "additionalCharges": [{"code": "FRT", "amount": 10}],
        }
        invoice = {"invoiceNumber": "01-P002271", "invoiceAmount": 60, "totalAdditionalCharges": 10, "pdfBase64": PDF}
        approved_purchase_order(api, 7, po, invoice)
        sent = api.call("POST", "/v1/purchase-orders/send-to-external", {"purchaseOrderIds": [7]}).json()
        assert sent["results"][0]["accepted"], sent
        company = FakeCompany(vendors=["Flora Farms S.A."])
        # When the Web Connector runs with the .qwc's user name and the token as password
        result = run_session(qwc.findtext("AppURL") or "", qwc.findtext("UserName") or "", password, company)
        # Then one bill is in the company file and the PO is "S" with its TxnID
        assert result.completed, result.as_dict()
        (bill,) = company.bills
        assert bill.ref_number == "P002271-01-P002271"
        shown = api.call("GET", "/v1/purchase-orders/7").json()
        assert shown["vendorInvoiceStatus"] == "S"
        assert shown["externalIds"] == {"01-P002271": bill.txn_id}
        # And a second session finds nothing to do
        again = run_session(qwc.findtext("AppURL") or "", qwc.findtext("UserName") or "", password, company)
        assert again.auth_status == "none" and len(company.bills) == 1
        refused = run_session(qwc.findtext("AppURL") or "", qwc.findtext("UserName") or "", "wrong", company)
        assert refused.auth_status == "nvu"
