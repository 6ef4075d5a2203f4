"""The directory: bulk upserts, all or nothing, and the Komet list methods."""

from __future__ import annotations

import json
from typing import Any

from ledgersync.config import get_settings
from tests.support.demo import load_directory
from tests.support.events import Api


def test_upsert_then_list_returns_the_records_when_all_rows_are_valid(api: Api, company: dict[str, Any]) -> None:
    load_directory(api)
    customers = api.get("/v1/directory/customers").json()["records"]
    assert {c["code"] for c in customers} == {"C99", "ANG", "EUR1", "OLD"}
    inventory = api.get("/v1/directory/inventory").json()["records"]
    assert {i["orderItemId"] for i in inventory} == {9999999, 5001, 5002, 5003}


def test_nothing_is_written_and_each_bad_row_is_named_when_some_rows_are_bad(api: Api, company: dict[str, Any]) -> None:
    rows = [
        {"code": "OK", "name": "Fine"},
        {"code": "", "name": "No code"},
        {"id": "x", "code": "B", "name": "B"},
        {"code": "C", "name": "C", "currency": "usd"},
    ]
    answer = api.put("/v1/directory/customers", {"records": rows})
    assert answer.status == 400
    fields = {e["field"] for e in answer.json()["errors"]}
    assert fields == {"records[1].code", "records[2].id", "records[3].currency"}
    assert api.get("/v1/directory/customers").json()["records"] == []


def test_upsert_matches_by_id_then_by_code_when_records_change(api: Api, company: dict[str, Any]) -> None:
    api.put("/v1/directory/carriers", {"records": [{"id": 5, "code": "AR", "name": "Armellini"}]})
    api.put("/v1/directory/carriers", {"records": [{"code": "AR", "name": "Armellini Express"}]})
    api.put("/v1/directory/carriers", {"records": [{"id": 5, "code": "ARM", "name": "Armellini Renamed"}]})
    carriers = api.get("/v1/directory/carriers").json()["records"]
    assert carriers == [{"id": 5, "code": "ARM", "name": "Armellini Renamed"}]
    answer = api.komet("carrier.list", {"code": "AR"})
    assert answer.json()["carriers"] == []


def test_upsert_assigns_ids_that_do_not_collide_when_none_are_given(api: Api, company: dict[str, Any]) -> None:
    api.put("/v1/directory/products", {"records": [{"id": 1, "code": "A", "name": "A"}]})
    api.put("/v1/directory/products", {"records": [{"code": "B", "name": "B"}, {"code": "C", "name": "C"}]})
    ids = [p["id"] for p in api.get("/v1/directory/products").json()["records"]]
    assert len(set(ids)) == 3


def test_upsert_refuses_a_code_that_belongs_to_another_id(api: Api, company: dict[str, Any]) -> None:
    api.put("/v1/directory/products", {"records": [{"id": 1, "code": "A", "name": "A"}]})
    answer = api.put("/v1/directory/products", {"records": [{"id": 2, "code": "A", "name": "Other"}]})
    assert answer.status == 400
    assert answer.json()["errors"][0]["field"] == "records[0].code"


def test_upsert_refuses_more_than_1000_records_and_duplicates(api: Api, company: dict[str, Any]) -> None:
    many = [{"code": f"C{i}", "name": "x"} for i in range(1001)]
    assert api.put("/v1/directory/customers", {"records": many}).status == 400
    dup = api.put("/v1/directory/customers", {"records": [{"code": "A", "name": "x"}, {"code": "a", "name": "y"}]})
    assert dup.status == 400
    assert dup.json()["errors"][0]["field"] == "records[1].code"


def test_upsert_of_1000_records_is_accepted(api: Api, company: dict[str, Any]) -> None:
    many = [{"code": f"C{i}", "name": f"Customer {i}"} for i in range(1000)]
    answer = api.put("/v1/directory/customers", {"records": many})
    assert answer.status == 200
    assert answer.json()["created"] == 1000
    page = api.get("/v1/directory/customers?limit=400").json()
    assert len(page["records"]) == 400
    rest = api.get(f"/v1/directory/customers?limit=1000&cursor={page['nextCursor']}").json()
    assert len(rest["records"]) == 600


def test_unknown_kind_is_refused_with_the_field_named(api: Api, company: dict[str, Any]) -> None:
    answer = api.put("/v1/directory/unicorns", {"records": [{"code": "A", "name": "x"}]})
    assert answer.status == 400
    assert answer.json()["errors"][0]["field"] == "kind"


def test_customer_list_filters_by_id_code_name_and_inactive(api: Api, company: dict[str, Any]) -> None:
    load_directory(api)
    names = lambda body: sorted(c["code"] for c in body["customers"])  # noqa: E731
    assert names(api.komet("customer.list", {}).json()) == ["ANG", "C99", "EUR1"]
    assert names(api.komet("customer.list", {"includeInactive": True}).json()) == ["ANG", "C99", "EUR1", "OLD"]
    assert names(api.komet("customer.list", {"id": 1001}).json()) == ["ANG"]
    assert names(api.komet("customer.list", {"code": "ang"}).json()) == ["ANG"]
    assert names(api.komet("customer.list", {"name": "flowers"}).json()) == ["ANG"]
    assert api.komet("customer.list", {}).json()["status"] == "1"


def test_every_komet_list_method_answers_from_the_directory(api: Api, company: dict[str, Any]) -> None:
    load_directory(api)
    expected = {
        "carrier.list": "carriers",
        "location.list": "locations",
        "product.list": "products",
        "boxtype.list": "boxTypes",
        "inventory.list": "inventory",
    }
    for method, key in expected.items():
        body = api.komet(method, {}).json()
        assert body[key], method
    inventory = api.get(f"/api/inventory.list?authenticationToken={api.token}&code=RSAS60").json()["inventory"]
    assert len(inventory) == 4


# ------------------------------------------------------------------ issue 13 item 6: realistic batches fit the limit
def _products() -> list[dict[str, Any]]:
    """1,000 products with 60-character names (about 92 KB: over the API's 64 KB body limit)."""
    return [
        {"id": 100_000 + i, "code": f"RS{i:06d}", "name": f"Rose Freedom Red 60cm Premium Grade Ecuador Farm {i:011d}"}
        for i in range(1000)
    ]


def _inventory() -> list[dict[str, Any]]:
    """1,000 inventory lines with every field filled at realistic widths (the widest kind)."""
    return [
        {
            "orderItemId": 9_000_000 + i,
            "productCode": f"RSFREEDOM60CM{i:06d}",
            "boxTypeCode": "QB",
            "unitsPerBox": 250,
            "unitType": "Stem",
            "availableBoxes": 1200 + i,
            "cost": "0.35",
            "locationCode": "MIA-02",
            "attributes": {"grade": "Premium", "farm": "Finca La Rosaleda"},
        }
        for i in range(1000)
    ]


def test_directory_accepts_1000_records_when_the_batch_is_over_64_kb(api: Api, company: dict[str, Any]) -> None:
    for kind, records in (("products", _products()), ("inventory", _inventory())):
        # Given a batch larger than MAX_BODY_BYTES
        assert len(json.dumps({"records": records})) > get_settings().max_body_bytes
        # When
        answer = api.put(f"/v1/directory/{kind}", {"records": records})
        # Then
        assert answer.status == 200, answer.text[:300]
        listed = api.get(f"/v1/directory/{kind}?limit=1000").json()["records"]
        assert len(listed) == 1000


def test_directory_batch_is_refused_with_413_when_over_the_bulk_limit(api: Api, company: dict[str, Any]) -> None:
    limit = get_settings().max_bulk_body_bytes
    too_big = json.dumps({"records": [{"code": "A", "name": "x" * limit}]})
    answer = api.put("/v1/directory/products", raw_body=too_big)
    assert answer.status == 413
    assert answer.json()["errors"][0]["field"] == "body" and str(limit) in answer.json()["message"]


def test_other_routes_keep_the_64_kb_limit_when_the_directory_takes_more(api: Api, company: dict[str, Any]) -> None:
    body = json.dumps({"notificationEmails": ["x" * (get_settings().max_body_bytes + 1)]})
    assert api.put("/v1/accounting/settings", raw_body=body).status == 413
    assert api.post("/v1/users", raw_body=body).status == 413
