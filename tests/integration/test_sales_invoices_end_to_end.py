"""Sales invoices into QuickBooks Online through the local stack, as a user does it (issue 10's "done").

Everything goes over HTTP on 127.0.0.1, as with ``make run``: the API with the demo company's token, the
``/__devstack/`` routes a user runs by hand (the scheduler, the queues, the e-mails) and the emulator's own records.
The stack runs no timers and no pollers, so nothing happens between two steps unless a step asks for it.

The automatic queue has no clock to turn: the planner releases as late as an even rate allows, so with a
one-minute window part of a burst goes at once and the rest in the next minute's run. The scenario therefore
waits, once, for the minute its last deadline falls in (at most about a minute), and does the unship and reship
before that wait so that one wait covers both releases.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from devstack.stack import LocalStack

from tests.support.http import Client

pytestmark = pytest.mark.integration

WEB_PREFIX = "WEB-"
DESK_PREFIX = "DESK-"
ROSE_LINE = 9999999  # the demo inventory: Rose Assorted 60cm, half boxes of 6 bunches
CARNATION_LINE = 9999997  # Carnation Mixed, quarter boxes of 200 stems
LONGEST_WAIT_S = 65.0


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(seed=True, schedules=False, pollers=False) as running:
        yield running


class Shop:
    """The demo company as its user drives it, and the QuickBooks Online company it is connected to."""

    def __init__(self, stack: LocalStack) -> None:
        assert stack.demo is not None and stack.demo.admin_token
        self.api = Client(stack.api_url, stack.demo.admin_token)
        self.base = stack.api_url
        self.token = stack.demo.admin_token
        self.qbo = stack.emulators["qbo"].url
        self.realm = self._connected()

    def _connected(self) -> str:
        """Connect the company to the emulator once per stack (the consent page approves at once), whichever test
        asks first, with the stores, items and window the scenarios use."""
        current = self.api.call("GET", "/v1/accounting/connection").json()
        if current.get("status") != "connected" or current.get("externalSystem") != "quickbooks_online":
            settings = {
                "externalSystem": "quickbooks_online",
                "notificationEmails": ["ap@example.com"],
                "autoSyncWindowMinutes": 1,
            }
            assert self.api.call("PUT", "/v1/accounting/settings", settings).status_code == 200
            authorize = self.api.call("GET", "/v1/accounting/quickbooks-online/authorize").json()
            connected = requests.get(authorize["authorizationUrl"], timeout=30)
            assert connected.status_code == 200 and connected.json()["status"] == "connected", connected.text
            current = self.api.call("GET", "/v1/accounting/connection").json()
            self.directory(
                "stores",
                [
                    {
                        "code": "WEB",
                        "name": "Web Shop",
                        "customerMode": "direct",
                        "invoiceSync": "automatic",
                        "invoicePrefix": WEB_PREFIX,
                    },
                    {"code": "DESK", "name": "Phone Desk", "customerMode": "direct", "invoicePrefix": DESK_PREFIX},
                ],
            )
            # the seeded QuickBooks company has "Rose Assorted 60cm" and "Carnation Mixed", not "Carnation Fancy"
            self.directory(
                "products",
                [
                    {"code": "RSAS60", "name": "Rose Assorted 60cm", "accountingItem": "Rose Assorted 60cm"},
                    {"code": "CARMIX", "name": "Carnation Mixed", "accountingItem": "Carnation Fancy"},
                ],
            )
        return str(current["realmId"])

    def directory(self, kind: str, records: list[dict[str, Any]]) -> None:
        answer = self.api.call("PUT", f"/v1/directory/{kind}", {"records": records})
        assert answer.status_code == 200, answer.text

    def shipped_order(self, store: str, order_item_id: int) -> int:
        """An order made with invoice.create in ``store``, confirmed and shipped: its invoice id."""
        created = requests.post(
            f"{self.base}/api/invoice.create",
            json={
                "authenticationToken": self.token,
                "storeCode": store,
                "customerCode": "ANG",
                "customerDescription": "Ang Flowers LLC",
                "carrierCode": "AR",
                "carrierDescription": "Armellini",
                "shipDate": "2026-12-14",
                "items": [{"orderItemId": order_item_id, "boxes": 1, "price": 0.30}],
            },
            timeout=30,
        ).json()
        assert created["status"] == "1", created
        invoice_id = int(created["invoiceId"])
        assert self.act(invoice_id, "confirm").status_code == 200
        shipped = self.act(invoice_id, "ship")
        assert shipped.status_code == 200 and shipped.json()["status"] == "Shipped", shipped.text
        return invoice_id

    def act(self, invoice_id: int, action: str, body: Any = None) -> requests.Response:
        return self.api.call("POST", f"/v1/invoices/{invoice_id}/{action}", body)

    def accounting(self, invoice_id: int) -> dict[str, Any]:
        shown = self.api.call("GET", f"/v1/invoices/{invoice_id}")
        assert shown.status_code == 200, shown.text
        return shown.json()["accounting"]  # type: ignore[no-any-return]

    def run_scheduler(self) -> dict[str, Any]:
        answer = requests.post(f"{self.base}/__devstack/schedules/SchedulerFunction", timeout=120)
        assert answer.status_code == 200, answer.text
        return answer.json()["result"]  # type: ignore[no-any-return]

    def drain(self) -> None:
        answer = requests.post(f"{self.base}/__devstack/drain", timeout=120)
        assert answer.status_code == 200, answer.text
        assert answer.json()["dead_letters"] == {"SyncQueueDLQ": 0, "WebhookQueueDLQ": 0, "ExportQueueDLQ": 0}, (
            answer.text
        )

    def emails(self) -> list[dict[str, Any]]:
        return requests.get(f"{self.base}/__devstack/emails", timeout=30).json()  # type: ignore[no-any-return]

    def books(self, prefix: str) -> dict[str, dict[str, Any]]:
        """The Invoices the QuickBooks Online company holds with ``prefix``, by DocNumber (a DocNumber twice fails)."""
        listed = requests.get(f"{self.qbo}/__emulator/{self.realm}/Invoice", timeout=30).json()["Invoice"]
        mine = [i for i in listed if str(i.get("DocNumber", "")).startswith(prefix)]
        by_number = {str(i["DocNumber"]): i for i in mine}
        numbers = sorted(by_number)
        assert len(by_number) == len(mine), f"a DocNumber is in QuickBooks twice among {numbers}"
        return by_number


def item_names(invoice: dict[str, Any]) -> list[str]:
    return [line["SalesItemLineDetail"]["ItemRef"]["name"] for line in invoice["Line"] if "SalesItemLineDetail" in line]


def quantities(invoice: dict[str, Any]) -> list[float]:
    return [float(line["SalesItemLineDetail"]["Qty"]) for line in invoice["Line"] if "SalesItemLineDetail" in line]


def wait_for_the_minute_of(deadlines: list[str]) -> None:
    """Sleep until the minute the latest deadline falls in has begun: its run releases whatever is still queued."""
    latest = max(datetime.fromisoformat(d) for d in deadlines)
    due = latest.replace(second=0, microsecond=0).timestamp() + 0.5
    pause = due - datetime.now(UTC).timestamp()
    assert pause <= LONGEST_WAIT_S, f"a deadline {pause:.0f} s away: the window is not one minute"
    if pause > 0:
        time.sleep(pause)


def assert_each_sent_as_held(shop: Shop, orders: list[int], books: dict[str, dict[str, Any]]) -> None:
    """Each order is "sent" with the Id and number of the Invoice QuickBooks holds for it, on its customer and item."""
    for invoice_id in orders:
        accounting = shop.accounting(invoice_id)
        held = books[f"{WEB_PREFIX}{invoice_id}"]
        assert accounting["status"] == "sent", (invoice_id, accounting)
        assert accounting["externalId"] == held["Id"] and accounting["docNumber"] == held["DocNumber"]
        assert held["CustomerRef"]["name"] == "Ang Flowers LLC" and item_names(held) == ["Rose Assorted 60cm"]


def assert_refused_then_sent_once_fixed(shop: Shop, refused: int, emails_before: int) -> None:
    """The refused order is in "error" with the reason and the fix and one e-mail said so; once its product names
    an item QuickBooks has, send again sends it, and no further e-mail goes out."""
    # the refusal: the reason, the fix, one e-mail, and the invoice among those not sent to accounting
    error = shop.accounting(refused)
    assert error["status"] == "error" and error["externalId"] is None
    assert "Carnation Fancy" in error["error"] and "accountingItem" in error["error"]
    notices = [e for e in shop.emails()[emails_before:] if f"Invoice {refused} " in e["subject"]]
    assert len(notices) == 1 and "ap@example.com" in notices[0]["to"], notices
    listed = shop.api.call("GET", "/v1/invoices?sentToAccounting=false").json()["invoices"]
    assert refused in [i["invoiceId"] for i in listed]
    # the fix: the product mapped to the item QuickBooks has, and the invoice sent again
    shop.directory("products", [{"code": "CARMIX", "name": "Carnation Mixed", "accountingItem": "Carnation Mixed"}])
    assert shop.act(refused, "send-again").status_code == 202
    shop.drain()
    # now it is in QuickBooks too, on that item, and no further e-mail was sent
    fixed = shop.books(WEB_PREFIX)[f"{WEB_PREFIX}{refused}"]
    assert shop.accounting(refused)["status"] == "sent" and shop.accounting(refused)["externalId"] == fixed["Id"]
    assert item_names(fixed) == ["Carnation Mixed"]
    assert len([e for e in shop.emails()[emails_before:] if f"Invoice {refused} " in e["subject"]]) == 1


def test_an_automatic_store_sends_ten_shipped_orders_over_the_window_and_follows_unship_reship_and_a_fix(
    stack: LocalStack,
) -> None:
    # Given the demo company on QuickBooks Online with an automatic store and a one-minute window
    shop = Shop(stack)
    emails_before = len(shop.emails())
    # When ten orders are made in the store, confirmed and shipped, and one more whose item QuickBooks lacks
    orders = [shop.shipped_order("WEB", ROSE_LINE) for _ in range(10)]
    refused = shop.shipped_order("WEB", CARNATION_LINE)
    # Then nothing is in QuickBooks yet: each invoice is queued, to be sent within the window
    assert shop.books(WEB_PREFIX) == {}
    queued = [shop.accounting(i) for i in [*orders, refused]]
    assert {a["status"] for a in queued} == {"queued"}
    assert all(a["scheduledFor"] and a["externalId"] is None for a in queued)

    # When the scheduler runs now and the queues are drained
    first = shop.run_scheduler()
    shop.drain()
    # Then part of the burst is in QuickBooks (the rest waits for the next minute), earliest deadline first
    assert 0 < first["autoSyncReleased"] <= 11, first
    early = shop.books(WEB_PREFIX)
    # (the refused order has the latest deadline: released only with all the others, and never in QuickBooks)
    assert len(early) == first["autoSyncReleased"] - (first["autoSyncReleased"] == 11)
    assert f"{WEB_PREFIX}{orders[0]}" in early

    # When the first order, already in QuickBooks, is unshipped (an automatic store) and the queues drained
    unshipped = orders[0]
    old = shop.accounting(unshipped)
    assert old["status"] == "sent"
    assert shop.act(unshipped, "unship").json()["status"] == "Confirmed"
    shop.drain()
    # Then its Invoice is deleted from QuickBooks
    assert shop.accounting(unshipped)["status"] == "deleted"
    assert f"{WEB_PREFIX}{unshipped}" not in shop.books(WEB_PREFIX)

    # When it is changed (two boxes) and shipped again: queued again, for its new version
    changed = shop.api.call(
        "PUT", f"/v1/invoices/{unshipped}", {"items": [{"orderItemId": ROSE_LINE, "boxes": 2, "price": 0.30}]}
    )
    assert changed.status_code == 200, changed.text
    reshipped = shop.act(unshipped, "ship").json()
    assert reshipped["status"] == "Shipped"
    requeued = shop.accounting(unshipped)
    assert requeued["status"] == "queued" and requeued["version"] == reshipped["version"] > old["version"]

    # When the minute of the last deadline comes, the scheduler runs and the queues are drained
    wait_for_the_minute_of([a["scheduledFor"] for a in queued] + [requeued["scheduledFor"]])
    shop.run_scheduler()
    shop.drain()
    # Then QuickBooks holds the ten orders, each once, each "sent" with the Invoice's own Id and number
    books = shop.books(WEB_PREFIX)
    assert sorted(books) == sorted(f"{WEB_PREFIX}{i}" for i in orders)
    assert_each_sent_as_held(shop, orders, books)
    not_sent = shop.api.call("GET", "/v1/invoices?sentToAccounting=false").json()["invoices"]
    assert not set(orders) & {i["invoiceId"] for i in not_sent}
    # And the reshipped order is a new Invoice for its new version: two boxes of six bunches at 0.30
    again = books[f"{WEB_PREFIX}{unshipped}"]
    assert again["Id"] != old["externalId"]
    assert shop.accounting(unshipped)["version"] == reshipped["version"]
    assert quantities(again) == [12.0] and float(again["TotalAmt"]) == pytest.approx(3.60)
    # And the order with the unknown item is in "error"; fixed and sent again, it is in QuickBooks too
    assert_refused_then_sent_once_fixed(shop, refused, emails_before)


def test_a_manual_store_sends_on_request_refuses_send_again_while_in_quickbooks_and_replaces_on_request(
    stack: LocalStack,
) -> None:
    # Given the connected demo company and an order shipped in its manual store
    shop = Shop(stack)
    order = shop.shipped_order("DESK", ROSE_LINE)
    number = f"{DESK_PREFIX}{order}"
    # Then shipping sent nothing, and scheduled nothing
    assert shop.accounting(order)["status"] == "not_sent"
    shop.run_scheduler()
    shop.drain()
    assert number not in shop.books(DESK_PREFIX)
    # When it is sent now
    assert shop.act(order, "send-now").status_code == 202
    shop.drain()
    first = shop.books(DESK_PREFIX)[number]
    assert shop.accounting(order)["externalId"] == first["Id"]
    # Then sending it again while QuickBooks has it is refused with both ways out
    refused = shop.act(order, "send-again")
    assert refused.status_code == 409, refused.text
    message = refused.json()["message"]
    assert f"id {first['Id']}" in message and "delete it in QuickBooks Online" in message
    assert '{"replace": true}' in message
    shop.drain()
    assert shop.books(DESK_PREFIX)[number]["Id"] == first["Id"]
    # When it is sent again with replace
    replaced = shop.act(order, "send-again", {"replace": True})
    assert replaced.status_code == 202, replaced.text
    shop.drain()
    # Then the old Invoice is gone and one new Invoice has the number, the one the order shows
    listed = requests.get(f"{shop.qbo}/__emulator/{shop.realm}/Invoice", timeout=30).json()["Invoice"]
    assert first["Id"] not in [i["Id"] for i in listed]
    now = shop.books(DESK_PREFIX)[number]
    assert now["Id"] != first["Id"]
    accounting = shop.accounting(order)
    assert accounting["status"] == "sent" and accounting["externalId"] == now["Id"]
