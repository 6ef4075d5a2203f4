"""The Web Connector simulator end to end: zeep over loopback HTTP to the real qbwc handler, sessions in moto
server mode (DynamoDB over HTTP), the fake company file checking every request against qbxmlops120.xsd."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from devstack import qbwc_simulator
from devstack.fake_qb_company import FakeCompany
from devstack.qbwc_simulator import InMemoryPurchaseOrders, LocalGateway, run_session
from functions.qbwc import app as qbwc_app

from ledgersync.adapters.dynamodb import SingleTable
from ledgersync.adapters.qbwc_sessions import DynamoSessionStore
from ledgersync.adapters.quickbooks_desktop import QbxmlCodec
from ledgersync.domain.desktop_sync import WebConnectorService
from ledgersync.domain.purchase_orders import VendorInvoiceStatus
from tests.fakes import FakeClock
from tests.support.desktop import COMPANY, CUSTOMER, TOKEN, USER, VENDOR, purchase_order, to_add, to_delete
from tests.support.services import InstallServices

pytestmark = pytest.mark.integration
XSD_DIR = Path(os.environ.get("QBXML_XSD_DIR") or Path(__file__).resolve().parents[3] / "shared/schemas/qbxml")


@pytest.fixture
def stack(
    moto_server: str, install_services: InstallServices
) -> Iterator[tuple[str, InMemoryPurchaseOrders, FakeClock]]:
    ledger = InMemoryPurchaseOrders()
    ledger.tokens[(USER, TOKEN)] = COMPANY
    clock = FakeClock(datetime.now(UTC))
    store = DynamoSessionStore(SingleTable(os.environ["TABLE_NAME"]), clock=clock)
    service = WebConnectorService(ledger, ledger, ledger, store, QbxmlCodec(), batch_size=20, clock=clock)
    install_services(use_cases={"web_connector": service})
    with LocalGateway(qbwc_app.lambda_handler) as gateway:
        yield f"{gateway.url}/qbwc", ledger, clock


def test_a_batch_of_fifty_bills_syncs_in_under_one_round_trip_per_bill(
    stack: tuple[str, InMemoryPurchaseOrders, FakeClock],
) -> None:
    url, ledger, _ = stack
    for po_id in range(1, 51):
        ledger.add(purchase_order(po_id))
    company = FakeCompany(vendors=[VENDOR], classes=["Chicago"], xsd_dir=XSD_DIR)
    result = run_session(url, USER, TOKEN, company)
    assert result.completed
    assert len(company.bills) == 50
    assert set(ledger.status.values()) == {VendorInvoiceStatus.SYNCHRONIZED}
    assert result.soap_calls / 50 < 1
    assert result.progress == sorted(result.progress)


def test_interrupted_sessions_never_duplicate_a_bill_when_resumed_over_http(
    stack: tuple[str, InMemoryPurchaseOrders, FakeClock],
) -> None:
    url, ledger, clock = stack
    for po_id in range(1, 31):
        ledger.add(purchase_order(po_id))
    company = FakeCompany(vendors=[VENDOR], classes=["Chicago"], xsd_dir=XSD_DIR)
    for cut_after in (2, 3):  # each time after QuickBooks added a batch, before the answer came back
        assert run_session(url, USER, TOKEN, company, cut_after_messages=cut_after).cut
        clock.advance(timedelta(hours=1))
    final = run_session(url, USER, TOKEN, company)
    assert final.completed
    assert len(company.bills) == 30
    assert sorted(b.ref_number or "" for b in company.bills) == sorted(f"PO{i}-INV{i}-0" for i in range(1, 31))
    assert set(ledger.status.values()) == {VendorInvoiceStatus.SYNCHRONIZED}


def test_simulator_command_line_prints_the_session_when_run(
    stack: tuple[str, InMemoryPurchaseOrders, FakeClock], capsys: pytest.CaptureFixture[str]
) -> None:
    url, ledger, _ = stack
    ledger.add(purchase_order(1))
    code = qbwc_simulator.main(
        ["--url", url, "--username", USER, "--password", TOKEN, "--vendors", VENDOR, "--classes", "Chicago"]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["completed"] is True
    assert [b["refNumber"] for b in report["bills"]] == ["PO1-INV1-0"]
    assert report["bills"][0]["amount"] == "110.00"


def test_sales_invoices_are_added_once_then_deleted_when_sessions_are_cut_and_resumed_over_http(
    stack: tuple[str, InMemoryPurchaseOrders, FakeClock],
) -> None:
    url, ledger, clock = stack
    company = FakeCompany(customers=[CUSTOMER], items=["Roses", "Freight"], xsd_dir=XSD_DIR)
    for invoice_id in range(1, 31):
        ledger.add_sales_invoice(COMPANY, to_add(invoice_id))
    # Given sessions cut after QuickBooks added a batch of invoices, before the answer came back
    for cut_after in (2, 3):
        assert run_session(url, USER, TOKEN, company, cut_after_messages=cut_after).cut
        clock.advance(timedelta(hours=1))
    final = run_session(url, USER, TOKEN, company)
    # Then each invoice is in the company file once, with the TxnID recorded
    assert final.completed
    assert sorted(i.ref_number or "" for i in company.invoices) == sorted(f"W{1000 + i}" for i in range(1, 31))
    assert set(ledger.sales_status.values()) == {"synchronized"}
    # When the orders are unshipped: half with their TxnID, half as if the TxnID had never been written
    for invoice_id in range(1, 31):
        txn_id = ledger.sales_txn_ids[str(invoice_id)] if invoice_id % 2 else None
        ledger.add_sales_invoice(COMPANY, to_delete(invoice_id, txn_id=txn_id))
    removal = run_session(url, USER, TOKEN, company)
    # Then every one of them is gone
    assert removal.completed, removal.as_dict()
    assert company.invoices == []
    assert set(ledger.sales_status.values()) == {"deleted"}


def test_simulator_command_line_keeps_the_company_file_between_runs_when_given_one(
    stack: tuple[str, InMemoryPurchaseOrders, FakeClock], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url, ledger, _ = stack
    company_file = tmp_path / "company.json"
    args = ["--url", url, "--username", USER, "--password", TOKEN, "--company-file", str(company_file)]
    ledger.add_sales_invoice(COMPANY, to_add(1))
    assert qbwc_simulator.main([*args, "--customers", CUSTOMER, "--items", "Roses,Freight"]) == 0
    (added,) = json.loads(capsys.readouterr().out)["invoices"]
    assert added["refNumber"] == "W1001" and added["memo"] == "Ledgersync invoice 1001 (id 1, version 1)"
    # When the order is unshipped and the Web Connector runs again on the same company file
    ledger.add_sales_invoice(COMPANY, to_delete(1, txn_id=ledger.sales_txn_ids["1"]))
    assert qbwc_simulator.main(args) == 0
    report = json.loads(capsys.readouterr().out)
    # Then the invoice the first run added is the one deleted
    assert report["invoices"] == [] and report["deletedTxnIds"] == [added["txnId"]]
    assert ledger.sales_status["1"] == "deleted"
