"""The one-off migration moves each PO's sync state to its own item: legacy POs in every status, run twice, with the
API showing the same PO before and after (the reader takes a legacy PO as migrated, by the same mapping)."""

from __future__ import annotations

from typing import Any

import pytest

from ledgersync import bootstrap
from ledgersync.adapters.dynamodb import company_pk
from ledgersync.adapters.purchase_order_store import po_sk, status_key
from ledgersync.domain.purchase_order_sync import LEGACY_FIELDS, sync_view
from ledgersync.domain.purchase_orders import ExternalSystem, VendorInvoiceStatus
from ledgersync.domain.sync.documents import DocumentRef
from ledgersync.domain.sync.state import SyncState, SyncStatus
from ledgersync.migrations.sync_state_off_po import main, migrate
from tests.support.events import Api
from tests.unit.test_purchase_orders import PO, setup

__all__ = ["setup"]  # the fixture, imported for this module's tests

QBO = ExternalSystem.QUICKBOOKS_ONLINE
SENT_AT = "2026-11-30T10:00:00+00:00"
SYNCED_AT = "2026-11-30T10:05:00+00:00"
# PO id -> the legacy fields it was stored with (the shape every PO had before sync states had their own item)
LEGACY: dict[int, dict[str, Any]] = {
    1: {"vendorInvoiceStatus": "Pending Approval"},
    2: {"vendorInvoiceStatus": "Approved"},
    3: {"vendorInvoiceStatus": "Sent to External System", "sentAt": SENT_AT},
    4: {"vendorInvoiceStatus": "Sent to External System", "sentAt": SENT_AT, "heldReason": "reconnect QuickBooks"},
    5: {
        "vendorInvoiceStatus": "S",
        "sentAt": SENT_AT,
        "synchronizedAt": SYNCED_AT,
        "externalIds": {"01-P002271": "bill-5"},
    },
    6: {
        "vendorInvoiceStatus": "Error",
        "sentAt": SENT_AT,
        "error": "vendor invoice 01-P002271: the vendor is inactive (610)",
        "errorNoticePending": True,
    },
    7: {"vendorInvoiceStatus": "Pending Approval", "externalIds": {"01-P002271": "bill-7"}},  # changed after Error
}


def _company_id(api: Api) -> str:
    return bootstrap.services().accounts.authenticate(api.token).company_id


def _store_legacy(company_id: str, po_id: int, fields: dict[str, Any]) -> None:
    """A PO item exactly as the code before this change wrote it: sync fields inside ``order``, indexed by them."""
    order = bootstrap.services().purchase_order_store.get(company_id, 1)
    assert order is not None
    dumped = order.model_dump(
        mode="json", by_alias=True, exclude={"sub_total", "total", "total_charges", "sent_version"}
    )
    legacy = {
        **dumped,
        "id": po_id,
        **sync_view(None),  # the legacy sync fields, empty: the API still shows them by the same names
        **fields,
        "version": 3,
    }
    bootstrap.services().table.put(
        {
            "pk": company_pk(company_id),
            "sk": po_sk(po_id),
            "version": 3,
            "order": legacy,
            "gsi1pk": status_key(company_id, VendorInvoiceStatus(fields["vendorInvoiceStatus"])),
            "gsi1sk": po_sk(po_id),
        }
    )


@pytest.fixture
def legacy(setup: Api) -> tuple[Api, str]:
    company_id = _company_id(setup)
    assert setup.put("/v1/accounting/settings", {"externalSystem": "quickbooks_online"}).status == 200
    assert setup.put("/v1/purchase-orders/1", PO).status == 200
    assert (
        setup.post(
            "/v1/purchase-orders/1/vendor-invoices",
            {"invoiceNumber": "01-P002271", "invoiceAmount": "60.00", "totalAdditionalCharges": "10.00"},
        ).status
        == 201
    )
    for po_id, fields in LEGACY.items():
        _store_legacy(company_id, po_id, fields)
    return setup, company_id


def _views(api: Api) -> dict[int, dict[str, Any]]:
    return {po_id: api.get(f"/v1/purchase-orders/{po_id}").json() for po_id in LEGACY}


def _state(company_id: str, po_id: int) -> SyncState | None:
    return bootstrap.services().sync_states.get(company_id, DocumentRef.purchase_order(po_id), QBO)


def test_each_legacy_po_gets_its_sync_state_item_and_loses_its_sync_fields_when_migrated(
    legacy: tuple[Api, str],
) -> None:
    api, company_id = legacy
    # Given legacy POs, shown by the API as they always were
    before = _views(api)
    assert [before[i]["vendorInvoiceStatus"] for i in LEGACY] == [
        "Pending Approval", "Approved", "Sent to External System", "Sent to External System", "S", "Error",
        "Pending Approval",
    ]  # fmt: skip
    # When the migration runs
    summary = migrate(bootstrap.services().table, [company_id])
    # Then every legacy PO was rewritten without its sync fields, in its approval lifecycle
    assert summary.orders_migrated == len(LEGACY) and summary.states_written == 5
    for po_id in LEGACY:
        item = bootstrap.services().table.get(company_pk(company_id), po_sk(po_id))
        assert item is not None
        assert not set(LEGACY_FIELDS) & set(item["order"]), po_id
        assert item["order"]["vendorInvoiceStatus"] in {"Pending Approval", "Approved"}
    # And each sync state is where the legacy fields said
    expected = {
        3: SyncStatus.QUEUED,
        4: SyncStatus.HELD,
        5: SyncStatus.SYNCHRONIZED,
        6: SyncStatus.ERROR,
        7: SyncStatus.SUPERSEDED,
    }
    for po_id, status in expected.items():
        state = _state(company_id, po_id)
        assert state is not None and state.status is status and state.version == 1, po_id
    assert _state(company_id, 1) is None and _state(company_id, 2) is None
    held, synced, failed = _state(company_id, 4), _state(company_id, 5), _state(company_id, 6)
    assert held is not None and held.reason == "reconnect QuickBooks"
    assert synced is not None and synced.external_ids == {"01-P002271": "bill-5"} and synced.parts == ["01-P002271"]
    assert failed is not None and failed.owes_notice and "inactive (610)" in (failed.reason or "")
    # And the API shows every PO exactly as before
    assert _views(api) == before
    # And the status index files them where the sweep, the outbox and the health page look
    states = bootstrap.services().sync_states
    assert [s.document.id for s in states.list_by_status(company_id, SyncStatus.QUEUED, QBO)] == ["3"]
    assert [s.document.id for s in states.list_by_status(company_id, SyncStatus.ERROR)] == ["6"]


def test_running_the_migration_twice_changes_nothing_the_second_time(
    legacy: tuple[Api, str], capsys: pytest.CaptureFixture[str]
) -> None:
    api, company_id = legacy
    migrate(bootstrap.services().table, [company_id])
    items = {po_id: bootstrap.services().table.get(company_pk(company_id), po_sk(po_id)) for po_id in LEGACY}
    views = _views(api)
    # When it runs again, from the command line, over every company
    assert main(["--table", bootstrap.services().table.name]) == 0
    # Then it found nothing left to move and wrote nothing
    printed = capsys.readouterr().out
    assert '"orders_migrated": 0' in printed and '"states_written": 0' in printed
    assert {po_id: bootstrap.services().table.get(company_pk(company_id), po_sk(po_id)) for po_id in LEGACY} == items
    assert _views(api) == views


def test_a_state_the_running_code_wrote_first_is_kept_when_migrated(legacy: tuple[Api, str]) -> None:
    api, company_id = legacy
    # Given the consumer recorded PO 3's bill before the migration reached it (its state read from the legacy PO)
    recorder = bootstrap.services().sync_recorder
    recorder.recorded(company_id, DocumentRef.purchase_order(3), QBO, {"01-P002271": "bill-3"})
    assert api.get("/v1/purchase-orders/3").json()["vendorInvoiceStatus"] == "S"
    # When the migration runs
    summary = migrate(bootstrap.services().table, [company_id])
    # Then the state the code wrote stands, and the PO still shows it
    assert summary.states_already_there == 1
    state = _state(company_id, 3)
    assert (
        state is not None and state.status is SyncStatus.SYNCHRONIZED and state.external_ids == {"01-P002271": "bill-3"}
    )
    assert api.get("/v1/purchase-orders/3").json()["externalIds"] == {"01-P002271": "bill-3"}


def test_a_legacy_po_in_error_changed_before_the_migration_is_superseded_in_the_same_write(
    legacy: tuple[Api, str],
) -> None:
    api, company_id = legacy
    # When a user corrects PO 6 (in Error) before the migration ran
    changed = api.put("/v1/purchase-orders/6", {**PO, "arrivalDate": "2020-03-28"})
    # Then the change is saved, the approvals reset, and the state the legacy fields stood for is superseded
    assert changed.status == 200, changed.text
    assert changed.json()["vendorInvoiceStatus"] == "Pending Approval" and changed.json()["error"] is None
    state = _state(company_id, 6)
    assert state is not None and state.status is SyncStatus.SUPERSEDED
    item = bootstrap.services().table.get(company_pk(company_id), po_sk(6))
    assert item is not None and not set(LEGACY_FIELDS) & set(item["order"])
