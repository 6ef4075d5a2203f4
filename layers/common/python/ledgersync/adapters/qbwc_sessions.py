"""Web Connector sessions in the single table (``QBWC#<ticket>`` / ``SESSION``) with a TTL, and the company lock.

The session is stored as one JSON document (``state``) beside the key, the company, its version and
``expiresAt``; DynamoDB's TTL removes it some time after it expires, and the domain also checks the expiry
itself because TTL deletion is lazy. One live session per company is held by ``COMPANY#<cid>`` /
``LOCK#qbwc``, so two Web Connectors on the same company file can never both add the same bill.
"""

from __future__ import annotations

from datetime import datetime

from ledgersync.adapters.dynamodb import SingleTable, company_pk
from ledgersync.adapters.lease import DynamoLease
from ledgersync.clock import Clock, SystemClock
from ledgersync.domain.desktop_sync import SessionStatus, WebConnectorSession

SESSION_SK = "SESSION"
LOCK_SK = "LOCK#qbwc"
LAST_SESSION_SK = "QBWC#LASTSESSION"  # the company's last session, kept after the session item expires


def session_pk(ticket: str) -> str:
    return f"QBWC#{ticket}"


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


class DynamoSessionStore:
    """The domain's SessionStore over the single table."""

    def __init__(self, table: SingleTable, clock: Clock | None = None) -> None:
        self.table = table
        self.clock = clock or SystemClock()
        self.company_lock = DynamoLease(table, self.clock, owner_attribute="lockOwner")

    def create(self, session: WebConnectorSession) -> None:
        """Write a new session; a ticket is never reused."""
        self.table.put(self._item(session), condition="attribute_not_exists(pk)")
        self.table.put(last_session_item(session, self.clock.now()))

    def load(self, ticket: str) -> WebConnectorSession | None:
        if not ticket or len(ticket) > 100:
            return None
        item = self.table.get(session_pk(ticket), SESSION_SK)
        if item is None:
            return None
        return WebConnectorSession.model_validate_json(str(item["state"]))

    def save(self, session: WebConnectorSession) -> None:
        """Write the session if nobody saved it since it was read (its stored version is one less)."""
        self.table.put(
            self._item(session),
            condition="#v = :previous",
            names={"#v": "version"},
            values={":previous": session.version - 1},
        )
        if session.status is not SessionStatus.ACTIVE:  # how it ended, for the operator (company health)
            self.table.put(last_session_item(session, self.clock.now()))

    def claim_company(self, company_id: str, ticket: str, until: datetime) -> bool:
        """Hold the company's Web Connector lock for ``ticket``: free, expired, or already ours."""
        ttl = (until - self.clock.now()).total_seconds()
        return self.company_lock.acquire(company_pk(company_id), LOCK_SK, ticket, ttl)

    def release_company(self, company_id: str, ticket: str) -> None:
        """Free the lock if this ticket holds it (a lock taken over by another session stays)."""
        self.company_lock.release(company_pk(company_id), LOCK_SK, ticket)

    @staticmethod
    def _item(session: WebConnectorSession) -> dict[str, object]:
        return {
            "pk": session_pk(session.ticket),
            "sk": SESSION_SK,
            "companyId": session.company_id,
            "version": session.version,
            "expiresAt": _epoch(session.expires_at),
            "state": session.model_dump_json(),
        }


def last_session_item(session: WebConnectorSession, now: datetime) -> dict[str, object]:
    """``COMPANY#<cid>`` / ``QBWC#LASTSESSION``: what the last session was (no ticket), without a TTL."""
    return {
        "pk": company_pk(session.company_id),
        "sk": LAST_SESSION_SK,
        "userName": session.user_name,
        "status": session.status.value,
        "startedAt": session.created_at.isoformat(),
        "updatedAt": now.isoformat(),
        "progress": session.progress,
        "bills": session.job_count("bill"),
        "invoices": len(session.jobs) - session.job_count("bill"),
        "lastError": session.last_error or None,
    }
