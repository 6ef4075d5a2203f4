"""Purchase orders, vendor invoices, approvals and Send to External System (seed 000) through the API."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from ledgersync import bootstrap
from ledgersync.domain.sync.documents import DocumentRef
from ledgersync.domain.sync.state import SyncState, SyncStatus
from tests.fakes import FakeClock
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
    grant = bootstrap.services().documents.links.verify(urlsplit(link).path.rsplit("/", 1)[1])  # type: ignore[union-attr]
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
    signer = bootstrap.services().documents.links
    assert signer is not None
    # When the clock reaches six hours later
    monkeypatch.setattr(signer, "clock", FakeClock(datetime.now(UTC) + timedelta(hours=6)))
    answer = setup.get(path, token="")
    # Then
    assert answer.status == 410
    assert answer.json()["code"] == "Gone" and "expired" in answer.json()["message"]
    assert answer.json()["errors"][0]["field"] == "token"
    monkeypatch.setattr(signer, "clock", FakeClock(datetime.now(UTC) + timedelta(hours=6, seconds=-60)))
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
    assert json.loads(messages["Messages"][0]["Body"])["document"] == {"kind": "purchase_order_bills", "id": "1"}


def test_po_cannot_change_once_sent(setup: Api) -> None:
    approved(setup)
    send(setup, 1)
    assert setup.put("/v1/purchase-orders/1", PO).status == 409
    assert setup.post("/v1/purchase-orders/1/vendor-invoices", {**INVOICE, "invoiceNumber": "2"}).status == 409


def _company_id(api: Api) -> str:
    from ledgersync import bootstrap

    principal = bootstrap.services().accounts.authenticate(api.token)
    return principal.company_id


# ------------------------------------------------------------------ issue 13 item 5: vendor invoices can be corrected
BUCKET_ENV = "DOCUMENTS_BUCKET"


def _pdf_b64(text: str) -> str:
    return base64.b64encode(f"%PDF-1.4\n% {text}\n%%EOF\n".encode()).decode()


def _stored_keys() -> list[str]:
    """The current (not deleted) objects of the documents bucket."""
    listed = boto3.client("s3").list_objects_v2(Bucket=os.environ[BUCKET_ENV])
    return [obj["Key"] for obj in listed.get("Contents", [])]


def _link_path(body: dict[str, Any], index: int = 0) -> str:
    return urlsplit(body["vendorInvoices"][index]["file"]).path


@pytest.mark.parametrize(
    ("pdf", "words"),
    [
        ("", "is empty"),  # `$(base64 missing.pdf)` sends an empty string
        ("   ", "is empty"),
        (base64.b64encode(b"PK\x03\x04 a zip, not a PDF").decode(), "not a PDF"),
        ("not base64!", "not valid base64"),
    ],
)
def test_vendor_invoice_is_refused_naming_pdfBase64_when_the_file_is_empty_or_not_a_pdf(
    setup: Api, pdf: str, words: str
) -> None:
    # Given
    setup.put("/v1/purchase-orders/1", PO)
    # When
    answer = setup.post("/v1/purchase-orders/1/vendor-invoices", {**INVOICE, "pdfBase64": pdf})
    # Then nothing is stored and the answer names the field
    assert answer.status == 400, answer.text
    error = answer.json()["errors"][0]
    assert error["field"] == "pdfBase64" and words in error["message"]
    assert setup.get("/v1/purchase-orders/1").json()["vendorInvoices"] == []
    assert _stored_keys() == []


def test_vendor_invoice_with_a_realistic_pdf_is_accepted_when_over_the_64_kb_body_limit(setup: Api) -> None:
    # Given a 1 MiB scanned invoice (1.33 MiB base64: far over MAX_BODY_BYTES)
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 4096
    setup.put("/v1/purchase-orders/1", PO)
    # When
    answer = setup.post(
        "/v1/purchase-orders/1/vendor-invoices", {**INVOICE, "pdfBase64": base64.b64encode(pdf).decode()}
    )
    # Then
    assert answer.status == 201, answer.text[:300]
    assert base64.b64decode(setup.get(_link_path(answer.json()), token="").text) == pdf


def test_vendor_invoice_pdf_is_refused_naming_pdfBase64_when_over_the_size_limit(setup: Api) -> None:
    from ledgersync.domain.purchase_orders import MAX_PDF_BYTES

    setup.put("/v1/purchase-orders/1", PO)
    too_big = base64.b64encode(b"%PDF-1.7\n" + b"\x00" * MAX_PDF_BYTES).decode()
    answer = setup.post("/v1/purchase-orders/1/vendor-invoices", {**INVOICE, "pdfBase64": too_big})
    assert answer.status == 400, answer.text[:300]
    assert answer.json()["errors"][0] == {"field": "pdfBase64", "message": "the PDF is over 4 MB"}


@pytest.mark.parametrize("number", [None, "", "INV/7", "INV#7"])
def test_vendor_invoice_is_refused_naming_invoiceNumber_when_it_cannot_name_the_invoice(
    setup: Api, number: str | None
) -> None:
    setup.put("/v1/purchase-orders/1", PO)
    answer = setup.post("/v1/purchase-orders/1/vendor-invoices", {**INVOICE, "invoiceNumber": number})
    assert answer.status == 400, answer.text
    assert answer.json()["errors"][0]["field"] == "invoiceNumber"


def test_replacing_a_vendor_invoice_deletes_its_old_pdf_and_resets_the_approvals_when_not_yet_sent(
    setup: Api,
) -> None:
    # Given an approved PO whose invoice carries the wrong amount, in a versioned bucket as deployed
    boto3.client("s3").put_bucket_versioning(
        Bucket=os.environ[BUCKET_ENV], VersioningConfiguration={"Status": "Enabled"}
    )
    approved(setup, invoice={**INVOICE, "invoiceAmount": "55.00", "pdfBase64": _pdf_b64("wrong")})
    old_link = _link_path(setup.get("/v1/purchase-orders/1").json())
    # When the vendor's corrected invoice replaces it
    answer = setup.put(
        "/v1/purchase-orders/1/vendor-invoices/01-P002271", {**INVOICE, "pdfBase64": _pdf_b64("corrected")}
    )
    # Then
    assert answer.status == 200, answer.text
    body = answer.json()
    (invoice,) = body["vendorInvoices"]
    assert invoice["invoiceNumber"] == "01-P002271" and invoice["invoiceAmount"] == 60.0
    assert body["approvals"] == [] and body["vendorInvoiceStatus"] == "Pending Approval"
    assert body["approvalsReset"] is True
    assert "Accounting and Procurement approvals were reset" in body["notice"]
    assert "01-P002271 was replaced" in body["notice"]
    assert b"corrected" in base64.b64decode(setup.get(_link_path(body), token="").text)
    gone = setup.get(old_link, token="")
    assert gone.status == 404 and "no longer stored" in gone.json()["message"]
    assert len(_stored_keys()) == 1


def test_replacing_a_vendor_invoice_may_correct_its_number_but_not_to_another_invoices(setup: Api) -> None:
    setup.put("/v1/purchase-orders/1", PO)
    setup.post("/v1/purchase-orders/1/vendor-invoices", {**INVOICE, "invoiceNumber": "A1", "invoiceAmount": "30.00"})
    setup.post("/v1/purchase-orders/1/vendor-invoices", {**INVOICE, "invoiceNumber": "B1", "invoiceAmount": "30.00"})
    clash = setup.put("/v1/purchase-orders/1/vendor-invoices/A1", {**INVOICE, "invoiceNumber": "B1"})
    assert clash.status == 400 and clash.json()["errors"][0]["field"] == "invoiceNumber"
    renamed = setup.put("/v1/purchase-orders/1/vendor-invoices/A1", {**INVOICE, "invoiceNumber": "A2"})
    assert renamed.status == 200, renamed.text
    assert [v["invoiceNumber"] for v in renamed.json()["vendorInvoices"]] == ["A2", "B1"]
    assert len(_stored_keys()) == 2


def test_removing_a_vendor_invoice_deletes_its_pdf_and_resets_the_approvals(setup: Api) -> None:
    # Given
    approved(setup)
    link = _link_path(setup.get("/v1/purchase-orders/1").json())
    # When
    answer = setup.delete("/v1/purchase-orders/1/vendor-invoices/01-P002271")
    # Then
    assert answer.status == 200, answer.text
    body = answer.json()
    assert body["vendorInvoices"] == [] and body["approvals"] == []
    assert body["approvalsReset"] is True and "01-P002271 was removed" in body["notice"]
    assert setup.get(link, token="").status == 404
    assert _stored_keys() == []
    assert setup.get("/v1/purchase-orders/1").json()["vendorInvoiceStatus"] == "Pending Approval"


def test_unknown_vendor_invoice_is_404_when_replaced_or_removed(setup: Api) -> None:
    setup.put("/v1/purchase-orders/1", PO)
    setup.post("/v1/purchase-orders/1/vendor-invoices", INVOICE)
    for answer in (
        setup.put("/v1/purchase-orders/1/vendor-invoices/NOPE", INVOICE),
        setup.delete("/v1/purchase-orders/1/vendor-invoices/NOPE"),
        setup.delete("/v1/purchase-orders/2/vendor-invoices/01-P002271"),
    ):
        assert answer.status == 404, answer.text
        assert answer.json()["code"] == "NotFound"
    assert "has no vendor invoice NOPE" in setup.delete("/v1/purchase-orders/1/vendor-invoices/NOPE").json()["message"]
    assert len(setup.get("/v1/purchase-orders/1").json()["vendorInvoices"]) == 1


@pytest.mark.parametrize("status", ["Sent to External System", "S"])
def test_vendor_invoice_cannot_be_replaced_or_removed_once_its_po_is_sent(setup: Api, status: str) -> None:
    # Given a PO sent (and, for "S", synchronized)
    approved(setup)
    send(setup, 1)
    if status == "S":
        _change_state(setup, lambda state: state.moved(SyncStatus.SYNCHRONIZED, external_ids={"01-P002271": "1"}))
    # When / Then: 409 saying the state, and nothing changed
    for answer in (
        setup.put("/v1/purchase-orders/1/vendor-invoices/01-P002271", INVOICE),
        setup.delete("/v1/purchase-orders/1/vendor-invoices/01-P002271"),
    ):
        assert answer.status == 409, answer.text
        assert f"is '{status}'" in answer.json()["message"]
    assert len(setup.get("/v1/purchase-orders/1").json()["vendorInvoices"]) == 1
    assert len(_stored_keys()) == 1


def test_vendor_invoice_already_billed_cannot_be_replaced_when_its_po_is_in_error(setup: Api) -> None:
    # Given a PO in Error whose first invoice is already a bill in the accounting system
    approved(setup)

    def partly_billed(state: SyncState) -> SyncState:
        return state.moved(SyncStatus.ERROR, reason="refused", external_ids={"01-P002271": "bill-77"})

    _change_state(setup, partly_billed)
    # When
    answer = setup.put("/v1/purchase-orders/1/vendor-invoices/01-P002271", INVOICE)
    # Then
    assert answer.status == 409 and "already document bill-77" in answer.json()["message"]


def test_editing_a_po_says_the_approvals_were_reset_and_storing_it_unchanged_keeps_them(setup: Api) -> None:
    # Given an approved PO
    approved(setup)
    # When it is stored again unchanged
    same = setup.put("/v1/purchase-orders/1", PO).json()
    # Then the approvals stand
    assert same["approvalsReset"] is False and "notice" not in same
    assert same["vendorInvoiceStatus"] == "Approved" and len(same["approvals"]) == 2
    # When a line changes
    changed_po = {**PO, "items": [{"categoryProcurementAccountingCode": "CGEN", "totalCost": "50.00"}]}
    changed = setup.put("/v1/purchase-orders/1", changed_po).json()
    # Then the answer says they were reset, and the vendor invoices are kept
    assert changed["approvalsReset"] is True
    assert changed["notice"].startswith("the Accounting and Procurement approvals were reset because the PO changed")
    assert changed["approvals"] == [] and changed["vendorInvoiceStatus"] == "Pending Approval"
    assert len(changed["vendorInvoices"]) == 1


def test_adding_a_vendor_invoice_says_the_approvals_were_reset(setup: Api) -> None:
    approved(setup, invoice={**INVOICE, "invoiceAmount": "30.00"})
    second = {**INVOICE, "invoiceNumber": "02", "invoiceAmount": "30"}
    body = setup.post("/v1/purchase-orders/1/vendor-invoices", second)
    assert body.status == 201
    assert body.json()["approvalsReset"] is True and "a vendor invoice was added" in body.json()["notice"]


def test_replacement_pdf_is_deleted_when_someone_else_changed_the_po_meanwhile(
    setup: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a PO whose save will be refused: another user changed it since it was read
    from ledgersync.errors import Conflict

    setup.put("/v1/purchase-orders/1", PO)
    setup.post("/v1/purchase-orders/1/vendor-invoices", INVOICE)
    (before,) = _stored_keys()
    store = bootstrap.services().purchase_orders.store

    def refused(order: Any, expected_version: int | None) -> Any:
        raise Conflict("PO P002271 was changed by someone else; reload it and try again")

    monkeypatch.setattr(store, "save", refused)
    # When
    answer = setup.put("/v1/purchase-orders/1/vendor-invoices/01-P002271", {**INVOICE, "pdfBase64": _pdf_b64("new")})
    # Then the new upload is not left behind, and the old PDF stays
    assert answer.status == 409
    assert _stored_keys() == [before]


def _change_state(api: Api, change: Callable[[SyncState], SyncState]) -> None:
    """Put PO 1's sync state where only the sync takes it (S, Error with bills), as the sync would save it; a PO
    never sent gets the state its send would have written first."""
    company_id = _company_id(api)
    system = bootstrap.services().settings_store.get_settings(company_id).external_system
    assert system is not None
    states = bootstrap.services().sync_states
    ref = DocumentRef.purchase_order(1)
    state = states.get(company_id, ref, system) or states.put(
        SyncState.new(company_id, ref, system, parts=["01-P002271"]), None
    )
    states.put(change(state), state.version)
