"""No write can poison later reads: bad map keys and values are refused before writing, and a record that is
damaged in the table anyway answers a clear error naming it, never a 5xx."""

from __future__ import annotations

from typing import Any

import boto3

from tests.support.events import Api

READS = [
    "/v1/accounting/settings",
    "/v1/accounting/connection",
    "/v1/accounting/quickbooks-desktop/qwc",
    "/v1/directory/customers",
]


def assert_usable(api: Api) -> None:
    for url in READS:
        answer = api.get(url)
        assert answer.status == 200, (url, answer.text)
    sent = api.post("/v1/purchase-orders/send-to-external", {"purchaseOrderIds": [1]})
    assert sent.status < 500, sent.text


def test_settings_with_an_empty_map_key_are_refused_naming_the_field_and_the_company_stays_usable(
    api: Api, company: dict[str, Any]
) -> None:
    for body, field in [
        ({"chargeAccounts": {"": "x"}}, "chargeAccounts"),
        ({"itemByCategory": {"ROSES": ""}}, "itemByCategory.ROSES"),
        ({"classByLocation": {"x" * 21: "Miami"}}, "classByLocation"),
    ]:
        answer = api.put("/v1/accounting/settings", body)
        assert answer.status == 400, answer.text
        assert answer.json()["errors"][0]["field"] == field
    assert_usable(api)


def test_directory_records_with_nested_or_unknown_fields_are_refused_naming_the_field_and_the_company_stays_usable(
    api: Api, company: dict[str, Any]
) -> None:
    for record, field in [
        ({"code": "A", "name": "B", "x": {"": 1}}, "records[0].x"),
        ({"code": "A", "name": "B", "attributes": {"": 1}}, "records[0].attributes"),
        ({"code": "A", "name": "B", "attributes": {"x": {"": 1}}}, "records[0].attributes.x"),
        ({"code": "A", "name": "B", "attributes": {"x": "y" * 501}}, "records[0].attributes.x"),
    ]:
        answer = api.put("/v1/directory/customers", {"records": [record]})
        assert answer.status == 400, answer.text
        assert answer.json()["errors"][0]["field"] == field
    assert_usable(api)


def test_directory_attributes_are_kept_when_they_are_named_scalars(api: Api, company: dict[str, Any]) -> None:
    record = {"code": "A", "name": "B", "attributes": {"erpRef": "X-1", "priority": 2, "vip": True, "rebate": 1.5}}
    assert api.put("/v1/directory/customers", {"records": [record]}).status == 200
    (stored,) = api.get("/v1/directory/customers").json()["records"]
    assert stored["attributes"] == {"erpRef": "X-1", "priority": 2, "vip": True, "rebate": 1.5}


def test_stored_settings_that_no_longer_parse_are_a_clear_error_and_a_put_repairs_them(
    api: Api, company: dict[str, Any]
) -> None:
    # Given settings damaged in the table (written by hand, not through the API)
    table = boto3.resource("dynamodb").Table("ledgersync-test")
    key = {"pk": f"COMPANY#{company['companyId']}", "sk": "PROFILE"}
    table.update_item(
        Key=key, UpdateExpression="SET accountingSettings = :s", ExpressionAttributeValues={":s": {"bogus": 1}}
    )
    # When they are read
    for url in ["/v1/accounting/settings", "/v1/accounting/connection"]:
        answer = api.get(url)
        # Then the answer names the record and the way to repair it, not a 5xx
        assert answer.status == 409, answer.text
        assert "accounting settings" in answer.json()["message"]
        assert "PUT /v1/accounting/settings" in answer.json()["message"]
    assert api.put("/v1/accounting/settings", {"billItemName": "Roses"}).status == 200
    assert api.get("/v1/accounting/settings").json()["billItemName"] == "Roses"


def test_a_directory_item_without_its_keys_is_a_clear_error_naming_the_record(
    api: Api, company: dict[str, Any]
) -> None:
    table = boto3.resource("dynamodb").Table("ledgersync-test")
    pk = f"COMPANY#{company['companyId']}"
    table.put_item(Item={"pk": pk, "sk": "DIRCODE#customers#ANG", "name": "no code, no id"})
    answer = api.komet("customer.list", {"code": "ANG"})
    assert answer.status == 409, answer.text
    assert "DIRCODE#customers#ANG" in answer.json()["message"]
