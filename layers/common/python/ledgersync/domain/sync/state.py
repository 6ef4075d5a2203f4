"""The sync state of one document for one target: its own versioned item, moved by explicit transitions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ledgersync.clock import SYSTEM_CLOCK
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.sync.documents import DocumentRef
from ledgersync.errors import Conflict


class SyncStatus(StrEnum):
    QUEUED = "queued"  # handed to its target's queue or outbox
    SCHEDULED = "scheduled"  # waits for ``release_at``
    SENDING = "sending"
    SYNCHRONIZED = "synchronized"
    HELD = "held"  # the target cannot take it now (``reason``); released when it can
    ERROR = "error"  # ``reason``; a person must act, then send again
    DELETING = "deleting"
    DELETED = "deleted"
    SUPERSEDED = "superseded"  # the document changed after this state was written: a new send starts over


# Which moves are allowed. A self-loop is a new event of the same kind: ``queued -> queued`` a new send (a resend
# while the last one is in flight), ``held -> held`` and ``error -> error`` a newer reason replacing the last one.
TRANSITIONS: dict[SyncStatus, frozenset[SyncStatus]] = {
    SyncStatus.QUEUED: frozenset(
        {
            SyncStatus.QUEUED,
            SyncStatus.SCHEDULED,
            SyncStatus.SENDING,
            SyncStatus.SYNCHRONIZED,
            SyncStatus.HELD,
            SyncStatus.ERROR,
            SyncStatus.SUPERSEDED,
        }
    ),
    SyncStatus.SCHEDULED: frozenset(
        {
            SyncStatus.QUEUED,
            SyncStatus.SCHEDULED,
            SyncStatus.SENDING,
            SyncStatus.HELD,
            SyncStatus.ERROR,
            SyncStatus.SUPERSEDED,
        }
    ),
    # ``sending -> superseded``: a claimed send whose document moved on before anything was created
    SyncStatus.SENDING: frozenset(
        {
            SyncStatus.QUEUED,
            SyncStatus.SYNCHRONIZED,
            SyncStatus.HELD,
            SyncStatus.ERROR,
            SyncStatus.DELETING,
            SyncStatus.SUPERSEDED,
        }
    ),
    SyncStatus.HELD: frozenset(
        {
            SyncStatus.QUEUED,
            SyncStatus.SCHEDULED,
            SyncStatus.HELD,
            SyncStatus.SYNCHRONIZED,
            SyncStatus.ERROR,
            SyncStatus.SUPERSEDED,
        }
    ),
    # ``synchronized -> synchronized``: send again adopted other bills found unchanged under the same numbers
    SyncStatus.SYNCHRONIZED: frozenset({SyncStatus.QUEUED, SyncStatus.DELETING, SyncStatus.SYNCHRONIZED}),
    # ``-> synchronized`` and ``-> deleting`` from a state at rest: a PO's send again adopts the bills found in
    # accounting unchanged, or deletes the changed ones first (replace)
    SyncStatus.ERROR: frozenset(
        {SyncStatus.QUEUED, SyncStatus.ERROR, SyncStatus.SUPERSEDED, SyncStatus.SYNCHRONIZED, SyncStatus.DELETING}
    ),
    # ``deleting -> deleting``: what follows the delete changed (a reship, a second unship)
    SyncStatus.DELETING: frozenset(
        {SyncStatus.DELETING, SyncStatus.DELETED, SyncStatus.ERROR, SyncStatus.SYNCHRONIZED}
    ),
    SyncStatus.DELETED: frozenset(
        {SyncStatus.QUEUED, SyncStatus.SCHEDULED, SyncStatus.SYNCHRONIZED, SyncStatus.DELETING}
    ),
    SyncStatus.SUPERSEDED: frozenset(
        {SyncStatus.QUEUED, SyncStatus.SCHEDULED, SyncStatus.SYNCHRONIZED, SyncStatus.DELETING}
    ),
}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def latest(states: Iterable[SyncState]) -> SyncState | None:
    """The state a document shows: the one written last, whatever its target."""
    ordered = sorted(states, key=lambda s: (s.updated_at or EPOCH, s.version))
    return ordered[-1] if ordered else None


# A state is born by a send: queued now, or scheduled for later.
INITIAL = frozenset({SyncStatus.QUEUED, SyncStatus.SCHEDULED})
# Work that is on its way (the PO view's "Sent to External System")
IN_PROGRESS = frozenset({SyncStatus.QUEUED, SyncStatus.SCHEDULED, SyncStatus.SENDING, SyncStatus.HELD})
# Work handed to a target's queue that the sweep re-sends when its message was lost
DISPATCHED = frozenset({SyncStatus.QUEUED, SyncStatus.DELETING})
# The document is being sent: its consumer sends it, and what the target made may be recorded
RECORDING = frozenset({SyncStatus.QUEUED, SyncStatus.SENDING, SyncStatus.HELD})
# Where a part's external id may be recorded: being sent, or being deleted (a create that was in flight when the
# delete was asked for records what it made, so the delete finds it)
TAKES_PART_IDS = RECORDING | {SyncStatus.DELETING}


class InvalidTransition(Conflict):
    """A move the transition table does not allow."""

    def __init__(self, document: DocumentRef, target: ExternalSystem, source: SyncStatus | None, to: SyncStatus):
        start = source.value if source else "no state"
        super().__init__(f"{document} for {target.value} cannot go from {start} to {to.value}")
        self.source = source
        self.to = to


class SyncState(BaseModel):
    """Where one document stands with one target. ``version`` is the item's (conditional writes);
    ``document_version`` the document's version that was sent; ``external_ids`` one id per part ("" for a
    single-part document); ``parts`` the parts the sent version has (all recorded: synchronized)."""

    model_config = ConfigDict(extra="ignore")

    company_id: str
    document: DocumentRef
    target: ExternalSystem
    status: SyncStatus
    version: int = 0
    document_version: int | None = None
    parts: list[str] = Field(default_factory=list)
    external_ids: dict[str, str] = Field(default_factory=dict)
    reason: str | None = None
    notice_pending: bool = False  # an error e-mail is owed: set with the Error, cleared once it went
    delivery_id: str | None = None  # the current delivery (the webhook's Idempotency-Key)
    notified_delivery_id: str | None = None  # the delivery whose error e-mail went
    dispatched_at: datetime | None = None  # handed to its queue/outbox: the sweep's in-flight window starts here
    release_at: datetime | None = None  # scheduled: the deadline by which the automatic queue releases it
    automatic: bool = False  # sent by the automatic queue (paced); a held one goes back to it when released
    after_delete: SyncStatus | None = None  # deleting: queued (send again, replace) or scheduled (reshipped) next
    after_delete_version: int | None = None  # the document version that follow-up sends
    after_delete_ids: dict[str, str] = Field(default_factory=dict)  # parts the follow-up starts with (adopted)
    generation: int = 0  # one more for each new send of the document: an accounting invoice per (version, generation)
    document_number: str | None = None  # its number in the target (a sales invoice's DocNumber / RefNumber)
    sending_since: datetime | None = None  # when the consumer claimed it (queued -> sending)
    synchronized_at: datetime | None = None
    attempts: int = 0
    updated_at: datetime | None = None

    @classmethod
    def new(
        cls,
        company_id: str,
        document: DocumentRef,
        target: ExternalSystem,
        status: SyncStatus = SyncStatus.QUEUED,
        **changes: Any,
    ) -> SyncState:
        if status not in INITIAL:
            raise InvalidTransition(document, target, None, status)
        return cls(
            company_id=company_id,
            document=document,
            target=target,
            status=status,
            updated_at=SYSTEM_CLOCK.now(),
            **changes,
        )

    def can_move(self, to: SyncStatus) -> bool:
        return to in TRANSITIONS[self.status]

    def moved(self, to: SyncStatus, **changes: Any) -> SyncState:
        """A copy in status ``to`` with ``changes``; InvalidTransition when the table does not allow the move."""
        if not self.can_move(to):
            raise InvalidTransition(self.document, self.target, self.status, to)
        return self._copy(status=to, **changes)

    def with_part_recorded(self, part: str, external_id: str) -> SyncState:
        """One part is in the target (``queued``, ``sending``, ``held``, or ``deleting``: a create in flight when
        the delete was asked for); the state stays where it is."""
        if self.status not in TAKES_PART_IDS:
            raise InvalidTransition(self.document, self.target, self.status, self.status)
        return self._copy(external_ids={**self.external_ids, part: external_id})

    def with_notice_sent(self) -> SyncState:
        """The owed error e-mail went (the current delivery's, for the webhook)."""
        return self._copy(notice_pending=False, notified_delivery_id=self.delivery_id or self.notified_delivery_id)

    def with_dispatched(self, at: datetime) -> SyncState:
        """Handed to its queue again (the sweep's re-dispatch of a lost message)."""
        if self.status not in {SyncStatus.QUEUED, SyncStatus.SENDING, SyncStatus.DELETING}:
            raise InvalidTransition(self.document, self.target, self.status, self.status)
        return self._copy(dispatched_at=at)

    def all_parts_recorded(self) -> bool:
        return all(part in self.external_ids for part in self.parts)

    @property
    def owes_notice(self) -> bool:
        return self.status is SyncStatus.ERROR and self.notice_pending

    def _copy(self, **changes: Any) -> SyncState:
        return self.model_copy(update={**changes, "updated_at": SYSTEM_CLOCK.now()}, deep=True)
