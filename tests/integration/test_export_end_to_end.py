"""Rootstock's Sales Invoice Export through the local stack, as a user does it (issue 12): the preview's counts, the
export (202 with its runId, a second one refused while it runs), its process log entry with one error, the fix,
and the export again carrying on where the first stopped. Everything over HTTP on 127.0.0.1; no timers and no
pollers run, so the queues are drained by hand (``/__devstack/drain``), a delayed checkpoint after its delay."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from devstack.stack import LocalStack

from tests.support.http import Client

pytestmark = pytest.mark.integration

ROSE_LINE = 9999999  # the demo inventory: Rose Assorted 60cm


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(seed=True, schedules=False, pollers=False) as running:
        yield running


def drain_until_done(base: str, api: Client, run_id: str) -> dict[str, Any]:
    """Drain the queues until the run has finished (a settle checkpoint waits 10 s between looks)."""
    for _ in range(12):
        answer = requests.post(f"{base}/__devstack/drain", timeout=120)
        assert answer.status_code == 200, answer.text
        entry = api.call("GET", f"/v1/process-log/{run_id}").json()
        if entry["status"] != "running":
            return entry  # type: ignore[no-any-return]
        time.sleep(11)
    raise AssertionError(f"the export {run_id} is still running")


def test_an_export_matches_or_adds_names_sends_invoices_once_logs_an_error_and_carries_on_once_fixed(
    stack: LocalStack,
) -> None:
    assert stack.demo is not None and stack.demo.admin_token
    base, token = stack.api_url, stack.demo.admin_token
    api = Client(base, token)
    qbo = stack.emulators["qbo"].url
    settings = {"externalSystem": "quickbooks_online", "notificationEmails": ["ap@example.com"]}
    assert api.call("PUT", "/v1/accounting/settings", settings).status_code == 200
    authorize = api.call("GET", "/v1/accounting/quickbooks-online/authorize").json()
    assert requests.get(authorize["authorizationUrl"], timeout=30).json()["status"] == "connected"
    realm = api.call("GET", "/v1/accounting/connection").json()["realmId"]
    products = [
        {"code": "RSAS60", "name": "Rose Assorted 60cm", "accountingItem": "Rose: Assorted 60"},
        {"code": "TULIP", "name": "Tulip Mix", "accountingItem": "Tulip Mix"},
    ]
    assert api.call("PUT", "/v1/directory/products", {"records": products}).status_code == 200
    created = requests.post(
        f"{base}/api/invoice.create",
        json={
            "authenticationToken": token,
            "customerCode": "ANG",
            "customerDescription": "Ang Flowers LLC",
            "carrierCode": "AR",
            "carrierDescription": "Armellini",
            "shipDate": "2026-12-14",
            "items": [{"orderItemId": ROSE_LINE, "boxes": 1, "price": 0.30}],
        },
        timeout=30,
    ).json()
    invoice_id = int(created["invoiceId"])
    for action in ("confirm", "ship"):
        assert api.call("POST", f"/v1/invoices/{invoice_id}/{action}").status_code == 200

    preview = api.call("GET", "/v1/accounting/export/preview")
    assert preview.status_code == 200, preview.text
    counts = preview.json()
    assert counts["productExportQty"] >= 2 and counts["customerExportQty"] >= 1 and counts["invoiceExportQty"] >= 1

    started = api.call("POST", "/v1/accounting/export")
    assert started.status_code == 202, started.text
    run_id = started.json()["runId"]
    second = api.call("POST", "/v1/accounting/export")
    assert second.status_code == 409 and run_id in second.json()["message"]

    entry = drain_until_done(base, api, run_id)
    assert entry["name"] == "Sales Invoice Exporter" and entry["status"] == "partial", entry
    errors = [m for m in entry["messages"] if m["level"] == "error"]
    assert any("Rose: Assorted 60" in m["message"] and "colon" in m["message"] for m in errors), errors
    customers = {c["code"]: c for c in api.call("GET", "/v1/directory/customers").json()["records"]}
    assert customers["ANG"]["accountingLink"]["name"] == "Ang Flowers LLC"  # matched: the seeded realm has it
    items = requests.get(f"{qbo}/__emulator/{realm}/Item", timeout=30).json()["Item"]
    assert "Tulip Mix" in {i["Name"] for i in items}  # added
    assert api.call("GET", f"/v1/invoices/{invoice_id}").json()["accounting"]["status"] == "error"

    # the fix: a name QuickBooks takes; the export again links it and sends the invoice, nothing twice
    products[0]["accountingItem"] = "Rose Assorted 60cm"
    assert api.call("PUT", "/v1/directory/products", {"records": products}).status_code == 200
    again = api.call("POST", "/v1/accounting/export").json()["runId"]
    entry = drain_until_done(base, api, again)
    assert entry["status"] == "succeeded", entry
    assert entry["counts"]["productsMatched"] == 1 and entry["counts"]["invoicesExported"] == 1
    assert api.call("GET", f"/v1/invoices/{invoice_id}").json()["accounting"]["status"] == "sent"
    assert api.call("GET", "/v1/accounting/export/preview").json()["invoiceExportQty"] == 0
    books = requests.get(f"{qbo}/__emulator/{realm}/Invoice", timeout=30).json()["Invoice"]
    assert sum(1 for i in books if str(i.get("DocNumber", "")).endswith(str(created["invoiceNumber"]))) == 1
