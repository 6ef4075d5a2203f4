"""Concurrent invoice.create calls against moto in server mode: no oversell, no gap or repeat, one invoice per key."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.support.demo import load_directory
from tests.support.events import Api

BASE: dict[str, Any] = {"customerId": 99999, "carrierId": 423, "shipDate": "2026-11-30"}


def test_concurrent_requests_never_oversell_when_they_compete_for_the_last_boxes(
    live_api: Api, live_company: dict[str, Any]
) -> None:
    # Given 4 boxes on line 5001
    load_directory(live_api)
    request = {**BASE, "items": [{"orderItemId": 5001, "boxes": 1, "price": 1}]}
    # When 12 callers each ask for one box at once
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda _: live_api.komet("invoice.create", request), range(12)))
    # Then exactly 4 get an invoice and the line is empty, never negative
    created = [a for a in answers if a.status == 201]
    refused = [a for a in answers if a.status == 409]
    assert len(created) == 4, [a.text for a in answers]
    assert len(refused) == 8
    stock = {i["orderItemId"]: i["availableBoxes"] for i in live_api.get("/v1/directory/inventory").json()["records"]}
    assert stock[5001] == 0


def test_concurrent_requests_get_sequential_numbers_with_no_gap_or_repeat(
    live_api: Api, live_company: dict[str, Any]
) -> None:
    load_directory(live_api)
    request = {**BASE, "items": [{"orderItemId": 9999999, "boxes": 1, "price": 1}]}
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(lambda _: live_api.komet("invoice.create", request), range(15)))
    assert all(a.status == 201 for a in answers), [a.text for a in answers]
    numbers = sorted(a.json()["invoiceNumber"] for a in answers)
    assert numbers == list(range(1, 16))
    item_ids = [i for a in answers for i in a.json()["items"][0]["invoiceItemId"]]
    assert len(set(item_ids)) == 15


def test_concurrent_retries_with_one_idempotency_key_create_one_invoice(
    live_api: Api, live_company: dict[str, Any]
) -> None:
    load_directory(live_api)
    request = {**BASE, "items": [{"orderItemId": 9999999, "boxes": 2, "price": 1}]}
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(
            pool.map(lambda _: live_api.komet("invoice.create", request, headers={"Idempotency-Key": "same"}), range(6))
        )
    assert {a.status for a in answers} == {201}
    assert len({a.json()["invoiceId"] for a in answers}) == 1
    assert len(live_api.get("/v1/invoices").json()["invoices"]) == 1
    stock = {i["orderItemId"]: i["availableBoxes"] for i in live_api.get("/v1/directory/inventory").json()["records"]}
    assert stock[9999999] == 18
