"""The sync state stores agree: DynamoDB (on moto) and the in-memory fake honour the same conditions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.sync.documents import DocumentKind, DocumentRef
from ledgersync.domain.sync.state import InvalidTransition, SyncState, SyncStatus
from ledgersync.domain.sync.store import SyncStateStore
from ledgersync.errors import Conflict
from tests.fakes import InMemorySyncStateStore

COMPANY = "c-1"
PO_7 = DocumentRef.purchase_order(7)
QBO = ExternalSystem.QUICKBOOKS_ONLINE


@pytest.fixture(params=["dynamodb", "in_memory"])
def store(request: pytest.FixtureRequest) -> Iterator[SyncStateStore]:
    if request.param == "in_memory":
        yield InMemorySyncStateStore()
        return
    request.getfixturevalue("aws")
    from ledgersync import bootstrap
    from ledgersync.adapters.sync_state_store import DynamoSyncStateStore

    yield DynamoSyncStateStore(bootstrap.table())


def queued(ref: DocumentRef = PO_7, target: ExternalSystem = QBO) -> SyncState:
    return SyncState.new(COMPANY, ref, target, parts=["A", "B"], document_version=3)


def test_a_new_state_is_stored_once_when_it_must_not_exist(store: SyncStateStore) -> None:
    saved = store.put(queued(), None)
    assert saved.version == 1
    assert store.get(COMPANY, PO_7, QBO) == saved
    with pytest.raises(Conflict):
        store.put(queued(), None)


def test_a_put_is_refused_when_someone_else_wrote_since_the_version_read(store: SyncStateStore) -> None:
    first = store.put(queued(), None)
    second = store.put(first.moved(SyncStatus.SENDING), first.version)
    assert second.version == 2
    with pytest.raises(Conflict):
        store.put(first.moved(SyncStatus.HELD, reason="reconnect"), first.version)
    stored = store.get(COMPANY, PO_7, QBO)
    assert stored is not None and stored.status is SyncStatus.SENDING and stored.version == 2


def test_a_put_with_a_version_is_refused_when_the_state_does_not_exist(store: SyncStateStore) -> None:
    with pytest.raises(Conflict):
        store.put(queued(), 4)
    assert store.get(COMPANY, PO_7, QBO) is None


def test_list_by_status_follows_a_move(store: SyncStateStore) -> None:
    other = DocumentRef(kind=DocumentKind.SALES_INVOICE, id="INV-1")
    first = store.put(queued(), None)
    store.put(queued(other, ExternalSystem.WEBHOOK), None)
    store.put(first.moved(SyncStatus.ERROR, reason="refused", notice_pending=True), first.version)
    assert [s.document for s in store.list_by_status(COMPANY, SyncStatus.QUEUED)] == [other]
    errors = store.list_by_status(COMPANY, SyncStatus.ERROR)
    assert [(s.document, s.reason, s.notice_pending) for s in errors] == [(PO_7, "refused", True)]
    assert store.list_by_status(COMPANY, SyncStatus.QUEUED, target=QBO) == []
    assert store.list_by_status("another-company", SyncStatus.ERROR) == []


def test_list_for_document_gives_every_target_of_that_document_only(store: SyncStateStore) -> None:
    store.put(queued(), None)
    store.put(queued(target=ExternalSystem.WEBHOOK), None)
    store.put(queued(DocumentRef.purchase_order(70)), None)
    assert sorted(s.target.value for s in store.list_for_document(COMPANY, PO_7, QBO)) == [
        "quickbooks_online",
        "webhook",
    ]


def test_an_invalid_transition_raises_and_stores_nothing(store: SyncStateStore) -> None:
    saved = store.put(queued(), None)
    synchronized = store.put(saved.moved(SyncStatus.SYNCHRONIZED, external_ids={"A": "1", "B": "2"}), saved.version)
    with pytest.raises(InvalidTransition) as raised:
        synchronized.moved(SyncStatus.ERROR, reason="late failure")
    assert "purchase_order_bills 7" in raised.value.message and "synchronized to error" in raised.value.message
    assert isinstance(raised.value, Conflict)
    stored = store.get(COMPANY, PO_7, QBO)
    assert (
        stored is not None and stored.status is SyncStatus.SYNCHRONIZED and stored.external_ids == {"A": "1", "B": "2"}
    )
