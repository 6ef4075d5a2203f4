"""Connecting a company to QuickBooks Online, and what happens when the connection is lost."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from ledgersync.domain.accounts import Principal, Role
from ledgersync.domain.notices import Notice, Notifier, send_notice
from ledgersync.domain.purchase_orders import CamelModel, ExternalSystem
from ledgersync.domain.quickbooks_online import TokenSet
from ledgersync.domain.settings import AccountingSettings, Connection, ConnectionStatus, SettingsStore
from ledgersync.domain.sync.outcomes import SyncRecorder
from ledgersync.errors import FieldError, PermanentError, ValidationFailed
from ledgersync.observability import logger

STATE_LIFETIME = timedelta(minutes=10)
CONNECTORS = {Role.ADMIN}
CONNECTED_MESSAGE = "QuickBooks Online is connected; held work is on its way."


class QuickBooksOnlineAuthorization(CamelModel):
    """Where a person goes to connect the company to QuickBooks Online, and until when that link works."""

    authorization_url: str
    state: str
    expires_at: datetime


class QuickBooksOnlineConnected(CamelModel):
    """The answer to Intuit's redirect: a message for the person who connected, then the connection."""

    message: str = CONNECTED_MESSAGE
    external_system: ExternalSystem | None = None
    status: ConnectionStatus
    realm_id: str | None = None
    reason: str | None = None
    reconnect_notice_pending: bool = False

    @classmethod
    def of(cls, connection: Connection) -> QuickBooksOnlineConnected:
        return cls.model_validate(connection.model_dump())


class OAuthStates(Protocol):
    """CSRF states of authorizations in progress, each valid ten minutes and usable once."""

    def put(self, state: str, company_id: str, redirect_uri: str, expires_at: datetime) -> None: ...
    def take(self, state: str, now: datetime) -> tuple[str, str] | None: ...


class IntuitAuthorization(Protocol):
    def authorization_url(self, state: str, redirect_uri: str) -> str: ...
    def exchange_code(self, code: str, realm_id: str, redirect_uri: str) -> TokenSet: ...
    def revoke(self, token: str) -> None: ...


class Tokens(Protocol):
    def load(self, company_id: str) -> TokenSet | None: ...
    def save(self, company_id: str, tokens: TokenSet) -> None: ...


@dataclass
class QuickBooksOnlineConnection:
    states: OAuthStates
    intuit: IntuitAuthorization
    tokens: Tokens
    settings: SettingsStore
    recorder: SyncRecorder
    notifier: Notifier

    def authorize(self, principal: Principal, redirect_uri: str) -> QuickBooksOnlineAuthorization:
        """The Intuit URL a person opens to connect the company; its state expires in ten minutes."""
        principal.require_role(CONNECTORS, "connect QuickBooks Online")
        state = secrets.token_urlsafe(24)
        expires = datetime.now(UTC) + STATE_LIFETIME
        self.states.put(state, principal.company_id, redirect_uri, expires)
        return QuickBooksOnlineAuthorization(
            authorization_url=self.intuit.authorization_url(state, redirect_uri), state=state, expires_at=expires
        )

    def callback(self, code: str | None, state: str | None, realm_id: str | None, error: str | None) -> Connection:
        """Intuit's redirect: trade the code for tokens, store them, mark connected and release held work."""
        if error:
            raise ValidationFailed(FieldError("error", f"QuickBooks did not authorize the connection: {error}"))
        missing = [name for name, value in (("code", code), ("state", state), ("realmId", realm_id)) if not value]
        if missing:
            raise ValidationFailed([FieldError(m, "is required on the QuickBooks redirect") for m in missing])
        taken = self.states.take(state or "", datetime.now(UTC))
        if taken is None:
            raise ValidationFailed(FieldError("state", "is unknown, used or expired; start again from authorize"))
        company_id, redirect_uri = taken
        tokens = self.intuit.exchange_code(code or "", realm_id or "", redirect_uri)
        self.tokens.save(company_id, tokens)
        connection = Connection(
            external_system=ExternalSystem.QUICKBOOKS_ONLINE, status=ConnectionStatus.CONNECTED, realm_id=realm_id
        )
        self.settings.put_connection(company_id, connection)
        # held automatic invoices go back on the automatic queue, due within the company's window (paced again)
        window = timedelta(minutes=self.settings.get_settings(company_id).auto_sync_window_minutes)
        released = self.recorder.release_held(company_id, ExternalSystem.QUICKBOOKS_ONLINE, window)
        logger.info("QuickBooks Online connected", extra={"company_id": company_id, "released": released})
        return connection

    def disconnect(self, principal: Principal) -> Connection:
        """Revoke the tokens at Intuit and mark the company not connected."""
        principal.require_role(CONNECTORS, "disconnect QuickBooks Online")
        tokens = self.tokens.load(principal.company_id)
        if tokens is not None:
            try:
                self.intuit.revoke(tokens.refresh_token)
            except PermanentError as refused:  # already revoked or expired: nothing left to revoke
                logger.info("revoke refused", extra={"reason": refused.message})
        connection = Connection(external_system=ExternalSystem.QUICKBOOKS_ONLINE, status=ConnectionStatus.NOT_CONNECTED)
        self.settings.put_connection(principal.company_id, connection)
        return connection

    @property
    def notices(self) -> ReconnectNotices:
        return ReconnectNotices(self.settings, self.notifier)

    def mark_reauthorization_required(self, company_id: str, reason: str) -> None:
        """``invalid_grant``: hold the company's work and tell its people, once, how to reconnect.

        The status is written with its e-mail owed (``reconnect_notice_pending``) and the flag is cleared once the
        e-mail went, so a send that fails (SES throttled or down) is not lost: a later call that finds the status
        already set sends the owed e-mail, and the sweep sends it when no call comes. Of two calls that both see the
        connection working only the one whose write lands sends it.
        """
        settings, current = self.settings.get_accounting(company_id)
        if current.status is ConnectionStatus.REAUTHORIZATION_REQUIRED:
            if current.owes_reconnect_notice:
                self.notices.send(company_id, settings, current)
            return
        marked = current.model_copy(
            update={
                "status": ConnectionStatus.REAUTHORIZATION_REQUIRED,
                "reason": reason,
                "reconnect_notice_pending": True,
            }
        )
        if self.settings.require_reauthorization(company_id, marked):
            self.notices.send(company_id, settings, marked)


@dataclass
class ReconnectNotices:
    """The reconnect e-mail a company whose connection requires reauthorization is owed until it went."""

    settings: SettingsStore
    notifier: Notifier

    def send_owed(self, company_id: str) -> bool:
        """Send the reconnect e-mail if the company still owes it (its first send failed); True when one went."""
        settings, connection = self.settings.get_accounting(company_id)
        if not connection.owes_reconnect_notice:
            return False
        self.send(company_id, settings, connection)
        return True

    def send(self, company_id: str, settings: AccountingSettings, connection: Connection) -> None:
        """Send the e-mail, then record that it went (a crash between the two sends it again: at least once)."""
        notice = reconnect_notice(connection.reason or "QuickBooks Online refused the stored authorization")
        send_notice(self.notifier, list(settings.notification_emails), notice)
        self.settings.clear_reconnect_notice(company_id)


def reconnect_notice(reason: str) -> Notice:
    """Seed 003's UNAUTHORIZED message, with the way back."""
    return Notice(
        subject_parts=("QuickBooks Online must be reconnected; your bills are waiting",),
        what_happened=(
            "QuickBooks export API call encountered UNAUTHORIZED status code and could not be completed. Please "
            "reset your QuickBooks authorization token and try again."
        ),
        reason=reason,
        what_to_do_label="How to reconnect",
        what_to_do=(
            "Sign in as an Admin, open Settings > Accounting > QuickBooks Online and choose Connect (GET "
            "/v1/accounting/quickbooks-online/authorize), then approve the connection in QuickBooks. Every bill "
            "waiting meanwhile is sent as soon as the connection is back; nothing was lost."
        ),
    )
