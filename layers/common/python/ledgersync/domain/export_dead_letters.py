"""An export checkpoint that reached the export queue's dead-letter queue (its function crashed or timed out on
every receive, so the consumer never got to end the run): the sweep ends its run failed, with its summary e-mail,
instead of leaving it "running" where nobody would move it. The letter stays for an operator to inspect or redrive
(a redriven checkpoint of a finished run does nothing: its run is no longer running)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from ledgersync.domain.accounting_export import AccountingReader, Checkpoint, ExportLog, fail_run
from ledgersync.domain.held_work import DeadLetterQueues
from ledgersync.domain.notices import Notifier
from ledgersync.domain.process_log import RunStatus
from ledgersync.errors import NotFound, RetryableError
from ledgersync.observability import logger


@dataclass
class ExportDeadLetterSummary:
    surfaced: int = 0
    unreadable: int = 0


@dataclass
class ExportDeadLetters:
    """Only what ending a run needs (the process log, the settings, the e-mail): the sweep reaches no accounting
    system and no queue through it."""

    letters: DeadLetterQueues
    log: ExportLog
    accounting: AccountingReader
    notifier: Notifier

    def surface(self) -> ExportDeadLetterSummary:
        summary = ExportDeadLetterSummary()
        for _, letter in self.letters.peek():
            try:
                checkpoint = Checkpoint.model_validate_json(letter.body)
            except ValidationError:
                summary.unreadable += 1
                logger.warning("unreadable export dead letter left for the operator", extra={"queue": letter.queue})
                continue
            try:
                status = self.log.get(checkpoint.company_id, checkpoint.run_id).get("status")
            except NotFound:
                continue  # the run is gone (another stage's letter, or a deleted company)
            if status != RunStatus.RUNNING.value:
                continue  # ended already: by its consumer's last receive, or by an earlier sweep
            reason = (
                f"its checkpoint failed {letter.receive_count} times in a row and reached the dead-letter queue "
                f"({letter.queue}); what went is linked or in accounting, so export again to carry on"
            )
            try:
                fail_run(self.log, self.accounting, self.notifier, checkpoint, reason)
            except RetryableError as fault:  # the table or SES failing: the letter is still there next minute
                logger.warning("export dead letter not surfaced yet", extra={"reason": fault.message})
                continue
            summary.surfaced += 1
        return summary
