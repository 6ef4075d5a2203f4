"""How sending ended, in one vocabulary, and the one recorder of it on the document's sync state.

Every change is a conditional write on the state read, retried a few times when someone else wrote first
(``SAVE_ATTEMPTS``); the transition table (``state.TRANSITIONS``) decides what may follow what.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from ledgersync.clock import Clock, SystemClock
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.sync.documents import DocumentKind, DocumentRef
from ledgersync.domain.sync.messages import SyncMessage
from ledgersync.domain.sync.state import (
    DISPATCHED,
    IN_PROGRESS,
    RECORDING,
    TAKES_PART_IDS,
    InvalidTransition,
    SyncState,
    SyncStatus,
)
from ledgersync.domain.sync.store import SyncStateStore
from ledgersync.domain.sync.targets import TargetRegistry
from ledgersync.errors import Conflict, RetryableError
from ledgersync.observability import logger

SAVE_ATTEMPTS = 5


class Outcome(StrEnum):
    """How one try of sending a document ended (every consumer answers in these words)."""

    SYNCHRONIZED = "synchronized"  # in the target (every part)
    DELETED = "deleted"  # deleted from the target (and what was to follow the delete queued or scheduled)
    ERROR = "error"  # a person must act; the error e-mail is owed or sent
    HELD = "held"  # the target cannot take it now; released when it can
    RETRY_LATER = "retry_later"  # tried again later (a postponed message)
    NOTHING_TO_DO = "nothing_to_do"  # already recorded, or replaced by a newer send
    PARKED = "parked"  # an unreadable message, left in the dead-letter queue for the operator


class ErrorNotices(Protocol):
    """Builds and sends a document's error e-mail (one implementation per document kind)."""

    def send(self, state: SyncState, reason: str, part: str | None, recipients: list[str]) -> None:
        """``recipients`` empty: the company's notification addresses."""


@dataclass(frozen=True)
class ErrorNoticesByKind:
    """The error e-mail of each document kind (built in bootstrap); a kind without one sends none."""

    notices: Mapping[DocumentKind, ErrorNotices]

    def send(self, state: SyncState, reason: str, part: str | None, recipients: list[str]) -> None:
        found = self.notices.get(state.document.kind)
        if found is None:
            logger.warning("no error e-mail for this kind of document", extra={"document": str(state.document)})
            return
        found.send(state, reason, part, recipients)


Change = Callable[[SyncState], SyncState | None]


@dataclass
class StateWriter:
    """The one write loop of sync states, and the hand-over of queued work to its target: what a use case that
    moves states without recording outcomes needs (the API's ship, unship, send now; the automatic queue)."""

    states: SyncStateStore
    targets: TargetRegistry
    clock: Clock = field(default_factory=SystemClock)

    def update(self, company_id: str, ref: DocumentRef, target: ExternalSystem, change: Change) -> SyncState | None:
        """Apply ``change`` to the latest state with a conditional write; None when there was nothing to change."""
        for _ in range(SAVE_ATTEMPTS):
            state = self.states.get(company_id, ref, target)
            if state is None:
                return None
            changed = change(state)
            if changed is None:
                return None
            try:
                return self.states.put(changed, state.version)
            except Conflict:
                continue
        logger.warning("sync state kept changing; outcome not recorded", extra={"document": str(ref)})
        raise Conflict(f"{ref} kept changing; the outcome will be recorded on the retry")

    def dispatch(self, state: SyncState) -> None:
        """Hand a queued state to its target (its queue; nothing for a target that pulls its work)."""
        message = SyncMessage(
            company_id=state.company_id,
            document=state.document,
            target=state.target,
            delivery_id=state.delivery_id,
            first_attempt_at=self.clock.now(),
        )
        self.targets.get(state.target).dispatch(message)

    def hand_over(self, state: SyncState) -> None:
        """``dispatch`` for work whose state is already written: a hand-over that fails for now (the queue
        throttled or down) is left to the sweep, which re-sends work whose hand-over was lost."""
        try:
            self.dispatch(state)
        except RetryableError as fault:
            logger.warning(
                "hand-over to the target failed; the sweep sends it again",
                extra={"document": str(state.document), "reason": fault.message},
            )


@dataclass(kw_only=True)
class SyncRecorder(StateWriter):
    """Records how sending ended (and the error e-mail it owes) on the document's state."""

    notices: ErrorNotices

    # -- parts and the end of a send ------------------------------------------------------------------------------

    def recorded(
        self, company_id: str, ref: DocumentRef, target: ExternalSystem, ids: Mapping[str, str]
    ) -> SyncState | None:
        """Keep the external id of each part; the state is synchronized once every part has one."""

        def change(state: SyncState) -> SyncState | None:
            if state.status not in TAKES_PART_IDS:
                return None
            for part, external_id in ids.items():
                state = state.with_part_recorded(part, external_id)
            # a create that was in flight while its delete was asked for stays deleting: its delete finds it now
            if state.status is not SyncStatus.DELETING and state.all_parts_recorded():
                return state.moved(SyncStatus.SYNCHRONIZED, synchronized_at=self.clock.now(), reason=None)
            return state

        return self.update(company_id, ref, target, change)

    def failed(
        self,
        company_id: str,
        ref: DocumentRef,
        target: ExternalSystem,
        reason: str,
        part: str | None = None,
        recipients: list[str] | None = None,
    ) -> bool:
        """Error with ``reason`` and one e-mail; True when this call recorded the Error.

        The Error is written with its e-mail owed (``notice_pending``) and the flag is cleared once the e-mail went,
        so a send that fails (SES throttled or down) is not lost: a retry of the outcome sends the owed e-mail
        instead of nothing, and the sweep sends it when no retry is left. A state whose e-mail went gets no second.
        """

        def change(state: SyncState) -> SyncState | None:
            if state.status not in IN_PROGRESS and state.status is not SyncStatus.DELETING:
                return None
            # an Error cancels the automatic send and what a delete was to be followed by: only a person's send
            # now or send again sends the document later
            return state.moved(SyncStatus.ERROR, reason=reason, notice_pending=True, automatic=False, after_delete=None)

        state = self.update(company_id, ref, target, change)
        if state is not None:
            self._notify(state, reason, part, recipients)
            return True
        current = self.states.get(company_id, ref, target)
        if current is not None and current.owes_notice:
            if current.reason == reason:
                self._notify(current, reason, part, recipients)
            else:  # another outcome was recorded first: its e-mail says what the document shows
                self._notify(current, current.reason or reason, None, recipients)
        return False

    def send_owed_notice(
        self, company_id: str, ref: DocumentRef, target: ExternalSystem, recipients: list[str] | None = None
    ) -> bool:
        """Send the e-mail a state in Error still owes (its first send failed); True when one went."""
        state = self.states.get(company_id, ref, target)
        if state is None or not state.owes_notice:
            return False
        self._notify(state, state.reason or "the synchronization failed", None, recipients)
        return True

    def _notify(self, state: SyncState, reason: str, part: str | None, recipients: list[str] | None) -> None:
        """Send the error e-mail, then record that it went (a crash between the two sends it again: at least once)."""
        self.notices.send(state, reason, part, list(recipients or []))
        notified = state.reason

        def change(latest: SyncState) -> SyncState | None:
            if not latest.owes_notice or latest.reason != notified:
                return None
            return latest.with_notice_sent()

        self.update(state.company_id, state.document, state.target, change)

    # -- claiming, and the end of a delete -------------------------------------------------------------------------

    def claim(self, company_id: str, ref: DocumentRef, target: ExternalSystem) -> SyncState | None:
        """Queued -> sending, before the target is asked to create the document: a cancel or a delete asked for
        after this write sees ``sending`` (and waits for what the create made); one asked for before it makes this
        write fail, and nothing is created. A state already ``sending`` (a redelivery after a crash) is answered as it
        is: the target's own dedup guards the create. None when the state is no longer to send."""
        now = self.clock.now()

        def change(state: SyncState) -> SyncState | None:
            if state.status not in {SyncStatus.QUEUED, SyncStatus.HELD}:
                return None
            return state.moved(SyncStatus.SENDING, sending_since=now)

        claimed = self.update(company_id, ref, target, change)
        if claimed is not None:
            return claimed
        current = self.states.get(company_id, ref, target)
        return current if current is not None and current.status is SyncStatus.SENDING else None

    def deleted(self, company_id: str, ref: DocumentRef, target: ExternalSystem) -> SyncState | None:
        """Deleting -> deleted; when the delete was to be followed by a send (send again with replace, a reship in
        an automatic store) the same write moves on to queued (dispatched here) or scheduled (the automatic queue's
        deadline starts now). None when the state was not deleting."""
        now = self.clock.now()

        def change(state: SyncState) -> SyncState | None:
            if state.status is not SyncStatus.DELETING:
                return None
            gone = state.moved(
                SyncStatus.DELETED,
                external_ids={},
                reason=None,
                sending_since=None,
                after_delete=None,
                after_delete_ids={},
            )
            follow = {
                "document_version": state.after_delete_version or state.document_version,
                "after_delete_version": None,
                "generation": state.generation + 1,
            }
            if state.after_delete is SyncStatus.QUEUED:  # parts a send again adopted are kept, the rest are sent
                return gone.moved(
                    SyncStatus.QUEUED, dispatched_at=now, external_ids=dict(state.after_delete_ids), **follow
                )
            if state.after_delete is SyncStatus.SCHEDULED:  # its deadline was set when it was reshipped
                release_at = max(state.release_at or now, now)
                return gone.moved(SyncStatus.SCHEDULED, release_at=release_at, automatic=True, **follow)
            return gone

        done = self.update(company_id, ref, target, change)
        if done is not None and done.status is SyncStatus.QUEUED:
            self.dispatch(done)
        return done

    # -- holding and dispatching ----------------------------------------------------------------------------------

    def hold(self, company_id: str, ref: DocumentRef, target: ExternalSystem, reason: str) -> None:
        """Keep the document waiting (the view still says "Sent to External System") until the target can take it."""

        def change(state: SyncState) -> SyncState | None:
            if state.status not in IN_PROGRESS or (state.status is SyncStatus.HELD and state.reason == reason):
                return None
            return state.moved(SyncStatus.HELD, reason=reason)

        self.update(company_id, ref, target, change)

    def release_held(self, company_id: str, target: ExternalSystem, reschedule_window: timedelta | None = None) -> int:
        """Send again every state the company holds for ``target`` (the automatic queue's back on it, due within
        ``reschedule_window``); answers how many were released."""
        return sum(
            self.release_state(state, reschedule_window)
            for state in self.states.list_by_status(company_id, SyncStatus.HELD, target)
        )

    def release_state(self, state: SyncState, reschedule_window: timedelta | None = None) -> bool:
        """Clear a hold and hand the work to its target again (one the automatic queue held goes back on it, due
        within ``reschedule_window``); False when someone else did first."""
        now = self.clock.now()

        def change(latest: SyncState) -> SyncState | None:
            if latest.status is not SyncStatus.HELD:
                return None
            if latest.automatic and reschedule_window is not None:  # back on the automatic queue, paced again
                return latest.moved(SyncStatus.SCHEDULED, reason=None, release_at=now + reschedule_window)
            return latest.moved(SyncStatus.QUEUED, reason=None, dispatched_at=now)

        released = self.update(state.company_id, state.document, state.target, change)
        if released is None:
            return False
        if released.status is SyncStatus.SCHEDULED:
            return True
        self.dispatch(released)
        return True

    def mark_dispatched(self, state: SyncState, seen_dispatched_at: datetime | None, now: datetime) -> SyncState | None:
        """Record that the work is handed to its queue again at ``now``; None when someone else did (or it moved)."""

        def change(latest: SyncState) -> SyncState | None:
            if latest.status not in DISPATCHED or latest.dispatched_at != seen_dispatched_at:
                return None
            return latest.with_dispatched(now)

        return self.update(state.company_id, state.document, state.target, change)

    # -- deliveries (a target whose each send has an id: the webhook) ----------------------------------------------

    def delivery_started(
        self,
        company_id: str,
        ref: DocumentRef,
        target: ExternalSystem,
        delivery_id: str,
        parts: list[str],
        document_version: int | None,
    ) -> SyncState:
        """A new delivery (a resend): queued under ``delivery_id`` with the parts of the document version it sends,
        the error cleared; the state is created when the document was never sent."""
        changes: dict[str, Any] = {
            "delivery_id": delivery_id,
            "reason": None,
            "notice_pending": False,
            "parts": list(parts),
            "document_version": document_version,
        }
        for _ in range(SAVE_ATTEMPTS):
            now = self.clock.now()
            state = self.states.get(company_id, ref, target)
            try:
                if state is None:
                    return self.states.put(SyncState.new(company_id, ref, target, dispatched_at=now, **changes), None)
                return self.states.put(state.moved(SyncStatus.QUEUED, dispatched_at=now, **changes), state.version)
            except InvalidTransition:
                raise
            except Conflict:
                continue
        raise Conflict(f"{ref} kept changing; send it again")

    def delivery_synchronized(
        self, company_id: str, ref: DocumentRef, target: ExternalSystem, delivery_id: str
    ) -> None:
        """The current delivery arrived: every part is in the target under the delivery's id."""

        def change(state: SyncState) -> SyncState | None:
            if not _current(state, delivery_id) or state.status not in RECORDING:
                return None
            ids = dict.fromkeys(state.parts, delivery_id)
            return state.moved(
                SyncStatus.SYNCHRONIZED, delivery_id=delivery_id, external_ids=ids, synchronized_at=self.clock.now()
            )

        self.update(company_id, ref, target, change)

    def delivery_failed(
        self, company_id: str, ref: DocumentRef, target: ExternalSystem, delivery_id: str, reason: str
    ) -> bool:
        """Error with ``reason``; True while this delivery's e-mail has not gone out yet (it is written owed, so the
        sweep sends it when every try of the send fails)."""
        owes = {"value": False}

        def change(state: SyncState) -> SyncState | None:
            if not _current(state, delivery_id):
                return None
            owed = state.notified_delivery_id != delivery_id
            owes["value"] = owed
            if state.status is SyncStatus.ERROR and state.reason == reason and state.notice_pending == owed:
                return None
            if not state.can_move(SyncStatus.ERROR):
                owes["value"] = False
                return None
            return state.moved(SyncStatus.ERROR, delivery_id=delivery_id, reason=reason, notice_pending=owed)

        self.update(company_id, ref, target, change)
        return owes["value"]

    def delivery_notified(self, company_id: str, ref: DocumentRef, target: ExternalSystem, delivery_id: str) -> None:
        """The error e-mail of this delivery went out."""

        def change(state: SyncState) -> SyncState | None:
            if not _current(state, delivery_id):
                return None
            if state.notified_delivery_id == delivery_id and not state.notice_pending:
                return None
            return state.model_copy(update={"notified_delivery_id": delivery_id}).with_notice_sent()

        self.update(company_id, ref, target, change)


def _current(state: SyncState, delivery_id: str) -> bool:
    return state.delivery_id in (None, delivery_id)
