"""The process log (Rootstock's "Process Log"): one entry per run of a background job of a company — the Sales
Invoice Exporter, the automatic invoice release, a token refresh, a Web Connector session — with its counts, its
messages and how it ended, newest first.

A run is started (``running``), gains messages and counts as it goes, and is finished: ``succeeded``, ``partial``
(it went to the end and some documents failed) or ``failed`` (it stopped). An exclusive run (the export) holds its
name for the company while it runs, so a second one is refused naming the first.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ledgersync.errors import Conflict, LedgersyncError, NotFound
from ledgersync.observability import logger

MAX_MESSAGES = 500  # kept per run (the item stays far below DynamoDB's 400 KB); later ones are counted only
MAX_MESSAGE_TEXT = 1000
EXCLUSIVE_HOLD = timedelta(minutes=30)  # an exclusive run that stopped giving news for this long no longer holds


class RunName(StrEnum):
    SALES_INVOICE_EXPORTER = "Sales Invoice Exporter"
    AUTOMATIC_INVOICE_RELEASE = "Automatic Invoice Release"
    TOKEN_REFRESH = "QuickBooks Online Token Refresh"
    WEB_CONNECTOR_SESSION = "QuickBooks Web Connector Session"


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"


class LogLevel(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class LogMessage(BaseModel):
    """One line of a run: how bad, which document (``invoice 12``, ``customer 7``; null for the run itself), what."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    level: LogLevel
    document: str | None = None
    message: str = Field(max_length=MAX_MESSAGE_TEXT)

    @classmethod
    def of(cls, level: LogLevel, message: str, document: str | None = None) -> LogMessage:
        return cls(level=level, document=document, message=message[:MAX_MESSAGE_TEXT])


class ProcessRun(BaseModel):
    """``GET /v1/process-log/{runId}``."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    run_id: str
    name: str
    started_at: datetime
    finished_at: datetime | None = None
    status: RunStatus = RunStatus.RUNNING
    counts: dict[str, int] = Field(default_factory=dict)
    messages: list[LogMessage] = Field(default_factory=list)
    messages_not_kept: int = 0

    @property
    def errors(self) -> int:
        return sum(1 for m in self.messages if m.level is LogLevel.ERROR)


class ProcessRunSummary(BaseModel):
    """A run in the list: everything but its messages (``errors`` says how many were errors)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    run_id: str
    name: str
    started_at: datetime
    finished_at: datetime | None
    status: RunStatus
    counts: dict[str, int]
    errors: int

    @classmethod
    def of(cls, run: ProcessRun) -> ProcessRunSummary:
        return cls(
            run_id=run.run_id,
            name=run.name,
            started_at=run.started_at,
            finished_at=run.finished_at,
            status=run.status,
            counts=run.counts,
            errors=run.errors,
        )


class ProcessLogPage(BaseModel):
    """``GET /v1/process-log``: newest first; ``nextCursor`` is null on the last page."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    runs: list[ProcessRunSummary]
    next_cursor: str | None


class RunInProgress(Conflict):
    """An exclusive run of that name is already running for the company."""

    def __init__(self, running: ProcessRun) -> None:
        self.running = running
        super().__init__(
            f"the {running.name} is already running for this company (run {running.run_id}, started "
            f"{running.started_at.isoformat()}); follow it at GET /v1/process-log/{running.run_id} and start "
            "again when it has finished"
        )


def new_run_id(now: datetime) -> str:
    """Ids sort by start time (the list is newest first by id), then 8 random hex digits."""
    return f"run_{now.strftime('%Y%m%d%H%M%S%f')}_{secrets.token_hex(4)}"


def finished_status(run: ProcessRun, stopped: bool) -> RunStatus:
    """How a run ended when its job does not say: failed when it stopped, partial with errors, else succeeded."""
    if stopped:
        return RunStatus.FAILED
    return RunStatus.PARTIAL if run.errors or run.counts.get("failed", 0) else RunStatus.SUCCEEDED


class ProcessLogStore(Protocol):
    """Where runs are kept (DynamoDB; ``tests/fakes.py`` holds the in-memory one, the contract suite both)."""

    def start(self, company_id: str, name: str, now: datetime) -> ProcessRun:
        """A new running run."""

    def start_exclusive(self, company_id: str, name: str, now: datetime) -> ProcessRun:
        """A new running run that holds ``name`` for the company: ``RunInProgress`` while another holds it."""

    def add(
        self,
        company_id: str,
        run_id: str,
        now: datetime,
        messages: Sequence[LogMessage] = (),
        counts: Mapping[str, int] | None = None,
    ) -> None:
        """Append messages (the first ``MAX_MESSAGES`` are kept) and add to counts; an exclusive run's hold is
        renewed."""

    def finish(self, company_id: str, run_id: str, status: RunStatus, now: datetime) -> ProcessRun:
        """End the run (its exclusive hold released); a run already finished is left as it ended."""

    def get(self, company_id: str, run_id: str) -> ProcessRun | None: ...

    def running(self, company_id: str, name: str, now: datetime) -> ProcessRun | None:
        """The exclusive run of that name holding the company, if any."""

    def page(
        self, company_id: str, limit: int, cursor: str | None, name: str | None = None
    ) -> tuple[list[ProcessRun], str | None]:
        """Runs newest first, ``name`` only when given, and the cursor of the next page."""


class Now(Protocol):
    def __call__(self) -> datetime: ...


class ProcessLog:
    """What jobs call: start a run, log to it, finish it; and the routes' reads."""

    def __init__(self, store: ProcessLogStore, now: Now) -> None:
        self.store = store
        self.now = now

    def start(self, company_id: str, name: str, exclusive: bool = False) -> RunLog:
        if exclusive:
            return RunLog(self, company_id, self.store.start_exclusive(company_id, name, self.now()).run_id)
        return RunLog(self, company_id, self.store.start(company_id, name, self.now()).run_id)

    def record(
        self,
        company_id: str,
        name: str,
        started_at: datetime,
        counts: Mapping[str, int],
        messages: Sequence[LogMessage] = (),
        status: RunStatus | None = None,
    ) -> ProcessRun | None:
        """One entry for a run that already happened (a Web Connector session, a scheduled release): started at
        ``started_at``, finished now. A job's work is never undone by its log: a store fault is logged, not raised."""
        try:
            run = self.store.start(company_id, name, started_at)
            self.store.add(company_id, run.run_id, self.now(), messages, {k: v for k, v in counts.items() if v})
            ended = status or finished_status(
                run.model_copy(update={"messages": list(messages), "counts": dict(counts)}), stopped=False
            )
            return self.store.finish(company_id, run.run_id, ended, self.now())
        except LedgersyncError as fault:
            logger.warning("the process log could not be written", extra={"run": name, "error": fault.message})
            return None

    def running(self, company_id: str, name: str) -> ProcessRun | None:
        """The exclusive run of ``name`` that holds the company now, if any."""
        return self.store.running(company_id, name, self.now())

    def of(self, company_id: str, run_id: str) -> RunLog:
        """The log of a run started elsewhere (an export carried on by its next chunk)."""
        return RunLog(self, company_id, run_id)

    def get(self, company_id: str, run_id: str) -> ProcessRun:
        run = self.store.get(company_id, run_id)
        if run is None:
            raise NotFound(f"no process log entry '{run_id}' in this company")
        return run

    def page(self, company_id: str, limit: int, cursor: str | None, name: str | None) -> ProcessLogPage:
        runs, next_cursor = self.store.page(company_id, limit, cursor, name)
        return ProcessLogPage(runs=[ProcessRunSummary.of(r) for r in runs], next_cursor=next_cursor)


class RunLog:
    """One run's log: messages and counts written as they come (a crash loses nothing logged before it)."""

    def __init__(self, log: ProcessLog, company_id: str, run_id: str) -> None:
        self.log = log
        self.company_id = company_id
        self.run_id = run_id

    def info(self, message: str, document: str | None = None) -> None:
        self.add([LogMessage.of(LogLevel.INFO, message, document)])

    def warning(self, message: str, document: str | None = None) -> None:
        self.add([LogMessage.of(LogLevel.WARNING, message, document)])

    def error(self, message: str, document: str | None = None) -> None:
        self.add([LogMessage.of(LogLevel.ERROR, message, document)])

    def count(self, **counts: int) -> None:
        self.add((), counts)

    def add(self, messages: Sequence[LogMessage] = (), counts: Mapping[str, int] | None = None) -> None:
        if messages or counts:
            self.log.store.add(self.company_id, self.run_id, self.log.now(), messages, counts)

    def read(self) -> ProcessRun:
        return self.log.get(self.company_id, self.run_id)

    def finish(self, status: RunStatus | None = None, stopped: bool = False) -> ProcessRun:
        """End the run: with ``status`` as given, else as ``finished_status`` derives it."""
        ended = status or finished_status(self.read(), stopped)
        return self.log.store.finish(self.company_id, self.run_id, ended, self.log.now())
