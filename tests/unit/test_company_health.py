"""GET /v1/companies/{id}/health: the operator's view of one company, behind the admin key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledgersync import bootstrap
from ledgersync.adapters.qbwc_sessions import DynamoSessionStore
from ledgersync.domain.desktop_sync import SessionStatus, WebConnectorSession
from ledgersync.domain.purchase_orders import ExternalSystem, VendorInvoiceStatus
from ledgersync.domain.sync.documents import DocumentRef
from ledgersync.domain.sync.state import SyncState, SyncStatus
from tests.conftest import ADMIN_KEY
from tests.fakes import FakeClock
from tests.support.events import Api
from tests.unit.test_purchase_orders import PO, setup

__all__ = ["setup"]  # the fixture, imported for this module's tests


def _health(api: Api, company_id: str, key: str | None = ADMIN_KEY) -> Any:
    headers = {"X-Admin-Key": key} if key is not None else {}
    return api.get(f"/v1/companies/{company_id}/health", headers=headers, token="")


SYNC_STATUS = {
    VendorInvoiceStatus.SENT_TO_EXTERNAL: SyncStatus.QUEUED,
    VendorInvoiceStatus.ERROR: SyncStatus.ERROR,
    VendorInvoiceStatus.SYNCHRONIZED: SyncStatus.SYNCHRONIZED,
}


def _store_po(api: Api, company_id: str, po_id: int, status: VendorInvoiceStatus, held: str | None = None) -> None:
    """A PO in ``status``: its approval lifecycle, or (once sent) Approved with its sync state where the sync put it."""
    assert api.put(f"/v1/purchase-orders/{po_id}", PO).status == 200
    store = bootstrap.services().purchase_order_store
    order = store.get(company_id, po_id)
    assert order is not None
    if status not in SYNC_STATUS:
        store.save(order.model_copy(update={"vendor_invoice_status": status}), order.version)
        return
    sent = order.model_copy(update={"vendor_invoice_status": VendorInvoiceStatus.APPROVED, "sent_version": 2})
    store.save(sent, order.version)
    states = bootstrap.services().sync_states
    queued = states.put(
        SyncState.new(company_id, DocumentRef.purchase_order(po_id), ExternalSystem.QUICKBOOKS_DESKTOP), None
    )
    final = SyncStatus.HELD if held else SYNC_STATUS[status]
    if final is not SyncStatus.QUEUED:
        states.put(queued.moved(final, reason=held or "refused"), queued.version)


def test_health_counts_pos_by_status_and_shows_the_connection_when_the_admin_key_is_sent(
    setup: Api, company: dict[str, Any]
) -> None:
    # Given POs waiting for approval, approved, queued, held and in error
    cid = company["companyId"]
    _store_po(setup, cid, 1, VendorInvoiceStatus.PENDING_APPROVAL)
    _store_po(setup, cid, 2, VendorInvoiceStatus.APPROVED)
    _store_po(setup, cid, 3, VendorInvoiceStatus.SENT_TO_EXTERNAL)
    _store_po(setup, cid, 4, VendorInvoiceStatus.SENT_TO_EXTERNAL, held="QuickBooks Online must be reconnected")
    _store_po(setup, cid, 5, VendorInvoiceStatus.SENT_TO_EXTERNAL, held="QuickBooks Online must be reconnected")
    _store_po(setup, cid, 6, VendorInvoiceStatus.ERROR)
    _store_po(setup, cid, 7, VendorInvoiceStatus.SYNCHRONIZED)
    # When the operator asks for the company's health
    answer = _health(setup, cid)
    # Then
    assert answer.status == 200, answer.text
    body = answer.json()
    assert body["companyId"] == cid
    assert body["name"] == "Demo Flowers"
    assert body["purchaseOrders"] == {"pendingApproval": 1, "approved": 1, "queued": 1, "held": 2, "error": 1}
    assert body["connection"]["externalSystem"] == "quickbooks_desktop"
    assert body["connection"]["status"] == "not_connected"
    assert body["lastWebConnectorSession"] is None


def test_health_shows_the_last_web_connector_session_after_it_ended(setup: Api, company: dict[str, Any]) -> None:
    # Given a Web Connector session that started and ended in failure
    cid = company["companyId"]
    started = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    store = DynamoSessionStore(bootstrap.services().table, clock=FakeClock(started + timedelta(minutes=2)))
    session = WebConnectorSession(
        ticket="t-1", company_id=cid, user_name="qbwc", created_at=started, expires_at=started + timedelta(minutes=30)
    )
    store.create(session)
    ended = session.model_copy(
        update={"status": SessionStatus.FAILED, "last_error": "QuickBooks is not open", "version": 1}
    )
    store.save(ended)
    # When
    body = _health(setup, cid).json()
    # Then the summary outlives the session and shows no ticket
    last = body["lastWebConnectorSession"]
    assert last["status"] == "failed"
    assert last["lastError"] == "QuickBooks is not open"
    assert last["userName"] == "qbwc"
    assert last["startedAt"].startswith("2026-12-01T09:00:00")
    assert "t-1" not in str(body)


@pytest.mark.parametrize("key", [None, "wrong"])
def test_health_is_401_naming_the_header_when_the_admin_key_is_missing_or_wrong(
    api: Api, company: dict[str, Any], key: str | None
) -> None:
    answer = _health(api, company["companyId"], key)
    assert answer.status == 401
    assert answer.json()["errors"][0]["field"] == "X-Admin-Key"


def test_health_is_401_when_a_company_token_is_sent_instead_of_the_admin_key(api: Api, company: dict[str, Any]) -> None:
    answer = api.get(f"/v1/companies/{company['companyId']}/health", token=company["adminToken"])
    assert answer.status == 401


def test_health_is_404_when_the_company_does_not_exist(api: Api, company: dict[str, Any]) -> None:
    answer = _health(api, "co_0000000000000000")
    assert answer.status == 404
    assert answer.json()["code"] == "NotFound"
