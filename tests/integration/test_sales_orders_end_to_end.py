"""An order's sales order into QuickBooks Online through the local stack (issue 12): send-sales-order makes one
Estimate, a change to the order updates that Estimate (its SyncToken moves on, no second one), and once the order
ships its Invoice is linked to the Estimate (LinkedTxn), which QuickBooks closes.

Everything goes over HTTP on 127.0.0.1 as with ``make run`` (see ``test_sales_invoices_end_to_end``, whose ``Shop``
this drives); nothing happens between two steps unless a step asks for it (``drain``).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from devstack.stack import LocalStack

from tests.integration.test_sales_invoices_end_to_end import DESK_PREFIX, ROSE_LINE, Shop, quantities

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(seed=True, schedules=False, pollers=False) as running:
        yield running


def confirmed_order(shop: Shop, store: str = "DESK") -> int:
    """An order made with invoice.create in ``store`` and confirmed (not shipped): its invoice id."""
    created = requests.post(
        f"{shop.base}/api/invoice.create",
        json={
            "authenticationToken": shop.token,
            "storeCode": store,
            "customerCode": "ANG",
            "customerDescription": "Ang Flowers LLC",
            "carrierCode": "AR",
            "carrierDescription": "Armellini",
            "shipDate": "2026-12-14",
            "items": [{"orderItemId": ROSE_LINE, "boxes": 1, "price": 0.30}],
        },
        timeout=30,
    ).json()
    assert created["status"] == "1", created
    invoice_id = int(created["invoiceId"])
    assert shop.act(invoice_id, "confirm").status_code == 200
    return invoice_id


def estimates(shop: Shop, number: str) -> list[dict[str, Any]]:
    listed = requests.get(f"{shop.qbo}/__emulator/{shop.realm}/Estimate", timeout=30).json()["Estimate"]
    return [e for e in listed if e.get("DocNumber") == number]


def test_a_sales_order_is_one_estimate_updated_on_change_and_closed_by_the_linked_invoice_on_ship(
    stack: LocalStack,
) -> None:
    # Given the connected demo company and a confirmed order in its manual store
    shop = Shop(stack)
    order = confirmed_order(shop)
    number = f"{DESK_PREFIX}{order}"
    assert shop.accounting(order)["salesOrder"] == {"status": "not_sent", "externalId": None, "error": None}

    # When it is sent as a sales order (twice: a double click) and the queues drained
    sent = shop.act(order, "send-sales-order")
    again = shop.act(order, "send-sales-order")
    shop.drain()
    # Then QuickBooks holds one pending Estimate for it, the one the order shows
    assert sent.status_code == 202 and again.status_code == 202, (sent.text, again.text)
    (estimate,) = estimates(shop, number)
    assert estimate["TxnStatus"] == "Pending" and quantities(estimate) == [6.0]
    assert shop.accounting(order)["salesOrder"] == {"status": "open", "externalId": estimate["Id"], "error": None}

    # When the order is changed to two boxes while the sales order is open
    changed = shop.api.call(
        "PUT", f"/v1/invoices/{order}", {"items": [{"orderItemId": ROSE_LINE, "boxes": 2, "price": 0.30}]}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["accounting"]["salesOrder"]["status"] == "queued"
    shop.drain()
    # Then the same Estimate holds the change (its SyncToken moved on), and there is no second one
    (updated,) = estimates(shop, number)
    assert updated["Id"] == estimate["Id"] and int(updated["SyncToken"]) > int(estimate["SyncToken"])
    assert quantities(updated) == [12.0] and float(updated["TotalAmt"]) == pytest.approx(3.60)
    assert shop.accounting(order)["salesOrder"]["status"] == "open"

    # When the order ships and its invoice is sent now
    assert shop.act(order, "ship").json()["status"] == "Shipped"
    refused = shop.act(order, "send-sales-order")
    assert shop.act(order, "send-now").status_code == 202
    shop.drain()
    # Then a shipped order takes no sales order, and its Invoice is linked to the Estimate, which is closed
    assert refused.status_code == 409 and "send-now" in refused.json()["message"], refused.text
    invoice = shop.books(DESK_PREFIX)[number]
    assert invoice["LinkedTxn"] == [{"TxnId": estimate["Id"], "TxnType": "Estimate"}]
    (closed,) = estimates(shop, number)
    assert closed["TxnStatus"] == "Closed"
    assert closed["LinkedTxn"] == [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]
    accounting = shop.accounting(order)
    assert accounting["status"] == "sent" and accounting["externalId"] == invoice["Id"]
    assert accounting["salesOrder"] == {"status": "closed", "externalId": estimate["Id"], "error": None}


def test_send_sales_order_answers_404_for_an_unknown_invoice_and_400_for_a_bad_body_or_id(stack: LocalStack) -> None:
    shop = Shop(stack)
    order = confirmed_order(shop)

    unknown = shop.act(99_999_999, "send-sales-order")
    bad_body = shop.act(order, "send-sales-order", {"replace": True})
    bad_id = shop.api.call("POST", "/v1/invoices/abc/send-sales-order")
    wrong_method = shop.api.call("GET", f"/v1/invoices/{order}/send-sales-order")

    assert unknown.status_code == 404, unknown.text
    assert bad_body.status_code in {400, 422} and "replace" in bad_body.text, bad_body.text
    assert bad_id.status_code in {400, 422} and "invoice_id" in bad_id.text.replace("invoiceId", "invoice_id")
    assert wrong_method.status_code == 405 and "POST" in wrong_method.headers.get("Allow", ""), wrong_method.text
    assert shop.accounting(order)["salesOrder"]["status"] == "not_sent"


def test_clicks_and_changes_at_the_same_moment_leave_one_estimate_holding_the_order_as_it_is(stack: LocalStack) -> None:
    # Given a confirmed order that eight clicks send as a sales order at once
    shop = Shop(stack)
    order = confirmed_order(shop)
    number = f"{DESK_PREFIX}{order}"
    with ThreadPoolExecutor(max_workers=8) as pool:
        clicks = list(pool.map(lambda _: shop.act(order, "send-sales-order"), range(8)))
    shop.drain()
    assert {c.status_code for c in clicks} == {202}, [c.text for c in clicks]
    (created,) = estimates(shop, number)

    # When four changes race each other (each written with the sales order's state, or not at all)
    def change(boxes: int) -> requests.Response:
        body = {"items": [{"orderItemId": ROSE_LINE, "boxes": boxes, "price": 0.30}]}
        return shop.api.call("PUT", f"/v1/invoices/{order}", body)

    with ThreadPoolExecutor(max_workers=4) as pool:
        changes = list(pool.map(change, [2, 3, 4, 5]))
    shop.drain()
    # Then at least one change won, the rest were refused (409), and the one Estimate holds the order as it is now
    assert {c.status_code for c in changes} <= {200, 409} and 200 in {c.status_code for c in changes}
    invoice = shop.api.call("GET", f"/v1/invoices/{order}").json()
    (held,) = estimates(shop, number)
    assert held["Id"] == created["Id"]
    assert float(held["TotalAmt"]) == pytest.approx(float(invoice["total"]))
    assert invoice["accounting"]["salesOrder"] == {"status": "open", "externalId": created["Id"], "error": None}
