"""The order lifecycle (issue 10): confirm, ship, unship, each a write conditional on the invoice's version."""

from __future__ import annotations

import os
import threading
from datetime import UTC, date, datetime
from typing import Any

import pytest

from ledgersync.adapters.dynamodb import SingleTable
from ledgersync.adapters.invoice_store import DynamoInvoiceStore
from ledgersync.domain.invoices import Invoices, InvoiceStatus, SalesInvoice, ShipRequest
from tests.fakes import FakeClock
from tests.support.demo import load_directory
from tests.support.events import Api
from tests.support.invoicing import invoicing_on_fakes, race


class IsolatedTable(SingleTable):
    """The table with each write isolated from the others, as DynamoDB isolates them; moto, called from threads,
    checks a condition and writes without a lock, so two racing writes could both pass. The conditions stay ours."""

    lock = threading.Lock()

    def update(self, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            return super().update(*args, **kwargs)

    def transact(self, *args: Any, **kwargs: Any) -> None:
        with self.lock:
            super().transact(*args, **kwargs)


@pytest.fixture
def demo(api: Api, company: dict[str, Any]) -> Api:
    load_directory(api)
    return api


def new_invoice(api: Api, **extra: Any) -> dict[str, Any]:
    body = {
        "customerId": 99999,
        "carrierId": 423,
        "shipDate": "2026-11-30",
        "items": [{"orderItemId": 9999999, "boxes": 1, "price": 2.5}],
        **extra,
    }
    answer = api.komet("invoice.create", body)
    assert answer.status == 201, answer.text
    invoice: dict[str, Any] = api.get(f"/v1/invoices/{answer.json()['invoiceId']}").json()
    return invoice


def test_an_order_goes_pending_confirmed_shipped_and_back_when_each_call_is_made(demo: Api) -> None:
    # Given a Pending Approval invoice
    invoice = new_invoice(demo)
    path = f"/v1/invoices/{invoice['invoiceId']}"
    assert (invoice["status"], invoice["version"]) == ("Pending Approval", 1)

    # When it is confirmed, shipped on a given day, and unshipped
    confirmed = demo.post(f"{path}/confirm")
    shipped = demo.post(f"{path}/ship", {"shipDate": "2026-12-03"})
    unshipped = demo.post(f"{path}/unship")

    # Then each answers the invoice view in its new state, one version further each time
    assert [a.status for a in (confirmed, shipped, unshipped)] == [200, 200, 200], unshipped.text
    assert [(a.json()["status"], a.json()["version"]) for a in (confirmed, shipped, unshipped)] == [
        ("Confirmed", 2),
        ("Shipped", 3),
        ("Confirmed", 4),
    ]
    assert shipped.json()["shipDate"] == "2026-12-03"
    SalesInvoice.model_validate(unshipped.json())
    assert demo.get(path).json() == unshipped.json()


def test_ship_without_a_body_ships_today_utc_when_no_date_is_given(demo: Api) -> None:
    invoice = new_invoice(demo, autoConfirm=True)

    shipped = demo.post(f"/v1/invoices/{invoice['invoiceId']}/ship")

    assert shipped.status == 200, shipped.text
    assert shipped.json()["shipDate"] == datetime.now(UTC).date().isoformat()


@pytest.mark.parametrize(
    ("extra", "call", "state", "hint"),
    [
        ({}, "ship", "Pending Approval", "/confirm"),
        ({}, "unship", "Pending Approval", "/confirm"),
        ({"statusDraft": True}, "confirm", "Draft", "invoice.checkout"),
        ({"autoConfirm": True}, "confirm", "Confirmed", "/ship"),
        ({"autoConfirm": True}, "unship", "Confirmed", "/ship"),
    ],
)
def test_a_wrong_state_call_is_409_saying_the_state_and_what_to_do_when_made(
    demo: Api, extra: dict[str, Any], call: str, state: str, hint: str
) -> None:
    invoice = new_invoice(demo, **extra)

    answer = demo.post(f"/v1/invoices/{invoice['invoiceId']}/{call}")

    assert answer.status == 409
    body = answer.json()
    assert body["code"] == "Conflict"
    assert f"is '{state}'" in body["message"] and hint in body["message"]
    assert demo.get(f"/v1/invoices/{invoice['invoiceId']}").json() == invoice  # nothing changed


def test_shipping_twice_is_409_saying_it_is_shipped_and_how_to_undo_when_repeated(demo: Api) -> None:
    invoice = new_invoice(demo, autoConfirm=True)
    path = f"/v1/invoices/{invoice['invoiceId']}"
    assert demo.post(f"{path}/ship").status == 200

    again = demo.post(f"{path}/ship")

    assert again.status == 409
    assert "is 'Shipped'" in again.json()["message"] and "/unship" in again.json()["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"shipDate": "2026-02-30"}, "shipDate"), ({"shipDate": "tomorrow"}, "shipDate"), ({"when": "now"}, "when")],
)
def test_a_bad_ship_body_is_400_naming_the_field_when_sent(demo: Api, body: dict[str, Any], field: str) -> None:
    invoice = new_invoice(demo, autoConfirm=True)

    answer = demo.post(f"/v1/invoices/{invoice['invoiceId']}/ship", body)

    assert answer.status == 400
    assert [e["field"] for e in answer.json()["errors"]] == [field]


@pytest.mark.parametrize("call", ["confirm", "ship", "unship"])
def test_an_unknown_invoice_is_404_when_moved(demo: Api, call: str) -> None:
    answer = demo.post(f"/v1/invoices/424242/{call}")

    assert answer.status == 404
    assert "424242" in answer.json()["message"]


@pytest.mark.parametrize(("method", "call"), [("invoice.confirm", "confirm"), ("invoice.ship", "ship")])
def test_a_token_without_the_lifecycle_method_is_403_when_it_calls_it(
    demo: Api, company: dict[str, Any], method: str, call: str
) -> None:
    invoice = new_invoice(demo)
    issued = demo.post("/v1/tokens", {"userId": company["userId"], "apiMethods": ["invoice.get"]})
    assert issued.status == 201, issued.text
    limited = issued.json()["token"]

    answer = demo.post(f"/v1/invoices/{invoice['invoiceId']}/{call}", token=limited)

    assert answer.status == 403
    assert method in answer.json()["message"]


def test_two_concurrent_ships_one_wins_and_the_other_is_409_when_racing_on_dynamodb(
    demo: Api, company: dict[str, Any]
) -> None:
    # Given a Confirmed invoice in DynamoDB (moto), and two requests that both read it before either writes
    invoice = new_invoice(demo, autoConfirm=True)
    store = DynamoInvoiceStore(IsolatedTable(os.environ["TABLE_NAME"]))
    both_read = threading.Barrier(2, timeout=10)

    class ReadTogether(DynamoInvoiceStore):
        def get(self, company_id: str, invoice_id: int) -> dict[str, Any] | None:
            found = store.get(company_id, invoice_id)
            if found is not None and found["status"] == InvoiceStatus.CONFIRMED:
                both_read.wait()
            return found

    invoices = Invoices(ReadTogether(store.table), directory=None)  # type: ignore[arg-type]  # ship needs none

    def ship(day: date) -> SalesInvoice:
        return invoices.ship(company["companyId"], invoice["invoiceId"], ShipRequest(shipDate=day))

    # When both ship at once
    won, lost = race(ship, [date(2026, 12, d) for d in (4, 5)])

    # Then one wins, the other is refused saying what happened; the stored invoice is the winner's
    assert (len(won), len(lost)) == (1, 1), (won, lost)
    assert "changed by another request meanwhile" in lost[0].message and "'Shipped'" in lost[0].message
    stored = demo.get(f"/v1/invoices/{invoice['invoiceId']}").json()
    assert (stored["status"], stored["version"]) == ("Shipped", 2)
    assert stored["shipDate"] == won[0].ship_date.isoformat()


def test_ship_uses_the_clock_for_today_when_the_use_case_runs_on_the_fakes() -> None:
    from ledgersync.domain.invoices import InvoiceCreateRequest

    books = invoicing_on_fakes(clock=FakeClock(datetime(2027, 1, 2, 23, 59, tzinfo=UTC)))
    company_id, invoices = books.company_id, books.invoices
    created = invoices.create(
        company_id,
        "U1",
        InvoiceCreateRequest(
            customerId=7,
            carrierId=4,
            shipDate=date(2026, 12, 10),
            autoConfirm=True,
            items=[{"orderItemId": 9, "boxes": 1, "price": 1}],
        ),
    )
    assert created.invoice_id is not None

    shipped = invoices.ship(company_id, created.invoice_id, ShipRequest())

    assert (shipped.status, shipped.ship_date, shipped.version) == (InvoiceStatus.SHIPPED, date(2027, 1, 2), 2)


def available(api: Api, order_item_id: int) -> int:
    records = api.get("/v1/directory/inventory").json()["records"]
    return int(next(r for r in records if r["orderItemId"] == order_item_id)["availableBoxes"])


def test_a_change_replaces_items_and_charges_giving_back_and_taking_boxes_when_put(demo: Api) -> None:
    # Given an invoice of 2 boxes of 9999999 (20 available before)
    invoice = new_invoice(demo, items=[{"orderItemId": 9999999, "boxes": 2, "price": 2.5}])
    assert available(demo, 9999999) == 18

    # When it is changed to 5 boxes of 9999999 and 2 of 5001, with a freight charge
    body = {
        "items": [{"orderItemId": 9999999, "boxes": 5, "price": 1.25}, {"orderItemId": 5001, "boxes": 2, "price": 3}],
        "additionalCharges": [{"code": "FRT", "value": 7.5}],
    }
    changed = demo.put(f"/v1/invoices/{invoice['invoiceId']}", body)

    # Then the invoice view answers the new lines and totals, one version on; the inventory moved by the difference
    assert changed.status == 200, changed.text
    view = changed.json()
    assert [(ln["orderItemId"], ln["boxes"], ln["amount"]) for ln in view["items"]] == [
        (9999999, 5, 62.5),
        (5001, 2, 36.0),
    ]
    assert (view["subTotal"], view["total"], view["version"]) == (98.5, 106.0, 2)
    assert view["additionalCharges"][0]["code"] == "FRT" and view["updatedBy"]
    assert demo.get(f"/v1/invoices/{invoice['invoiceId']}").json() == view
    assert (available(demo, 9999999), available(demo, 5001)) == (15, 2)
    # and the lines were numbered anew, past every number already given
    assert [ln["invoiceItemId"] for ln in view["items"]] == [2, 3]
    after = demo.komet("invoice.create", {**BASE_BODY, "items": [{"orderItemId": 5002, "boxes": 1, "price": 1}]})
    assert after.json()["items"][0]["invoiceItemId"] == [4]


BASE_BODY: dict[str, Any] = {"customerId": 99999, "carrierId": 423, "shipDate": "2026-11-30"}


def test_a_change_of_a_shipped_invoice_is_409_until_it_is_unshipped(demo: Api) -> None:
    invoice = new_invoice(demo, autoConfirm=True)
    path = f"/v1/invoices/{invoice['invoiceId']}"
    body = {"items": [{"orderItemId": 9999999, "boxes": 3, "price": 2.5}]}
    assert demo.post(f"{path}/ship").status == 200

    refused = demo.put(path, body)
    assert demo.post(f"{path}/unship").status == 200
    accepted = demo.put(path, body)

    assert refused.status == 409
    assert "is 'Shipped'" in refused.json()["message"] and "/unship" in refused.json()["message"]
    assert accepted.status == 200, accepted.text
    assert (accepted.json()["status"], accepted.json()["items"][0]["boxes"]) == ("Confirmed", 3)


def test_a_change_wanting_more_boxes_than_there_are_is_409_naming_the_item_and_changes_nothing(demo: Api) -> None:
    # Given an invoice holding 2 of the 20 boxes
    invoice = new_invoice(demo, items=[{"orderItemId": 9999999, "boxes": 2, "price": 2.5}])

    # When it asks for 20 (18 free + its own 2: allowed) and then for 21
    enough = demo.put(
        f"/v1/invoices/{invoice['invoiceId']}", {"items": [{"orderItemId": 9999999, "boxes": 20, "price": 1}]}
    )
    too_many = demo.put(
        f"/v1/invoices/{invoice['invoiceId']}", {"items": [{"orderItemId": 9999999, "boxes": 21, "price": 1}]}
    )

    assert enough.status == 200, enough.text
    assert too_many.status == 409
    assert [e["field"] for e in too_many.json()["errors"]] == ["items[0].boxes"]
    assert "20 box(es) available" in too_many.json()["errors"][0]["message"]
    assert demo.get(f"/v1/invoices/{invoice['invoiceId']}").json() == enough.json()
    assert available(demo, 9999999) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"items": []}, "items"),
        ({"additionalCharges": []}, "items"),
        ({"items": [{"orderItemId": 9999999, "boxes": 0, "price": 1}]}, "items[0].boxes"),
        ({"items": [{"orderItemId": 9999999, "boxes": 1, "price": 1}], "customerId": 5}, "customerId"),
    ],
)
def test_a_bad_change_is_400_naming_the_field_when_put(demo: Api, body: dict[str, Any], field: str) -> None:
    invoice = new_invoice(demo)

    answer = demo.put(f"/v1/invoices/{invoice['invoiceId']}", body)

    assert answer.status == 400, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == [field]


def test_two_concurrent_changes_one_wins_and_the_other_is_409_when_racing_on_dynamodb(
    demo: Api, company: dict[str, Any]
) -> None:
    from ledgersync.domain.invoices import InvoiceChangeRequest

    invoice = new_invoice(demo)
    store = DynamoInvoiceStore(IsolatedTable(os.environ["TABLE_NAME"]))
    both_read = threading.Barrier(2, timeout=10)
    first_reads = threading.local()

    class ReadTogether(DynamoInvoiceStore):
        def get(self, company_id: str, invoice_id: int) -> dict[str, Any] | None:
            found = store.get(company_id, invoice_id)
            if not getattr(first_reads, "done", False):
                first_reads.done = True
                both_read.wait()
            return found

    invoices = Invoices(ReadTogether(store.table), directory=None, pause=lambda _: None)  # type: ignore[arg-type]

    def change(boxes: int) -> SalesInvoice:
        request = InvoiceChangeRequest(items=[{"orderItemId": 9999999, "boxes": boxes, "price": 1}])
        return invoices.change(company["companyId"], "U1", invoice["invoiceId"], request)

    won, lost = race(change, [3, 4])
    assert (len(won), len(lost)) == (1, 1), (won, lost)
    assert "changed by another request meanwhile" in lost[0].message
    stored = demo.get(f"/v1/invoices/{invoice['invoiceId']}").json()
    assert (stored["items"][0]["boxes"], stored["version"]) == (won[0].items[0].boxes, 2)
    assert available(demo, 9999999) == 20 - won[0].items[0].boxes
