"""Sales invoices into QuickBooks Desktop through the local stack (issue 10): ship in an automatic store, the
automatic queue's release, the Web Connector simulator over HTTP against the fake company file (every request
checked against qbxmlops120.xsd); unship deletes, reship sends the new version, send again with replace; one
invoice per order in QuickBooks at any time."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from devstack.fake_qb_company import FakeCompany
from devstack.qbwc_simulator import SessionResult, run_session
from devstack.seed import example_invoice
from devstack.stack import LocalStack
from lxml import etree

from ledgersync.domain.sales_invoices import invoice_memo
from tests.support.http import Client

pytestmark = pytest.mark.integration
XSD_DIR = Path(os.environ.get("QBXML_XSD_DIR") or Path(__file__).resolve().parents[3] / "shared/schemas/qbxml")
CUSTOMER = "Ang Flowers LLC"


@dataclass
class Desktop:
    """The local stack set to QuickBooks Desktop, its Web Connector's credentials and the company file."""

    stack: LocalStack
    api: Client
    company_id: str
    token: str
    app_url: str
    user_name: str
    password: str
    company: FakeCompany
    release_minutes: int = 0

    def web_connector(self) -> SessionResult:
        """One Web Connector session, run to its end."""
        result = run_session(self.app_url, self.user_name, self.password, self.company)
        assert result.completed or result.auth_status == "none", result.as_dict()
        return result

    def release_due(self) -> None:
        """What the automatic queue's release does once the one-minute window has passed (its schedule and its
        pacing are not under test here); each call is a minute of its own, as the scheduler's runs are."""
        from ledgersync import bootstrap

        self.release_minutes += 2
        window_passed = datetime.now(UTC) + timedelta(minutes=self.release_minutes)
        bootstrap.services().automatic_invoice_queue.release_due([self.company_id], window_passed)

    def create_invoice(self, store_code: str, boxes: int = 10) -> dict[str, Any]:
        body = {**example_invoice(), "storeCode": store_code, "reference": f"DESK-{store_code}-{boxes}"}
        body["items"] = [{**body["items"][0], "boxes": boxes}]
        created = self.api.call("POST", "/api/invoice.create", {"authenticationToken": self.token, **body})
        assert created.status_code == 201, created.text
        invoice: dict[str, Any] = created.json()
        self.move(invoice["invoiceId"], "confirm")
        return invoice

    def move(self, invoice_id: int, action: str, body: Any = None) -> dict[str, Any]:
        answer = self.api.call("POST", f"/v1/invoices/{invoice_id}/{action}", body)
        assert answer.status_code in (200, 202), answer.text
        result: dict[str, Any] = answer.json()
        return result

    def accounting(self, invoice_id: int) -> dict[str, Any]:
        answer = self.api.call("GET", f"/v1/invoices/{invoice_id}")
        assert answer.status_code == 200, answer.text
        shown: dict[str, Any] = answer.json()["accounting"]
        return shown


@pytest.fixture(scope="module")
def desktop() -> Iterator[Desktop]:
    with LocalStack(seed=True, schedules=False, pollers=False) as stack:
        assert stack.demo is not None and stack.demo.admin_token and stack.demo.user_id and stack.demo.company_id
        api = Client(stack.api_url, stack.demo.admin_token)
        settings = {
            "externalSystem": "quickbooks_desktop",
            "invoiceChargeItems": {"FRT": "Freight Income"},
            "autoSyncWindowMinutes": 1,
            "notificationEmails": ["accounting@demo-flowers.example"],
        }
        assert api.call("PUT", "/v1/accounting/settings", settings).ok
        stores = [
            {"id": 1, "code": "AUTO", "name": "Web shop", "customerMode": "direct", "invoiceSync": "automatic"},
            {"id": 2, "code": "MAN", "name": "Phone orders", "customerMode": "direct", "invoiceSync": "manual"},
        ]
        stores[0]["invoicePrefix"] = "W"
        stored = api.call("PUT", "/v1/directory/stores", {"records": stores})
        assert stored.ok, stored.text
        qwc = etree.fromstring(api.call("GET", "/v1/accounting/quickbooks-desktop/qwc").content)
        password = api.call(
            "POST", "/v1/tokens", {"userId": stack.demo.user_id, "apiMethods": [], "description": "Quickbooks"}
        ).json()["token"]
        yield Desktop(
            stack=stack,
            api=api,
            company_id=stack.demo.company_id,
            token=stack.demo.token or stack.demo.admin_token,
            app_url=qwc.findtext("AppURL") or "",
            user_name=qwc.findtext("UserName") or "",
            password=password,
            company=FakeCompany(customers=[CUSTOMER], items=["Fresh Cut Flowers", "Freight Income"], xsd_dir=XSD_DIR),
        )


def test_shipped_invoice_of_an_automatic_store_becomes_one_desktop_invoice_and_unshipping_deletes_it(
    desktop: Desktop,
) -> None:
    # Given an order shipped in an automatic store
    invoice = desktop.create_invoice("AUTO")
    invoice_id, number = invoice["invoiceId"], invoice["invoiceNumber"]
    shipped = desktop.move(invoice_id, "ship")
    assert shipped["accounting"]["status"] == "queued" and shipped["accounting"]["scheduledFor"]
    # Then nothing goes on the spot: the Web Connector finds no work before the automatic queue releases it
    assert desktop.web_connector().auth_status == "none"
    # When the automatic queue releases it and the Web Connector runs
    desktop.release_due()
    desktop.web_connector()
    # Then one invoice is in the company file, with the RefNumber, the memo of this version and the TxnID recorded
    (added,) = desktop.company.invoices_with_ref(f"W{number}")
    assert added.customer == CUSTOMER
    assert added.memo == invoice_memo(invoice_id, number, shipped["version"])
    assert [line["item"] for line in added.lines] == ["Fresh Cut Flowers"]
    shown = desktop.accounting(invoice_id)
    assert (shown["status"], shown["externalId"], shown["docNumber"]) == ("sent", added.txn_id, f"W{number}")
    # And a second session adds nothing
    assert desktop.web_connector().auth_status == "none"
    # When the order is unshipped (automatic store) and the Web Connector runs
    assert desktop.move(invoice_id, "unship")["accounting"]["status"] == "deleting"
    desktop.web_connector()
    # Then the invoice is deleted from QuickBooks by its TxnID
    assert desktop.company.invoices_with_ref(f"W{number}") == []
    assert added.txn_id in desktop.company.deleted_txn_ids
    assert desktop.accounting(invoice_id)["status"] == "deleted"
    # When it is changed and shipped again
    changed = desktop.api.call(
        "PUT", f"/v1/invoices/{invoice_id}", {"items": [{**example_invoice()["items"][0], "boxes": 12}]}
    )
    assert changed.ok, changed.text
    reshipped = desktop.move(invoice_id, "ship")
    desktop.release_due()
    desktop.web_connector()
    # Then the new version is the one invoice in QuickBooks
    (again,) = desktop.company.invoices_with_ref(f"W{number}")
    assert again.memo == invoice_memo(invoice_id, number, reshipped["version"])
    assert again.amount == added.amount * 12 / 10
    assert desktop.accounting(invoice_id)["externalId"] == again.txn_id


def test_only_the_latest_version_is_in_desktop_when_an_order_is_unshipped_and_reshipped_before_the_session(
    desktop: Desktop,
) -> None:
    # Given an invoice in QuickBooks
    invoice = desktop.create_invoice("AUTO", boxes=3)
    invoice_id, number = invoice["invoiceId"], invoice["invoiceNumber"]
    desktop.move(invoice_id, "ship")
    desktop.release_due()
    desktop.web_connector()
    assert len(desktop.company.invoices_with_ref(f"W{number}")) == 1
    # When it is unshipped and reshipped three times before the Web Connector runs again
    for _ in range(3):
        desktop.move(invoice_id, "unship")
        last = desktop.move(invoice_id, "ship")
    # Then each session leaves at most one invoice of the order, and in the end the latest version
    for _ in range(3):
        desktop.release_due()
        desktop.web_connector()
        assert len(desktop.company.invoices_with_ref(f"W{number}")) <= 1
    (latest,) = desktop.company.invoices_with_ref(f"W{number}")
    assert latest.memo == invoice_memo(invoice_id, number, last["version"])
    assert desktop.accounting(invoice_id)["status"] == "sent"


def test_send_again_with_replace_deletes_then_sends_once_when_the_store_is_manual(desktop: Desktop) -> None:
    # Given an order of a manual store sent with send now
    invoice = desktop.create_invoice("MAN", boxes=2)
    invoice_id, number = invoice["invoiceId"], invoice["invoiceNumber"]
    desktop.move(invoice_id, "ship")
    assert desktop.accounting(invoice_id)["status"] == "not_sent"
    desktop.move(invoice_id, "send-now")
    desktop.web_connector()
    (first,) = desktop.company.invoices_with_ref(str(number))
    # When it is sent again without replace, then with it
    refused = desktop.api.call("POST", f"/v1/invoices/{invoice_id}/send-again", {})
    assert refused.status_code == 409 and "replace" in refused.text
    desktop.move(invoice_id, "send-again", {"replace": True})
    # Then a session deletes the old one, the next sends it anew: never two at once
    desktop.web_connector()
    assert desktop.company.invoices_with_ref(str(number)) == []
    desktop.web_connector()
    (second,) = desktop.company.invoices_with_ref(str(number))
    assert second.txn_id != first.txn_id and first.txn_id in desktop.company.deleted_txn_ids
    assert desktop.accounting(invoice_id)["externalId"] == second.txn_id


def test_refused_invoice_ends_in_error_with_the_fix_and_one_email_when_the_customer_is_unknown(
    desktop: Desktop,
) -> None:
    # Given a company file that does not know the customer
    desktop.company.customers.clear()
    try:
        invoice = desktop.create_invoice("MAN", boxes=1)
        invoice_id = invoice["invoiceId"]
        desktop.move(invoice_id, "ship")
        desktop.move(invoice_id, "send-now")
        emails_before = len(desktop.stack.emails())
        # When the Web Connector runs
        desktop.web_connector()
        # Then the invoice is in error with QuickBooks' reason and the fix, one e-mail, nothing in QuickBooks
        shown = desktop.accounting(invoice_id)
        assert shown["status"] == "error"
        assert "(3140)" in shown["error"] and f"customer '{CUSTOMER}'" in shown["error"]
        emails = desktop.stack.emails()[emails_before:]
        assert len(emails) == 1 and "accounting@demo-flowers.example" in str(emails[0])
        assert desktop.company.invoices_with_ref(str(invoice["invoiceNumber"])) == []
        assert desktop.web_connector().auth_status == "none"  # the automatic sync of it is cancelled
    finally:
        desktop.company.customers[CUSTOMER.casefold()] = CUSTOMER
    # When the customer is added in QuickBooks and the invoice sent again
    desktop.move(invoice_id, "send-again")
    desktop.web_connector()
    assert desktop.accounting(invoice_id)["status"] == "sent"
