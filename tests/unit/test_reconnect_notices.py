"""The QuickBooks Online reconnect e-mail is owed until it went: SES failing never loses it, and none goes twice."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledgersync import bootstrap
from ledgersync.adapters.qbo_connection import DynamoOAuthStates
from ledgersync.domain.held_work import HeldWork
from ledgersync.domain.qbo_connection import QuickBooksOnlineConnection, ReconnectNotices
from ledgersync.domain.quickbooks_online import TokenSet
from ledgersync.domain.settings import Connection, ConnectionStatus
from ledgersync.errors import RetryableError
from tests.support.events import Api
from tests.support.mail import sent_emails
from tests.unit.test_error_notices import FlakySes

REVOKED = "invalid_grant: the refresh token was revoked"
REDIRECT = "http://127.0.0.1/callback"


@dataclass
class FakeIntuit:
    def authorization_url(self, state: str, redirect_uri: str) -> str:
        return f"https://appcenter.intuit.com/connect/oauth2?state={state}"

    def exchange_code(self, code: str, realm_id: str, redirect_uri: str) -> TokenSet:
        now = datetime.now(UTC)
        return TokenSet(
            realm_id=realm_id,
            access_token="access",
            refresh_token="refresh",
            access_expires_at=now + timedelta(hours=1),
            refresh_expires_at=now + timedelta(days=100),
            refreshed_at=now,
        )

    def revoke(self, token: str) -> None:
        return None


@dataclass
class FakeTokens:
    saved: dict[str, TokenSet] = field(default_factory=dict)

    def load(self, company_id: str) -> TokenSet | None:
        return self.saved.get(company_id)

    def save(self, company_id: str, tokens: TokenSet) -> None:
        self.saved[company_id] = tokens


def connection(ses: FlakySes) -> QuickBooksOnlineConnection:
    return QuickBooksOnlineConnection(
        states=DynamoOAuthStates(bootstrap.services().table),
        intuit=FakeIntuit(),
        tokens=FakeTokens(),
        settings=bootstrap.services().settings_store,
        recorder=bootstrap.services().sync_recorder,
        notifier=ses,
    )


def sweeper(ses: FlakySes) -> HeldWork:
    built = bootstrap.services().held_work
    return HeldWork(
        built.states,
        built.accounting,
        built.recorder,
        built.targets,
        reconnect_notices=ReconnectNotices(bootstrap.services().settings_store, ses),
    )


def stored(api: Api) -> dict[str, Any]:
    return dict(api.get("/v1/accounting/connection").json())


@pytest.fixture
def connected(api: Api, company: dict[str, Any]) -> tuple[Api, str]:
    api.put(
        "/v1/accounting/settings", {"externalSystem": "quickbooks_online", "notificationEmails": ["ap@example.com"]}
    )
    company_id = str(company["companyId"])
    bootstrap.services().settings_store.put_connection(
        company_id, Connection(status=ConnectionStatus.CONNECTED, realm_id="9130")
    )
    return api, company_id


def test_ses_failing_once_the_next_call_sends_exactly_one_reconnect_email(connected: tuple[Api, str]) -> None:
    api, company_id = connected
    ses = FlakySes(failures=1)
    # When the status is recorded but SES refuses its e-mail
    with pytest.raises(RetryableError):
        connection(ses).mark_reauthorization_required(company_id, REVOKED)
    assert stored(api)["status"] == "reauthorization_required" and stored(api)["reconnectNoticePending"] is True
    # Then the next invalid_grant sends the owed e-mail, once, and nothing is owed any more
    connection(ses).mark_reauthorization_required(company_id, REVOKED)
    (mail,) = sent_emails()
    assert "must be reconnected" in mail.subject and "refresh token was revoked" in mail.body
    assert mail.destinations["ToAddresses"] == ["ap@example.com"]
    assert stored(api)["reconnectNoticePending"] is False
    connection(ses).mark_reauthorization_required(company_id, REVOKED)
    assert sweeper(ses).sweep([company_id]).reconnect_notices_sent == 0
    assert len(sent_emails()) == 1


def test_ses_failing_on_every_call_the_sweep_sends_the_reconnect_email_later_once(connected: tuple[Api, str]) -> None:
    api, company_id = connected
    ses = FlakySes(failures=3)
    for _ in range(2):
        with pytest.raises(RetryableError):
            connection(ses).mark_reauthorization_required(company_id, REVOKED)
    # A sweep while SES is still down keeps the e-mail owed
    assert sweeper(ses).sweep([company_id]).reconnect_notices_sent == 0
    assert sent_emails() == [] and stored(api)["reconnectNoticePending"] is True
    # When the sweep runs with SES back, twice
    first = sweeper(ses).sweep([company_id])
    second = sweeper(ses).sweep([company_id])
    # Then the e-mail went once
    (mail,) = sent_emails()
    assert "refresh token was revoked" in mail.body
    assert (first.reconnect_notices_sent, second.reconnect_notices_sent) == (1, 0)
    assert stored(api)["reconnectNoticePending"] is False


def test_the_normal_path_sends_one_reconnect_email_and_never_a_second(connected: tuple[Api, str]) -> None:
    api, company_id = connected
    ses = FlakySes(failures=0)
    connection(ses).mark_reauthorization_required(company_id, REVOKED)
    connection(ses).mark_reauthorization_required(company_id, REVOKED)
    sweeper(ses).sweep([company_id])
    assert len(sent_emails()) == 1
    assert stored(api)["status"] == "reauthorization_required" and stored(api)["reconnectNoticePending"] is False


def test_reconnecting_clears_the_owed_reconnect_email(connected: tuple[Api, str]) -> None:
    api, company_id = connected
    ses = FlakySes(failures=1)
    with pytest.raises(RetryableError):
        connection(ses).mark_reauthorization_required(company_id, REVOKED)
    # When an Admin reconnects before any e-mail went
    flow = connection(ses)
    DynamoOAuthStates(bootstrap.services().table).put(
        "state-1", company_id, REDIRECT, datetime.now(UTC) + timedelta(minutes=5)
    )
    flow.callback("code", "state-1", "9130", None)
    # Then nothing is owed and no sweep sends the stale e-mail
    assert stored(api)["status"] == "connected" and stored(api)["reconnectNoticePending"] is False
    assert sweeper(ses).sweep([company_id]).reconnect_notices_sent == 0
    assert sent_emails() == []
