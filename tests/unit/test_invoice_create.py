"""invoice.create, every parameter and rule of seed 002, through the API as a caller sees it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_KEY
from tests.support.demo import load_directory
from tests.support.events import Api

SEED = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "002_1d83b5ffb9930f7a.txt"


@pytest.fixture
def demo(api: Api, company: dict[str, Any]) -> Api:
    load_directory(api)
    return api


def seed_samples() -> tuple[str, str]:
    """The two request samples exactly as seed 002 prints them."""
    text = SEED.read_text()
    start1 = text.index("Sample 1\n{") + len("Sample 1\n")
    end1 = text.index("Sample 2\n{")
    start2 = end1 + len("Sample 2\n")
    end2 = text.index("\nResponse\n")
    return text[start1:end1].strip(), text[start2:end2].strip()


def create(api: Api, body: dict[str, Any], **kw: Any) -> Any:
    return api.komet("invoice.create", body, **kw)


def item(order_item_id: int = 9999999, boxes: int = 1, price: Any = 2.5) -> dict[str, Any]:
    return {"orderItemId": order_item_id, "boxes": boxes, "price": price}


BASE: dict[str, Any] = {"customerId": 99999, "carrierId": 423, "shipDate": "2026-11-30"}


def test_seed_sample_1_creates_a_pending_invoice_and_the_unknown_charge(demo: Api) -> None:
    # Given seed 002's first sample, with our token
    sample = json.loads(seed_samples()[0])
    sample["authenticationToken"] = demo.token
    # When
    answer = demo.call("POST", "/api/invoice.create", sample)
    # Then
    assert answer.status == 201, answer.text
    body = answer.json()
    assert body["status"] == "1" and body["message"] == "success"
    assert body["invoiceNumber"] == 1 and isinstance(body["invoiceId"], int)
    assert body["items"] == [{"status": 1, "orderItemId": 9999999, "invoiceItemId": [1]}]
    invoice = demo.get(f"/v1/invoices/{body['invoiceId']}").json()
    assert invoice["status"] == "Pending Approval"
    assert invoice["items"][0]["amount"] == 125.0  # 5 boxes x 10 stems x 2.50
    assert invoice["additionalCharges"][0]["code"] == "BT"
    charges = {c["code"] for c in demo.get("/v1/directory/charges").json()["records"]}
    assert charges == {"FRT", "BT"}


def test_seed_sample_2_as_printed_is_refused_as_malformed_json_with_its_position(demo: Api) -> None:
    raw = seed_samples()[1].replace("token_info_goes_here", demo.token or "")
    answer = demo.call("POST", "/api/invoice.create", raw_body=raw)
    assert answer.status == 400
    body = answer.json()
    assert body["status"] == "0"
    assert body["errors"][0]["field"] == "body"
    assert "line 13" in body["errors"][0]["message"]


def test_seed_sample_2_with_its_missing_comma_fixed_takes_boxes_from_several_lines(demo: Api) -> None:
    raw = seed_samples()[1].replace('"returnAvailableBoxes":1\n', '"returnAvailableBoxes":1,\n')
    sample = json.loads(raw)
    sample["authenticationToken"] = demo.token
    sample["items"][0]["boxes"] = 8  # 4 + 3 at Chicago, 5 at Miami
    answer = demo.call("POST", "/api/invoice.create", sample)
    assert answer.status == 201, answer.text
    body = answer.json()
    assert body["status"] == "1"
    assert body["items"][0]["productCode"] == "RSAS60"
    assert body["items"][0]["availableBoxes"] == 12
    assert len(body["items"][0]["invoiceItemId"]) == 3
    carriers = [c["code"] for c in demo.get("/v1/directory/carriers").json()["records"]]
    assert "AR" in carriers


def test_item_not_available_answer_has_the_seed_shape_when_fewer_boxes_exist(demo: Api) -> None:
    # Given 7 boxes of RSAS60 HB 6 Bunch at location 02
    request = {
        **BASE,
        "locationCode": "02",
        "items": [
            {
                "productCode": "RSAS60",
                "boxTypeCode": "HB",
                "unitsPerBox": 6,
                "unitType": "bunch",
                "boxes": 10,
                "price": 0.3,
            }
        ],
    }
    # When 10 are asked for
    answer = create(demo, request)
    # Then the 7 are taken from two lines and the answer says the item is not (fully) available
    body = answer.json()
    assert answer.status == 201
    assert body["status"] == "0" and body["message"] == "Item is not available"
    assert set(body) == {"status", "message", "invoiceId", "invoiceNumber", "items"}
    assert body["items"] == [
        {"availableBoxes": 7, "productCode": "RSAS60", "status": 1, "invoiceItemId": body["items"][0]["invoiceItemId"]}
    ]
    assert len(body["items"][0]["invoiceItemId"]) == 2
    stock = {i["orderItemId"]: i["availableBoxes"] for i in demo.get("/v1/directory/inventory").json()["records"]}
    assert stock[5001] == 0 and stock[5002] == 0 and stock[5003] == 5


def test_no_invoice_is_written_when_no_item_is_available(demo: Api) -> None:
    answer = create(demo, {**BASE, "items": [item(5001, boxes=4)]})
    assert answer.status == 201 and answer.json()["status"] == "1"
    empty = create(demo, {**BASE, "items": [item(5001, boxes=1)]})
    assert empty.status == 409
    body = empty.json()
    assert body["status"] == "0" and body["message"] == "Item is not available"
    assert "invoiceId" not in body
    assert body["items"] == [{"status": 0, "orderItemId": 5001, "availableBoxes": 0, "invoiceItemId": []}]
    assert len(demo.get("/v1/invoices").json()["invoices"]) == 1


def test_return_available_boxes_reports_what_was_available(demo: Api) -> None:
    answer = create(demo, {**BASE, "returnAvailableBoxes": 1, "items": [item(9999999, boxes=2)]})
    assert answer.json()["items"][0]["availableBoxes"] == 20
    plain = create(demo, {**BASE, "items": [item(9999999, boxes=2)]})
    assert "availableBoxes" not in plain.json()["items"][0]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"customerCode": "ANG", "customerDescription": "Ang"}, "customerId"),
        ({"carrierCode": "AR", "carrierDescription": "Armellini"}, "carrierId"),
    ],
)
def test_both_id_and_code_are_refused_with_the_field_named(demo: Api, extra: dict[str, Any], field: str) -> None:
    answer = create(demo, {**BASE, **extra, "items": [item()]})
    assert answer.status == 400
    assert answer.json()["errors"][0]["field"] == field
    assert "not both" in answer.json()["errors"][0]["message"]


def test_neither_id_nor_code_is_refused(demo: Api) -> None:
    answer = create(demo, {"carrierId": 423, "shipDate": "2026-11-30", "items": [item()]})
    assert answer.status == 400
    assert answer.json()["errors"][0]["field"] == "customerId"
    half = create(demo, {"customerCode": "ANG", "carrierId": 423, "shipDate": "2026-11-30", "items": [item()]})
    assert half.json()["errors"][0]["field"] == "customerDescription"


def test_unknown_customer_is_used_by_default_and_refused_when_asked(demo: Api) -> None:
    answer = create(demo, {**BASE, "customerId": 424242, "items": [item()]})
    assert answer.status == 201
    invoice = demo.get(f"/v1/invoices/{answer.json()['invoiceId']}").json()
    assert invoice["customer"]["name"] == "Unknown"
    again = create(
        demo, {**BASE, "customerCode": "NOPE", "customerDescription": "Nope", "customerId": None, "items": [item()]}
    )
    assert demo.get(f"/v1/invoices/{again.json()['invoiceId']}").json()["customer"]["code"] == "UNKNOWN"
    refused = create(demo, {**BASE, "customerId": 424242, "useUnknownCustomerIfNotExists": "False", "items": [item()]})
    assert refused.status == 400
    assert refused.json()["errors"][0]["field"] == "customerId"
    inactive = create(demo, {**BASE, "customerId": 1003, "useUnknownCustomerIfNotExists": False, "items": [item()]})
    assert "inactive" in inactive.json()["errors"][0]["message"]


def test_carrier_is_created_only_when_asked(demo: Api) -> None:
    request = {
        "customerId": 99999,
        "carrierCode": "NEW",
        "carrierDescription": "New Lines",
        "shipDate": "2026-11-30",
        "items": [item()],
    }
    refused = create(demo, request)
    assert refused.status == 400 and refused.json()["errors"][0]["field"] == "carrierCode"
    created = create(demo, {**request, "createCarrierIfNotExists": True})
    assert created.status == 201
    assert "NEW" in [c["code"] for c in demo.get("/v1/directory/carriers").json()["records"]]
    missing_id = create(demo, {**BASE, "carrierId": 777, "items": [item()]})
    assert missing_id.json()["errors"][0]["field"] == "carrierId"


def test_location_limits_the_inventory_and_must_exist(demo: Api) -> None:
    wrong = create(demo, {**BASE, "locationId": 999, "items": [item()]})
    assert wrong.status == 400 and wrong.json()["errors"][0]["field"] == "locationId"
    mismatch = create(demo, {**BASE, "locationId": 3, "locationCode": "01", "items": [item()]})
    assert mismatch.json()["errors"][0]["field"] == "locationCode"
    miami = create(demo, {**BASE, "locationId": 4, "items": [item(9999999)]})
    assert miami.status == 409  # that line is at Chicago


def test_status_draft_auto_confirm_and_checkout(demo: Api) -> None:
    draft = create(demo, {**BASE, "statusDraft": 1, "items": [item()]}).json()
    confirmed = create(demo, {**BASE, "autoConfirm": "True", "items": [item()]}).json()
    assert demo.get(f"/v1/invoices/{draft['invoiceId']}").json()["status"] == "Draft"
    assert demo.get(f"/v1/invoices/{confirmed['invoiceId']}").json()["status"] == "Confirmed"
    checked = demo.komet("invoice.checkout", {"invoiceNumber": draft["invoiceNumber"]})
    assert checked.status == 200 and checked.json()["invoiceStatus"] == "Pending Approval"
    again = demo.komet("invoice.checkout", {"invoiceNumber": draft["invoiceNumber"]})
    assert again.status == 409
    assert demo.komet("invoice.checkout", {"invoiceNumber": 999}).status == 404
    both = create(demo, {**BASE, "statusDraft": 1, "autoConfirm": True, "items": [item()]})
    assert both.status == 400 and both.json()["errors"][0]["field"] == "autoConfirm"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"poNumber": "P" * 21}, "poNumber"),
        ({"reference": "R" * 21}, "reference"),
        ({"warehouseInstructions": "w" * 201}, "warehouseInstructions"),
        ({"invoiceNotes": "n" * 201}, "invoiceNotes"),
        ({"shipDate": "10/04/2014"}, "shipDate"),
        ({"shipDate": "2014-13-45"}, "shipDate"),
        ({"customerId": "abc"}, "customerId"),
        ({"customerId": 1.5}, "customerId"),
        ({"returnAvailableBoxes": 2}, "returnAvailableBoxes"),
        ({"statusDraft": "maybe"}, "statusDraft"),
        ({"locationCode": "L" * 11}, "locationCode"),
        ({"surprise": 1}, "surprise"),
        ({"items": []}, "items"),
        ({"items": [{"orderItemId": 9999999, "boxes": "five", "price": 1}]}, "items[0].boxes"),
        ({"items": [{"orderItemId": 9999999, "boxes": 0, "price": 1}]}, "items[0].boxes"),
        ({"items": [{"orderItemId": 9999999, "boxes": 1, "price": 1.234}]}, "items[0].price"),
        ({"items": [{"orderItemId": 9999999, "boxes": 1, "price": -1}]}, "items[0].price"),
        ({"items": [{"orderItemId": 9999999, "boxes": 1}]}, "items[0].price"),
        (
            {
                "items": [
                    {
                        "productCode": "RSAS60",
                        "boxTypeCode": "HBXX",
                        "unitsPerBox": 6,
                        "unitType": "Bunch",
                        "boxes": 1,
                        "price": 1,
                    }
                ]
            },
            "items[0].boxTypeCode",
        ),
        (
            {
                "items": [
                    {
                        "productCode": "RSAS60",
                        "boxTypeCode": "HB",
                        "unitsPerBox": 6,
                        "unitType": "Box",
                        "boxes": 1,
                        "price": 1,
                    }
                ]
            },
            "items[0].unitType",
        ),
        ({"items": [{"productCode": "RSAS60", "boxes": 1, "price": 1}]}, "items[0]"),
        ({"items": [{"orderItemId": 1, "productCode": "X", "boxes": 1, "price": 1}]}, "items[0]"),
        ({"items": [{"markCode": "m" * 21, "orderItemId": 9999999, "boxes": 1, "price": 1}]}, "items[0].markCode"),
        ({"additionalCharges": [{"code": "TOOLONGCODE1", "value": 1}]}, "additionalCharges[0].code"),
        ({"additionalCharges": [{"code": "X", "value": 1.2345}]}, "additionalCharges[0].value"),
        ({"additionalCharges": [{"code": "X"}]}, "additionalCharges[0].value"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(demo: Api, change: dict[str, Any], field: str) -> None:
    answer = create(demo, {**BASE, "items": [item()], **change})
    assert answer.status == 400, answer.text
    body = answer.json()
    assert body["status"] == "0"
    assert body["errors"][0]["field"] == field, body
    assert demo.get("/v1/invoices").json()["invoices"] == []


def test_missing_ship_date_and_items_are_named(demo: Api) -> None:
    answer = create(demo, {"customerId": 99999, "carrierId": 423})
    fields = {e["field"] for e in answer.json()["errors"]}
    assert {"shipDate", "items"} <= fields


def test_body_that_is_not_an_object_or_json_is_a_400(demo: Api) -> None:
    with_token = f"/api/invoice.create?authenticationToken={demo.token}"
    assert demo.call("POST", with_token, raw_body="[1,2]").status == 400
    assert demo.call("POST", "/api/invoice.create", raw_body="{not json").status == 400


def test_bodies_over_64_kb_are_refused_with_413(demo: Api) -> None:
    big = {**BASE, "items": [item()], "invoiceNotes": "x" * 70_000}
    answer = create(demo, big)
    assert answer.status == 413
    assert answer.json()["status"] == "0"


def test_missing_or_wrong_token_is_a_401(demo: Api) -> None:
    assert demo.call("POST", "/api/invoice.create", {**BASE, "items": [item()]}, token="").status == 401
    answer = create(demo, {**BASE, "items": [item()]}, token="lsk_wrong")
    assert answer.status == 401 and answer.json()["status"] == "0"


def test_foreign_currency_customer_prices_are_converted_at_the_rate_in_force(demo: Api) -> None:
    answer = create(
        demo,
        {
            **BASE,
            "customerId": 1002,
            "items": [item(9999999, boxes=1, price="2.50")],
            "additionalCharges": [{"code": "FRT", "value": 10}],
        },
    )
    invoice = demo.get(f"/v1/invoices/{answer.json()['invoiceId']}").json()
    assert invoice["currency"] == "EUR" and invoice["companyCurrency"] == "USD"
    assert invoice["exchangeRate"] == 1.1
    line = invoice["items"][0]
    assert line["amount"] == 25.0 and line["amountCompanyCurrency"] == 27.5
    assert invoice["total"] == 35.0 and invoice["totalCompanyCurrency"] == 38.5


def test_foreign_currency_without_a_rate_is_refused(demo: Api) -> None:
    demo.put("/v1/directory/customers", {"records": [{"id": 2000, "code": "JP", "name": "Tokyo", "currency": "JPY"}]})
    answer = create(demo, {**BASE, "customerId": 2000, "items": [item()]})
    assert answer.status == 400 and "exchange rate" in answer.json()["message"]


def test_idempotency_key_returns_the_first_answer_and_refuses_a_different_body(demo: Api) -> None:
    first = create(demo, {**BASE, "items": [item()]}, headers={"Idempotency-Key": "k-1"})
    again = create(demo, {**BASE, "items": [item()]}, headers={"Idempotency-Key": "k-1"})
    assert again.json() == first.json()
    assert len(demo.get("/v1/invoices").json()["invoices"]) == 1
    other = create(demo, {**BASE, "items": [item(boxes=2)]}, headers={"Idempotency-Key": "k-1"})
    assert other.status == 400 and other.json()["errors"][0]["field"] == "Idempotency-Key"


def test_invoices_are_private_to_their_company(demo: Api) -> None:
    mine = create(demo, {**BASE, "items": [item()]}).json()
    other = demo.post("/v1/companies", {"name": "Other"}, headers={"X-Admin-Key": ADMIN_KEY}).json()["adminToken"]
    assert demo.get(f"/v1/invoices/{mine['invoiceId']}", token=other).status == 404
    assert demo.get("/v1/invoices", token=other).json()["invoices"] == []
    assert demo.komet("invoice.checkout", {"invoiceNumber": mine["invoiceNumber"]}, token=other).status == 404


def test_invoice_list_pages_in_number_order(demo: Api) -> None:
    for _ in range(5):
        create(demo, {**BASE, "items": [item()]})
    page = demo.get("/v1/invoices?limit=2").json()
    numbers = [i["invoiceNumber"] for i in page["invoices"]]
    rest = demo.get(f"/v1/invoices?limit=10&cursor={page['nextCursor']}").json()
    numbers += [i["invoiceNumber"] for i in rest["invoices"]]
    assert numbers == [1, 2, 3, 4, 5] and rest["nextCursor"] is None


def test_a_caller_without_a_valid_token_learns_nothing_from_body_errors(demo: Api) -> None:
    # Given a body that is wrong in every way
    bad = {"customerId": "abc", "items": []}
    # When it comes without a token, or with a wrong one
    anonymous = demo.call("POST", "/api/invoice.create", bad, token="")
    wrong = create(demo, bad, token="lsk_wrong")
    # Then the answer is 401, not the list of what is wrong with the body
    assert anonymous.status == 401 and wrong.status == 401
    # (the one field a 401 names is the token itself)
    for refused in (anonymous, wrong):
        assert [e["field"] for e in refused.json()["errors"]] == ["authenticationToken"]
        assert refused.json()["status"] == "0"
    # And with a valid token in the query string, a malformed body is a 400 again
    query = demo.call("POST", f"/api/invoice.create?authenticationToken={demo.token}", raw_body="{oops", token="")
    assert query.status == 400 and query.json()["errors"][0]["field"] == "body"
