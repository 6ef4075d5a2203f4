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
from tests.support.services import InstallServices
from tests.unit.test_desktop_sync import COMPANY, TOKEN, USER, VENDOR, purchase_order

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
