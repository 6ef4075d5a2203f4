"""The QuickBooks Online reconnect e-mail is owed until it went: SES failing never loses it, and none goes twice.

Use cases on the fakes of tests/fakes.py (no moto): ``FakeNotifier(failures=n)`` is SES throttled for its first
``n`` sends, and its outbox is what went.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledgersync.domain.accounts import Accounts, CompanyCreate
from ledgersync.domain.held_work import HeldWork
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.qbo_connection import QuickBooksOnlineConnection, ReconnectNotices
from ledgersync.domain.quickbooks_online import TokenSet
from ledgersync.domain.settings import AccountingSettings, Connection, ConnectionStatus
from ledgersync.domain.sync_outcomes import SyncOutcomes
from ledgersync.errors import RetryableError
from tests import fakes

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


@dataclass
class World:
    """The stores every call shares, as the table does between Lambda invocations."""

    accounts: fakes.InMemoryAccountStore = field(default_factory=fakes.InMemoryAccountStore)
    orders: fakes.InMemoryPurchaseOrderStore = field(default_factory=fakes.InMemoryPurchaseOrderStore)
    states: fakes.InMemoryOAuthStates = field(default_factory=fakes.InMemoryOAuthStates)
    dispatcher: fakes.FakeDispatcher = field(default_factory=fakes.FakeDispatcher)

    @property
    def settings(self) -> fakes.InMemorySettingsStore:
        return fakes.InMemorySettingsStore(self.accounts)

    def outcomes(self, ses: fakes.FakeNotifier) -> SyncOutcomes:
        return SyncOutcomes(store=self.orders, accounting=self.settings, notifier=ses, dispatcher=self.dispatcher)


def connection(world: World, ses: fakes.FakeNotifier) -> QuickBooksOnlineConnection:
    return QuickBooksOnlineConnection(
        states=world.states,
        intuit=FakeIntuit(),
        tokens=FakeTokens(),
        settings=world.settings,
        outcomes=world.outcomes(ses),
        notifier=ses,
    )


def sweeper(world: World, ses: fakes.FakeNotifier) -> HeldWork:
    return HeldWork(
        world.orders,
        world.settings,
        world.outcomes(ses),
        world.dispatcher,
        reconnect_notices=ReconnectNotices(world.settings, ses),
    )


def stored(world: World, company_id: str) -> dict[str, Any]:
    """The connection as ``GET /v1/accounting/connection`` answers it."""
    settings, current = world.settings.get_accounting(company_id)
    current.external_system = settings.external_system
    return current.model_dump(mode="json", by_alias=True)


def sent_emails(ses: fakes.FakeNotifier) -> list[fakes.SentEmail]:
    return ses.sent


@pytest.fixture
def connected() -> tuple[World, str]:
    world = World()
    company_id = Accounts(world.accounts).create_company(CompanyCreate(name="Demo Flowers")).company_id
    world.settings.put_settings(
        company_id,
        AccountingSettings(external_system=ExternalSystem.QUICKBOOKS_ONLINE, notification_emails=["ap@example.com"]),
    )
    world.settings.put_connection(company_id, Connection(status=ConnectionStatus.CONNECTED, realm_id="9130"))
    return world, company_id


def test_ses_failing_once_the_next_call_sends_exactly_one_reconnect_email(connected: tuple[World, str]) -> None:
    world, company_id = connected
    ses = fakes.FakeNotifier(failures=1)
    # When the status is recorded but SES refuses its e-mail
    with pytest.raises(RetryableError):
        connection(world, ses).mark_reauthorization_required(company_id, REVOKED)
    assert (
        stored(world, company_id)["status"] == "reauthorization_required"
        and stored(world, company_id)["reconnectNoticePending"] is True
    )
    # Then the next invalid_grant sends the owed e-mail, once, and nothing is owed any more
    connection(world, ses).mark_reauthorization_required(company_id, REVOKED)
    (mail,) = sent_emails(ses)
    assert "must be reconnected" in mail.subject and "refresh token was revoked" in mail.html
    assert mail.to == ["ap@example.com"]
    assert stored(world, company_id)["reconnectNoticePending"] is False
    connection(world, ses).mark_reauthorization_required(company_id, REVOKED)
    assert sweeper(world, ses).sweep([company_id]).reconnect_notices_sent == 0
    assert len(sent_emails(ses)) == 1


def test_ses_failing_on_every_call_the_sweep_sends_the_reconnect_email_later_once(connected: tuple[World, str]) -> None:
    world, company_id = connected
    ses = fakes.FakeNotifier(failures=3)
    for _ in range(2):
        with pytest.raises(RetryableError):
            connection(world, ses).mark_reauthorization_required(company_id, REVOKED)
    # A sweep while SES is still down keeps the e-mail owed
    assert sweeper(world, ses).sweep([company_id]).reconnect_notices_sent == 0
    assert sent_emails(ses) == [] and stored(world, company_id)["reconnectNoticePending"] is True
    # When the sweep runs with SES back, twice
    first = sweeper(world, ses).sweep([company_id])
    second = sweeper(world, ses).sweep([company_id])
    # Then the e-mail went once
    (mail,) = sent_emails(ses)
    assert "refresh token was revoked" in mail.html
    assert (first.reconnect_notices_sent, second.reconnect_notices_sent) == (1, 0)
    assert stored(world, company_id)["reconnectNoticePending"] is False


def test_the_normal_path_sends_one_reconnect_email_and_never_a_second(connected: tuple[World, str]) -> None:
    world, company_id = connected
    ses = fakes.FakeNotifier(failures=0)
    connection(world, ses).mark_reauthorization_required(company_id, REVOKED)
    connection(world, ses).mark_reauthorization_required(company_id, REVOKED)
    sweeper(world, ses).sweep([company_id])
    assert len(sent_emails(ses)) == 1
    assert (
        stored(world, company_id)["status"] == "reauthorization_required"
        and stored(world, company_id)["reconnectNoticePending"] is False
    )


def test_reconnecting_clears_the_owed_reconnect_email(connected: tuple[World, str]) -> None:
    world, company_id = connected
    ses = fakes.FakeNotifier(failures=1)
    with pytest.raises(RetryableError):
        connection(world, ses).mark_reauthorization_required(company_id, REVOKED)
    # When an Admin reconnects before any e-mail went
    flow = connection(world, ses)
    world.states.put("state-1", company_id, REDIRECT, datetime.now(UTC) + timedelta(minutes=5))
    flow.callback("code", "state-1", "9130", None)
    # Then nothing is owed and no sweep sends the stale e-mail
    assert (
        stored(world, company_id)["status"] == "connected"
        and stored(world, company_id)["reconnectNoticePending"] is False
    )
    assert sweeper(world, ses).sweep([company_id]).reconnect_notices_sent == 0
    assert sent_emails(ses) == []
