"""Sales orders into QuickBooks Desktop through the local stack (issue 12): send-sales-order over the API, the Web
Connector simulator over HTTP against the fake company file (every request checked against qbxmlops120.xsd), a
change to the open order updates the same sales order (SalesOrderMod at its EditSequence), and the shipped invoice
links it whole (LinkToTxnID), which closes it; the view's ``accounting.salesOrder`` follows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from devstack.fake_qb_company import FakeCompany
from devstack.seed import example_invoice
from devstack.stack import LocalStack
from lxml import etree

from ledgersync.domain.sales_orders import sales_order_memo
from tests.integration.test_desktop_sales_invoices import CUSTOMER, XSD_DIR, Desktop
from tests.support.http import Client

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def desktop() -> Iterator[Desktop]:
    with LocalStack(seed=True, schedules=False, pollers=False) as stack:
        assert stack.demo is not None and stack.demo.admin_token and stack.demo.user_id and stack.demo.company_id
        api = Client(stack.api_url, stack.demo.admin_token)
        settings = {
            "externalSystem": "quickbooks_desktop",
            "invoiceChargeItems": {"FRT": "Freight Income"},
            "notificationEmails": ["accounting@demo-flowers.example"],
        }
        assert api.call("PUT", "/v1/accounting/settings", settings).ok
        store = {"id": 2, "code": "MAN", "name": "Phone orders", "customerMode": "direct", "invoiceSync": "manual"}
        assert api.call("PUT", "/v1/directory/stores", {"records": [store]}).ok
        qwc = etree.fromstring(api.call("GET", "/v1/accounting/quickbooks-desktop/qwc").content)
        password = api.call(
            "POST", "/v1/tokens", {"userId": stack.demo.user_id, "apiMethods": [], "description": "Quickbooks"}
        ).json()["token"]
        yield Desktop(
            stack=stack,
            api=api,
            company_id=stack.demo.company_id,
            token=stack.demo.token or stack.demo.admin_token,
            app_url=qwc.findtext("AppURL") or "",
            user_name=qwc.findtext("UserName") or "",
            password=password,
            company=FakeCompany(customers=[CUSTOMER], items=["Fresh Cut Flowers", "Freight Income"], xsd_dir=XSD_DIR),
        )


def sales_order(desktop: Desktop, invoice_id: int) -> dict[str, str | None]:
    shown: dict[str, str | None] = desktop.accounting(invoice_id)["salesOrder"]
    return shown


def test_a_sales_order_is_added_updated_on_change_and_closed_by_its_linked_invoice_through_the_web_connector(
    desktop: Desktop,
) -> None:
    # Given an order not shipped yet, sent as a sales order
    invoice = desktop.create_invoice("MAN", boxes=2)
    invoice_id, number = invoice["invoiceId"], invoice["invoiceNumber"]
    sent = desktop.api.call("POST", f"/v1/invoices/{invoice_id}/send-sales-order", {})
    assert sent.status_code == 202, sent.text
    assert sent.json()["salesOrder"]["status"] == "queued"
    # When the Web Connector runs
    desktop.web_connector()
    # Then QuickBooks Desktop has one sales order for it, and the view shows it open with its TxnID
    (order,) = desktop.company.sales_orders_with_ref(str(number))
    assert (order.customer, order.memo) == (CUSTOMER, sales_order_memo(invoice_id, number))
    assert (sales_order(desktop, invoice_id)["status"], sales_order(desktop, invoice_id)["externalId"]) == (
        "open",
        order.txn_id,
    )
    first_total, first_edit = order.amount, order.edit_sequence
    # And sending it again makes no second one
    again = desktop.api.call("POST", f"/v1/invoices/{invoice_id}/send-sales-order", {})
    assert again.status_code == 202 and "already in QuickBooks Desktop" in again.json()["message"]
    assert desktop.web_connector().auth_status == "none"

    # When the order changes while the sales order is open, and the Web Connector runs
    changed = desktop.api.call(
        "PUT", f"/v1/invoices/{invoice_id}", {"items": [{**example_invoice()["items"][0], "boxes": 5}]}
    )
    assert changed.ok, changed.text
    desktop.web_connector()
    # Then the same sales order holds the new version
    (updated,) = desktop.company.sales_orders_with_ref(str(number))
    assert updated.txn_id == order.txn_id and updated.edit_sequence != first_edit
    assert updated.amount == first_total * 5 / 2
    assert sales_order(desktop, invoice_id)["status"] == "open"

    # When the order ships and its invoice is sent
    desktop.move(invoice_id, "ship")
    desktop.move(invoice_id, "send-now")
    desktop.web_connector()
    # Then the invoice links the sales order whole, QuickBooks closes it, and the view shows both
    (linked,) = desktop.company.invoices_with_ref(str(number))
    assert linked.amount == updated.amount
    assert [link["txn_id"] for link in linked.linked] == [order.txn_id]
    (closed,) = desktop.company.sales_orders_with_ref(str(number))
    assert closed.is_fully_invoiced and [link["txn_id"] for link in closed.linked] == [linked.txn_id]
    shown = desktop.accounting(invoice_id)
    assert (shown["status"], shown["externalId"]) == ("sent", linked.txn_id)
    assert shown["salesOrder"]["status"] == "closed"
    # And a shipped order takes no sales order
    refused = desktop.api.call("POST", f"/v1/invoices/{invoice_id}/send-sales-order", {})
    assert refused.status_code == 409 and "Shipped" in refused.text
