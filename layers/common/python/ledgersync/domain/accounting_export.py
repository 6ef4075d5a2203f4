"""Rootstock's Sales Invoice Export (issue 12, seed 003): the preview's counts, and the export run in steps.

A run is a chain of checkpoints ``{runId, companyId, step, cursor, pending}`` on a queue, one chunk each, so no
Lambda call runs long: ``customers`` and ``products`` match or add a page of records without a link;
``invoices`` hands a page of shipped invoices not yet in accounting to the sync core (``send_now``: the same
path, and so the same exactly-once, as a person's send now; an invoice already queued or sent is skipped);
``settle`` waits (re-delayed) until those have left the queue, logs each one that failed, and goes on with the
next page. The last step writes the run's status and sends one summary e-mail.

On QuickBooks Desktop the names cannot be asked for at once: the run starts at ``desktop_names``, which waits
(re-delayed) until a Web Connector session matched or added them (``desktop_export``), then goes on as above; the
invoices sent now are queued for the Web Connector, so its waits are longer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from ledgersync.domain.accounting_links import AccountingLinks, LinkStep, NameMatcher
from ledgersync.domain.accounts import Principal, Role
from ledgersync.domain.directory import Kind
from ledgersync.domain.invoices import InvoiceStatus
from ledgersync.domain.notices import Fact, Notice, Notifier, send_notice
from ledgersync.domain.process_log import LogLevel, LogMessage, ProcessLog, RunStatus
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.quickbooks_online import AccessTokenRejected
from ledgersync.domain.sales_invoice_sync import SalesInvoiceSync, invoice_ref
from ledgersync.domain.settings import AccountingSettings, Connection, ConnectionStatus
from ledgersync.domain.sync.state import SyncStatus
from ledgersync.domain.sync.store import SyncStateStore
from ledgersync.errors import Conflict, LedgersyncError, ReauthorizationRequired, RetryableError

RUN_NAME = "Sales Invoice Exporter"
UNAUTHORIZED = (
    "QuickBooks export API call encountered UNAUTHORIZED status code and could not be completed. Please reset your "
    "QuickBooks authorization token and try again."
)
EXPORT_ROLES = frozenset({Role.ADMIN, Role.ACCOUNTING})
INVOICE_PAGE = 50
LINK_PAGE = 200
SETTLE_DELAY_SECONDS = 10
MAX_SETTLE_WAITS = 360  # about an hour of waiting for the handed invoices to leave the sync queue
# QuickBooks Desktop: the Web Connector runs every few minutes to hours; a day of waits, five minutes apart
DESKTOP_WAIT_SECONDS = 300
MAX_DESKTOP_WAITS = 288  # a day at the default wait
NAMES_DONE = "desktopNamesDone"  # desktop_export.NAMES_DONE: a Web Connector session matched or added every name
DESKTOP_NOT_RUN = (
    "no QuickBooks Web Connector session {did} within a day; check that the Web Connector runs Ledgersync's "
    "application with the company file open, then export again"
)
# Where an invoice is in accounting, or on its way there: the export leaves it alone.
IN_ACCOUNTING = frozenset(
    {SyncStatus.QUEUED, SyncStatus.SENDING, SyncStatus.SYNCHRONIZED, SyncStatus.HELD, SyncStatus.DELETING}
)
EXPORTABLE = frozenset({InvoiceStatus.CONFIRMED, InvoiceStatus.SHIPPED})
COUNTS = (
    "customersMatched",
    "customersAdded",
    "productsMatched",
    "productsAdded",
    "invoicesExported",
    "invoicesFailed",
)


class ExportPreview(BaseModel):
    """``GET /v1/accounting/export/preview``: what an export would match or add, and send."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    product_export_qty: int
    customer_export_qty: int
    invoice_export_qty: int


class ExportStarted(BaseModel):
    """``POST /v1/accounting/export``: the run's id (its process log entry)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    run_id: str


class Step(StrEnum):
    DESKTOP_NAMES = "desktop_names"  # QuickBooks Desktop: waits for a Web Connector session to match or add the names
    CUSTOMERS = "customers"
    PRODUCTS = "products"
    INVOICES = "invoices"
    SETTLE = "settle"


class Checkpoint(BaseModel):
    """One chunk of a run, as its queue message carries it."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    run_id: str
    company_id: str
    step: Step
    cursor: str | None = None
    pending: list[int] = []  # the invoices handed to the sync core by the last ``invoices`` chunk
    waited: int = 0  # how many times ``settle`` found them still on their way


def run_message(level: str, document: str, message: str) -> LogMessage:
    """One line of the export's process log entry (``level``: "error", "warning" or "info")."""
    return LogMessage.of(LogLevel(level), message, document)


@dataclass
class RunOutcome:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    messages: list[LogMessage] = field(default_factory=list)


class ExportLog(Protocol):
    """The process log as the export uses it (the coordinator's ``ProcessLogStore`` behind an adapter)."""

    def start(self, company_id: str, name: str) -> str:
        """A new running entry's id; Conflict naming the running one when a run of ``name`` is already running."""

    def add(self, company_id: str, run_id: str, messages: Sequence[LogMessage], counts: dict[str, int]) -> None:
        """Append ``messages`` and add ``counts`` to the run's counts."""

    def get(self, company_id: str, run_id: str) -> dict[str, Any]:
        """The entry as the process log shows it: ``status``, ``counts``, ``messages`` [{level, document, message}]."""

    def finish(self, company_id: str, run_id: str, status: str) -> dict[str, Any]:
        """End the run (``succeeded``, ``partial``, ``failed``); answers the entry as ``get`` does."""


class CheckpointQueue(Protocol):
    def send(self, checkpoint: Checkpoint, delay_seconds: int = 0) -> None: ...


class InvoicePages(Protocol):
    def list(self, company_id: str, limit: int, after: int | None) -> tuple[list[dict[str, Any]], int | None]: ...


class AccountingReader(Protocol):
    def get_accounting(self, company_id: str) -> tuple[AccountingSettings, Connection]: ...


class Reauthorization(Protocol):
    def mark_reauthorization_required(self, company_id: str, reason: str) -> None: ...


class MatcherFactory(Protocol):
    def __call__(self, company_id: str, settings: AccountingSettings) -> NameMatcher: ...


class RunStopped(Exception):
    """The run ends now as failed with ``message`` (unauthorized, or the first error with abortExportOnError)."""

    def __init__(self, message: str, document: str = "export") -> None:
        super().__init__(message)
        self.message = message
        self.document = document


@dataclass
class ExportCandidates:
    """What an export would work on: records without a link, invoices neither in accounting nor on their way."""

    links: AccountingLinks
    invoices: InvoicePages
    states: SyncStateStore
    accounting: AccountingReader

    def preview(self, caller: Principal) -> ExportPreview:
        company_id = caller.company_id
        system = self.system(company_id)
        return ExportPreview(
            product_export_qty=self.links.unlinked_count(company_id, Kind.PRODUCTS, system),
            customer_export_qty=self.links.unlinked_count(company_id, Kind.CUSTOMERS, system),
            invoice_export_qty=len(self.exportable(company_id, system, None, 10**9)[0]),
        )

    # -- helpers ----------------------------------------------------------------------------------------------------

    def exportable(
        self, company_id: str, system: ExternalSystem, after: int | None, limit: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        """Up to ``limit`` Confirmed or Shipped invoices after ``after`` that are neither in accounting nor on their
        way there, and the cursor of the rest."""
        found: list[dict[str, Any]] = []
        cursor = after
        while len(found) < limit:
            page, cursor = self.invoices.list(company_id, min(limit, 1000), cursor)
            for invoice in page:
                if invoice.get("status") not in {s.value for s in EXPORTABLE}:
                    continue
                state = self.states.get(company_id, invoice_ref(int(invoice["invoiceId"])), system)
                if state is None or state.status not in IN_ACCOUNTING:
                    found.append(invoice)
            if cursor is None:
                break
        return found, cursor

    def system(self, company_id: str, settings: AccountingSettings | None = None) -> ExternalSystem:
        chosen = (settings or self.accounting.get_accounting(company_id)[0]).external_system
        if chosen is None or chosen.value not in {"quickbooks_online", "quickbooks_desktop"}:
            raise Conflict(
                "the Sales Invoice Export sends to QuickBooks Online or QuickBooks Desktop; choose one with PUT "
                '/v1/accounting/settings {"externalSystem": "quickbooks_online"} and connect it, then export'
            )
        return chosen


@dataclass
class SalesInvoiceExport:
    candidates: ExportCandidates
    sync: SalesInvoiceSync
    log: ExportLog
    queue: CheckpointQueue
    matchers: MatcherFactory
    notifier: Notifier
    reauthorization: Reauthorization
    desktop_wait_seconds: int = DESKTOP_WAIT_SECONDS  # between looks for the Web Connector's work (at most 900)

    # -- preview and start ------------------------------------------------------------------------------------------

    @property
    def accounting(self) -> AccountingReader:
        return self.candidates.accounting

    def preview(self, caller: Principal) -> ExportPreview:
        return self.candidates.preview(caller)

    def start(self, caller: Principal) -> ExportStarted:
        caller.require_role(set(EXPORT_ROLES), "export sales invoices")
        system = self.candidates.system(caller.company_id)
        run_id = self.log.start(caller.company_id, RUN_NAME)
        # QuickBooks Desktop: the running run is the Web Connector's directory work (desktop_export)
        first = Step.DESKTOP_NAMES if system.value == "quickbooks_desktop" else Step.CUSTOMERS
        self.queue.send(Checkpoint(run_id=run_id, company_id=caller.company_id, step=first))
        return ExportStarted(run_id=run_id)

    # -- the steps --------------------------------------------------------------------------------------------------

    def run(self, checkpoint: Checkpoint) -> None:
        """Do one chunk, log it, and hand on the next checkpoint (or finish the run). A ``RetryableError`` is raised
        for the queue to deliver the checkpoint again (an exhausted one is ``fail``)."""
        company_id = checkpoint.company_id
        if self.log.get(company_id, checkpoint.run_id).get("status") != "running":
            return  # a checkpoint of a run that ended (redriven from its dead-letter queue, or delivered twice)
        settings, _ = self.accounting.get_accounting(company_id)
        outcome = RunOutcome()
        try:
            following = self._step(checkpoint, settings, outcome)
        except RunStopped as stopped:
            outcome.messages.append(run_message("error", stopped.document, stopped.message))
            self.log.add(company_id, checkpoint.run_id, outcome.messages, outcome.counts)
            self._finish(company_id, checkpoint.run_id, "failed", settings)
            return
        self.log.add(company_id, checkpoint.run_id, outcome.messages, outcome.counts)
        if following is None:
            self._finish(company_id, checkpoint.run_id, None, settings)
            return
        delay = 0
        if following.waited and following.step in {Step.SETTLE, Step.DESKTOP_NAMES}:
            desktop = self.candidates.system(company_id, settings).value == "quickbooks_desktop"
            delay = self.desktop_wait_seconds if desktop else SETTLE_DELAY_SECONDS
        self.queue.send(following, delay)

    def fail(self, checkpoint: Checkpoint, reason: str) -> None:
        """A checkpoint the queue gave up on (its dead-letter queue): the run fails saying why, with its e-mail."""
        fail_run(self.log, self.accounting, self.notifier, checkpoint, reason)

    def _step(self, checkpoint: Checkpoint, settings: AccountingSettings, outcome: RunOutcome) -> Checkpoint | None:
        following: dict[str, Any]
        if checkpoint.step is Step.DESKTOP_NAMES:
            following = self._desktop_names(checkpoint, settings)
        elif checkpoint.step in {Step.CUSTOMERS, Step.PRODUCTS}:
            kind = Kind.CUSTOMERS if checkpoint.step is Step.CUSTOMERS else Kind.PRODUCTS
            step = self._link(checkpoint, settings, kind)
            noun = "customers" if kind is Kind.CUSTOMERS else "products"
            outcome.counts[f"{noun}Matched"] += step.matched
            outcome.counts[f"{noun}Added"] += step.added
            outcome.messages += [run_message("error", p.document, p.message) for p in step.problems]
            if step.problems and settings.abort_export_on_error:
                raise RunStopped("stopped at the first error (abortExportOnError)", step.problems[0].document)
            if step.next_cursor is not None:
                following = {"step": checkpoint.step, "cursor": step.next_cursor}
            else:
                following = {"step": Step.PRODUCTS if kind is Kind.CUSTOMERS else Step.INVOICES, "cursor": None}
        elif checkpoint.step is Step.INVOICES:
            pending, cursor = self._hand_over(checkpoint, settings, outcome)
            following = {"step": Step.SETTLE, "cursor": cursor, "pending": pending}
        else:
            still = self._settle(checkpoint, settings, outcome)
            if still:
                following = {"step": Step.SETTLE, "cursor": checkpoint.cursor, "pending": still}
                following["waited"] = checkpoint.waited + 1
            elif checkpoint.cursor is None:
                return None
            else:
                following = {"step": Step.INVOICES, "cursor": checkpoint.cursor}
        return checkpoint.model_copy(update={"pending": [], "waited": 0, **following})

    def _desktop_names(self, checkpoint: Checkpoint, settings: AccountingSettings) -> dict[str, Any]:
        """On to the invoices once a Web Connector session matched or added the names (their counts and refusals are
        in the run already); else wait, a day at most."""
        entry = self.log.get(checkpoint.company_id, checkpoint.run_id)
        if (entry.get("counts") or {}).get(NAMES_DONE):
            refused = [m for m in entry.get("messages") or [] if m.get("level") == "error"]
            if refused and settings.abort_export_on_error:
                raise RunStopped("stopped at the first error (abortExportOnError)", refused[0].get("document") or "")
            return {"step": Step.INVOICES, "cursor": None}
        if checkpoint.waited >= MAX_DESKTOP_WAITS:
            raise RunStopped(DESKTOP_NOT_RUN.format(did="matched or added its customers and products"))
        return {"step": Step.DESKTOP_NAMES, "waited": checkpoint.waited + 1}

    def _link(self, checkpoint: Checkpoint, settings: AccountingSettings, kind: Kind) -> LinkStep:
        try:
            matcher = self.matchers(checkpoint.company_id, settings)
            return self.candidates.links.link_step(
                checkpoint.company_id, kind, matcher, checkpoint.cursor, settings.invoice_item_name, LINK_PAGE
            )
        except ReauthorizationRequired as refused:
            self.reauthorization.mark_reauthorization_required(checkpoint.company_id, refused.message)
            raise RunStopped(UNAUTHORIZED) from refused
        except AccessTokenRejected as failed:  # still 401 after the matcher's one refresh
            reason = "QuickBooks Online still refused the access token after a refresh (401)"
            self.reauthorization.mark_reauthorization_required(checkpoint.company_id, reason)
            raise RunStopped(UNAUTHORIZED) from failed
        except RetryableError:
            raise
        except LedgersyncError as refused:  # a permanent refusal of the whole step (no income account, ...)
            raise RunStopped(refused.message) from refused

    def _hand_over(
        self, checkpoint: Checkpoint, settings: AccountingSettings, outcome: RunOutcome
    ) -> tuple[list[int], str | None]:
        system = self.candidates.system(checkpoint.company_id, settings)
        after = int(checkpoint.cursor) if checkpoint.cursor else None
        exportable, cursor = self.candidates.exportable(checkpoint.company_id, system, after, INVOICE_PAGE)
        pending: list[int] = []
        for invoice in exportable:
            invoice_id, number = int(invoice["invoiceId"]), invoice.get("invoiceNumber")
            if invoice.get("status") != InvoiceStatus.SHIPPED.value:
                outcome.messages.append(
                    run_message(
                        "warning", f"invoice {number}", "is Confirmed, not shipped yet; it is sent once shipped"
                    )
                )
                continue
            try:
                self.sync.send_now(checkpoint.company_id, invoice_id)
            except Conflict as refused:  # in accounting already (sent meanwhile by someone else): skipped
                outcome.messages.append(run_message("info", f"invoice {number}", refused.message))
                continue
            pending.append(invoice_id)
        return pending, None if cursor is None else str(cursor)

    def _settle(self, checkpoint: Checkpoint, settings: AccountingSettings, outcome: RunOutcome) -> list[int]:
        """The handed invoices still on their way; the others counted (and each failure logged)."""
        system = self.candidates.system(checkpoint.company_id, settings)
        _, connection = self.accounting.get_accounting(checkpoint.company_id)
        max_waits = MAX_DESKTOP_WAITS if system.value == "quickbooks_desktop" else MAX_SETTLE_WAITS
        still: list[int] = []
        failed: list[LogMessage] = []
        for invoice_id in checkpoint.pending:
            state = self.candidates.states.get(checkpoint.company_id, invoice_ref(invoice_id), system)
            status = state.status if state else None
            if status is SyncStatus.SYNCHRONIZED:
                outcome.counts["invoicesExported"] += 1
            elif status in {SyncStatus.QUEUED, SyncStatus.SENDING} and checkpoint.waited < max_waits:
                still.append(invoice_id)
            elif status is SyncStatus.HELD and connection.status is ConnectionStatus.REAUTHORIZATION_REQUIRED:
                outcome.counts["invoicesFailed"] += 1
                raise RunStopped(UNAUTHORIZED, f"invoice id {invoice_id}")
            else:
                outcome.counts["invoicesFailed"] += 1
                reason = (
                    state.reason
                    if state and state.reason
                    else f"it is still {status.value if status else 'not sent'} after about "
                    f"{'a day (has the Web Connector run?)' if max_waits == MAX_DESKTOP_WAITS else 'an hour'}; see "
                    "its accounting status (GET /v1/invoices/{id}) and send it again if it does not go"
                )
                failed.append(run_message("error", f"invoice id {invoice_id}", reason))
        outcome.messages += failed
        if failed and settings.abort_export_on_error:
            raise RunStopped("stopped at the first error (abortExportOnError)", failed[0].document or "export")
        return still

    def _finish(self, company_id: str, run_id: str, status: str | None, settings: AccountingSettings) -> None:
        finish_run(self.log, self.notifier, settings, company_id, run_id, status)


def finish_run(
    log: ExportLog, notifier: Notifier, settings: AccountingSettings, company_id: str, run_id: str, status: str | None
) -> None:
    """End the run, with its summary e-mail: ``failed`` when it stopped, else ``partial`` when anything failed, else
    ``succeeded``."""
    if status is None:
        entry = log.get(company_id, run_id)
        errors = any(m.get("level") == "error" for m in entry.get("messages") or [])
        status = "partial" if errors or (entry.get("counts") or {}).get("invoicesFailed") else "succeeded"
    entry = log.finish(company_id, run_id, status)
    send_notice(notifier, list(settings.notification_emails), summary_notice(run_id, entry))


def fail_run(
    log: ExportLog, accounting: AccountingReader, notifier: Notifier, checkpoint: Checkpoint, reason: str
) -> None:
    """End a checkpoint's run failed, saying at which step and why, with its summary e-mail (the consumer's last
    receive and the sweep's look at the dead-letter queue both end runs this way)."""
    settings, _ = accounting.get_accounting(checkpoint.company_id)
    message = run_message("error", "export", f"the export stopped at its {checkpoint.step.value} step: {reason}")
    log.add(checkpoint.company_id, checkpoint.run_id, [message], {})
    finish_run(log, notifier, settings, checkpoint.company_id, checkpoint.run_id, "failed")


def summary_notice(run_id: str, entry: dict[str, Any]) -> Notice:
    counts: dict[str, int] = dict(entry.get("counts") or {})
    errors = [m for m in entry.get("messages") or [] if m.get("level") == "error"]
    status = str(entry.get("status"))
    return Notice(
        subject_parts=(RUN_NAME, status),
        what_happened=f"The Sales Invoice Export {run_id} ended {status}: {counts.get('invoicesExported', 0)} "
        f"invoice(s) exported, {counts.get('invoicesFailed', 0)} failed.",
        what_to_do="Review the process log (GET /v1/process-log/" + run_id + "), correct what its errors name, "
        "then export again: what went is linked or in accounting, and is skipped.",
        reason="; ".join(f"{m.get('document')}: {m.get('message')}" for m in errors[:10]) or None,
        facts=tuple(Fact(name, str(counts.get(name, 0))) for name in COUNTS),
    )


class ProcessLogExportLog:
    """``ExportLog`` over the process log: the export is an exclusive run of "Sales Invoice Exporter" (a second one
    is ``RunInProgress``, a Conflict naming the running run)."""

    def __init__(self, log: ProcessLog) -> None:
        self.log = log

    def start(self, company_id: str, name: str) -> str:
        return self.log.start(company_id, name, exclusive=True).run_id

    def add(self, company_id: str, run_id: str, messages: Sequence[LogMessage], counts: dict[str, int]) -> None:
        self.log.of(company_id, run_id).add(messages, counts)

    def get(self, company_id: str, run_id: str) -> dict[str, Any]:
        return self.log.get(company_id, run_id).model_dump(mode="json", by_alias=True)

    def finish(self, company_id: str, run_id: str, status: str) -> dict[str, Any]:
        ended = self.log.of(company_id, run_id).finish(RunStatus(status))
        return ended.model_dump(mode="json", by_alias=True)
