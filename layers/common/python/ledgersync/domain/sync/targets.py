"""The one port to an external system, and the registry of them (built only in bootstrap).

Whatever differs between QuickBooks Online, QuickBooks Desktop and the webhook is a property of its ``Target``;
no other module branches on the external system.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.settings import Connection
from ledgersync.domain.sync.documents import DocumentRef
from ledgersync.domain.sync.messages import SyncMessage
from ledgersync.errors import PermanentError


class Unsupported(PermanentError):
    """The deployment has no such target, or the target no such operation."""


class ExternalDocument(BaseModel):
    """A document as the external system holds it now: its id there and the token a change or delete must carry
    (QuickBooks Online's SyncToken, Desktop's EditSequence)."""

    model_config = ConfigDict(frozen=True)

    external_id: str = Field(min_length=1)
    sync_token: str


@runtime_checkable
class DocumentOperations(Protocol):
    """What a target does to a document it already holds."""

    def look_up(self, company_id: str, external_id: str) -> ExternalDocument | None:
        """The document as the external system holds it now; None when it is gone (deleted there)."""

    def delete(self, company_id: str, external_id: str, sync_token: str) -> None:
        """Delete it; one already gone counts as deleted. A stale ``sync_token`` raises a ``RetryableError``: look
        it up again and delete with the token it has now."""


class Created(Protocol):
    @property
    def external_id(self) -> str:
        """The document's id in the target."""


@runtime_checkable
class DocumentWriter(DocumentOperations, Protocol):
    """What a target does with one kind of document: create a draft exactly once, and the document operations."""

    def send(self, draft: Any) -> Created:
        """Create the draft's document in the target exactly once (a retry adopts what an earlier try made)."""

    def created_id(
        self, company_id: str, ref: DocumentRef, document_version: int | None, generation: int
    ) -> str | None:
        """What an earlier send of that version created, when its id was never recorded (a crash, or a delete asked
        for while the create was in flight); None when nothing was; a ``RetryableError`` while a send may still be
        under way."""


class Target(Protocol):
    @property
    def system(self) -> ExternalSystem: ...

    @property
    def display_name(self) -> str:
        """How an e-mail or a message names it ("QuickBooks Online", "the PO Reconciliation webhook")."""

    @property
    def needs_accounting_name(self) -> bool:
        """Whether a vendor needs its exact accounting-system name before a send."""

    @property
    def invoice_number_length(self) -> int | None:
        """How long a sales invoice's number may be there (QuickBooks Online DocNumber 21, Desktop RefNumber 11);
        None when the target takes no sales invoices."""

    @property
    def bill_number_length(self) -> int | None:
        """How long a bill's number may be there (QuickBooks Online DocNumber 21, Desktop BillAdd RefNumber 20);
        None when the target keeps no bill numbers (the webhook: its body carries the PO as it is)."""

    @property
    def max_receives(self) -> int:
        """Receives of its queue before a message is dead-lettered (0: it has no queue)."""

    def readiness(self, company_id: str, connection: Connection) -> str | None:
        """Why sending is refused now, in words that say what to do; None when it may go."""

    def new_delivery_id(self) -> str | None:
        """The id a new send carries (the webhook's Idempotency-Key); None when the target needs none."""

    def dispatch(self, message: SyncMessage) -> None:
        """Hand the work to its path (a queue); nothing when the target pulls its own work."""

    def in_flight_window(self) -> timedelta | None:
        """How long after a dispatch a message may still be alive; None when the target pulls its work (the
        sweep leaves it alone)."""


@dataclass(frozen=True)
class TargetRegistry:
    targets: Mapping[ExternalSystem, Target]

    def get(self, system: ExternalSystem) -> Target:
        try:
            return self.targets[system]
        except KeyError as err:
            raise Unsupported(f"{system.value} is not a target this deployment sends to") from err

    def display_name(self, system: ExternalSystem | None) -> str:
        if system is None or system not in self.targets:
            return "the external system"
        return self.targets[system].display_name

    def all(self) -> list[Target]:
        return list(self.targets.values())

    def documents_of(self, system: ExternalSystem) -> DocumentOperations:
        """A target that is its own ``DocumentOperations`` (one that refuses them, saying why)."""
        target = self.get(system)
        if not isinstance(target, DocumentOperations):
            raise Unsupported(f"{target.display_name} has no document operations")
        return target


@dataclass(frozen=True)
class TargetDocuments:
    """Each target's document operations (look up, delete), built only in bootstrap and apart from the registry of
    targets: a send never needs them, so a function that only sends is not granted what they reach."""

    operations: Mapping[ExternalSystem, DocumentOperations]

    def get(self, system: ExternalSystem) -> DocumentOperations:
        try:
            return self.operations[system]
        except KeyError as err:
            raise Unsupported(f"{system.value} cannot look up or delete documents in this deployment") from err


class Creator(Protocol):
    def send(self, draft: Any) -> Created: ...


class CreatedIds(Protocol):
    def created_id(
        self, company_id: str, ref: DocumentRef, document_version: int | None, generation: int
    ) -> str | None: ...


@dataclass(frozen=True)
class ComposedWriter:
    """A ``DocumentWriter`` from its parts: what creates (``BillSync``), what looks up and deletes, and what finds an
    unrecorded create (none: every create of this kind is recorded before anything could delete it)."""

    creator: Creator
    operations: DocumentOperations
    created: CreatedIds | None = None

    def send(self, draft: Any) -> Created:
        return self.creator.send(draft)

    def created_id(
        self, company_id: str, ref: DocumentRef, document_version: int | None, generation: int
    ) -> str | None:
        return self.created.created_id(company_id, ref, document_version, generation) if self.created else None

    def look_up(self, company_id: str, external_id: str) -> ExternalDocument | None:
        return self.operations.look_up(company_id, external_id)

    def delete(self, company_id: str, external_id: str, sync_token: str) -> None:
        self.operations.delete(company_id, external_id, sync_token)
