"""Scheduled care of sent work: release what a disconnection held, re-dispatch what a lost message stranded,
and turn what reached a dead-letter queue into a visible error (the dead-letter policy, docs/decisions.md)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from ledgersync.domain.purchase_order_service import AccountingState
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.settings import ConnectionStatus
from ledgersync.domain.sync.messages import SyncMessage, UnreadableMessage
from ledgersync.domain.sync.outcomes import SyncRecorder
from ledgersync.domain.sync.state import IN_PROGRESS, SyncState, SyncStatus
from ledgersync.domain.sync.store import SyncStateStore
from ledgersync.domain.sync.targets import TargetRegistry
from ledgersync.errors import RetryableError
from ledgersync.observability import logger

OWED_NOTICES_PER_SWEEP = 50  # error e-mails a sweep sends at most; the next run sends the rest


@dataclass(frozen=True)
class DeadLetter:
    """A message found in a dead-letter queue; it stays there for an operator to redrive."""

    queue: str
    body: str
    receive_count: int


class DeadLetterQueues(Protocol):
    """The dead-letter queues by the system whose work they hold."""

    def peek(self) -> Iterable[tuple[ExternalSystem, DeadLetter]]:
        """Every dead letter (read without deleting it: redriving stays possible)."""


class ReconnectNotices(Protocol):
    def send_owed(self, company_id: str) -> bool:
        """Send the reconnect e-mail the company still owes; True when one went."""


@dataclass
class SweepSummary:
    released: int = 0
    redispatched: int = 0
    dead_letters_surfaced: int = 0
    dead_letters_unreadable: int = 0
    notices_sent: int = 0
    reconnect_notices_sent: int = 0
    companies: list[str] = field(default_factory=list)


class ErrorRecipients(Protocol):
    def error_emails(self, company_id: str) -> list[str]: ...


@dataclass
class HeldWork:
    states: SyncStateStore
    accounting: AccountingState
    recorder: SyncRecorder
    targets: TargetRegistry
    dead_letters: DeadLetterQueues | None = None
    reconnect_notices: ReconnectNotices | None = None
    # Where a target's error e-mails go when not to the notification addresses (the webhook's error addresses);
    # only the sweep reads them, so only the scheduler may read what holds them.
    recipients: Mapping[ExternalSystem, ErrorRecipients] = field(default_factory=dict)

    def _recipients(self, target: ExternalSystem, company_id: str) -> list[str]:
        found = self.recipients.get(target)
        return found.error_emails(company_id) if found else []

    def sweep(self, company_ids: Iterable[str], now: datetime | None = None) -> SweepSummary:
        """Surface dead letters and send owed error e-mails; then, for each company whose accounting is reachable,
        release held work and send again work whose message was lost; a company that must reconnect gets its owed
        reconnect e-mail instead.

        A state queued past its target's in-flight window lost its message (a crash between the state write and the
        enqueue, or a dead letter purged); sending it again is harmless because every outside call is guarded by a
        dedup key, and it cannot duplicate a live delivery because none is left. A target that pulls its own work
        (the Web Connector) has no window and is left alone.
        """
        now = now or datetime.now(UTC)
        summary = SweepSummary()
        self.surface_dead_letters(summary)
        company_ids = list(company_ids)
        self.send_owed_notices(company_ids, summary)
        for company_id in company_ids:
            settings, connection = self.accounting.get_accounting(company_id)
            system = settings.external_system
            window = self.targets.get(system).in_flight_window() if system is not None else None
            if system is None or window is None:
                continue
            if connection.status is ConnectionStatus.REAUTHORIZATION_REQUIRED:
                if connection.owes_reconnect_notice:
                    self._send_owed_reconnect_notice(company_id, summary)
                continue
            summary.companies.append(company_id)
            reschedule = timedelta(minutes=settings.auto_sync_window_minutes)
            for state in self.states.list_by_status(company_id, SyncStatus.HELD, system):
                summary.released += self.recorder.release_state(state, reschedule)
            stranded = [
                *self.states.list_by_status(company_id, SyncStatus.QUEUED, system),
                *self.states.list_by_status(company_id, SyncStatus.DELETING, system),
            ]
            for state in stranded:
                if not _stranded(state, window, now):
                    continue
                dispatched = self.recorder.mark_dispatched(state, state.dispatched_at, now)
                if dispatched is not None:
                    self.recorder.dispatch(dispatched)
                    summary.redispatched += 1
        return summary

    def send_owed_notices(self, company_ids: Iterable[str], summary: SweepSummary) -> None:
        """Send the error e-mails states in Error still owe (every retry of their send failed), at most
        ``OWED_NOTICES_PER_SWEEP`` a run; SES still failing leaves the rest owed for the next run."""
        for company_id in company_ids:
            for state in self.states.list_by_status(company_id, SyncStatus.ERROR):
                if not state.notice_pending:
                    continue
                if summary.notices_sent >= OWED_NOTICES_PER_SWEEP:
                    return
                try:
                    recipients = self._recipients(state.target, company_id)
                    sent = self.recorder.send_owed_notice(company_id, state.document, state.target, recipients)
                except RetryableError as fault:
                    logger.warning(
                        "owed error e-mail not sent; the next sweep tries again",
                        extra={"company_id": company_id, "document": str(state.document), "reason": fault.message},
                    )
                    return
                summary.notices_sent += int(sent)

    def _send_owed_reconnect_notice(self, company_id: str, summary: SweepSummary) -> None:
        """The reconnect e-mail whose send failed and that no later call sent; SES still failing leaves it owed."""
        if self.reconnect_notices is None:
            return
        try:
            summary.reconnect_notices_sent += int(self.reconnect_notices.send_owed(company_id))
        except RetryableError as fault:
            logger.warning(
                "owed reconnect e-mail not sent; the next sweep tries again",
                extra={"company_id": company_id, "reason": fault.message},
            )

    def surface_dead_letters(self, summary: SweepSummary) -> None:
        """Each dead letter naming work still on its way turns it into Error with one e-mail."""
        if self.dead_letters is None:
            return
        for system, letter in self.dead_letters.peek():
            try:
                message = SyncMessage.parse(letter.body, system)
            except UnreadableMessage:
                summary.dead_letters_unreadable += 1
                logger.warning("unreadable dead letter left for the operator", extra={"queue": letter.queue})
                continue
            state = self.states.get(message.company_id, message.document, message.target)
            if state is None or state.status not in IN_PROGRESS:
                continue
            if message.delivery_id not in (None, state.delivery_id):
                continue  # a newer delivery replaced this one
            target = self.targets.get(message.target)
            attempts = max(letter.receive_count, target.max_receives)
            reason = (
                f"the work for {target.display_name} failed {attempts} times in a row "
                f"and reached the dead-letter queue ({letter.queue}); nothing was lost and no document is created "
                "twice when it is sent again"
            )
            recipients = self._recipients(message.target, message.company_id)
            if self.recorder.failed(message.company_id, message.document, message.target, reason, None, recipients):
                summary.dead_letters_surfaced += 1


def _stranded(state: SyncState, window: timedelta, now: datetime) -> bool:
    return state.dispatched_at is not None and now - state.dispatched_at > window
