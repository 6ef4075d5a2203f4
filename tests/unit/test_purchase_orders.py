"""Purchase orders, vendor invoices, approvals and Send to External System (seed 000) through the API."""

from __future__ import annotations

import base64
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from ledgersync import bootstrap
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
    assert urlsplit(link).path.startswith("/v1/documents/")
    assert "X-Amz-Security-Token" not in link  # no session credentials: the link outlives the Lambda's session
    grant = bootstrap.documents().links.verify(urlsplit(link).path.rsplit("/", 1)[1])  # type: ignore[union-attr]
    assert grant.expires_at - time.time() == pytest.approx(6 * 60 * 60, abs=60)
    s3 = boto3.client("s3")
    (obj,) = s3.list_objects_v2(Bucket=os.environ["DOCUMENTS_BUCKET"])["Contents"]
    assert grant.key == obj["Key"]
    head = s3.head_object(Bucket=os.environ["DOCUMENTS_BUCKET"], Key=obj["Key"])
    assert head["ServerSideEncryption"] == "AES256"


BINARY_PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> stream\n\x00\xff\x80 endstream\n%%EOF\n"


def _pdf_link(setup: Api, pdf: bytes = BINARY_PDF) -> str:
    setup.put("/v1/purchase-orders/1", PO)
    invoice = {**INVOICE, "pdfBase64": base64.b64encode(pdf).decode()}
    link: str = setup.post("/v1/purchase-orders/1/vendor-invoices", invoice).json()["vendorInvoices"][0]["file"]
    return urlsplit(link).path


def test_pdf_link_streams_the_pdf_without_a_token_when_signed(setup: Api) -> None:
    # Given
    path = _pdf_link(setup)
    # When: whoever holds the link, without any API token
    answer = setup.get(path, token="")
    # Then
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/pdf"
    assert base64.b64decode(answer.text) == BINARY_PDF  # byte for byte: a PDF is binary


def test_pdf_link_is_refused_with_403_when_tampered(setup: Api) -> None:
    path = _pdf_link(setup)
    claims, mac = path.rsplit("/", 1)[1].split(".")
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    for altered in ({**decoded, "e": decoded["e"] + 3600}, {**decoded, "d": decoded["d"].replace(".pdf", "x.pdf")}):
        forged = base64.urlsafe_b64encode(json.dumps(altered).encode()).rstrip(b"=").decode()
        answer = setup.get(f"/v1/documents/{forged}.{mac}", token="")
        assert answer.status == 403, answer.text
        assert answer.json()["code"] == "Forbidden" and "link" in answer.json()["message"]
        assert answer.json()["errors"] == [{"field": "token", "message": "the signature does not match"}]
    garbled = setup.get(f"/v1/documents/{claims}.{mac[:-2]}AA", token="")
    assert garbled.status == 403


def test_pdf_link_is_refused_with_410_when_six_hours_have_passed(setup: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a link handed out now
    path = _pdf_link(setup)
    signer = bootstrap.documents().links
    assert signer is not None
    # When the clock reaches six hours later
    monkeypatch.setattr(signer, "clock", lambda: time.time() + 6 * 60 * 60)
    answer = setup.get(path, token="")
    # Then
    assert answer.status == 410
    assert answer.json()["code"] == "Gone" and "expired" in answer.json()["message"]
    assert answer.json()["errors"][0]["field"] == "token"
    monkeypatch.setattr(signer, "clock", lambda: time.time() + 6 * 60 * 60 - 60)
    assert setup.get(path, token="").status == 200


def test_pdf_link_names_the_token_field_when_malformed(setup: Api) -> None:
    answer = setup.get("/v1/documents/not-a-token", token="")
    assert answer.status == 400
    assert answer.json()["errors"][0]["field"] == "token"


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
