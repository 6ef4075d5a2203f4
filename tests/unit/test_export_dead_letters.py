"""An export checkpoint in the export queue's dead-letter queue ends its run failed, once, with the summary e-mail;
the letter stays for the operator, and an unreadable one is counted and left (issue 12: no run sits "running" where
nobody will move it)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ledgersync.domain.accounting_export import RUN_NAME, Checkpoint, Step
from ledgersync.domain.export_dead_letters import ExportDeadLetters
from ledgersync.domain.held_work import DeadLetter
from ledgersync.domain.purchase_orders import ExternalSystem
from tests.unit.test_sales_invoice_export import Export, export, shipped  # noqa: F401 - the fixture
from tests.unit.test_sales_invoice_sync import world  # noqa: F401 - the fixture export needs


@dataclass
class Letters:
    letters: list[DeadLetter] = field(default_factory=list)

    def peek(self) -> Iterator[tuple[ExternalSystem, DeadLetter]]:
        for letter in self.letters:
            yield ExternalSystem.QUICKBOOKS_ONLINE, letter


def letter(body: str) -> DeadLetter:
    return DeadLetter(queue="ExportQueueDLQ", body=body, receive_count=5)


def test_a_dead_lettered_checkpoint_fails_its_run_once_with_one_e_mail_and_an_unreadable_one_is_counted(
    export: Export,  # noqa: F811 - the fixture imported above
) -> None:
    # Given an export started whose first checkpoint crashed its way to the dead-letter queue, and a letter that is
    # not a checkpoint at all
    shop = export.world
    shipped(shop, 1)
    run_id = export.use_case.start(export.caller).run_id
    checkpoint, _ = export.queue.sent.pop(0)
    letters = Letters([letter(checkpoint.model_dump_json(by_alias=True)), letter("{not json")])
    surfacing = ExportDeadLetters(letters, export.log, shop.settings, shop.notifier)  # type: ignore[arg-type]

    # When the sweep surfaces them, twice (it runs every minute and the letters stay)
    first = surfacing.surface()
    second = surfacing.surface()

    # Then the run failed saying where its checkpoint went, one summary e-mail went, and nothing happened twice
    entry = export.log.runs[run_id]
    assert (first.surfaced, first.unreadable) == (1, 1)
    assert (second.surfaced, second.unreadable) == (0, 1)
    assert entry["status"] == "failed"
    assert any("dead-letter queue (ExportQueueDLQ)" in m["message"] for m in entry["messages"]), entry["messages"]
    mails = [m for m in shop.notifier.sent if RUN_NAME in m.subject]
    assert len(mails) == 1 and mails[0].to == ["ap@example.com"]


def test_a_letter_of_a_run_that_ended_leaves_it_as_it_ended(export: Export) -> None:  # noqa: F811 - the fixture
    # Given an export that ran to its end, and one of its checkpoints found in the dead-letter queue afterwards
    shipped(export.world, 1)
    ended = export.run_to_the_end()
    stale = Checkpoint(run_id=ended["runId"], company_id=export.world.company_id, step=Step.SETTLE)
    sent_before = len(export.world.notifier.sent)

    # When the sweep surfaces it
    shop = export.world
    letters = Letters([letter(stale.model_dump_json(by_alias=True))])
    summary = ExportDeadLetters(letters, export.log, shop.settings, shop.notifier).surface()  # type: ignore[arg-type]

    # Then the run keeps its status and no e-mail goes
    assert summary.surfaced == 0
    assert export.log.runs[ended["runId"]]["status"] == ended["status"] != "running"
    assert len(export.world.notifier.sent) == sent_before


def test_a_checkpoint_of_a_run_that_ended_does_nothing_when_it_is_redriven(
    export: Export,  # noqa: F811 - the fixture imported above
) -> None:
    # Given an export that ran to its end, and its first checkpoint redriven from the dead-letter queue
    shop = export.world
    shipped(shop, 1)
    ended = export.run_to_the_end()
    redriven = Checkpoint(run_id=ended["runId"], company_id=shop.company_id, step=Step.CUSTOMERS)
    sent_before, calls_before = len(shop.notifier.sent), len(export.names.calls)

    # When the consumer gets it
    export.use_case.run(redriven)

    # Then nothing is matched, sent, handed on or e-mailed again, and the run keeps how it ended
    assert len(export.names.calls) == calls_before and not export.queue.sent
    assert len(shop.notifier.sent) == sent_before
    assert export.log.runs[ended["runId"]]["status"] == ended["status"]
