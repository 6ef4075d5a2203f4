"""The sync core's targets: QuickBooks Online (the sync queue), QuickBooks Desktop (the Web Connector's outbox) and
the PO Reconciliation webhook (the webhook queue). Everything that differs between them lives here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.settings import Connection, ConnectionStatus
from ledgersync.domain.sync.messages import SyncMessage
from ledgersync.domain.sync.targets import ExternalDocument, Unsupported

if TYPE_CHECKING:
    from ledgersync.domain.webhooks.endpoint import WebhookEndpoint

SYNC_MESSAGE_MARGIN = timedelta(minutes=15)
LONGEST_POSTPONEMENT = timedelta(hours=12)  # SQS allows a receive to be postponed 12 h at most


class WorkQueue(Protocol):
    """The queue a target's work goes to (its consumer takes it from there)."""

    def enqueue(self, message: SyncMessage) -> None: ...


class WebhookConfigured(Protocol):
    def is_configured(self, company_id: str) -> bool: ...


class WebhookEndpoints(Protocol):
    def load(self, company_id: str) -> WebhookEndpoint | None: ...


WEBHOOK_HAS_NO_DELETE = (
    "the PO Reconciliation webhook cannot look up or delete what it delivered: its contract (seed 001) has a "
    "delivery and its acknowledgement only; remove the document on the receiving side"
)
DESKTOP_DELETES_IN_A_SESSION = (
    "QuickBooks Desktop is reached only through the Web Connector's sessions, so a look-up or a delete cannot be "
    "answered now; it must be queued as a TxnQuery or TxnDel for the company's next session"
)


@dataclass(frozen=True)
class QuickBooksOnlineTarget:
    queue: WorkQueue
    max_receives: int
    visibility_seconds: int
    system: ExternalSystem = ExternalSystem.QUICKBOOKS_ONLINE
    display_name: str = "QuickBooks Online"
    needs_accounting_name: bool = True
    invoice_number_length: int | None = 21  # Invoice.DocNumber
    bill_number_length: int | None = 21  # Bill.DocNumber

    def readiness(self, company_id: str, connection: Connection) -> str | None:
        if connection.status is ConnectionStatus.NOT_CONNECTED:
            return "QuickBooks Online is not connected; connect it from GET /v1/accounting/quickbooks-online/authorize"
        return None

    def new_delivery_id(self) -> str | None:
        return None

    def dispatch(self, message: SyncMessage) -> None:
        self.queue.enqueue(message)

    def in_flight_window(self) -> timedelta | None:
        """Every receive may hold the message one visibility timeout."""
        return timedelta(seconds=self.max_receives * self.visibility_seconds) + SYNC_MESSAGE_MARGIN


@dataclass(frozen=True)
class QuickBooksDesktopTarget:
    """The Web Connector pulls queued states itself: nothing is dispatched and the sweep leaves them alone."""

    system: ExternalSystem = ExternalSystem.QUICKBOOKS_DESKTOP
    display_name: str = "QuickBooks Desktop"
    needs_accounting_name: bool = True
    invoice_number_length: int | None = 11  # InvoiceAdd RefNumber
    bill_number_length: int | None = 20  # BillAdd RefNumber
    max_receives: int = 0

    def readiness(self, company_id: str, connection: Connection) -> str | None:
        return None

    def new_delivery_id(self) -> str | None:
        return None

    def dispatch(self, message: SyncMessage) -> None:
        return None

    def in_flight_window(self) -> timedelta | None:
        return None

    def look_up(self, company_id: str, external_id: str) -> ExternalDocument | None:
        raise Unsupported(DESKTOP_DELETES_IN_A_SESSION)

    def delete(self, company_id: str, external_id: str, sync_token: str) -> None:
        raise Unsupported(DESKTOP_DELETES_IN_A_SESSION)


@dataclass(frozen=True)
class WebhookTarget:
    queue: WorkQueue
    max_receives: int
    retry_hours: float
    configured: WebhookConfigured
    system: ExternalSystem = ExternalSystem.WEBHOOK
    display_name: str = "the PO Reconciliation webhook"
    needs_accounting_name: bool = False
    invoice_number_length: int | None = None  # takes purchase orders only
    bill_number_length: int | None = None  # no bill numbers: send again for the webhook is POST .../resend

    def readiness(self, company_id: str, connection: Connection) -> str | None:
        if not self.configured.is_configured(company_id):
            return "the PO Reconciliation webhook is not set up; set it with PUT /v1/webhooks/po-reconciliation"
        return None

    def new_delivery_id(self) -> str | None:
        """Each send is a new delivery: a fresh id, so a fresh Idempotency-Key."""
        return str(uuid.uuid4())

    def dispatch(self, message: SyncMessage) -> None:
        self.queue.enqueue(message)

    def in_flight_window(self) -> timedelta | None:
        """The retry window, plus the longest postponement a Retry-After near its end can ask for."""
        return timedelta(hours=self.retry_hours) + LONGEST_POSTPONEMENT

    def look_up(self, company_id: str, external_id: str) -> ExternalDocument | None:
        raise Unsupported(WEBHOOK_HAS_NO_DELETE)

    def delete(self, company_id: str, external_id: str, sync_token: str) -> None:
        raise Unsupported(WEBHOOK_HAS_NO_DELETE)


@dataclass(frozen=True)
class WebhookErrorEmails:
    """Seed 001: a webhook PO's error e-mail goes to the webhook's error addresses (read from its secret)."""

    endpoints: WebhookEndpoints

    def error_emails(self, company_id: str) -> list[str]:
        endpoint = self.endpoints.load(company_id)
        return list(endpoint.error_emails) if endpoint else []
