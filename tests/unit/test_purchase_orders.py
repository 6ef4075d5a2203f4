"""Purchase orders, vendor invoices, approvals and Send to External System (seed 000) through the API."""

from __future__ import annotations

import base64
import json
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from tests.support.events import Api

PDF = base64.b64encode(b"%PDF-1.4\n% a tiny vendor invoice\n").decode()
PO: dict[str, Any] = {
    "poNumber": "P002271",
    "vendorId": 29697,
    "locationId": 3,
    "shipDate": "2020-03-27",
    "arrivalDate": "2020-03-27",
    "items": [
        {"categoryProcurementAccountingCode": "CGEN", "totalCost": "10.00"},
        {"categoryProcurementAccountingCode": "PGEN", "totalCost": "40.00"},
    ],
    "additionalCharges": [{"code": "FRT", "amount": "10.00", "name": "Freight"}],
}
INVOICE: dict[str, Any] = {
    "invoiceNumber": "01-P002271",
    "invoiceAmount": "60.00",
    "totalAdditionalCharges": "10.00",
    "pdfBase64": PDF,
}


def user(api: Api, *roles: str) -> str:
    answer = api.post("/v1/users", {"name": "U", "email": "u@example.com", "roles": list(roles)})
    assert answer.status == 201, answer.text
    return str(answer.json()["token"])


@pytest.fixture
def setup(api: Api, company: dict[str, Any]) -> Api:
    api.put(
        "/v1/directory/vendors",
        {
            "records": [
                {
                    "id": 29697,
                    "code": "AV",
                    "name": "Miami L Vendor",
                    "accountingName": "Miami L Vendor LLC",
                    "type": "Fresh Cut",
                },
                {"id": 30000, "code": "NA", "name": "No Accounting Name"},
            ]
        },
    )
    api.put("/v1/directory/locations", {"records": [{"id": 3, "code": "02", "name": "Chicago"}]})
    api.put(
        "/v1/accounting/settings", {"externalSystem": "quickbooks_desktop", "notificationEmails": ["ap@example.com"]}
    )
    return api


def approved(api: Api, po_id: int = 1, po: dict[str, Any] | None = None, invoice: dict[str, Any] | None = None) -> None:
    assert api.put(f"/v1/purchase-orders/{po_id}", po or PO).status == 200
    assert api.post(f"/v1/purchase-orders/{po_id}/vendor-invoices", invoice or INVOICE).status == 201
    assert api.post(f"/v1/purchase-orders/{po_id}/approvals", token=user(api, "Procurement")).status == 200
    assert api.post(f"/v1/purchase-orders/{po_id}/approvals", token=user(api, "Accounts Payable")).status == 200


def send(api: Api, *ids: int, token: str | None = None) -> list[dict[str, Any]]:
    answer = api.post("/v1/purchase-orders/send-to-external", {"purchaseOrderIds": list(ids)}, token=token)
    assert answer.status == 200, answer.text
    return list(answer.json()["results"])


def test_po_totals_are_computed_when_stored(setup: Api) -> None:
    body = setup.put("/v1/purchase-orders/1", PO).json()
    assert body["subTotal"] == 50.0 and body["total"] == 60.0
    assert body["vendorInvoiceStatus"] == "Pending Approval"


def test_po_refers_only_to_directory_records(setup: Api) -> None:
    answer = setup.put("/v1/purchase-orders/1", {**PO, "vendorId": 5})
    assert answer.status == 400 and answer.json()["errors"][0]["field"] == "vendorId"
    bad_date = setup.put("/v1/purchase-orders/1", {**PO, "shipDate": "27/03/2020"})
    assert bad_date.json()["errors"][0]["field"] == "shipDate"


def test_vendor_invoice_pdf_is_private_encrypted_and_linked_for_exactly_six_hours(setup: Api) -> None:
    setup.put("/v1/purchase-orders/1", PO)
    body = setup.post("/v1/purchase-orders/1/vendor-invoices", INVOICE).json()
    link = body["vendorInvoices"][0]["file"]
    query = parse_qs(urlsplit(link).query)
    assert query["X-Amz-Expires"] == ["21600"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    s3 = boto3.client("s3")
    (obj,) = s3.list_objects_v2(Bucket=os.environ["DOCUMENTS_BUCKET"])["Contents"]
    head = s3.head_object(Bucket=os.environ["DOCUMENTS_BUCKET"], Key=obj["Key"])
    assert head["ServerSideEncryption"] == "AES256"


def test_vendor_invoice_that_is_not_a_pdf_is_refused(setup: Api) -> None:
    setup.put("/v1/purchase-orders/1", PO)
    answer = setup.post(
        "/v1/purchase-orders/1/vendor-invoices", {**INVOICE, "pdfBase64": base64.b64encode(b"hello").decode()}
    )
    assert answer.status == 400 and answer.json()["errors"][0]["field"] == "pdfBase64"


def test_po_is_approved_only_with_procurement_and_accounting_approvals(setup: Api) -> None:
    setup.put("/v1/purchase-orders/1", PO)
    setup.post("/v1/purchase-orders/1/vendor-invoices", INVOICE)
    procurement = user(setup, "Procurement Manager")
    first = setup.post("/v1/purchase-orders/1/approvals", token=procurement).json()
    assert first["vendorInvoiceStatus"] == "Pending Approval"
    assert setup.post("/v1/purchase-orders/1/approvals", token=procurement).status == 409
    assert setup.post("/v1/purchase-orders/1/approvals", token=user(setup, "Procurement")).status == 409
    assert setup.post("/v1/purchase-orders/1/approvals", token=user(setup, "Sales")).status == 403
    second = setup.post("/v1/purchase-orders/1/approvals", token=user(setup, "Accounting")).json()
    assert second["vendorInvoiceStatus"] == "Approved"


def test_send_is_refused_for_roles_that_may_not_send(setup: Api) -> None:
    approved(setup)
    for role in ("Sales", "Accounting"):
        answer = setup.post("/v1/purchase-orders/send-to-external", {"purchaseOrderIds": [1]}, token=user(setup, role))
        assert answer.status == 403


def test_send_turns_the_po_sent_at_once_for_allowed_roles(setup: Api) -> None:
    approved(setup)
    (result,) = send(setup, 1, token=user(setup, "Accounts Payable"))
    assert result["accepted"] is True
    assert setup.get("/v1/purchase-orders/1").json()["vendorInvoiceStatus"] == "Sent to External System"


@pytest.mark.parametrize(
    ("po", "invoice", "words"),
    [
        (
            {**PO, "additionalCharges": []},
            {**INVOICE, "invoiceAmount": "50.00", "totalAdditionalCharges": "0"},
            "no additional charges",
        ),
        ({**PO, "vendorId": 30000}, INVOICE, "Accounting Name"),
        (PO, {**INVOICE, "invoiceNumber": None}, "no invoice number"),
        (PO, {**INVOICE, "invoiceAmount": "50.00"}, "add up to 50.00 but the PO total is 60.00"),
        (PO, {**INVOICE, "totalAdditionalCharges": "5.00"}, "additional charges"),
    ],
)
def test_send_refuses_with_a_reason_when_a_rule_is_broken(
    setup: Api, po: dict[str, Any], invoice: dict[str, Any], words: str
) -> None:
    approved(setup, po=po, invoice=invoice)
    (result,) = send(setup, 1)
    assert result["accepted"] is False
    assert words in result["message"]
    assert setup.get("/v1/purchase-orders/1").json()["vendorInvoiceStatus"] == "Approved"


def test_send_refuses_until_both_approvals_are_in(setup: Api) -> None:
    setup.put("/v1/purchase-orders/1", PO)
    setup.post("/v1/purchase-orders/1/vendor-invoices", INVOICE)
    setup.post("/v1/purchase-orders/1/approvals", token=user(setup, "Procurement"))
    (result,) = send(setup, 1)
    assert result["accepted"] is False and "missing: accounting" in result["message"]


def test_send_refuses_when_no_external_system_is_connected(setup: Api) -> None:
    approved(setup)
    setup.put("/v1/accounting/settings", {"externalSystem": "quickbooks_online"})
    (result,) = send(setup, 1)
    assert result["accepted"] is False and "not connected" in result["message"]
    setup.put("/v1/accounting/settings", {"externalSystem": "webhook"})
    (result,) = send(setup, 1)
    assert "webhook is not set up" in result["message"]


def test_the_no_charges_rule_is_a_company_setting(setup: Api) -> None:
    approved(
        setup,
        po={**PO, "additionalCharges": []},
        invoice={**INVOICE, "invoiceAmount": "50.00", "totalAdditionalCharges": "0"},
    )
    setup.put("/v1/accounting/settings", {"requireAdditionalCharges": False})
    (result,) = send(setup, 1)
    assert result["accepted"] is True


def test_bulk_send_answers_per_po(setup: Api) -> None:
    approved(setup, 1)
    setup.put("/v1/purchase-orders/2", PO)
    results = send(setup, 1, 2, 3)
    assert [r["accepted"] for r in results] == [True, False, False]
    assert "no PO 3" in results[2]["message"]


def test_same_po_sent_twice_and_by_two_users_at_once_is_sent_once(setup: Api) -> None:
    approved(setup)
    setup.put("/v1/accounting/settings", {"externalSystem": "webhook"})
    boto3.resource("dynamodb").Table("ledgersync-test").update_item(
        Key={"pk": f"COMPANY#{_company_id(setup)}", "sk": "PROFILE"},
        UpdateExpression="SET webhookConfigured = :t",
        ExpressionAttributeValues={":t": True},
    )
    tokens = [user(setup, "Admin"), user(setup, "Procurement")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda t: send(setup, 1, token=t)[0], tokens))
    results.append(send(setup, 1)[0])
    assert sum(r["accepted"] for r in results) == 1
    messages = boto3.client("sqs").receive_message(QueueUrl=os.environ["WEBHOOK_QUEUE_URL"], MaxNumberOfMessages=10)
    assert len(messages["Messages"]) == 1
    assert json.loads(messages["Messages"][0]["Body"])["purchaseOrderId"] == 1


def test_po_cannot_change_once_sent(setup: Api) -> None:
    approved(setup)
    send(setup, 1)
    assert setup.put("/v1/purchase-orders/1", PO).status == 409
    assert setup.post("/v1/purchase-orders/1/vendor-invoices", {**INVOICE, "invoiceNumber": "2"}).status == 409


def _company_id(api: Api) -> str:
    from ledgersync import bootstrap

    principal = bootstrap.accounts().authenticate(api.token)
    return principal.company_id
