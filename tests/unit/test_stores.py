"""Stores (issue 10): the directory kind, one default per company, and the store each invoice belongs to."""

from __future__ import annotations

import os
from datetime import date
from typing import Any

import pytest

from ledgersync.adapters.directory_store import DynamoDirectoryStore
from ledgersync.adapters.dynamodb import SingleTable
from ledgersync.domain.directory import Kind
from ledgersync.domain.invoices import InvoiceCreateRequest
from ledgersync.errors import Conflict, ValidationFailed
from tests.fakes import InMemoryDirectoryStore
from tests.support.demo import load_directory
from tests.support.events import Api
from tests.support.invoicing import invoicing_on_fakes

WEB = {"code": "WEB", "name": "Web shop"}
AMAZON = {"code": "AMZ", "name": "Amazon", "customerMode": "channel", "accountingCustomer": "Amazon Marketplace"}


@pytest.fixture
def demo(api: Api, company: dict[str, Any]) -> Api:
    load_directory(api)
    return api


def put_stores(api: Api, *records: dict[str, Any]) -> Any:
    return api.put("/v1/directory/stores", {"records": list(records)})


def create(api: Api, **extra: Any) -> Any:
    body = {
        "customerId": 99999,
        "carrierId": 423,
        "shipDate": "2026-11-30",
        "items": [{"orderItemId": 9999999, "boxes": 1, "price": 2.5}],
        **extra,
    }
    return api.komet("invoice.create", body)


def test_a_store_gets_its_defaults_and_an_id_when_put(demo: Api) -> None:
    answer = put_stores(demo, WEB, AMAZON)

    assert answer.status == 200, answer.text
    web, amazon = answer.json()["records"]
    assert web["customerMode"] == "direct" and web["invoiceSync"] == "manual" and web["default"] is False
    assert web["invoicePrefix"] is None and web["accountingCustomer"] is None and isinstance(web["id"], int)
    assert amazon["accountingCustomer"] == "Amazon Marketplace"
    listed = demo.get("/v1/directory/stores").json()["records"]
    assert [s["code"] for s in listed] == ["WEB", "AMZ"]


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({**WEB, "customerMode": "channel"}, "records[0].accountingCustomer"),
        ({**WEB, "customerMode": "market"}, "records[0].customerMode"),
        ({**WEB, "invoiceSync": "hourly"}, "records[0].invoiceSync"),
        ({**WEB, "invoicePrefix": "P" * 11}, "records[0].invoicePrefix"),
        ({**WEB, "accountingCustomer": "a" * 42}, "records[0].accountingCustomer"),
        ({**WEB, "colour": "red"}, "records[0].colour"),
    ],
)
def test_a_bad_store_is_400_naming_the_field_when_put(demo: Api, record: dict[str, Any], field: str) -> None:
    answer = put_stores(demo, record)

    assert answer.status == 400, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == [field]


def test_a_second_default_store_is_409_naming_the_first_when_put(demo: Api) -> None:
    assert put_stores(demo, {**WEB, "default": True}).status == 200

    second = put_stores(demo, {**AMAZON, "default": True})

    assert second.status == 409
    assert "'WEB'" in second.json()["message"] and '"default": false' in second.json()["message"]
    assert [s["code"] for s in demo.get("/v1/directory/stores").json()["records"]] == ["WEB"]


def test_two_defaults_in_one_request_are_400_naming_the_second_when_put(demo: Api) -> None:
    answer = put_stores(demo, {**WEB, "default": True}, {**AMAZON, "default": True})

    assert answer.status == 400
    assert [e["field"] for e in answer.json()["errors"]] == ["records[1].default"]


def test_the_default_moves_when_the_old_one_is_unset_in_the_same_request(demo: Api) -> None:
    assert put_stores(demo, {**WEB, "default": True}).status == 200

    moved = put_stores(demo, {**WEB, "default": False}, {**AMAZON, "default": True})
    invoice = create(demo)

    assert moved.status == 200, moved.text
    assert demo.get(f"/v1/invoices/{invoice.json()['invoiceId']}").json()["store"]["code"] == "AMZ"


def test_an_invoice_records_the_store_named_by_id_or_code_when_created(demo: Api) -> None:
    web, amazon = put_stores(demo, WEB, AMAZON).json()["records"]

    by_id = create(demo, storeId=amazon["id"])
    by_code = create(demo, storeCode="web")

    assert (by_id.status, by_code.status) == (201, 201), by_id.text + by_code.text
    stores = [demo.get(f"/v1/invoices/{a.json()['invoiceId']}").json()["store"] for a in (by_id, by_code)]
    assert stores == [
        {"id": amazon["id"], "code": "AMZ", "name": "Amazon"},
        {"id": web["id"], "code": "WEB", "name": "Web shop"},
    ]


def test_without_a_store_the_invoice_goes_to_the_default_store_or_the_implicit_one_when_created(demo: Api) -> None:
    before = create(demo)
    put_stores(demo, WEB, {**AMAZON, "default": True})
    after = create(demo)

    assert demo.get(f"/v1/invoices/{before.json()['invoiceId']}").json()["store"] == {
        "id": None,
        "code": "DEFAULT",
        "name": "Default store",
    }
    assert demo.get(f"/v1/invoices/{after.json()['invoiceId']}").json()["store"]["code"] == "AMZ"


def test_the_implicit_store_comes_back_when_the_default_store_stops_being_one(demo: Api) -> None:
    put_stores(demo, {**WEB, "default": True})
    put_stores(demo, {**WEB, "default": False})

    invoice = create(demo)

    assert demo.get(f"/v1/invoices/{invoice.json()['invoiceId']}").json()["store"]["code"] == "DEFAULT"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"storeId": 424242}, "storeId"),
        ({"storeCode": "NOPE"}, "storeCode"),
        ({"storeId": 1, "storeCode": "W"}, "storeId"),
    ],
)
def test_an_unknown_store_is_400_naming_the_field_when_created(demo: Api, extra: dict[str, Any], field: str) -> None:
    answer = create(demo, **extra)

    assert answer.status == 400, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == [field]


def test_the_store_rules_hold_on_the_fakes_when_the_use_cases_run() -> None:
    # Given a company on the in-memory stores
    books = invoicing_on_fakes()
    company_id, directory, invoices = books.company_id, books.directory, books.invoices
    directory.upsert(company_id, Kind.STORES, [{**WEB, "default": True}])

    # When a second default is asked for, and a channel store without its customer
    with pytest.raises(Conflict, match="'WEB'"):
        directory.upsert(company_id, Kind.STORES, [{**AMAZON, "default": True}])
    with pytest.raises(ValidationFailed) as refused:
        directory.upsert(company_id, Kind.STORES, [{**AMAZON, "accountingCustomer": None}])

    # Then both are refused, and an invoice without a store belongs to the default one
    assert [e.field for e in refused.value.errors] == ["records[0].accountingCustomer"]
    created = invoices.create(
        company_id,
        "U1",
        InvoiceCreateRequest(
            customerId=7, carrierId=4, shipDate=date(2026, 12, 10), items=[{"orderItemId": 9, "boxes": 1, "price": 1}]
        ),
    )
    assert created.invoice_id is not None
    assert invoices.get(company_id, created.invoice_id).store is not None
    assert invoices.get(company_id, created.invoice_id).store.code == "WEB"  # type: ignore[union-attr]


@pytest.mark.parametrize("implementation", ["fake", "dynamodb"])
def test_a_second_default_is_refused_by_the_store_itself_when_two_writes_race_past_the_check(
    request: pytest.FixtureRequest, implementation: str
) -> None:
    # Given two writes that both passed the use case's check (each saw no default), on either store
    if implementation == "dynamodb":
        request.getfixturevalue("aws")
        store: Any = DynamoDirectoryStore(SingleTable(os.environ["TABLE_NAME"]))
    else:
        store = InMemoryDirectoryStore()
    web = {**WEB, "id": 1, "customerMode": "direct", "invoiceSync": "manual", "default": True}
    amazon = {**AMAZON, "id": 2, "invoiceSync": "manual", "default": True}

    # When both write
    store.write("co_1", Kind.STORES, [web], [])
    with pytest.raises(Conflict, match="'WEB' \\(id 1\\) is already the default store") as refused:
        store.write("co_1", Kind.STORES, [amazon], [])

    # Then the second is refused naming the first and writes nothing; the first keeps being the default,
    # and the default can still be moved by a write that unsets it too
    assert "'AMZ' the default" in refused.value.message
    assert store.get_by_ids("co_1", Kind.STORES, [2]) == {}
    store.write("co_1", Kind.STORES, [{**web, "default": False}, amazon], [web])
    assert store.get_by_ids("co_1", Kind.STORES, [2])[2]["default"] is True
