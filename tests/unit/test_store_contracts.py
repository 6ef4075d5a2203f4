"""One contract per port, run against the fake of tests/fakes.py and against its adapter on moto: both must agree
on conditional creates, versioned saves, conflicts on a stale version, listing order and filters, not-found answers.

A test here that passes on one implementation and fails on the other is a bug in one of them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ledgersync.adapters.account_store import DynamoAccountStore
from ledgersync.adapters.company_health import DynamoCompanyHealth
from ledgersync.adapters.directory_store import DynamoDirectoryStore
from ledgersync.adapters.documents import DocumentLinkSigner, S3Documents
from ledgersync.adapters.dynamodb import SingleTable
from ledgersync.adapters.invoice_store import DynamoInvoiceStore
from ledgersync.adapters.lease import DynamoReleaseTurns
from ledgersync.adapters.messaging import SesNotifier, SqsWorkQueue
from ledgersync.adapters.purchase_order_store import DynamoPurchaseOrderStore
from ledgersync.adapters.qbo_connection import DynamoOAuthStates
from ledgersync.adapters.qbwc_sessions import DynamoSessionStore
from ledgersync.adapters.quickbooks_online.dedup import DynamoDedupStore
from ledgersync.adapters.quickbooks_online.references import DynamoReferenceIdCache
from ledgersync.adapters.settings_store import DynamoSettingsStore
from ledgersync.adapters.sync_state_store import DynamoSyncStateStore
from ledgersync.adapters.sync_targets import QuickBooksDesktopTarget, QuickBooksOnlineTarget, WebhookTarget
from ledgersync.adapters.webhooks import SqsDeliveryQueue
from ledgersync.config import get_settings
from ledgersync.domain.accounts import Company, Role, TokenRecord, User
from ledgersync.domain.desktop_sync import SessionStatus, WebConnectorSession
from ledgersync.domain.directory import Kind
from ledgersync.domain.invoices import ChangePlan, CommitPlan, InventoryTaken, Lookup, Take
from ledgersync.domain.purchase_orders import (
    ExternalSystem,
    PurchaseOrder,
    PurchaseOrderItem,
    VendorInvoice,
    VendorInvoiceStatus,
)
from ledgersync.domain.quickbooks_online import DedupEntry, DedupState
from ledgersync.domain.sales_invoice_sync import OncePerTick
from ledgersync.domain.settings import AccountingSettings, Connection, ConnectionStatus
from ledgersync.domain.sync.documents import DocumentKind, DocumentRef
from ledgersync.domain.sync.messages import SyncMessage
from ledgersync.domain.sync.state import InvalidTransition, SyncState, SyncStatus
from ledgersync.domain.sync.store import StateWrite, SyncStateStore
from ledgersync.errors import Conflict, Forbidden, Gone, NotFound
from tests import fakes
from tests.support.mail import sent_emails

IMPLEMENTATIONS = ["fake", "dynamodb"]
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
QBO = ExternalSystem.QUICKBOOKS_ONLINE


@pytest.fixture(params=IMPLEMENTATIONS)
def kind(request: pytest.FixtureRequest) -> str:
    """Which implementation a test runs on; ``dynamodb`` starts moto (the ``aws`` fixture), ``fake`` does not."""
    if request.param == "dynamodb":
        request.getfixturevalue("aws")
    return str(request.param)


def table() -> SingleTable:
    return SingleTable(os.environ["TABLE_NAME"])


# ---------------------------------------------------------------------------------------------- purchase orders


def order(po_id: int = 1, company_id: str = "co_1", status: VendorInvoiceStatus | None = None) -> PurchaseOrder:
    return PurchaseOrder(
        company_id=company_id,
        id=po_id,
        po_number=f"P{po_id}",
        vendor_id=7,
        ship_date=date(2026, 12, 1),
        items=[PurchaseOrderItem(category_procurement_accounting_code="ROSES", total_cost=Decimal("12.50"))],
        vendor_invoices=[VendorInvoice(invoice_number="V-1", invoice_amount=Decimal("12.50"))],
        vendor_invoice_status=status or VendorInvoiceStatus.PENDING_APPROVAL,
    )


@pytest.fixture
def orders(kind: str) -> Any:
    return fakes.InMemoryPurchaseOrderStore() if kind == "fake" else DynamoPurchaseOrderStore(table())


@pytest.fixture
def order_states(kind: str, orders: Any) -> Any:
    """The sync state store ``orders.save_with_state`` writes to: the fake PO store's own, or the table's."""
    return orders.states if kind == "fake" else DynamoSyncStateStore(table())


def test_po_is_created_once_when_saved_new_twice(orders: Any) -> None:
    saved = orders.save(order(), None)
    assert saved.version == 1
    with pytest.raises(Conflict, match=fakes.CONDITION_FAILED):
        orders.save(order(), None)
    assert orders.get("co_1", 1) == saved


def test_po_save_refuses_a_stale_version_when_someone_saved_first(orders: Any) -> None:
    first = orders.save(order(), None)
    second = orders.save(first.model_copy(update={"arrival_date": date(2026, 12, 2)}), first.version)
    assert second.version == 2
    with pytest.raises(Conflict, match="PO P1 was changed by someone else; reload it and try again"):
        orders.save(first.model_copy(update={"arrival_date": date(2026, 12, 3)}), first.version)
    stored = orders.get("co_1", 1)
    assert stored is not None and stored.arrival_date == date(2026, 12, 2) and stored.version == 2


def test_po_save_with_a_version_is_refused_when_the_po_does_not_exist(orders: Any) -> None:
    with pytest.raises(Conflict, match="changed by someone else"):
        orders.save(order(), 3)
    assert orders.get("co_1", 1) is None


def test_po_read_is_none_for_another_company_and_a_copy_of_what_was_stored(orders: Any) -> None:
    orders.save(order(), None)
    assert orders.get("co_2", 1) is None
    assert orders.get("co_1", 2) is None
    read = orders.get("co_1", 1)
    read.items[0].total_cost = Decimal("99.00")
    again = orders.get("co_1", 1)
    assert again is not None and again.items[0].total_cost == Decimal("12.50") and again.total == Decimal("12.50")


def test_pos_are_listed_where_the_status_index_files_them_when_approved_then_sent(orders: Any) -> None:
    approved = VendorInvoiceStatus.APPROVED
    for po_id in (12, 3, 7):
        orders.save(order(po_id, status=approved), None)
    orders.save(order(5), None)
    orders.save(order(4, company_id="co_2", status=approved), None)
    assert [o.id for o in orders.list_by_status("co_1", approved)] == [3, 7, 12]
    assert [o.id for o in orders.list_by_status("co_1", VendorInvoiceStatus.PENDING_APPROVAL)] == [5]
    moved = orders.get("co_1", 7)
    sent = orders.save(moved.model_copy(update={"sent_version": moved.version}), moved.version)
    # a sent PO keeps its lifecycle but the index files it under "Sent to External System": no longer "to send"
    assert orders.get("co_1", 7) == sent and sent.vendor_invoice_status is approved
    assert [o.id for o in orders.list_by_status("co_1", approved)] == [3, 12]
    # and it is listed where it is filed (and counted by the company's health), though its own status is Approved
    assert orders.list_by_status("co_1", VendorInvoiceStatus.SENT_TO_EXTERNAL) == [sent]
    changed = orders.save(sent.model_copy(update={"sent_version": None}), sent.version)
    assert [o.id for o in orders.list_by_status("co_1", approved)] == [3, 7, 12]
    assert orders.list_by_status("co_1", VendorInvoiceStatus.SENT_TO_EXTERNAL) == []
    assert orders.list_by_status("co_1", approved)[1] == changed
    assert orders.list_by_status("co_3", approved) == []


def test_po_stored_with_its_old_sync_fields_reads_as_migrated_and_stands_for_its_state(
    kind: str, orders: Any, order_states: Any
) -> None:
    error = VendorInvoiceStatus.ERROR
    legacy = {
        **order(8).model_dump(
            mode="json", by_alias=True, exclude={"sub_total", "total", "total_charges", "sent_version"}
        ),
        "vendorInvoiceStatus": error.value,
        "error": "the vendor is unknown",
        "errorNoticePending": True,
        "externalIds": {"V-1": "145"},
    }
    if kind == "fake":  # filed where the code before the migration filed it: under its status
        orders.items[("co_1", 8)] = fakes.as_stored({"version": 4, "order": legacy, "indexed": error.value})
    else:
        table().put(
            {
                "pk": "COMPANY#co_1",
                "sk": "PO#000000000008",
                "version": 4,
                "order": legacy,
                "gsi1pk": "COMPANY#co_1#POSTATUS#Error",
                "gsi1sk": "PO#000000000008",
            }
        )
    read = orders.get("co_1", 8)
    assert read == order(8).model_copy(
        update={"vendor_invoice_status": VendorInvoiceStatus.APPROVED, "sent_version": 4, "version": 4}
    )
    assert orders.list_by_status("co_1", error) == []  # filed under Error before the migration: listed once migrated
    assert orders.list_by_status("co_1", VendorInvoiceStatus.APPROVED) == []
    ref = DocumentRef.purchase_order(8)
    legacy_state = order_states.get("co_1", ref, QBO)
    assert legacy_state is not None
    assert (legacy_state.status, legacy_state.version, legacy_state.document_version) == (SyncStatus.ERROR, 0, 4)
    assert (legacy_state.reason, legacy_state.notice_pending, legacy_state.external_ids, legacy_state.parts) == (
        "the vendor is unknown",
        True,
        {"V-1": "145"},
        ["V-1"],
    )
    assert order_states.list_for_document("co_1", ref, QBO) == [legacy_state]
    assert order_states.list_for_document("co_1", ref, None) == []
    assert order_states.get("co_1", DocumentRef(kind=DocumentKind.SALES_INVOICE, id="8"), QBO) is None
    assert order_states.list_by_status("co_1", SyncStatus.ERROR) == []  # the index sees it once migrated
    # sent again: the PO and the state (version 0: not stored yet) written together
    sent, stored = orders.save_with_state(read, read.version, legacy_state.moved(SyncStatus.QUEUED, reason=None), 0)
    assert (sent.version, stored.version) == (5, 1)
    assert orders.get("co_1", 8) == sent
    assert order_states.list_for_document("co_1", ref, ExternalSystem.WEBHOOK) == [stored]
    with pytest.raises(Conflict, match="PO P8 was changed or sent by someone else"):
        orders.save_with_state(sent, sent.version, legacy_state.moved(SyncStatus.QUEUED), 0)


def po_state(po_id: int = 1, status: SyncStatus = SyncStatus.QUEUED, company_id: str = "co_1") -> SyncState:
    return SyncState.new(company_id, DocumentRef.purchase_order(po_id), QBO, status, parts=["V-1"], document_version=1)


def test_po_and_its_state_are_saved_together_each_over_the_version_read(orders: Any, order_states: Any) -> None:
    first = orders.save(order(status=VendorInvoiceStatus.APPROVED), None)
    sent, state = orders.save_with_state(
        first.model_copy(update={"sent_version": first.version}), first.version, po_state(), None
    )
    assert (sent.version, state.version) == (2, 1)
    assert orders.get("co_1", 1) == sent
    assert order_states.get("co_1", DocumentRef.purchase_order(1), QBO) == state
    assert orders.list_by_status("co_1", VendorInvoiceStatus.APPROVED) == []  # filed as sent
    assert orders.list_by_status("co_1", VendorInvoiceStatus.SENT_TO_EXTERNAL) == [sent]
    again, moved = orders.save_with_state(
        sent.model_copy(update={"arrival_date": date(2026, 12, 4)}),
        sent.version,
        state.moved(SyncStatus.SUPERSEDED),
        state.version,
    )
    assert (again.version, moved.version, moved.status) == (3, 2, SyncStatus.SUPERSEDED)
    assert order_states.get("co_1", DocumentRef.purchase_order(1), QBO) == moved
    assert order_states.list_by_status("co_1", SyncStatus.SUPERSEDED) == [moved]


def test_po_and_state_save_writes_neither_when_either_changed_since_read(orders: Any, order_states: Any) -> None:
    refused = "PO P1 was changed or sent by someone else; reload it and try again"
    ref = DocumentRef.purchase_order(1)
    first = orders.save(order(status=VendorInvoiceStatus.APPROVED), None)
    with pytest.raises(Conflict, match=refused):  # the PO moved on
        orders.save_with_state(first, first.version + 1, po_state(), None)
    assert order_states.get("co_1", ref, QBO) is None
    with pytest.raises(Conflict, match="PO P2 was changed or sent by someone else"):  # the PO does not exist
        orders.save_with_state(order(2), 1, po_state(2), None)
    assert orders.get("co_1", 2) is None and order_states.get("co_1", DocumentRef.purchase_order(2), QBO) is None
    state = order_states.put(po_state(), None)
    for expected in (None, 0, state.version + 1):  # the state exists, or moved on
        with pytest.raises(Conflict, match=refused):
            orders.save_with_state(first.model_copy(update={"sent_version": 1}), first.version, state, expected)
    assert orders.get("co_1", 1) == first and orders.list_by_status("co_1", VendorInvoiceStatus.APPROVED) == [first]
    assert order_states.get("co_1", ref, QBO) == state
    third = orders.save(order(3, status=VendorInvoiceStatus.APPROVED), None)
    with pytest.raises(Conflict, match="PO P3 was changed or sent by someone else"):  # a version for no state
        orders.save_with_state(third, third.version, po_state(3), 1)
    assert orders.get("co_1", 3) == third and order_states.get("co_1", DocumentRef.purchase_order(3), QBO) is None


# ---------------------------------------------------------------------------------------------- accounts, settings


@dataclass
class Accounts:
    accounts: Any
    settings: Any


@pytest.fixture
def accounts(kind: str) -> Accounts:
    if kind == "fake":
        store = fakes.InMemoryAccountStore()
        return Accounts(store, fakes.InMemorySettingsStore(store))
    return Accounts(DynamoAccountStore(table()), DynamoSettingsStore(table()))


def company(company_id: str = "co_1", name: str = "Demo Flowers", currency: str = "EUR") -> Company:
    return Company(id=company_id, name=name, currency=currency, created_at=NOW.isoformat())


def user(user_id: str = "usr_1", company_id: str = "co_1") -> User:
    return User(id=user_id, company_id=company_id, name="Ana", email="ana@example.com", roles=(Role.ACCOUNTING,))


def token(token_id: str = "tok_1", company_id: str = "co_1", user_id: str = "usr_1") -> TokenRecord:
    return TokenRecord(
        token_id=token_id,
        token_hash=f"hash-{token_id}",
        company_id=company_id,
        user_id=user_id,
        api_methods=("invoice.create",),
        roles=(Role.ACCOUNTING,),
        description="the ERP",
    )


def test_company_is_created_once_with_its_admin_and_token(accounts: Accounts) -> None:
    store = accounts.accounts
    store.create_company(company(), user(), token())
    assert store.get_company("co_1") == company()
    assert store.get_user("co_1", "usr_1") == user()
    assert store.get_token("hash-tok_1") == token()
    with pytest.raises(Conflict, match="the company could not be created; try again"):
        store.create_company(company(), user("usr_2"), token("tok_2"))
    with pytest.raises(Conflict, match="the company could not be created"):
        store.create_company(company("co_2"), user("usr_9", "co_2"), token("tok_1", "co_2"))
    assert store.get_company("co_2") is None
    assert store.get_user("co_2", "usr_9") is None


def test_unknown_company_user_and_token_are_none(accounts: Accounts) -> None:
    store = accounts.accounts
    assert store.get_company("co_1") is None
    assert store.get_user("co_1", "usr_1") is None
    assert store.get_token("hash-nope") is None
    assert store.revoke_token("co_1", "tok_1") is False


def test_user_and_token_are_written_once(accounts: Accounts) -> None:
    store = accounts.accounts
    store.create_company(company(), user(), token())
    store.put_user(user("usr_2"), token("tok_2", user_id="usr_2"))
    assert store.get_user("co_1", "usr_2") == user("usr_2")
    with pytest.raises(Conflict, match="the write was refused: ConditionalCheckFailed, None"):
        store.put_user(user("usr_2"), token("tok_3", user_id="usr_2"))
    assert store.get_token("hash-tok_3") is None
    with pytest.raises(Conflict, match=fakes.CONDITION_FAILED):
        store.put_token(token("tok_2"))
    store.put_token(token("tok_4"))
    assert store.get_token("hash-tok_4") == token("tok_4")


def test_token_is_revoked_only_by_its_exact_id_within_its_company(accounts: Accounts) -> None:
    store = accounts.accounts
    store.create_company(company(), user(), token("tok_12"))
    assert store.revoke_token("co_1", "tok_1") is False  # a prefix of an id is not an id
    assert store.revoke_token("co_2", "tok_12") is False
    assert store.get_token("hash-tok_12") is not None
    assert store.revoke_token("co_1", "tok_12") is True
    assert store.get_token("hash-tok_12") is None
    assert store.revoke_token("co_1", "tok_12") is False


def test_companies_are_listed_in_name_order_whatever_the_case(accounts: Accounts) -> None:
    store = accounts.accounts
    for index, name in enumerate(["rosa farms", "Andes Blooms", "Maple"]):
        store.create_company(company(f"co_{index}", name), user(f"u{index}", f"co_{index}"), token(f"t{index}"))
    assert store.company_ids() == ["co_1", "co_2", "co_0"]


def test_settings_of_a_new_company_are_the_defaults_with_its_currency(accounts: Accounts) -> None:
    with pytest.raises(NotFound, match="no company 'co_1'"):
        accounts.settings.get_accounting("co_1")
    accounts.accounts.create_company(company(), user(), token())
    settings, connection = accounts.settings.get_accounting("co_1")
    assert settings == AccountingSettings(company_currency="EUR")
    assert connection == Connection()
    assert accounts.settings.get_settings("co_1") == settings
    assert accounts.settings.get_connection("co_1") == connection


def test_settings_and_connection_are_replaced_only_on_a_company_that_exists(accounts: Accounts) -> None:
    store = accounts.settings
    chosen = AccountingSettings(
        external_system=ExternalSystem.QUICKBOOKS_ONLINE, notification_emails=["AP@example.com"], company_currency="USD"
    )
    connected = Connection(status=ConnectionStatus.CONNECTED, realm_id="9130")
    with pytest.raises(Conflict, match=fakes.CONDITION_FAILED):
        store.put_settings("co_1", chosen)
    with pytest.raises(Conflict, match=fakes.CONDITION_FAILED):
        store.put_connection("co_1", connected)
    accounts.accounts.create_company(company(), user(), token())
    store.put_settings("co_1", chosen)
    store.put_connection("co_1", connected)
    settings, connection = store.get_accounting("co_1")
    # the company's currency is the profile's, never a stored setting
    assert settings == chosen.model_copy(update={"company_currency": "EUR"})
    assert settings.notification_emails == ["ap@example.com"]
    assert connection == connected


def test_reauthorization_is_written_once_while_the_connection_requires_it(accounts: Accounts) -> None:
    store = accounts.settings
    required = Connection(status=ConnectionStatus.REAUTHORIZATION_REQUIRED, reason="revoked", realm_id="9130")
    assert store.require_reauthorization("co_1", required) is False  # no company
    accounts.accounts.create_company(company(), user(), token())
    store.put_connection("co_1", Connection(status=ConnectionStatus.CONNECTED, realm_id="9130"))
    assert store.require_reauthorization("co_1", required.model_copy(update={"reconnect_notice_pending": True}))
    assert store.require_reauthorization("co_1", required.model_copy(update={"reason": "again"})) is False
    assert store.get_connection("co_1").reason == "revoked"
    assert store.get_connection("co_1").reconnect_notice_pending is True


def test_reconnect_notice_is_cleared_once_and_only_while_it_is_owed(accounts: Accounts) -> None:
    store = accounts.settings
    assert store.clear_reconnect_notice("co_1") is False
    accounts.accounts.create_company(company(), user(), token())
    assert store.clear_reconnect_notice("co_1") is False  # never connected
    owed = Connection(status=ConnectionStatus.REAUTHORIZATION_REQUIRED, reconnect_notice_pending=True)
    store.put_connection("co_1", owed.model_copy(update={"status": ConnectionStatus.CONNECTED}))
    assert store.clear_reconnect_notice("co_1") is False  # connected: nothing is owed
    store.put_connection("co_1", owed)
    assert store.clear_reconnect_notice("co_1") is True
    assert store.clear_reconnect_notice("co_1") is False
    assert store.get_connection("co_1") == owed.model_copy(update={"reconnect_notice_pending": False})


def test_webhook_is_marked_configured_only_on_a_company_that_exists(accounts: Accounts) -> None:
    store = accounts.settings
    assert store.is_configured("co_1") is False
    with pytest.raises(Conflict, match=fakes.CONDITION_FAILED):
        store.mark_webhook_configured("co_1")
    accounts.accounts.create_company(company(), user(), token())
    assert store.is_configured("co_1") is False
    store.mark_webhook_configured("co_1")
    assert store.is_configured("co_1") is True


# ---------------------------------------------------------------------------------------------- directory, invoices


@dataclass
class Records:
    accounts: Any
    directory: Any
    invoices: Any


@pytest.fixture
def records(kind: str) -> Records:
    if kind == "fake":
        accounts = fakes.InMemoryAccountStore()
        directory = fakes.InMemoryDirectoryStore()
        states = fakes.InMemorySyncStateStore()
        return Records(accounts, directory, fakes.InMemoryInvoiceStore(accounts, directory.records, states=states))
    return Records(DynamoAccountStore(table()), DynamoDirectoryStore(table()), DynamoInvoiceStore(table()))


def invoice_states(records: Records) -> Any:
    """The sync state store an invoice's ship writes to: the fake invoice store's own, or the table's."""
    return (
        records.invoices.states
        if isinstance(records.invoices, fakes.InMemoryInvoiceStore)
        else DynamoSyncStateStore(table())
    )


def customer(record_id: int, code: str, name: str = "Bloom") -> dict[str, Any]:
    return {"id": record_id, "code": code, "name": name, "active": True, "creditLimit": Decimal("10.50")}


def stock(order_item_id: int, boxes: int, product: str = "ROSE") -> dict[str, Any]:
    return {
        "orderItemId": order_item_id,
        "productCode": product,
        "boxTypeCode": "QB",
        "unitsPerBox": 100,
        "unitType": "Stem",
        "availableBoxes": boxes,
    }


def test_directory_records_are_read_by_id_and_code_as_stored(records: Records) -> None:
    store = records.directory
    store.write("co_1", Kind.CUSTOMERS, [customer(1, "Bl-1"), customer(2, "fl-2", "Flora")], [])
    by_id = store.get_by_ids("co_1", Kind.CUSTOMERS, [2, 1, 9, 2])
    assert sorted(by_id) == [1, 2]
    assert by_id[1] == {"id": 1, "code": "Bl-1", "name": "Bloom", "active": True, "creditLimit": Decimal("10.50")}
    assert isinstance(by_id[1]["id"], Decimal)  # numbers come back as DynamoDB gives them
    by_code = store.get_by_codes("co_1", Kind.CUSTOMERS, ["bl-1", "FL-2", "none"])
    assert sorted(by_code) == ["BL-1", "FL-2"] and by_code["FL-2"]["name"] == "Flora"
    assert store.get_by_ids("co_2", Kind.CUSTOMERS, [1]) == {}
    assert store.get_by_ids("co_1", Kind.VENDORS, [1]) == {}


def test_directory_code_change_removes_the_old_code(records: Records) -> None:
    store = records.directory
    store.write("co_1", Kind.CARRIERS, [customer(5, "OLD")], [])
    previous = list(store.get_by_ids("co_1", Kind.CARRIERS, [5]).values())
    store.write("co_1", Kind.CARRIERS, [customer(5, "NEW", "Renamed")], previous)
    assert store.get_by_codes("co_1", Kind.CARRIERS, ["OLD"]) == {}
    assert store.get_by_codes("co_1", Kind.CARRIERS, ["new"])["NEW"]["name"] == "Renamed"
    assert store.get_by_ids("co_1", Kind.CARRIERS, [5])[5]["code"] == "NEW"


def test_directory_ids_are_allocated_past_the_ones_already_taken(records: Records) -> None:
    store = records.directory
    store.write("co_1", Kind.VENDORS, [customer(2, "TAKEN")], [])
    assert store.allocate_ids("co_1", Kind.VENDORS, 3) == [1, 3, 4]
    assert store.allocate_ids("co_1", Kind.VENDORS, 1) == [5]
    assert store.allocate_ids("co_1", Kind.CUSTOMERS, 1) == [1]
    assert store.allocate_ids("co_2", Kind.VENDORS, 2) == [1, 2]


def test_directory_lists_in_key_order_a_page_at_a_time(records: Records) -> None:
    store = records.directory
    store.write("co_1", Kind.CUSTOMERS, [customer(i, f"C{i}") for i in (10, 2, 33, 1)], [])
    store.write("co_1", Kind.CHARGES, [{"code": c, "name": c} for c in ("FUEL", "box", "cut")], [])
    page, cursor = store.list("co_1", Kind.CUSTOMERS, 3, None)
    assert [int(r["id"]) for r in page] == [1, 2, 10] and cursor == "10"
    page, cursor = store.list("co_1", Kind.CUSTOMERS, 3, cursor)
    assert [int(r["id"]) for r in page] == [33] and cursor is None
    page, cursor = store.list("co_1", Kind.CUSTOMERS, 4, None)
    assert len(page) == 4 and cursor is None
    page, cursor = store.list("co_1", Kind.CHARGES, 2, None)
    assert [r["code"] for r in page] == ["box", "cut"] and cursor == "CUT"
    assert [r["code"] for r in store.list("co_1", Kind.CHARGES, 2, cursor)[0]] == ["FUEL"]
    assert store.list("co_1", Kind.VENDORS, 5, None) == ([], None)
    assert "pk" not in page[0] and "sk" not in page[0]


def test_inventory_is_read_by_order_item_and_grouped_by_presentation(records: Records) -> None:
    store = records.directory
    store.write("co_1", Kind.INVENTORY, [stock(1, 5), stock(2, 3), stock(3, 1, "TULIP")], [])
    assert sorted(store.get_by_keys("co_1", Kind.INVENTORY, ["1", "3", "4"])) == ["1", "3"]
    previous = list(store.get_by_keys("co_1", Kind.INVENTORY, ["2"]).values())
    store.write("co_1", Kind.INVENTORY, [stock(2, 3, "TULIP")], previous)
    records.accounts.create_company(company(), user(), token())
    rose, tulip = "ROSE#QB#100#Stem", "TULIP#QB#100#Stem"
    snapshot = records.invoices.read("co_1", lookup(presentations=(rose, tulip, "NONE#QB#1#Stem")))
    assert snapshot.presentations == {rose: [1], tulip: [2, 3]}


def test_exchange_rates_are_kept_in_one_summary_in_currency_and_date_order(records: Records) -> None:
    store = records.directory
    rate = {"currency": "EUR", "effectiveFrom": "2026-02-01", "rate": Decimal("1.10")}
    store.write("co_1", Kind.EXCHANGE_RATES, [rate, {**rate, "currency": "COP", "rate": Decimal("0.00025")}], [])
    store.write("co_1", Kind.EXCHANGE_RATES, [{**rate, "effectiveFrom": "2026-01-01"}, {**rate, "rate": 2}], [])
    records.accounts.create_company(company(), user(), token())
    assert records.invoices.read("co_1", lookup()).rates == [
        {"currency": "COP", "effectiveFrom": "2026-02-01", "rate": Decimal("0.00025")},
        {"currency": "EUR", "effectiveFrom": "2026-01-01", "rate": Decimal("1.10")},
        {"currency": "EUR", "effectiveFrom": "2026-02-01", "rate": Decimal("2")},
    ]


def test_exchange_rates_are_read_back_for_bills_from_the_same_summary(records: Records) -> None:
    # Given two rates of one currency written in two batches
    store = records.directory
    rate = {"currency": "CAD", "effectiveFrom": "2026-02-01", "rate": Decimal("0.73")}
    store.write("co_1", Kind.EXCHANGE_RATES, [rate], [])
    store.write("co_1", Kind.EXCHANGE_RATES, [{**rate, "effectiveFrom": "2026-03-01", "rate": Decimal("0.7")}], [])

    # Then the bills' read of them sees both, in date order; another company has none
    assert store.exchange_rates("co_1") == [rate, {**rate, "effectiveFrom": "2026-03-01", "rate": Decimal("0.7")}]
    assert store.exchange_rates("co_2") == []


def test_rates_written_as_dates_after_rates_stored_as_text_merge_in_date_order(records: Records) -> None:
    # Given a rate stored, then another of the same currency handed in as the directory hands it (a date)
    store = records.directory
    store.write("co_1", Kind.EXCHANGE_RATES, [{"currency": "CAD", "effectiveFrom": date(2024, 1, 1), "rate": 1}], [])
    later = {"currency": "CAD", "effectiveFrom": date(2026, 3, 27), "rate": Decimal("0.7315")}
    store.write("co_1", Kind.EXCHANGE_RATES, [later], [])
    store.write("co_1", Kind.EXCHANGE_RATES, [later], [])  # the same rate again replaces it

    assert [(r["effectiveFrom"], r["rate"]) for r in store.exchange_rates("co_1")] == [
        ("2024-01-01", 1),
        ("2026-03-27", Decimal("0.7315")),
    ]


def lookup(**changes: Any) -> Lookup:
    fields: dict[str, Any] = {
        "customer_id": None,
        "customer_code": None,
        "want_unknown_customer": False,
        "carrier_id": None,
        "carrier_code": None,
        "location_id": None,
        "location_code": None,
        "order_item_ids": (),
        "presentations": (),
        "charge_codes": (),
        "idempotency_key": None,
    }
    return Lookup(**{**fields, **changes})


def plan(number: int = 1, takes: tuple[tuple[int, int], ...] = ((1, 2),), **changes: Any) -> CommitPlan:
    fields: dict[str, Any] = {
        "company_id": "co_1",
        "invoice": {
            "invoiceId": number,
            "invoiceNumber": number,
            "status": "Draft",
            "total": Decimal("20.00"),
            "response": {"status": "1", "invoiceNumber": number},
        },
        "takes": [Take(oid, boxes) for oid, boxes in takes],
        "expected_counter": {"invoiceNumber": number - 1, "invoiceId": number - 1, "invoiceItemId": number - 1},
        "next_counter": {"invoiceNumber": number, "invoiceId": number, "invoiceItemId": number},
        "new_charges": [],
        "idempotency_key": None,
        "idempotency_record": None,
    }
    return CommitPlan(**{**fields, **changes})


@pytest.fixture
def stocked(records: Records) -> Records:
    records.accounts.create_company(company(), user(), token())
    records.directory.write("co_1", Kind.CUSTOMERS, [customer(1, "BL"), customer(2, "UNKNOWN", "Unknown")], [])
    records.directory.write("co_1", Kind.CARRIERS, [customer(4, "FEDEX", "FedEx")], [])
    records.directory.write("co_1", Kind.INVENTORY, [stock(1, 5), stock(2, 1)], [])
    records.directory.write("co_1", Kind.CHARGES, [{"code": "FUEL", "name": "Fuel"}], [])
    return records


def test_invoice_read_finds_what_the_directory_holds_by_id_or_code(stocked: Records) -> None:
    snapshot = stocked.invoices.read(
        "co_1",
        lookup(
            customer_code="bl",
            want_unknown_customer=True,
            carrier_id=4,
            location_code="NOWHERE",
            order_item_ids=(1, 9),
            charge_codes=("FUEL", "NONE"),
            idempotency_key="k-1",
        ),
    )
    assert snapshot.company == {
        "companyId": "co_1",
        "name": "Demo Flowers",
        "currency": "EUR",
        "createdAt": NOW.isoformat(),
    }
    assert snapshot.counter == {}
    assert snapshot.customer is not None and snapshot.customer["code"] == "BL"
    assert snapshot.unknown_customer is not None and snapshot.unknown_customer["id"] == 2
    assert snapshot.carrier is not None and snapshot.carrier["name"] == "FedEx"
    assert snapshot.location is None
    assert sorted(snapshot.inventory) == [1] and snapshot.inventory[1]["availableBoxes"] == 5
    assert sorted(snapshot.charges) == ["FUEL"]
    assert snapshot.replay is None and snapshot.rates == [] and snapshot.presentations == {}
    assert stocked.invoices.read("co_1", lookup(customer_id=1)).customer == snapshot.customer
    with pytest.raises(Conflict, match="this company no longer exists"):
        stocked.invoices.read("co_2", lookup())


def test_invoice_commit_takes_the_boxes_and_numbers_the_invoice(stocked: Records) -> None:
    fuel = {"code": "BOX", "name": "Box charge"}
    stocked.invoices.commit(
        plan(1, ((1, 2), (1, 1), (2, 1)), new_charges=[fuel], idempotency_key="k-1", idempotency_record={"f": "x"})
    )
    snapshot = stocked.invoices.read(
        "co_1", lookup(order_item_ids=(1, 2), charge_codes=("BOX",), idempotency_key="k-1")
    )
    assert snapshot.counter == {"invoiceNumber": 1, "invoiceId": 1, "invoiceItemId": 1}
    assert {oid: int(item["availableBoxes"]) for oid, item in snapshot.inventory.items()} == {1: 2, 2: 0}
    assert snapshot.charges["BOX"]["name"] == "Box charge"
    assert snapshot.replay == {"f": "x"}
    assert stocked.invoices.read_inventory("co_1", [2, 8]) == {2: snapshot.inventory[2]}
    assert stocked.invoices.get("co_1", 1) == {"invoiceId": 1, "invoiceNumber": 1, "status": "Draft", "total": 20}


@pytest.mark.parametrize(
    ("takes", "refused"),
    [
        (((1, 2),), {"expected_counter": {"invoiceNumber": 5, "invoiceId": 5, "invoiceItemId": 0}}),  # numbered since
        (((1, 2), (2, 2)), {}),  # more boxes than are left
        (((1, 2), (9, 1)), {}),  # an inventory line that does not exist
        (((1, 2),), {"new_charges": [{"code": "FUEL", "name": "Fuel again"}]}),  # a charge created meanwhile
    ],
    ids=["stale-counter", "too-few-boxes", "no-inventory", "charge-exists"],
)
def test_invoice_commit_writes_nothing_when_one_condition_fails(
    stocked: Records, takes: tuple[tuple[int, int], ...], refused: dict[str, Any]
) -> None:
    with pytest.raises(InventoryTaken, match="inventory, numbering or idempotency changed under us"):
        stocked.invoices.commit(plan(1, takes, **refused))
    snapshot = stocked.invoices.read("co_1", lookup(order_item_ids=(1, 2), charge_codes=("FUEL",)))
    assert snapshot.counter == {}
    assert int(snapshot.inventory[1]["availableBoxes"]) == 5 and int(snapshot.inventory[2]["availableBoxes"]) == 1
    assert snapshot.charges["FUEL"]["name"] == "Fuel"
    assert stocked.invoices.get("co_1", 1) is None


def test_invoice_commit_is_refused_when_the_idempotency_key_was_used_or_the_number_taken(stocked: Records) -> None:
    stocked.invoices.commit(plan(1, idempotency_key="k-1", idempotency_record={"f": "x"}))
    with pytest.raises(InventoryTaken):
        stocked.invoices.commit(plan(2, idempotency_key="k-1", idempotency_record={"f": "y"}))
    with pytest.raises(InventoryTaken):  # the counter says 1, but invoice 1 exists already
        stocked.invoices.commit(plan(1, expected_counter={"invoiceNumber": 1, "invoiceId": 0, "invoiceItemId": 0}))
    assert stocked.invoices.read("co_1", lookup(idempotency_key="k-1")).replay == {"f": "x"}
    assert stocked.invoices.get("co_1", 2) is None


def test_invoice_commit_is_refused_before_writing_when_it_takes_from_over_98_lines(stocked: Records) -> None:
    with pytest.raises(Conflict, match="too many inventory lines for one atomic write"):
        stocked.invoices.commit(plan(1, tuple((oid, 1) for oid in range(1, 100))))


def test_invoices_are_found_by_number_listed_in_id_order_and_change_status_conditionally(stocked: Records) -> None:
    store = stocked.invoices
    for number in (1, 2, 3):
        store.commit(plan(number, ()))
    assert store.get_by_number("co_1", 2) == store.get("co_1", 2)
    assert store.get_by_number("co_1", 9) is None and store.get("co_1", 9) is None
    page, cursor = store.list("co_1", 2, None)
    assert [int(i["invoiceId"]) for i in page] == [1, 2] and cursor == 2
    page, cursor = store.list("co_1", 2, cursor)
    assert [int(i["invoiceId"]) for i in page] == [3] and cursor is None
    assert store.list("co_2", 2, None) == ([], None)
    changed = store.set_status("co_1", 2, "Draft", "Pending Approval")
    assert changed["status"] == "Pending Approval" and "response" not in changed
    with pytest.raises(Conflict, match=fakes.CONDITION_FAILED):
        store.set_status("co_1", 2, "Draft", "Pending Approval")
    with pytest.raises(Conflict, match=fakes.CONDITION_FAILED):
        store.set_status("co_1", 9, "Draft", "Pending Approval")
    assert store.get("co_1", 2)["status"] == "Pending Approval"


def test_an_invoice_move_and_its_sync_state_are_written_together_or_not_at_all(stocked: Records) -> None:
    store, states = stocked.invoices, invoice_states(stocked)
    store.commit(plan(1, ()))
    ref = DocumentRef(kind=DocumentKind.SALES_INVOICE, id="1")
    scheduled = SyncState.new("co_1", ref, QBO, SyncStatus.SCHEDULED, release_at=NOW, document_version=1)

    moved = store.change_with_state("co_1", 1, 0, {"status": "Shipped"}, StateWrite(scheduled, None))

    assert moved["status"] == "Shipped" and moved["version"] == 1
    stored = states.get("co_1", ref, QBO)
    assert stored is not None and stored.status is SyncStatus.SCHEDULED and stored.version == 1
    # a stale invoice version, or a state someone else wrote since it was read: neither is written
    cancelled = stored.moved(SyncStatus.SUPERSEDED)
    with pytest.raises(Conflict):
        store.change_with_state("co_1", 1, 0, {"status": "Confirmed"}, StateWrite(cancelled, stored.version))
    with pytest.raises(Conflict):
        store.change_with_state("co_1", 1, 1, {"status": "Confirmed"}, StateWrite(cancelled, stored.version + 1))
    with pytest.raises(Conflict):
        store.change_with_state("co_1", 1, 1, {"status": "Confirmed"}, StateWrite(scheduled, None))
    assert store.get("co_1", 1)["status"] == "Shipped"
    assert states.get("co_1", ref, QBO).status is SyncStatus.SCHEDULED

    store.change_with_state("co_1", 1, 1, {"status": "Confirmed"}, StateWrite(cancelled, stored.version))
    assert store.get("co_1", 1)["status"] == "Confirmed"
    assert states.get("co_1", ref, QBO).status is SyncStatus.SUPERSEDED


def test_an_invoice_change_is_written_all_or_nothing_on_its_version_its_state_and_the_inventory(
    stocked: Records,
) -> None:
    # Given invoice 1 holding 2 of line 1's boxes (5 before; line 2 has 1)
    store = stocked.invoices
    store.commit(plan(1, ((1, 2),)))

    def change(**changes: Any) -> ChangePlan:
        fields: dict[str, Any] = {
            "company_id": "co_1",
            "invoice_id": 1,
            "expected_version": 0,
            "changes": {"total": Decimal("7.50")},
            "inventory_deltas": {1: -2, 2: 1},
            "expected_item_counter": 1,
            "next_item_counter": 2,
            "new_charges": [],
        }
        return ChangePlan(**{**fields, **changes})

    def inventory() -> tuple[int, int]:
        found = store.read("co_1", lookup(order_item_ids=(1, 2))).inventory
        return int(found[1]["availableBoxes"]), int(found[2]["availableBoxes"])

    # When a change is planned on a stale version, takes more than is left, or numbers lines from a stale counter
    for refused in (change(expected_version=3), change(inventory_deltas={2: 2}), change(expected_item_counter=0)):
        with pytest.raises(InventoryTaken):
            store.commit_change(refused)
    # Then nothing was written
    assert inventory() == (3, 1) and "version" not in store.get("co_1", 1)

    # When the change holds, then all of it is written
    store.commit_change(change())
    assert inventory() == (5, 0)
    assert (store.get("co_1", 1)["total"], store.get("co_1", 1)["version"]) == (Decimal("7.50"), 1)
    assert store.read("co_1", lookup()).counter["invoiceItemId"] == 2

    # And a lifecycle change is conditional on the version too; a Shipped invoice is never changed
    shipped = store.change("co_1", 1, 1, {"status": "Shipped"})
    assert (shipped["status"], shipped["version"]) == ("Shipped", 2)
    with pytest.raises(Conflict, match=fakes.CONDITION_FAILED):
        store.change("co_1", 1, 1, {"status": "Confirmed"})
    with pytest.raises(InventoryTaken):
        store.commit_change(
            change(expected_version=2, inventory_deltas={}, next_item_counter=2, expected_item_counter=2)
        )
    assert store.get("co_1", 1)["status"] == "Shipped" and inventory() == (5, 0)


def test_an_invoice_change_and_its_sales_orders_state_are_written_together_or_not_at_all(stocked: Records) -> None:
    # Given invoice 1 and its open sales order (synchronized, version 1 of its state)
    store, states = stocked.invoices, invoice_states(stocked)
    store.commit(plan(1, ((1, 1),)))
    ref = DocumentRef(kind=DocumentKind.SALES_ORDER, id="1")
    sent = SyncState.new("co_1", ref, QBO, SyncStatus.QUEUED, document_version=0, parts=["v0"])
    stored = states.put(sent, None)
    stored = states.put(stored.moved(SyncStatus.SYNCHRONIZED, external_ids={"v0": "E1"}), stored.version)
    queued = stored.moved(SyncStatus.QUEUED, document_version=1, parts=["v1"], external_ids={"": "E1"})

    def change(state: StateWrite, expected_version: int = 0) -> ChangePlan:
        return ChangePlan(
            company_id="co_1",
            invoice_id=1,
            expected_version=expected_version,
            changes={"total": Decimal("2.50")},
            inventory_deltas={},
            expected_item_counter=1,
            next_item_counter=1,
            new_charges=[],
            state=state,
        )

    # When a change carries a state someone else wrote since it was read: nothing is written
    with pytest.raises(InventoryTaken):
        store.commit_change(change(StateWrite(queued, stored.version - 1)))
    assert "version" not in store.get("co_1", 1)
    assert states.get("co_1", ref, QBO).status is SyncStatus.SYNCHRONIZED
    # When the invoice's version is stale: nothing is written either
    with pytest.raises(InventoryTaken):
        store.commit_change(change(StateWrite(queued, stored.version), expected_version=4))
    assert states.get("co_1", ref, QBO).status is SyncStatus.SYNCHRONIZED

    # When both hold, both are written
    store.commit_change(change(StateWrite(queued, stored.version)))
    assert store.get("co_1", 1)["version"] == 1
    after = states.get("co_1", ref, QBO)
    assert after is not None and after.status is SyncStatus.QUEUED and after.version == stored.version + 1
    assert after.external_ids == {"": "E1"} and after.parts == ["v1"]


# ---------------------------------------------------------------------------------------------- QuickBooks Online


@pytest.fixture
def dedup(kind: str) -> Any:
    return fakes.InMemoryDedupStore() if kind == "fake" else DynamoDedupStore(table())


def test_dedup_entry_is_written_once_and_replaced_only_from_the_state_it_was_read_in(dedup: Any) -> None:
    pending = DedupEntry(state=DedupState.PENDING, attempt=1, started_at=NOW, reference="P1-V1")
    assert dedup.put_if_absent("co_1", "k", pending) is None
    assert dedup.put_if_absent("co_1", "k", pending.model_copy(update={"attempt": 2})) == pending
    assert dedup.put_if_absent("co_2", "k", pending) is None
    retry = pending.model_copy(update={"attempt": 2, "started_at": NOW + timedelta(minutes=5)})
    assert dedup.replace("co_1", "k", pending, retry) is True
    assert dedup.replace("co_1", "k", pending, retry) is False  # it moved on
    assert dedup.replace("co_1", "other", pending, retry) is False  # never written
    dedup.complete("co_1", "k", 2, "bill-42")
    done = dedup.put_if_absent("co_1", "k", pending)
    assert done == retry.model_copy(update={"state": DedupState.COMPLETED, "result_id": "bill-42"})
    assert dedup.replace("co_1", "k", retry, pending) is False
    assert dedup.get("co_1", "k") == done
    assert dedup.get("co_1", "other") is None and dedup.get("co_3", "k") is None


@pytest.fixture
def reference_ids(kind: str) -> Callable[[], Any]:
    """A new cache instance each call; the DynamoDB ones share the table, the fake is one process-local cache."""
    if kind == "fake":
        shared = fakes.InMemoryReferenceIdCache()
        return lambda: shared
    return lambda: DynamoReferenceIdCache(table())


def test_reference_ids_are_kept_per_realm_kind_and_name_and_can_be_forgotten(
    reference_ids: Callable[[], Any],
) -> None:
    reference_ids().put("realm-1", "Vendor", "O'Brien Farms", "56")
    cache = reference_ids()
    assert cache.get("realm-1", "Vendor", "O'Brien Farms") == "56"
    assert cache.get("realm-2", "Vendor", "O'Brien Farms") is None
    assert cache.get("realm-1", "Item", "O'Brien Farms") is None
    cache.put("realm-1", "Vendor", "O'Brien Farms", "57")
    assert reference_ids().get("realm-1", "Vendor", "O'Brien Farms") == "57"
    cache.forget("realm-1", "Vendor", "O'Brien Farms")
    cache.forget("realm-1", "Vendor", "never cached")
    assert reference_ids().get("realm-1", "Vendor", "O'Brien Farms") is None


@pytest.fixture
def oauth_states(kind: str) -> Any:
    return fakes.InMemoryOAuthStates() if kind == "fake" else DynamoOAuthStates(table())


def test_oauth_state_is_written_once_and_serves_once_before_it_expires(oauth_states: Any) -> None:
    until = NOW + timedelta(minutes=10)
    oauth_states.put("s-1", "co_1", "https://app/callback", until)
    with pytest.raises(Conflict, match=fakes.CONDITION_FAILED):
        oauth_states.put("s-1", "co_2", "https://evil/callback", until)
    assert oauth_states.take("s-1", NOW) == ("co_1", "https://app/callback")
    assert oauth_states.take("s-1", NOW) is None
    assert oauth_states.take("unknown", NOW) is None
    oauth_states.put("s-2", "co_1", "https://app/callback", until)
    assert oauth_states.take("s-2", until) is None  # expired at its second
    assert oauth_states.take("s-2", until - timedelta(seconds=1)) == ("co_1", "https://app/callback")


# ---------------------------------------------------------------------------------------------- Web Connector


@dataclass
class Sessions:
    store: Any
    clock: fakes.FakeClock

    def last_session(self, company_id: str) -> dict[str, Any] | None:
        if isinstance(self.store, fakes.InMemorySessionStore):
            return self.store.last_sessions.get(company_id)
        item = table().get(f"COMPANY#{company_id}", "QBWC#LASTSESSION")
        return {k: v for k, v in item.items() if k not in {"pk", "sk"}} if item else None


@pytest.fixture
def sessions(kind: str) -> Sessions:
    clock = fakes.FakeClock(NOW)
    store = fakes.InMemorySessionStore(clock) if kind == "fake" else DynamoSessionStore(table(), clock=clock)
    return Sessions(store, clock)


def session(ticket: str = "t-1") -> WebConnectorSession:
    return WebConnectorSession(
        ticket=ticket, company_id="c-1", user_name="qbuser", created_at=NOW, expires_at=NOW + timedelta(minutes=30)
    )


def test_session_is_created_once_and_loaded_by_its_ticket(sessions: Sessions) -> None:
    store = sessions.store
    store.create(session())
    assert store.load("t-1") == session()
    with pytest.raises(Conflict, match=fakes.CONDITION_FAILED):
        store.create(session())
    assert store.load("nope") is None
    assert store.load("") is None
    assert store.load("x" * 101) is None


def test_session_save_refuses_a_stale_session_when_another_call_saved_first(sessions: Sessions) -> None:
    store = sessions.store
    store.create(session())
    first, second = store.load("t-1"), store.load("t-1")
    first.version += 1
    first.progress = 50
    store.save(first)
    second.version += 1
    with pytest.raises(Conflict, match=fakes.CONDITION_FAILED):
        store.save(second)
    reloaded = store.load("t-1")
    assert reloaded is not None and reloaded.progress == 50
    with pytest.raises(Conflict):
        store.save(session("never-created").model_copy(update={"version": 1}))


def test_last_session_is_summarized_when_created_and_when_it_ends(sessions: Sessions) -> None:
    store = sessions.store
    store.create(session())
    assert sessions.last_session("c-1") == {
        "userName": "qbuser",
        "status": "active",
        "startedAt": NOW.isoformat(),
        "updatedAt": NOW.isoformat(),
        "progress": 0,
        "bills": 0,
        "invoices": 0,
        "lastError": None,
    }
    sessions.clock.current = NOW + timedelta(minutes=2)
    running = session().model_copy(update={"version": 1, "progress": 40})
    store.save(running)
    assert sessions.last_session("c-1")["progress"] == 0  # an active session's progress is not summarized
    store.save(running.model_copy(update={"version": 2, "status": SessionStatus.FAILED, "last_error": "closed"}))
    last = sessions.last_session("c-1")
    assert (last["status"], last["lastError"], last["updatedAt"]) == (
        "failed",
        "closed",
        sessions.clock.current.isoformat(),
    )
    assert sessions.last_session("c-2") is None


def test_company_lock_is_held_by_one_ticket_until_it_is_released_or_expires(sessions: Sessions) -> None:
    store, clock = sessions.store, sessions.clock
    until = NOW + timedelta(minutes=30)
    assert store.claim_company("c-1", "t-1", until)
    assert store.claim_company("c-1", "t-1", until + timedelta(minutes=5))
    assert not store.claim_company("c-1", "t-2", until)
    assert store.claim_company("c-2", "t-2", until)
    store.release_company("c-1", "t-2")
    assert not store.claim_company("c-1", "t-2", until)
    store.release_company("c-1", "t-1")
    assert store.claim_company("c-1", "t-2", until)
    clock.current = until  # t-2 holds it to this second: still held
    assert not store.claim_company("c-1", "t-3", clock.current + timedelta(minutes=30))
    clock.advance(timedelta(seconds=1))
    assert store.claim_company("c-1", "t-3", clock.current + timedelta(minutes=30))
    store.release_company("c-9", "t-3")


@dataclass
class Health:
    accounts: Any
    orders: Any
    states: Any
    sessions: Any
    reader: Any


@pytest.fixture
def health(kind: str) -> Health:
    if kind == "fake":
        accounts, orders, sessions = (
            fakes.InMemoryAccountStore(),
            fakes.InMemoryPurchaseOrderStore(),
            fakes.InMemorySessionStore(fakes.FakeClock(NOW)),
        )
        reader = fakes.InMemoryCompanyHealth(accounts, orders, sessions)
        return Health(accounts, orders, orders.states, sessions, reader)
    accounts = DynamoAccountStore(table())
    return Health(
        accounts,
        DynamoPurchaseOrderStore(table()),
        DynamoSyncStateStore(table()),
        DynamoSessionStore(table(), clock=fakes.FakeClock(NOW)),
        DynamoCompanyHealth(table(), accounts),
    )


def test_company_health_counts_pos_by_lifecycle_and_sync_state_and_shows_the_last_session(health: Health) -> None:
    with pytest.raises(NotFound, match="no company 'co_1'"):
        health.reader.read("co_1")
    health.accounts.create_company(company(), user(), token())
    pending, approved = VendorInvoiceStatus.PENDING_APPROVAL, VendorInvoiceStatus.APPROVED
    for po_id, status in enumerate([pending, approved, approved, approved, pending, approved], start=1):
        health.orders.save(order(po_id, status=status), None)
    sent = health.orders.get("co_1", 3)  # sent: no longer counted as approved
    health.orders.save_with_state(
        sent.model_copy(update={"sent_version": sent.version}), sent.version, po_state(3), None
    )
    queued, held, error = SyncStatus.QUEUED, SyncStatus.HELD, SyncStatus.ERROR
    histories = [[queued], [SyncStatus.SCHEDULED], [queued, SyncStatus.SENDING], [queued, held], [queued, held]]
    histories += [[queued, error], [queued, SyncStatus.SYNCHRONIZED], [queued, error, SyncStatus.SUPERSEDED]]
    for po_id, (born, *moves) in enumerate(histories, start=10):
        state = health.states.put(po_state(po_id, born), None)
        for move in moves:
            reason = "the reason" if move in {held, error} else None
            state = health.states.put(state.moved(move, reason=reason), state.version)
    # each target's state counts: PO 10 is also on its way to the webhook
    health.states.put(SyncState.new("co_1", DocumentRef.purchase_order(10), ExternalSystem.WEBHOOK), None)
    health.orders.save(order(9, company_id="co_2", status=approved), None)
    health.states.put(po_state(9, company_id="co_2"), None)
    ended = session().model_copy(update={"company_id": "co_1"})
    health.sessions.create(ended)
    health.sessions.save(ended.model_copy(update={"version": 1, "status": SessionStatus.NO_WORK}))
    read = health.reader.read("co_1")
    assert read.model_dump() == {
        "company_id": "co_1",
        "name": "Demo Flowers",
        "connection": Connection().model_dump(),
        # queued: PO 3's send, 10 twice (two targets), 11 (scheduled), 12 (sending); held 13, 14; error 15
        "purchase_orders": {"pending_approval": 2, "approved": 3, "queued": 5, "held": 2, "error": 1},
        "last_web_connector_session": {
            "user_name": "qbuser",
            "status": "no_work",
            "started_at": NOW,
            "updated_at": NOW,
            "progress": 0,
            "bills": 0,
            "invoices": 0,
            "last_error": None,
        },
    }


# ---------------------------------------------------------------------------------------------- S3, SES, SQS


@dataclass
class Documents:
    store: Any
    seconds: fakes.FakeClock


@pytest.fixture
def documents(kind: str) -> Documents:
    seconds = fakes.FakeClock(NOW)
    links = DocumentLinkSigner(lambda: b"contract-link-key", clock=seconds)
    if kind == "fake":
        return Documents(fakes.FakeDocuments(links, "https://ledgersync.test/"), seconds)
    return Documents(S3Documents(os.environ["DOCUMENTS_BUCKET"], links, "https://ledgersync.test/"), seconds)


def test_pdf_is_stored_under_its_company_and_opened_through_its_link_until_it_expires(documents: Documents) -> None:
    store = documents.store
    key = store.put_pdf("co_1", 7, "V-1 (final)/é", b"%PDF-1.7 one")
    assert key == "co_1/purchase-orders/7/V-1__final___.pdf"
    link = store.presigned_pdf_url(key, expires_in=60)
    prefix = "https://ledgersync.test/v1/documents/"
    assert link.startswith(prefix)
    token = link.removeprefix(prefix)
    assert store.open_pdf(token) == b"%PDF-1.7 one"
    assert store.put_pdf("co_1", 7, "V-1 (final)/é", b"%PDF-1.7 two") == key
    assert store.open_pdf(token) == b"%PDF-1.7 two"
    claims, mac = token.split(".")
    with pytest.raises(Forbidden, match="this document link is not valid"):
        store.open_pdf(f"{claims}.{'A' * len(mac) if mac != 'A' * len(mac) else 'B' * len(mac)}")
    documents.seconds.advance(60)
    with pytest.raises(Gone, match="this document link has expired"):
        store.open_pdf(token)


def test_deleted_pdf_is_not_found_through_a_link_handed_out_before(documents: Documents) -> None:
    store = documents.store
    key = store.put_pdf("co_1", 7, "V-1", b"%PDF")
    token = store.presigned_pdf_url(key).rsplit("/", 1)[1]
    store.delete_pdf(key)
    store.delete_pdf(key)
    with pytest.raises(NotFound, match="the document is no longer stored"):
        store.open_pdf(token)


@dataclass
class Outbox:
    notifier: Any

    def sent(self) -> list[tuple[list[str], str, str]]:
        """Each e-mail's addresses, subject and HTML body (what moto keeps of an SES message)."""
        if isinstance(self.notifier, fakes.FakeNotifier):
            return [(m.to, m.subject, m.html) for m in self.notifier.sent]
        return [(m.destinations["ToAddresses"], m.subject, m.body) for m in sent_emails()]


@pytest.fixture
def outbox(kind: str) -> Outbox:
    return Outbox(fakes.FakeNotifier() if kind == "fake" else SesNotifier("no-reply@ledgersync.local"))


def test_email_goes_to_at_most_five_addresses_and_nowhere_without_one(outbox: Outbox) -> None:
    addresses = [f"ap{i}@example.com" for i in range(7)]
    outbox.notifier.send(addresses, "PO P1 could not be sent", "fix the vendor", "<p>fix the vendor</p>")
    outbox.notifier.send([], "nobody", "no one reads this", "<p>no</p>")
    assert outbox.sent() == [(addresses[:5], "PO P1 could not be sent", "<p>fix the vendor</p>")]


@dataclass
class Queues:
    sync: Any
    webhook: Any

    def received(self, queue: Any) -> list[str]:
        """Each body a queue received, in the order sent (moto's own record of the queue)."""
        if isinstance(queue, fakes.FakeWorkQueue):
            return list(queue.bodies)
        return [m.body for m in self._moto_queues()[queue.queue_url.rsplit("/", 1)[-1]]._messages]

    def count(self) -> int:
        """How many messages every queue received."""
        if isinstance(self.sync, fakes.FakeWorkQueue):
            return len(self.sync.bodies) + len(self.webhook.bodies)
        return sum(len(queue._messages) for queue in self._moto_queues().values())

    @staticmethod
    def _moto_queues() -> dict[str, Any]:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.sqs.models import sqs_backends

        queues: dict[str, Any] = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].queues
        return queues


@pytest.fixture
def queues(kind: str) -> Queues:
    if kind == "fake":
        base = "https://sqs.us-east-1.amazonaws.com/123456789012"
        return Queues(fakes.FakeWorkQueue(f"{base}/ledgersync-sync"), fakes.FakeWorkQueue(f"{base}/ledgersync-webhook"))
    settings = get_settings()
    return Queues(SqsWorkQueue(settings.sync_queue_url), SqsDeliveryQueue(settings.webhook_queue_url))


def test_queue_gets_each_message_as_sent_in_order_and_only_on_its_own_queue(queues: Queues) -> None:
    first, second = (
        SyncMessage(company_id="co_1", document=DocumentRef.purchase_order(po_id), target=QBO, first_attempt_at=NOW)
        for po_id in (7, 8)
    )
    queues.sync.enqueue(first)
    queues.sync.enqueue(second)
    queues.sync.enqueue(first)
    assert queues.count() == 3
    assert queues.received(queues.sync) == [first.to_json(), second.to_json(), first.to_json()]
    assert queues.received(queues.webhook) == []
    if isinstance(queues.sync, fakes.FakeWorkQueue):  # the fake's helper: the bodies parsed
        assert queues.sync.of()[1] == json.loads(second.to_json())


def test_targets_dispatch_their_messages_through_the_queues_and_the_web_connector_none(queues: Queues) -> None:
    online = QuickBooksOnlineTarget(queues.sync, 10, 720)
    desktop = QuickBooksDesktopTarget()
    webhook = WebhookTarget(queues.webhook, 30, 24.0, NotConfigured())
    to_online, to_desktop, to_webhook = (
        SyncMessage(company_id="co_1", document=DocumentRef.purchase_order(po_id), target=target.system)
        for po_id, target in ((7, online), (8, desktop), (9, webhook))
    )
    online.dispatch(to_online)
    desktop.dispatch(to_desktop)
    delivery = webhook.new_delivery_id()
    webhook.dispatch(to_webhook.model_copy(update={"delivery_id": delivery}))
    assert queues.received(queues.sync) == [to_online.to_json()]
    (webhook_body, *more) = queues.received(queues.webhook)
    assert SyncMessage.parse(webhook_body) == to_webhook.model_copy(update={"delivery_id": delivery})
    assert more == []
    assert delivery and delivery != webhook.new_delivery_id()
    assert queues.count() == 2  # the Web Connector's target queued nothing anywhere


class NotConfigured:
    def is_configured(self, company_id: str) -> bool:
        return False


# ---------------------------------------------------------------------------------------------- sync states


@pytest.fixture
def sync_states(kind: str) -> SyncStateStore:
    return fakes.InMemorySyncStateStore() if kind == "fake" else DynamoSyncStateStore(table())


PO_7 = DocumentRef.purchase_order(7)


def queued(ref: DocumentRef = PO_7, target: ExternalSystem = QBO) -> SyncState:
    return SyncState.new("c-1", ref, target, parts=["A", "B"], document_version=3)


def test_sync_state_is_stored_once_when_it_must_not_exist(sync_states: SyncStateStore) -> None:
    saved = sync_states.put(queued(), None)
    assert saved.version == 1
    assert sync_states.get("c-1", PO_7, QBO) == saved
    with pytest.raises(Conflict, match="purchase_order_bills 7 for quickbooks_online was changed by someone else"):
        sync_states.put(queued(), None)
    with pytest.raises(Conflict, match="changed by someone else; reload it and try again"):
        sync_states.put(queued(), 0)  # 0: a state read from a PO not migrated yet, not stored either


def test_sync_state_put_is_refused_when_someone_else_wrote_since_the_version_read(
    sync_states: SyncStateStore,
) -> None:
    first = sync_states.put(queued(), None)
    second = sync_states.put(first.moved(SyncStatus.SENDING), first.version)
    assert second.version == 2
    with pytest.raises(Conflict):
        sync_states.put(first.moved(SyncStatus.HELD, reason="reconnect"), first.version)
    stored = sync_states.get("c-1", PO_7, QBO)
    assert stored is not None and stored.status is SyncStatus.SENDING and stored.version == 2


def test_sync_state_put_with_a_version_is_refused_when_the_state_does_not_exist(sync_states: SyncStateStore) -> None:
    with pytest.raises(Conflict):
        sync_states.put(queued(), 4)
    assert sync_states.get("c-1", PO_7, QBO) is None


def test_sync_states_are_listed_and_counted_by_status_following_a_move(sync_states: Any) -> None:
    other = DocumentRef(kind=DocumentKind.SALES_INVOICE, id="INV-1")
    first = sync_states.put(queued(), None)
    sync_states.put(queued(other, ExternalSystem.WEBHOOK), None)
    sync_states.put(queued(DocumentRef.purchase_order(10)), None)  # "10" sorts before "7", as the index keys do
    sync_states.put(first.moved(SyncStatus.ERROR, reason="refused", notice_pending=True), first.version)
    assert [s.document for s in sync_states.list_by_status("c-1", SyncStatus.QUEUED)] == [
        DocumentRef.purchase_order(10),
        other,
    ]
    errors = sync_states.list_by_status("c-1", SyncStatus.ERROR)
    assert [(s.document, s.reason, s.notice_pending) for s in errors] == [(PO_7, "refused", True)]
    assert [s.document for s in sync_states.list_by_status("c-1", SyncStatus.QUEUED, target=QBO)] == [
        DocumentRef.purchase_order(10)
    ]
    assert sync_states.list_by_status("another-company", SyncStatus.ERROR) == []
    counts = {status: sync_states.count_by_status("c-1", status) for status in SyncStatus}
    assert counts == {status: {SyncStatus.QUEUED: 2, SyncStatus.ERROR: 1}.get(status, 0) for status in SyncStatus}
    assert sync_states.count_by_status("another-company", SyncStatus.QUEUED) == 0


def test_list_for_document_gives_every_target_of_that_document_only(sync_states: SyncStateStore) -> None:
    sync_states.put(queued(), None)
    sync_states.put(queued(target=ExternalSystem.WEBHOOK), None)
    sync_states.put(queued(DocumentRef.purchase_order(70)), None)
    assert [s.target.value for s in sync_states.list_for_document("c-1", PO_7, QBO)] == [
        "quickbooks_online",
        "webhook",
    ]
    assert sync_states.list_for_document("c-2", PO_7, QBO) == []


def test_an_invalid_transition_raises_and_stores_nothing(sync_states: SyncStateStore) -> None:
    saved = sync_states.put(queued(), None)
    synchronized = sync_states.put(
        saved.moved(SyncStatus.SYNCHRONIZED, external_ids={"A": "1", "B": "2"}), saved.version
    )
    with pytest.raises(InvalidTransition) as raised:
        synchronized.moved(SyncStatus.ERROR, reason="late failure")
    assert "purchase_order_bills 7" in raised.value.message and "synchronized to error" in raised.value.message
    assert isinstance(raised.value, Conflict)
    stored = sync_states.get("c-1", PO_7, QBO)
    assert (
        stored is not None and stored.status is SyncStatus.SYNCHRONIZED and stored.external_ids == {"A": "1", "B": "2"}
    )


def test_a_one_part_documents_id_is_kept_when_its_part_is_the_empty_name(sync_states: SyncStateStore) -> None:
    # A sales invoice is one part, "": DynamoDB takes no empty attribute name, the store must keep it all the same
    invoice = DocumentRef(kind=DocumentKind.SALES_INVOICE, id="12")
    saved = sync_states.put(queued(invoice).model_copy(update={"parts": [""]}), None)
    sync_states.put(saved.moved(SyncStatus.SYNCHRONIZED, external_ids={"": "93-1700000000"}), saved.version)
    stored = sync_states.get("c-1", invoice, QBO)
    assert stored is not None and stored.external_ids == {"": "93-1700000000"} and stored.parts == [""]
    (listed,) = sync_states.list_by_status("c-1", SyncStatus.SYNCHRONIZED)
    assert listed.external_ids == {"": "93-1700000000"}


# ---------------------------------------------------------------------------------------------- automatic queue turns


@pytest.fixture
def release_turns(kind: str) -> Any:
    return OncePerTick() if kind == "fake" else DynamoReleaseTurns(table(), fakes.FakeClock(NOW))


def test_a_minutes_release_turn_is_taken_once_per_company(release_turns: Any) -> None:
    assert release_turns.take("co_1", 100) is True
    assert release_turns.take("co_1", 100) is False
    assert release_turns.take("co_2", 100) is True
    assert release_turns.take("co_1", 101) is True


# ---------------------------------------------------------------------------------------------- process log


@pytest.fixture
def process_log(kind: str) -> Any:
    from ledgersync.adapters.process_log_store import DynamoProcessLogStore

    return fakes.InMemoryProcessLogStore() if kind == "fake" else DynamoProcessLogStore(table())


def test_a_run_keeps_its_messages_and_counts_and_ends_once(process_log: Any) -> None:
    from ledgersync.domain.process_log import LogLevel, LogMessage, RunStatus

    run = process_log.start("co_1", "Sales Invoice Exporter", NOW)
    process_log.add("co_1", run.run_id, NOW, [LogMessage.of(LogLevel.ERROR, "no item", "invoice 3")], {"failed": 1})
    process_log.add("co_1", run.run_id, NOW, [], {"failed": 2, "exported": 5})

    ended = process_log.finish("co_1", run.run_id, RunStatus.PARTIAL, NOW + timedelta(minutes=1))
    again = process_log.finish("co_1", run.run_id, RunStatus.FAILED, NOW + timedelta(minutes=2))

    assert ended.status == again.status == RunStatus.PARTIAL
    assert again.finished_at == NOW + timedelta(minutes=1)
    assert again.counts == {"failed": 3, "exported": 5}
    assert [(m.level, m.document, m.message) for m in again.messages] == [(LogLevel.ERROR, "invoice 3", "no item")]
    assert process_log.get("co_2", run.run_id) is None  # another company's run is not there
    assert process_log.get("co_1", "run_nothing") is None


def test_only_the_first_messages_are_kept_and_the_rest_counted(process_log: Any) -> None:
    from ledgersync.domain.process_log import MAX_MESSAGES, LogLevel, LogMessage

    run = process_log.start("co_1", "Sales Invoice Exporter", NOW)
    many = [LogMessage.of(LogLevel.INFO, f"m{n}") for n in range(MAX_MESSAGES - 1)]
    process_log.add("co_1", run.run_id, NOW, many)
    process_log.add("co_1", run.run_id, NOW, [LogMessage.of(LogLevel.ERROR, "last kept"), *many[:3]])

    found = process_log.get("co_1", run.run_id)

    assert len(found.messages) == MAX_MESSAGES and found.messages[-1].message == "last kept"
    assert found.messages_not_kept == 3


def test_an_exclusive_run_refuses_a_second_until_it_ends_or_goes_silent(process_log: Any) -> None:
    from ledgersync.domain.process_log import EXCLUSIVE_HOLD, RunInProgress, RunStatus

    first = process_log.start_exclusive("co_1", "Sales Invoice Exporter", NOW)
    with pytest.raises(RunInProgress) as refused:
        process_log.start_exclusive("co_1", "Sales Invoice Exporter", NOW + timedelta(seconds=1))
    assert refused.value.running.run_id == first.run_id and first.run_id in refused.value.message
    other_company = process_log.start_exclusive("co_2", "Sales Invoice Exporter", NOW)
    not_exclusive = process_log.start("co_1", "Sales Invoice Exporter", NOW)  # a job that holds nothing
    assert process_log.running("co_1", "Sales Invoice Exporter", NOW).run_id == first.run_id

    process_log.finish("co_1", first.run_id, RunStatus.SUCCEEDED, NOW + timedelta(minutes=1))
    second = process_log.start_exclusive("co_1", "Sales Invoice Exporter", NOW + timedelta(minutes=2))
    # silent past the hold (its job died): a third takes over
    later = NOW + timedelta(minutes=2) + EXCLUSIVE_HOLD + timedelta(seconds=1)
    third = process_log.start_exclusive("co_1", "Sales Invoice Exporter", later)

    assert len({first.run_id, second.run_id, third.run_id, other_company.run_id, not_exclusive.run_id}) == 5
    assert process_log.running("co_1", "Sales Invoice Exporter", later).run_id == third.run_id
    process_log.finish("co_1", second.run_id, RunStatus.FAILED, later)  # the silent one ending frees nothing
    assert process_log.running("co_1", "Sales Invoice Exporter", later).run_id == third.run_id


def test_runs_list_newest_first_a_page_at_a_time_and_by_name(process_log: Any) -> None:
    started = [
        process_log.start(
            "co_1", "Sales Invoice Exporter" if n % 2 else "Automatic Invoice Release", NOW + timedelta(seconds=n)
        )
        for n in range(5)
    ]
    process_log.start("co_2", "Sales Invoice Exporter", NOW)

    first, cursor = process_log.page("co_1", 2, None)
    second, cursor2 = process_log.page("co_1", 2, cursor)
    last, end = process_log.page("co_1", 2, cursor2)
    exports, none = process_log.page("co_1", 10, None, "Sales Invoice Exporter")

    newest_first = [r.run_id for r in reversed(started)]
    assert [r.run_id for r in first + second + last] == newest_first and end is None
    assert [r.run_id for r in exports] == [started[3].run_id, started[1].run_id] and none is None


# ---------------------------------------------------------------------------------------------- accounting links


@pytest.fixture
def links(kind: str) -> Any:
    from ledgersync.adapters.accounting_link_store import DynamoAccountingLinkStore

    return fakes.InMemoryAccountingLinkStore() if kind == "fake" else DynamoAccountingLinkStore(table())


def test_accounting_links_are_kept_per_record_and_system_and_a_newer_one_replaces_the_last(links: Any) -> None:
    from ledgersync.domain.accounting_links import AccountingLink

    online = AccountingLink(id="58", name="Ang", system=QBO, linked_at=NOW)
    desktop = AccountingLink(id="80-1", name="Ang", system=ExternalSystem.QUICKBOOKS_DESKTOP, linked_at=NOW)
    links.put_many("co_1", Kind.CUSTOMERS, {7: online, 8: online.model_copy(update={"id": "59", "name": "B"})})
    links.put_many("co_1", Kind.CUSTOMERS, {7: desktop})
    links.put_many("co_1", Kind.PRODUCTS, {7: online.model_copy(update={"id": "3"})})

    assert links.get_many("co_1", Kind.CUSTOMERS, [7, 8, 9], QBO) == {
        7: online,
        8: online.model_copy(update={"id": "59", "name": "B"}),
    }
    assert links.get_many("co_1", Kind.CUSTOMERS, [7], ExternalSystem.QUICKBOOKS_DESKTOP) == {7: desktop}
    assert links.get_many("co_1", Kind.PRODUCTS, [7], QBO)[7].id == "3"
    assert links.get_many("co_2", Kind.CUSTOMERS, [7], QBO) == {}
    links.put_many("co_1", Kind.CUSTOMERS, {7: online.model_copy(update={"id": "60"})})
    assert links.get_many("co_1", Kind.CUSTOMERS, [7], QBO)[7].id == "60"
