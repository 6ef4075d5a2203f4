"""Goflow's rules 2, 3 and 7 for sales invoices into QuickBooks Online, each through the local stack (issue 10).

Rule 2: a disconnected company's automatic invoices are held, not lost, and go back on the automatic queue once it
reconnects. Rule 3: send now and the automatic release racing for one invoice, or two clicks on send now, give one
Invoice. Rule 7: a redelivered message and an answer lost after QuickBooks created the Invoice give one Invoice.

The steps go over HTTP on 127.0.0.1 as in the end-to-end scenario (its ``Shop``); two steps reach into the stack
itself because no HTTP route does what they need: Intuit revoking the app's connection (a person disconnecting the
app in QuickBooks: the emulator has no route that revokes without knowing a token, and the tokens are the stack's
secret), and the SQS queue handed a message a second time (what a redelivery is).

The automatic queue releases a company's share once a minute and as late as an even rate allows, so the race is
run against a burst: with 2N invoices due in the next minute the run releases the N earliest now, and each of
those N races its own send now. A second run in one minute releases nothing (which would make the race vacuous;
the test asserts it is not), so each test has a stack of its own, whose first run of the minute is its own. The
disconnection test waits once for the minute its reconnected invoices are due in.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from devstack.stack import LocalStack

from tests.integration.test_sales_invoices_end_to_end import (
    DESK_PREFIX,
    ROSE_LINE,
    WEB_PREFIX,
    Shop,
    wait_for_the_minute_of,
)

pytestmark = pytest.mark.integration

RACES = 15  # invoices each racing its own send now against one automatic release
CLICKS = 5  # double clicks on send now, each its own order


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    """A stack of its own for each test: the automatic queue releases once a minute per company, and a test that
    needs that release must find it not yet taken by another test's run in the same minute."""
    with LocalStack(seed=True, schedules=False, pollers=False) as running:
        yield running


def at_once(actions: list[Callable[[], Any]]) -> list[Any]:
    """Run the actions in threads released by one barrier; answer their results in order (a raised error fails)."""
    barrier = threading.Barrier(len(actions))
    results: list[Any] = [None] * len(actions)
    errors: list[BaseException] = []

    def run(index: int, action: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = action()
        except BaseException as error:  # reported to the test below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not errors, errors
    return results


def invoices_numbered(shop: Shop, number: str) -> list[dict[str, Any]]:
    """Every Invoice QuickBooks holds with this DocNumber (``Shop.books`` fails on a duplicate; this counts them)."""
    listed = requests.get(f"{shop.qbo}/__emulator/{shop.realm}/Invoice", timeout=30).json()["Invoice"]
    return [i for i in listed if i.get("DocNumber") == number]


def assert_sent_once(shop: Shop, invoice_id: int, prefix: str) -> dict[str, Any]:
    """Exactly one Invoice has the order's number, and the order is "sent" with that Invoice's Id."""
    held = invoices_numbered(shop, f"{prefix}{invoice_id}")
    assert len(held) == 1, (invoice_id, [i["Id"] for i in held])
    accounting = shop.accounting(invoice_id)
    assert accounting["status"] == "sent" and accounting["externalId"] == held[0]["Id"], (invoice_id, accounting)
    return held[0]


def sync_queue_url(stack: LocalStack) -> str:
    return stack.resources.queues["SyncQueue"]


def message_for(stack: LocalStack, invoice_id: int) -> str:
    """The body the sync queue carries for a sales invoice bound for QuickBooks Online."""
    assert stack.demo is not None
    document = {"kind": "sales_invoice", "id": str(invoice_id)}
    return json.dumps({"companyId": stack.demo.company_id, "document": document, "target": "quickbooks_online"})


def revoke_at_intuit(stack: LocalStack, realm: str) -> None:
    """A person disconnects the app in QuickBooks: every token of the realm's connections stops working."""
    state = stack.emulators["qbo"].state
    with state.lock:
        tokens = [t for t, grant in state.refresh_tokens.items() if grant.connection.realm_id == realm]
    assert tokens, f"the emulator holds no refresh token for realm {realm}"
    for token in tokens:
        state.revoke(token)


def reconnect(shop: Shop) -> None:
    """Connect again through the consent page, as the reconnect e-mail tells the user to."""
    authorize = shop.api.call("GET", "/v1/accounting/quickbooks-online/authorize")
    assert authorize.status_code == 200, authorize.text
    connected = requests.get(authorize.json()["authorizationUrl"], timeout=30)
    assert connected.status_code == 200 and connected.json()["status"] == "connected", connected.text
    assert str(connected.json()["realmId"]) == shop.realm


def test_send_now_racing_the_automatic_release_gives_each_order_one_invoice(stack: LocalStack) -> None:
    # Given twice as many shipped orders in the automatic store as will race, all due in the next minute
    shop = Shop(stack)
    orders = [shop.shipped_order("WEB", ROSE_LINE) for _ in range(2 * RACES)]
    assert {shop.accounting(i)["status"] for i in orders} == {"queued"}
    racing = orders[:RACES]  # the earliest deadlines: the ones this minute's run releases

    # When the scheduler runs at the same instant as a send now for each of the earliest orders
    answers = at_once([shop.run_scheduler, *[lambda i=i: shop.act(i, "send-now") for i in racing]])
    shop.drain()

    # Then the run did release invoices (the race happened), and each send now was taken or refused as sent
    assert answers[0]["autoSyncReleased"] > 0, answers[0]
    for invoice_id, answer in zip(racing, answers[1:], strict=True):
        assert answer.status_code in {202, 409}, (invoice_id, answer.status_code, answer.text)
    # And each racing order is in QuickBooks once, and "sent" with that Invoice
    for invoice_id in racing:
        assert_sent_once(shop, invoice_id, WEB_PREFIX)
    # And no order of the burst is in QuickBooks twice (the rest wait on the automatic queue or were released)
    shop.books(WEB_PREFIX)
    for invoice_id in orders[RACES:]:
        assert shop.accounting(invoice_id)["status"] in {"queued", "sent"}


def test_a_double_click_on_send_now_gives_one_invoice(stack: LocalStack) -> None:
    # Given orders shipped in the manual store
    shop = Shop(stack)
    for _ in range(CLICKS):
        order = shop.shipped_order("DESK", ROSE_LINE)

        # When send now is clicked twice at the same instant
        def click(order: int = order) -> requests.Response:
            return shop.act(order, "send-now")

        first, second = at_once([click, click])
        shop.drain()
        # Then both are taken, or one is refused because the other is sending; one Invoice is in QuickBooks
        codes = sorted([first.status_code, second.status_code])
        assert codes in ([202, 202], [202, 409]), (first.text, second.text)
        assert_sent_once(shop, order, DESK_PREFIX)


def test_a_redelivered_message_sends_nothing_twice(stack: LocalStack) -> None:
    # Given an order sent now and in QuickBooks
    shop = Shop(stack)
    order = shop.shipped_order("DESK", ROSE_LINE)
    assert shop.act(order, "send-now").status_code == 202
    shop.drain()
    sent = assert_sent_once(shop, order, DESK_PREFIX)
    # When the queue delivers its message again, twice over (one of them while the other is being handled)
    queue = sync_queue_url(stack)
    for _ in range(2):
        stack.client("sqs").send_message(QueueUrl=queue, MessageBody=message_for(stack, order))
    shop.drain()
    # Then QuickBooks still holds the one Invoice, and the order still names it
    assert assert_sent_once(shop, order, DESK_PREFIX)["Id"] == sent["Id"]


def test_a_message_delivered_twice_before_any_send_gives_one_invoice(stack: LocalStack) -> None:
    # Given an order sent now whose message the queue also holds a second time before the first is handled
    shop = Shop(stack)
    order = shop.shipped_order("DESK", ROSE_LINE)
    assert shop.act(order, "send-now").status_code == 202
    stack.client("sqs").send_message(QueueUrl=sync_queue_url(stack), MessageBody=message_for(stack, order))
    # When the queues are drained
    shop.drain()
    # Then one Invoice
    assert_sent_once(shop, order, DESK_PREFIX)


def test_an_answer_lost_after_quickbooks_created_the_invoice_gives_one_invoice(stack: LocalStack) -> None:
    # Given QuickBooks will create the next record written and then answer 500 (the answer is lost)
    shop = Shop(stack)
    order = shop.shipped_order("DESK", ROSE_LINE)
    rule = {"status": 500, "afterCommit": True, "operation": "write", "realmId": shop.realm, "count": 1}
    injected = requests.post(f"{shop.qbo}/__emulator/failures", json=rule, timeout=30)
    assert injected.status_code == 201, injected.text
    try:
        # When the order is sent now and the queues drained (the consumer retries)
        assert shop.act(order, "send-now").status_code == 202
        shop.drain()
        # Then the lost answer did happen, and QuickBooks holds one Invoice, the one the order names
        assert [r.count for r in stack.emulators["qbo"].state.failures] == [0]
        assert_sent_once(shop, order, DESK_PREFIX)
    finally:
        requests.delete(f"{shop.qbo}/__emulator/failures", timeout=30)


def disconnected_with_held_invoices(stack: LocalStack, count: int) -> tuple[Shop, list[int], int]:
    """Orders shipped in the automatic store, the app then disconnected in QuickBooks, and the scheduler run that
    holds them: the shop, the held orders, and the manual order whose send found out about the disconnection."""
    # Given orders shipped in the automatic store, and then the app disconnected in QuickBooks
    shop = Shop(stack)
    orders = [shop.shipped_order("WEB", ROSE_LINE) for _ in range(count)]
    revoke_at_intuit(stack, shop.realm)
    # (a manual send finds out: QuickBooks refuses the token and the refresh gets invalid_grant)
    noticed = shop.shipped_order("DESK", ROSE_LINE)
    assert shop.act(noticed, "send-now").status_code == 202
    shop.drain()
    connection = shop.api.call("GET", "/v1/accounting/connection").json()
    assert connection["status"] == "reauthorization_required", connection
    assert shop.accounting(noticed)["status"] == "held"

    # When the scheduler runs and the queues are drained
    released = shop.run_scheduler()
    shop.drain()
    # Then each automatic invoice is held at that run with the reason, and none is in QuickBooks
    assert released["autoSyncHeld"] == count, released
    for invoice_id in orders:
        accounting = shop.accounting(invoice_id)
        assert accounting["status"] == "held", (invoice_id, accounting)
        assert "must be reconnected" in accounting["error"] and accounting["externalId"] is None, accounting
    assert shop.books(WEB_PREFIX) == {}
    return shop, orders, noticed


def test_a_disconnected_company_holds_its_automatic_invoices_and_sends_each_once_reconnected(
    stack: LocalStack,
) -> None:
    shop, orders, noticed = disconnected_with_held_invoices(stack, 3)
    # When the company reconnects, the scheduler runs and the queues are drained
    reconnect(shop)
    shop.run_scheduler()
    shop.drain()
    # (those back on the automatic queue go in the minute they are due in: one wait, at most about a minute)
    waiting = [a["scheduledFor"] for a in map(shop.accounting, orders) if a["status"] == "queued" and a["scheduledFor"]]
    if waiting:
        wait_for_the_minute_of(waiting)
        shop.run_scheduler()
        shop.drain()
    # Then each automatic invoice is in QuickBooks once and "sent", and so is the manual one the disconnection held
    for invoice_id in orders:
        assert_sent_once(shop, invoice_id, WEB_PREFIX)
    assert_sent_once(shop, noticed, DESK_PREFIX)


def test_reconnecting_puts_held_automatic_invoices_back_on_the_automatic_queue_paced_again(
    stack: LocalStack,
) -> None:
    shop, orders, _ = disconnected_with_held_invoices(stack, 3)
    held_since = max(datetime.now(UTC).isoformat(), *[shop.accounting(i)["scheduledFor"] or "" for i in orders])
    # When the company reconnects
    reconnect(shop)
    # Then each is queued on the automatic queue again, with a new deadline within the window from now
    for invoice_id in orders:
        accounting = shop.accounting(invoice_id)
        assert accounting["status"] == "queued" and accounting["error"] is None, (invoice_id, accounting)
        assert accounting["scheduledFor"] is not None and accounting["scheduledFor"] > held_since, accounting
    # And nothing is sent before a scheduler run releases it
    shop.drain()
    assert shop.books(WEB_PREFIX) == {}
