"""Goflow's Send Again for bills (issue 12) through the local stack into the QuickBooks Online emulator: a bill found
unchanged is adopted, a changed one refused with the fix, replace deletes it and creates ours once, and a bill a
person deleted is sent anew; the same on QuickBooks Desktop through the Web Connector simulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from devstack.stack import LocalStack

from tests.integration.test_quickbooks_online_end_to_end import connected_demo
from tests.support.http import Client, approved_purchase_order

NUMBER = "P4401-INV-9"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(seed=True, schedules=False, pollers=False) as running:
        yield running


def bills(stack: LocalStack, realm: str) -> list[dict[str, Any]]:
    found = requests.get(f"{stack.emulators['qbo'].url}/__emulator/{realm}/Bill", timeout=10).json()["Bill"]
    return [bill for bill in found if bill.get("DocNumber") == NUMBER]


def send_again(api: Client, body: Any = None) -> requests.Response:
    return api.call("POST", "/v1/purchase-orders/4401/send-again", body)


def test_send_again_adopts_refuses_replaces_once_and_resends_against_the_emulator(stack: LocalStack) -> None:
    # Given a PO synchronized into QuickBooks Online as one bill
    api, realm = connected_demo(stack)
    qbo = stack.emulators["qbo"].url
    po = {
        "poNumber": "P4401",
        "vendorId": api.vendor("FLORA")["id"],
        "shipDate": "2026-05-02",
        "items": [{"categoryProcurementAccountingCode": "CGEN", "totalCost": 50}],
        "additionalCharges": [{"code": "FRT", "amount": 10}],
    }
    invoice = {"invoiceNumber": "INV-9", "invoiceAmount": 60, "totalAdditionalCharges": 10}
    approved_purchase_order(api, 4401, po, invoice)
    api.call("POST", "/v1/purchase-orders/send-to-external", {"purchaseOrderIds": [4401]})
    stack.drain_queues()
    (first,) = bills(stack, realm)

    # When it is sent again unchanged: adopted, nothing created
    adopted = send_again(api)
    assert adopted.status_code == 202, adopted.text
    assert adopted.json()["bills"][0]["action"] == "adopted" and adopted.json()["bills"][0]["externalId"] == first["Id"]
    stack.drain_queues()
    assert [bill["Id"] for bill in bills(stack, realm)] == [first["Id"]]

    # When a person changes the bill in QuickBooks (deleted and keyed in again with another amount)
    assert requests.delete(f"{qbo}/__emulator/{realm}/Bill/{first['Id']}", timeout=10).status_code == 200
    changed = {k: v for k, v in first.items() if k in {"VendorRef", "TxnDate", "DocNumber", "Line"}}
    changed["Line"] = [{k: v for k, v in line.items() if k not in {"Id", "LineNum"}} for line in first["Line"]]
    changed["Line"][0]["Amount"] = 55
    changed["Line"][0]["ItemBasedExpenseLineDetail"]["UnitPrice"] = 55
    added = requests.post(f"{qbo}/__emulator/{realm}/Bill", json=changed, timeout=10)
    assert added.status_code == 201, added.text
    (theirs,) = bills(stack, realm)

    # Then send again refuses, saying what differs and the fix
    refused = send_again(api, {"replace": False})
    assert refused.status_code == 409, refused.text
    assert "the bill in QuickBooks Online differs from ours" in refused.json()["message"]
    assert "total 65.00 there, 60.00 here" in refused.json()["message"]

    # And with replace, the stack deletes theirs and creates ours, once, however often the queue delivers
    replaced = send_again(api, {"replace": True})
    assert replaced.status_code == 202, replaced.text
    stack.drain_queues()
    stack.drain_queues()
    (ours,) = bills(stack, realm)
    assert ours["Id"] != theirs["Id"] and float(ours["TotalAmt"]) == 60.0
    assert "P4401-INV-9" in ours.get("PrivateNote", "")
    shown = api.call("GET", "/v1/purchase-orders/4401").json()
    assert shown["vendorInvoiceStatus"] == "S" and shown["externalIds"] == {"INV-9": ours["Id"]}

    # When a person deletes ours in QuickBooks, send again simply sends it
    assert requests.delete(f"{qbo}/__emulator/{realm}/Bill/{ours['Id']}", timeout=10).status_code == 200
    resent = send_again(api)
    assert resent.status_code == 202 and resent.json()["bills"][0]["action"] == "sent"
    stack.drain_queues()
    (again,) = bills(stack, realm)
    assert again["Id"] not in {first["Id"], theirs["Id"], ours["Id"]}
    assert api.call("GET", "/v1/purchase-orders/4401").json()["externalIds"] == {"INV-9": again["Id"]}


def test_on_quickbooks_desktop_send_again_is_checked_by_the_web_connector_and_never_duplicates() -> None:
    from devstack.fake_qb_company import FakeCompany
    from devstack.qbwc_simulator import run_session
    from lxml import etree

    with LocalStack(seed=True, schedules=False, pollers=False) as desktop:
        # Given a PO synchronized into QuickBooks Desktop as one bill
        assert desktop.demo is not None and desktop.demo.admin_token and desktop.demo.user_id
        api = Client(desktop.api_url, desktop.demo.admin_token)
        api.call(
            "PUT",
            "/v1/accounting/settings",
            {"externalSystem": "quickbooks_desktop", "chargeAccounts": {"FRT": "Freight"}},
        )
        qwc = etree.fromstring(api.call("GET", "/v1/accounting/quickbooks-desktop/qwc").content)
        password = api.call(
            "POST", "/v1/tokens", {"userId": desktop.demo.user_id, "apiMethods": [], "description": "Quickbooks"}
        ).json()["token"]
        url, user = qwc.findtext("AppURL") or "", qwc.findtext("UserName") or ""
        po = {
            "poNumber": "P4401",
            "vendorId": api.vendor("FLORA")["id"],
            "shipDate": "2026-05-02",
            "items": [{"categoryProcurementAccountingCode": "CGEN", "totalCost": 50}],
            "additionalCharges": [{"code": "FRT", "amount": 10}],
        }
        approved_purchase_order(
            api, 4401, po, {"invoiceNumber": "INV-9", "invoiceAmount": 60, "totalAdditionalCharges": 10}
        )
        api.call("POST", "/v1/purchase-orders/send-to-external", {"purchaseOrderIds": [4401]})
        company = FakeCompany(vendors=["Flora Farms S.A."])
        assert run_session(url, user, password, company).completed
        (first,) = company.bills_with_ref(NUMBER)

        # When it is sent again with the bill still there: the session adopts it, nothing is added
        answer = send_again(api)
        assert answer.status_code == 202, answer.text
        assert answer.json()["bills"][0]["action"] == "checked_when_sent"
        assert run_session(url, user, password, company).completed
        assert [bill.txn_id for bill in company.bills_with_ref(NUMBER)] == [first.txn_id]
        assert api.call("GET", "/v1/purchase-orders/4401").json()["externalIds"] == {"INV-9": first.txn_id}

        # When a person deletes it in QuickBooks Desktop and it is sent again: a new bill, one
        company.bills.remove(first)
        assert send_again(api).status_code == 202
        assert run_session(url, user, password, company).completed
        (again,) = company.bills_with_ref(NUMBER)
        assert again.txn_id != first.txn_id
        shown = api.call("GET", "/v1/purchase-orders/4401").json()
        assert shown["vendorInvoiceStatus"] == "S" and shown["externalIds"] == {"INV-9": again.txn_id}


def test_on_quickbooks_desktop_a_changed_bill_is_refused_with_the_fix_not_adopted() -> None:
    from devstack.fake_qb_company import FakeCompany
    from devstack.qbwc_simulator import run_session
    from lxml import etree

    with LocalStack(seed=True, schedules=False, pollers=False) as desktop:
        # Given a PO synchronized into QuickBooks Desktop, whose bill a person then changed there
        assert desktop.demo is not None and desktop.demo.admin_token and desktop.demo.user_id
        api = Client(desktop.api_url, desktop.demo.admin_token)
        api.call(
            "PUT",
            "/v1/accounting/settings",
            {"externalSystem": "quickbooks_desktop", "chargeAccounts": {"FRT": "Freight"}},
        )
        qwc = etree.fromstring(api.call("GET", "/v1/accounting/quickbooks-desktop/qwc").content)
        password = api.call(
            "POST", "/v1/tokens", {"userId": desktop.demo.user_id, "apiMethods": [], "description": "Quickbooks"}
        ).json()["token"]
        url, user = qwc.findtext("AppURL") or "", qwc.findtext("UserName") or ""
        po = {
            "poNumber": "P4401",
            "vendorId": api.vendor("FLORA")["id"],
            "shipDate": "2026-05-02",
            "items": [{"categoryProcurementAccountingCode": "CGEN", "totalCost": 50}],
            "additionalCharges": [{"code": "FRT", "amount": 10}],
        }
        approved_purchase_order(
            api, 4401, po, {"invoiceNumber": "INV-9", "invoiceAmount": 60, "totalAdditionalCharges": 10}
        )
        api.call("POST", "/v1/purchase-orders/send-to-external", {"purchaseOrderIds": [4401]})
        company = FakeCompany(vendors=["Flora Farms S.A."])
        assert run_session(url, user, password, company).completed
        (bill,) = company.bills_with_ref(NUMBER)
        bill.amount = bill.amount + 5

        # When it is sent again and the Web Connector runs
        assert send_again(api).status_code == 202
        run_session(url, user, password, company)

        # Then the PO is in Error with what differs and the fix, and no second bill was added
        shown = api.call("GET", "/v1/purchase-orders/4401").json()
        assert shown["vendorInvoiceStatus"] == "Error", shown
        assert "differs from ours" in shown["error"] and "total 65.00 there, 60.00 here" in shown["error"]
        assert "delete it in QuickBooks Desktop, then send again" in shown["error"]
        assert '{"replace": true}' in shown["error"]
        assert len(company.bills_with_ref(NUMBER)) == 1

        # When it is sent again with replace and the Web Connector runs: one session does it all, the next has nothing
        replaced = send_again(api, {"replace": True})
        assert replaced.status_code == 202, replaced.text
        assert api.call("GET", "/v1/purchase-orders/4401").json()["vendorInvoiceStatus"] == "Sent to External System"
        assert run_session(url, user, password, company).completed
        idle = run_session(url, user, password, company)
        assert idle.auth_status == "none" and idle.messages == 0

        # Then theirs was deleted (TxnDel Bill) and ours added, once: one bill, ours, recorded
        (ours,) = company.bills_with_ref(NUMBER)
        assert ours.txn_id != bill.txn_id and company.deleted_txn_ids == [bill.txn_id]
        assert ours.amount == 60 and "P4401-INV-9" in (ours.memo or "")
        shown = api.call("GET", "/v1/purchase-orders/4401").json()
        assert shown["vendorInvoiceStatus"] == "S" and shown["externalIds"] == {"INV-9": ours.txn_id}, shown
