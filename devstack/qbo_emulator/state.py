"""Everything the emulator remembers: OAuth clients and tokens, companies (realms), limits and injected failures."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.qbo_emulator.books import Books, entity_name
from devstack.qbo_emulator.schema import EntityValidator

ACCESS_TOKEN_SECONDS = 3600
REFRESH_TOKEN_SECONDS = 100 * 86400
AUTH_CODE_SECONDS = 600
DEFAULT_CLIENT_ID = "ledgersync-local"
DEFAULT_CLIENT_SECRET = "ledgersync-local-secret"  # a local test double's credential, not a secret
DEFAULT_REALM = "9130350000000001"


class InvalidGrant(Exception):
    """The token endpoint's ``invalid_grant``: unknown, used, expired or revoked code or refresh token."""


@dataclass
class FailureRule:
    """An injected failure. ``after_commit``: the write happens, then the error (or a delay) is answered."""

    status: int = 500
    fault: str | None = None
    count: int = 1
    xml: bool = False
    after_commit: bool = False
    realm_id: str | None = None
    delay_seconds: float = 0.0
    retry_after: int | None = None
    operation: str = "any"  # any | write | read

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> FailureRule:
        return cls(
            status=int(body.get("status") or (400 if body.get("fault") else 500)),
            fault=str(body["fault"]) if body.get("fault") else None,
            count=int(body.get("count", 1)),
            xml=bool(body.get("xml", False)),
            after_commit=bool(body.get("afterCommit", False)),
            realm_id=body.get("realmId"),
            delay_seconds=float(body.get("delaySeconds", 0)),
            retry_after=body.get("retryAfter"),
            operation=str(body.get("operation", "any")),
        )

    def applies(self, realm_id: str, write: bool, after_commit: bool) -> bool:
        if self.count <= 0 or self.after_commit != after_commit:
            return False
        if self.realm_id and self.realm_id != realm_id:
            return False
        return self.operation == "any" or (self.operation == "write") == write


@dataclass
class Connection:
    """One authorization of a client on a realm; revoking any of its tokens disconnects it."""

    realm_id: str
    client_id: str
    revoked: bool = False


@dataclass
class AccessToken:
    connection: Connection
    expires_at: float


@dataclass
class RefreshToken:
    connection: Connection
    expires_at: float
    replaced_at: float | None = None


@dataclass
class Realm:
    books: Books
    window: deque[float] = field(default_factory=deque)
    in_flight: int = 0
    responses: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    calls: int = 0
    throttled: int = 0
    served_at: list[float] = field(default_factory=list)


class EmulatorState:
    """The emulator's memory, safe to share between request threads; tests drive it through its methods too."""

    def __init__(
        self,
        *,
        requests_per_minute: int = 500,
        max_in_flight: int = 10,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        xsd_dir: str | Path | None = None,
        refresh_grace_seconds: float = 86400.0,
        approve_realm: str = DEFAULT_REALM,
        throttle_xml: bool = False,
        home_currency: str = "USD",
    ) -> None:
        self.lock = threading.RLock()
        self.requests_per_minute = requests_per_minute
        self.max_in_flight = max_in_flight
        self.refresh_grace_seconds = refresh_grace_seconds
        self.approve_realm = approve_realm
        self.throttle_xml = throttle_xml
        self.home_currency = home_currency
        self.clients: dict[str, str] = {client_id: client_secret}
        directory = xsd_dir if xsd_dir is not None else os.environ.get("QBO_XSD_DIR")
        self.validator = EntityValidator(directory) if directory else None
        self.realms: dict[str, Realm] = {}
        self.codes: dict[str, tuple[Connection, str, float]] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.failures: list[FailureRule] = []
        self.clock_offset = 0.0

    # ------------------------------------------------------------------ time

    def now(self) -> float:
        """Token time (epoch seconds), which tests move forward with ``advance``; limits use real time."""
        return time.time() + self.clock_offset

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.clock_offset += seconds

    # ------------------------------------------------------------------ companies

    def realm(self, realm_id: str) -> Realm:
        with self.lock:
            if realm_id not in self.realms:
                self.realms[realm_id] = Realm(Books(realm_id, self.validator, self.home_currency))
            return self.realms[realm_id]

    def add_record(self, realm_id: str, entity: str, record: dict[str, Any]) -> dict[str, Any]:
        """Put a record straight into a company (set-up), bypassing QuickBooks' rules."""
        with self.lock:
            return self.realm(realm_id).books.add(entity_name(entity), record)

    def records(self, realm_id: str, entity: str) -> list[dict[str, Any]]:
        with self.lock:
            return self.realm(realm_id).books.all(entity_name(entity))

    def delete_as_person(self, realm_id: str, entity: str, entity_id: str) -> dict[str, Any]:
        """Delete a record as a person in QuickBooks would: transactions go, names become inactive."""
        with self.lock:
            return self.realm(realm_id).books.delete_as_person(entity_name(entity), entity_id)

    def preferences(self, realm_id: str) -> dict[str, Any]:
        with self.lock:
            return self.realm(realm_id).books.preferences.as_json()

    def set_preferences(self, realm_id: str, body: Any) -> dict[str, Any]:
        with self.lock:
            preferences = self.realm(realm_id).books.preferences
            preferences.update(body)
            return preferences.as_json()

    # ------------------------------------------------------------------ OAuth

    def client_ok(self, client_id: str, client_secret: str) -> bool:
        expected = self.clients.get(client_id)
        return expected is not None and secrets.compare_digest(expected, client_secret)

    def authorization_code(self, client_id: str, redirect_uri: str, realm_id: str | None = None) -> str:
        with self.lock:
            code = "AB" + secrets.token_urlsafe(24)
            connection = Connection(realm_id or self.approve_realm, client_id)
            self.codes[code] = (connection, redirect_uri, self.now() + AUTH_CODE_SECONDS)
            return code

    def exchange_code(self, client_id: str, code: str, redirect_uri: str) -> dict[str, Any]:
        with self.lock:
            found = self.codes.pop(code, None)
            if found is None:
                raise InvalidGrant("unknown or used authorization code")
            connection, expected_redirect, expires_at = found
            if connection.client_id != client_id or expected_redirect != redirect_uri or expires_at < self.now():
                raise InvalidGrant("authorization code does not match this client, redirect URI or time")
            return self._issue(connection)

    def refresh(self, client_id: str, refresh_token: str) -> dict[str, Any]:
        """Rotate: a new access and refresh token; the old refresh token lives on for the grace period only."""
        with self.lock:
            now = self.now()
            grant = self.refresh_tokens.get(refresh_token)
            if grant is None or grant.connection.revoked or grant.connection.client_id != client_id:
                raise InvalidGrant("unknown or revoked refresh token")
            if grant.expires_at < now:
                raise InvalidGrant("refresh token expired")
            if grant.replaced_at is not None and grant.replaced_at + self.refresh_grace_seconds < now:
                raise InvalidGrant("refresh token was rotated and its grace period is over")
            if grant.replaced_at is None:
                grant.replaced_at = now
            return self._issue(grant.connection)

    def issue_tokens(self, realm_id: str | None = None, client_id: str = DEFAULT_CLIENT_ID) -> dict[str, Any]:
        """Tokens for a realm without the browser dance (tests and the local stack's set-up)."""
        with self.lock:
            return self._issue(Connection(realm_id or self.approve_realm, client_id))

    def _issue(self, connection: Connection) -> dict[str, Any]:
        now = self.now()
        access = "eyJ" + secrets.token_urlsafe(32)
        refresh = "RT1-" + secrets.token_urlsafe(24)
        self.access_tokens[access] = AccessToken(connection, now + ACCESS_TOKEN_SECONDS)
        self.refresh_tokens[refresh] = RefreshToken(connection, now + REFRESH_TOKEN_SECONDS)
        return {
            "token_type": "bearer",
            "access_token": access,
            "expires_in": ACCESS_TOKEN_SECONDS,
            "refresh_token": refresh,
            "x_refresh_token_expires_in": REFRESH_TOKEN_SECONDS,
            "realmId": connection.realm_id,
        }

    def revoke(self, token: str) -> None:
        """Revoke the connection a token belongs to (Intuit disconnects the app)."""
        with self.lock:
            grant = self.refresh_tokens.get(token) or self.access_tokens.get(token)
            if grant is not None:
                grant.connection.revoked = True

    def expire_access_token(self, token: str) -> None:
        with self.lock:
            self.access_tokens[token].expires_at = self.now() - 1

    def access_ok(self, token: str, realm_id: str) -> bool:
        with self.lock:
            grant = self.access_tokens.get(token)
            return (
                grant is not None
                and not grant.connection.revoked
                and grant.expires_at > self.now()
                and grant.connection.realm_id == realm_id
            )

    # ------------------------------------------------------------------ limits and failures

    @contextmanager
    def admit(self, realm_id: str) -> Iterator[bool]:
        """Count one API request against the realm's limits; yields False when it must be answered 429."""
        realm = self.realm(realm_id)
        with self.lock:
            now = time.monotonic()
            while realm.window and realm.window[0] <= now - 60:
                realm.window.popleft()
            admitted = len(realm.window) < self.requests_per_minute and realm.in_flight < self.max_in_flight
            if admitted:
                realm.window.append(now)
                realm.in_flight += 1
                realm.calls += 1
                realm.served_at.append(time.time())
            else:
                realm.throttled += 1
        try:
            yield admitted
        finally:
            if admitted:
                with self.lock:
                    realm.in_flight -= 1

    def inject(self, rule: FailureRule) -> None:
        with self.lock:
            self.failures.append(rule)

    def clear_failures(self) -> None:
        with self.lock:
            self.failures.clear()

    def take_failure(self, realm_id: str, write: bool, after_commit: bool) -> FailureRule | None:
        with self.lock:
            for rule in self.failures:
                if rule.applies(realm_id, write, after_commit):
                    rule.count -= 1
                    return rule
            return None

    def stats(self, realm_id: str) -> dict[str, Any]:
        with self.lock:
            realm = self.realm(realm_id)
            return {
                "calls": realm.calls,
                "throttled": realm.throttled,
                "inFlight": realm.in_flight,
                "lastMinute": len(realm.window),
            }
