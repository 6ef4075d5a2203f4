"""The Sales Invoice Export on QuickBooks Desktop (issue 12): its names go through the Web Connector.

QuickBooks Desktop pulls its work, so the export's match-or-add step cannot ask it at once: a running export
("Sales Invoice Exporter", exclusive, as on QuickBooks Online) is the queued directory work. The next Web Connector
session asks ``pending_names`` for the customers and products without a link into QuickBooks Desktop (by the sales
invoice's naming rules), matches or adds them (``desktop_sync.NameJob``) and reports with ``names_done``: the links
are kept per system, the counts and each refusal go into the run, and when the session had every name the run is
marked ``desktopNamesDone``. The export's checkpoint chain waits for that mark (``Step.DESKTOP_NAMES``), then hands
the qualifying invoices to the sync core (send now, which on Desktop queues them for the Web Connector), waits for
them and finishes the run with its e-mail, as on QuickBooks Online.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ledgersync.clock import SYSTEM_CLOCK, Clock
from ledgersync.domain.accounting_links import NOUNS, AccountingLink, AccountingLinks
from ledgersync.domain.desktop_sync import ExportNames, ListKind, NameResult, NameToMatch
from ledgersync.domain.directory import Kind
from ledgersync.domain.process_log import LogLevel, LogMessage, ProcessLog, RunName
from ledgersync.domain.purchase_order_service import AccountingState
from ledgersync.domain.purchase_orders import ExternalSystem

NAMES_DONE = "desktopNamesDone"  # the count that says a Web Connector session matched or added every name
KINDS = {ListKind.CUSTOMER: Kind.CUSTOMERS, ListKind.ITEM: Kind.PRODUCTS}
COUNTED = {Kind.CUSTOMERS: "customers", Kind.PRODUCTS: "products"}


@dataclass
class DesktopExportNames:
    """``desktop_sync.ExportNamesWork`` over the process log, the directory and the accounting links."""

    log: ProcessLog
    links: AccountingLinks
    accounting: AccountingState
    system: ExternalSystem
    clock: Clock = SYSTEM_CLOCK

    def pending_names(self, company_id: str, limit: int) -> ExportNames | None:
        settings = self.accounting.get_settings(company_id)
        if settings.external_system is not self.system:
            return None
        run = self.log.running(company_id, RunName.SALES_INVOICE_EXPORTER)
        if run is None or run.counts.get(NAMES_DONE):
            return None
        names: list[NameToMatch] = []
        complete = True
        for list_kind, kind in KINDS.items():
            room = limit - len(names)
            if room <= 0:
                complete = False
                break
            found, whole = self.links.unlinked_by_name(company_id, kind, self.system, settings.invoice_item_name, room)
            names += [NameToMatch(list_kind, name, tuple(ids)) for name, ids in found.items()]
            if not whole:
                complete = False
                break
        if not names:  # every record is linked already: nothing to ask QuickBooks
            self.names_done(company_id, run.run_id, [], True)
            return None
        return ExportNames(run.run_id, names, settings.invoice_income_account, complete)

    def names_done(self, company_id: str, run_id: str, results: Sequence[NameResult], complete: bool) -> None:
        now = self.clock.now()
        links: dict[Kind, dict[int, AccountingLink]] = {}
        counts: dict[str, int] = {}
        messages: list[LogMessage] = []
        for result in results:
            kind = KINDS[result.list_kind]
            noun = NOUNS[kind]
            if result.list_id is None:
                messages += [
                    LogMessage.of(LogLevel.ERROR, f"{noun} '{result.name}': {result.problem}", f"{noun} {record_id}")
                    for record_id in result.record_ids
                ]
                continue
            link = AccountingLink(id=result.list_id, name=result.name, system=self.system, linked_at=now)
            links.setdefault(kind, {}).update(dict.fromkeys(result.record_ids, link))
            counted = f"{COUNTED[kind]}{'Added' if result.added else 'Matched'}"
            counts[counted] = counts.get(counted, 0) + len(result.record_ids)
        for kind, linked in links.items():
            self.links.links.put_many(company_id, kind, linked)
        if complete:
            counts[NAMES_DONE] = 1
        self.log.of(company_id, run_id).add(messages, counts)
