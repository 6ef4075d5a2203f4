"""Web Connector sessions in DynamoDB (moto): the item carries its TTL.

What every SessionStore promises (a ticket used once, the version check, the one-session-per-company lock, the
last-session summary) is the contract tests/unit/test_store_contracts.py runs on this adapter and on its fake.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from ledgersync.adapters.dynamodb import SingleTable
from ledgersync.adapters.qbwc_sessions import DynamoSessionStore
from ledgersync.domain.desktop_sync import WebConnectorSession
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
