"""Web Connector sessions in DynamoDB (moto): the TTL, the version check and the one-session-per-company lock."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from ledgersync.adapters.dynamodb import SingleTable
from ledgersync.adapters.qbwc_sessions import DynamoSessionStore
from ledgersync.domain.desktop_sync import WebConnectorSession
from ledgersync.errors import Conflict
from tests.fakes import FakeClock

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def store(aws: None, clock: FakeClock) -> DynamoSessionStore:
    return DynamoSessionStore(SingleTable(os.environ["TABLE_NAME"]), clock=clock)


def session(ticket: str = "t-1") -> WebConnectorSession:
    return WebConnectorSession(
        ticket=ticket, company_id="c-1", user_name="qbuser", created_at=NOW, expires_at=NOW + timedelta(minutes=30)
    )


def test_session_is_stored_with_a_ttl_when_created(store: DynamoSessionStore) -> None:
    store.create(session())
    item = (
        boto3.resource("dynamodb")
        .Table(os.environ["TABLE_NAME"])
        .get_item(Key={"pk": "QBWC#t-1", "sk": "SESSION"})["Item"]
    )
    assert item["expiresAt"] == int((NOW + timedelta(minutes=30)).timestamp())
    assert item["companyId"] == "c-1"
    loaded = store.load("t-1")
    assert loaded is not None and loaded.company_id == "c-1" and loaded.expires_at == NOW + timedelta(minutes=30)


def test_load_answers_none_when_the_ticket_is_unknown(store: DynamoSessionStore) -> None:
    assert store.load("nope") is None
    assert store.load("") is None


def test_ticket_is_never_reused_when_created_twice(store: DynamoSessionStore) -> None:
    store.create(session())
    with pytest.raises(Conflict):
        store.create(session())


def test_save_refuses_a_stale_session_when_another_call_saved_first(store: DynamoSessionStore) -> None:
    store.create(session())
    first, second = store.load("t-1"), store.load("t-1")
    assert first is not None and second is not None
    first.version += 1
    first.progress = 50
    store.save(first)
    second.version += 1
    with pytest.raises(Conflict):
        store.save(second)
    reloaded = store.load("t-1")
    assert reloaded is not None and reloaded.progress == 50


def test_company_lock_is_held_by_one_ticket_until_it_is_released_or_expires(
    store: DynamoSessionStore, clock: FakeClock
) -> None:
    until = NOW + timedelta(minutes=30)
    assert store.claim_company("c-1", "t-1", until)
    assert store.claim_company("c-1", "t-1", until + timedelta(minutes=5))
    assert not store.claim_company("c-1", "t-2", until)
    assert store.claim_company("c-2", "t-2", until)
    store.release_company("c-1", "t-2")
    assert not store.claim_company("c-1", "t-2", until)
    store.release_company("c-1", "t-1")
    assert store.claim_company("c-1", "t-2", until)
    clock.current = NOW + timedelta(hours=1)
    assert store.claim_company("c-1", "t-3", clock.current + timedelta(minutes=30))
