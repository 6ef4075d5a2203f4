"""The consumer of a target's queue, for every kind of document: each queued document's drafts are created in the
target exactly once (one per part), and a document being deleted is deleted there.

The consumer asks the mapper registry for the document's mapper and its ``writers`` for what the target does with
that kind (a QuickBooks Online Bill, a QuickBooks Online Invoice), so a new kind of document needs a mapper and a
writer registered in bootstrap, not a change here. The state decides what the work is, not the message: a message
says "look at this document", so a queue that delivers out of order, twice, or late can only find work done.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledgersync.domain.purchase_order_service import AccountingState
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.settings import ConnectionStatus
from ledgersync.domain.sync.documents import DocumentKind, DocumentRef
from ledgersync.domain.sync.mappers import MapperRegistry, Unmappable
from ledgersync.domain.sync.messages import SyncMessage
from ledgersync.domain.sync.outcomes import Outcome, SyncRecorder
from ledgersync.domain.sync.state import RECORDING, SyncState, SyncStatus
from ledgersync.domain.sync.store import SyncStateStore
from ledgersync.domain.sync.targets import DocumentWriter, Unsupported
from ledgersync.errors import NotConfigured, PermanentError, ReauthorizationRequired, RetryableError

FIRST_RETRY_SECONDS = 30


def retry_delay(attempt: int, retry_after: float, ceiling: int) -> int:
    """Seconds until a throttled message is tried again: QuickBooks' Retry-After, but never less than a backoff
    doubling from 30 s per attempt (so a short Retry-After cannot spend the queue's receives in minutes) and never
    more than the queue's visibility timeout (so the sweep's in-flight window still bounds the message's life)."""
    backoff = FIRST_RETRY_SECONDS * 2 ** min(max(attempt - 1, 0), 16)
    return int(min(max(retry_after, backoff, 1), ceiling))


@dataclass
class AccountingSync:
    """The consumer of one target's queue (QuickBooks Online's)."""

    mappers: MapperRegistry
    accounting: AccountingState
    writers: Mapping[DocumentKind, DocumentWriter]
    states: SyncStateStore
    recorder: SyncRecorder
    target: ExternalSystem

    def process(self, message: SyncMessage, attempt: int = 1, max_attempts: int | None = None) -> Outcome:
        """One queue message; a retryable fault propagates so the queue retries, a permanent one ends in Error.

        On the queue's last receive (``attempt >= max_attempts``) a retryable fault ends in Error too, with the
        reason and the count of attempts, instead of leaving the message to the dead-letter queue. A document this
        consumer cannot send is refused (the message is dead-lettered).
        """
        if message.target is not self.target:
            raise Unsupported(f"{message.document} for {message.target.value} is not sent by this consumer")
        writer = self._writer(message.document.kind)
        company_id, ref = message.company_id, message.document
        try:
            return self._process(company_id, ref, writer)
        except RetryableError as fault:
            if max_attempts is None or attempt < max_attempts:
                raise
            if isinstance(fault, NotConfigured):  # the operator's fix, not the customer's: held, the sweep resends
                self.recorder.hold(company_id, ref, self.target, fault.message)
                return Outcome.HELD
            reason = f"{fault.message} (gave up after {attempt} attempts)"
            if self.recorder.failed(company_id, ref, self.target, reason):
                return Outcome.ERROR
            return Outcome.NOTHING_TO_DO

    def sync(self, company_id: str, po_id: int, attempt: int = 1, max_attempts: int | None = None) -> Outcome:
        """Send a PO's bills (its document of kind ``purchase_order_bills``)."""
        message = SyncMessage(company_id=company_id, document=DocumentRef.purchase_order(po_id), target=self.target)
        return self.process(message, attempt, max_attempts)

    def _writer(self, kind: DocumentKind) -> DocumentWriter:
        try:
            return self.writers[kind]
        except KeyError as err:
            raise Unsupported(f"{kind.value} documents are not sent to {self.target.value} by this consumer") from err

    def _process(self, company_id: str, ref: DocumentRef, writer: DocumentWriter) -> Outcome:
        state = self.states.get(company_id, ref, self.target)
        if state is not None and state.status is SyncStatus.DELETING:
            return self._delete(state, writer)
        mapper = self.mappers.get(ref.kind)
        if state is None or state.status not in RECORDING:
            return self._nothing_to_do(state)  # a redelivery after the outcome was recorded
        settings, connection = self.accounting.get_accounting(company_id)  # one read of the profile serves both
        document = mapper.load(company_id, ref, settings)
        if document is None or not mapper.is_current(document, state):  # the document moved on
            if document is not None and state.status is SyncStatus.SENDING:
                return self._settle_abandoned_send(state, writer)
            return self._nothing_to_do(state)
        if connection.status is ConnectionStatus.REAUTHORIZATION_REQUIRED:
            self.recorder.hold(company_id, ref, self.target, "QuickBooks Online must be reconnected")
            return Outcome.HELD
        try:
            drafts: list[Any] = mapper.drafts(document, state)
        except Unmappable as unfit:
            self.recorder.failed(company_id, ref, self.target, unfit.message)
            return Outcome.ERROR
        claimed = self.recorder.claim(company_id, ref, self.target)
        if claimed is None:
            return Outcome.NOTHING_TO_DO  # cancelled, sent now by another message, or unshipped meanwhile
        for draft in drafts:
            part = mapper.part_of(draft)
            if part in claimed.external_ids:
                continue
            try:
                created = writer.send(draft)
            except ReauthorizationRequired as held:
                self.recorder.hold(company_id, ref, self.target, held.message)
                return Outcome.HELD
            except PermanentError as refused:
                reason = f"vendor invoice {part}: {refused.message}" if part else refused.message
                self.recorder.failed(company_id, ref, self.target, reason, part or None)
                return Outcome.ERROR
            recorded = self.recorder.recorded(company_id, ref, self.target, {part: created.external_id})
            if recorded is not None and recorded.status is SyncStatus.DELETING:
                self.recorder.dispatch(recorded)  # its delete waits for this id: look again now
                return Outcome.NOTHING_TO_DO
        return Outcome.SYNCHRONIZED

    def _nothing_to_do(self, state: SyncState | None) -> Outcome:
        """No work for this message; the e-mail a failed send still owes goes now."""
        if state is not None and state.owes_notice:
            self.recorder.send_owed_notice(state.company_id, state.document, self.target)
        return Outcome.NOTHING_TO_DO

    def _settle_abandoned_send(self, state: SyncState, writer: DocumentWriter) -> Outcome:
        """A send claimed (``sending``) whose document moved on before it was recorded (a crash, then the order was
        unshipped in a manual store): what the target holds decides, so the state is never left sending. Created:
        recorded synchronized (it is in accounting, as a person sees it); not created: superseded (not sent)."""
        company_id, ref = state.company_id, state.document
        found = writer.created_id(company_id, ref, state.document_version, state.generation)
        if found:
            part = state.parts[0] if state.parts else ""
            self.recorder.recorded(company_id, ref, self.target, {part: found})
            return Outcome.SYNCHRONIZED

        def change(latest: SyncState) -> SyncState | None:
            if latest.status is not SyncStatus.SENDING or latest.version != state.version:
                return None
            return latest.moved(SyncStatus.SUPERSEDED, sending_since=None)

        self.recorder.update(company_id, ref, self.target, change)
        return Outcome.NOTHING_TO_DO

    def _delete(self, state: SyncState, writer: DocumentWriter) -> Outcome:
        """Delete every part the target holds, then record the state deleted (and what follows it)."""
        company_id, ref = state.company_id, state.document
        external_ids = [external_id for external_id in state.external_ids.values() if external_id]
        if not external_ids and state.sending_since is not None:  # a create was in flight when the delete was asked
            found = writer.created_id(company_id, ref, state.document_version, state.generation)
            external_ids = [found] if found else []
        try:
            for external_id in external_ids:
                current = writer.look_up(company_id, external_id)
                if current is not None:
                    writer.delete(company_id, external_id, current.sync_token)
        except ReauthorizationRequired:
            # still deleting: once the company reconnects, the sweep finds the delete's message lost and sends it again
            return Outcome.HELD
        except PermanentError as refused:
            where = self.recorder.targets.display_name(self.target)
            reason = (
                f"{where} refused to delete the document ({refused.message}); delete it there by hand, then send "
                "it again"
            )
            self.recorder.failed(company_id, ref, self.target, reason)
            return Outcome.ERROR
        self.recorder.deleted(company_id, ref, self.target)
        return Outcome.DELETED
