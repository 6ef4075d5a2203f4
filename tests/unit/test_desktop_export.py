"""The Sales Invoice Export on QuickBooks Desktop (issue 12), over the in-memory stores: the export's side of the Web
Connector session (which names wait, and what their outcome does to the links and the run) and the checkpoint that
waits for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from ledgersync.domain.accounting_export import MAX_DESKTOP_WAITS, NAMES_DONE, Checkpoint, Step
from ledgersync.domain.accounting_links import AccountingLinks
from ledgersync.domain.desktop_export import DesktopExportNames
from ledgersync.domain.desktop_sync import ListKind, NameResult
from ledgersync.domain.directory import Directory, Kind
from ledgersync.domain.process_log import ProcessLog, RunName
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.settings import AccountingSettings, Connection
from tests.fakes import FakeClock, InMemoryAccountingLinkStore, InMemoryDirectoryStore, InMemoryProcessLogStore
from tests.unit.test_sales_invoice_export import Export, export  # noqa: F401 - the fixture
from tests.unit.test_sales_invoice_sync import world  # noqa: F401 - the fixture

DESKTOP = ExternalSystem.QUICKBOOKS_DESKTOP
COMPANY = "c-1"


@dataclass
class Settings:
    settings: AccountingSettings = field(
        default_factory=lambda: AccountingSettings(external_system=DESKTOP, invoice_income_account="Sales")
    )

    def get_settings(self, company_id: str) -> AccountingSettings:
        return self.settings

    def get_accounting(self, company_id: str) -> tuple[AccountingSettings, Connection]:
        return self.settings, Connection()


@dataclass
class Books:
    names: DesktopExportNames
    log: ProcessLog
    links: InMemoryAccountingLinkStore
    settings: Settings


@pytest.fixture
def books() -> Books:
    clock = FakeClock(datetime(2026, 12, 2, 12, tzinfo=UTC))
    directory = InMemoryDirectoryStore()
    writer = Directory(directory)
    writer.upsert(
        COMPANY,
        Kind.CUSTOMERS,
        [
            {"id": 7, "code": "ANG", "name": "Ang", "accountingName": "Ang Flowers LLC"},
            {"id": 8, "code": "ANG2", "name": "Ang Flowers LLC"},
            {"id": 9, "code": "OLD", "name": "Old Co", "active": False},
        ],
    )
    writer.upsert(
        COMPANY,
        Kind.PRODUCTS,
        [{"id": 1, "code": "RS", "name": "Rose", "accountingItem": "Roses"}, {"id": 2, "code": "TU", "name": "Tulip"}],
    )
    links = InMemoryAccountingLinkStore(directory.records)
    log = ProcessLog(InMemoryProcessLogStore(), clock.now)
    settings = Settings()
    names = DesktopExportNames(log, AccountingLinks(directory, links, clock), settings, DESKTOP, clock)
    return Books(names, log, links, settings)


def test_no_names_wait_without_a_running_export_or_on_another_system(books: Books) -> None:
    assert books.names.pending_names(COMPANY, 100) is None
    books.log.start(COMPANY, RunName.SALES_INVOICE_EXPORTER, exclusive=True)
    books.settings.settings = books.settings.settings.model_copy(
        update={"external_system": ExternalSystem.QUICKBOOKS_ONLINE}
    )
    assert books.names.pending_names(COMPANY, 100) is None


def test_a_running_export_waits_for_its_unlinked_names_by_the_invoices_naming_rules(books: Books) -> None:
    run = books.log.start(COMPANY, RunName.SALES_INVOICE_EXPORTER, exclusive=True)
    pending = books.names.pending_names(COMPANY, 100)
    assert pending is not None and pending.run_id == run.run_id and pending.complete
    assert pending.income_account == "Sales"
    by_name = {(n.list_kind, n.name): n.record_ids for n in pending.names}
    assert by_name == {
        (ListKind.CUSTOMER, "Ang Flowers LLC"): (7, 8),  # one name, two records; the inactive one left out
        (ListKind.ITEM, "Roses"): (1,),
        (ListKind.ITEM, "Fresh Cut Flowers"): (2,),  # no accountingItem: the settings' invoiceItemName
    }
    partial = books.names.pending_names(COMPANY, 2)
    assert partial is not None and not partial.complete and len(partial.names) == 2


def test_names_done_links_the_records_logs_counts_and_refusals_and_marks_the_run(books: Books) -> None:
    run = books.log.start(COMPANY, RunName.SALES_INVOICE_EXPORTER, exclusive=True)
    results = [
        NameResult(ListKind.CUSTOMER, "Ang Flowers LLC", (7, 8), list_id="80000001-1", added=True),
        NameResult(ListKind.ITEM, "Roses", (1,), list_id="80000002-1"),
        NameResult(ListKind.ITEM, "Fresh Cut Flowers", (2,), problem="QuickBooks Desktop refused it"),
    ]
    books.names.names_done(COMPANY, run.run_id, results, complete=True)

    linked = books.links.get_many(COMPANY, Kind.CUSTOMERS, [7, 8], DESKTOP)
    assert {k: (v.id, v.system) for k, v in linked.items()} == {7: ("80000001-1", DESKTOP), 8: ("80000001-1", DESKTOP)}
    assert books.links.get_many(COMPANY, Kind.PRODUCTS, [1, 2], DESKTOP).keys() == {1}
    assert books.links.get_many(COMPANY, Kind.CUSTOMERS, [7], ExternalSystem.QUICKBOOKS_ONLINE) == {}
    entry = books.log.get(COMPANY, run.run_id)
    assert entry.counts == {"customersAdded": 2, "productsMatched": 1, NAMES_DONE: 1}
    ((message),) = entry.messages
    assert message.document == "product 2" and "QuickBooks Desktop refused it" in message.message
    # the run's names are done: a later session has none to do, even for the record still unlinked
    assert books.names.pending_names(COMPANY, 100) is None


def test_a_session_that_did_only_part_of_the_names_leaves_the_rest_for_the_next(books: Books) -> None:
    run = books.log.start(COMPANY, RunName.SALES_INVOICE_EXPORTER, exclusive=True)
    books.names.names_done(
        COMPANY, run.run_id, [NameResult(ListKind.CUSTOMER, "Ang Flowers LLC", (7, 8), list_id="L1")], complete=False
    )
    assert NAMES_DONE not in books.log.get(COMPANY, run.run_id).counts
    pending = books.names.pending_names(COMPANY, 100)
    assert pending is not None and {n.name for n in pending.names} == {"Roses", "Fresh Cut Flowers"}


def test_many_products_on_one_default_item_go_in_bounded_sessions_and_every_one_is_linked(books: Books) -> None:
    # Given 12 products without an accountingItem (all on the settings' invoiceItemName), and sessions that carry at
    # most 5 records' ids
    from ledgersync.domain.directory import Directory

    many = [{"id": 100 + n, "code": f"P{n}", "name": f"Product {n}"} for n in range(12)]
    Directory(books.names.links.directory).upsert(COMPANY, Kind.PRODUCTS, many)  # type: ignore[arg-type]
    run = books.log.start(COMPANY, RunName.SALES_INVOICE_EXPORTER, exclusive=True)
    links = books.names.links

    # When each session takes what it may and reports it matched
    sessions: list[int] = []
    for _ in range(10):
        found, whole = links.unlinked_by_name(COMPANY, Kind.PRODUCTS, DESKTOP, "Fresh Cut Flowers", 100, max_records=5)
        if not found:
            break
        results = [NameResult(ListKind.ITEM, name, tuple(ids), list_id=f"L-{name}") for name, ids in found.items()]
        sessions.append(sum(len(ids) for ids in found.values()))
        books.names.names_done(COMPANY, run.run_id, results, complete=whole)

    # Then no session carried more than 5, and all 14 products (the 12, the rose and the tulip) are linked
    assert max(sessions) <= 5 and sum(sessions) == 14
    ids = [1, 2, *(100 + n for n in range(12))]
    assert len(links.links.get_many(COMPANY, Kind.PRODUCTS, ids, DESKTOP)) == 14


def test_an_export_whose_records_are_all_linked_is_marked_done_without_a_session(books: Books) -> None:
    run = books.log.start(COMPANY, RunName.SALES_INVOICE_EXPORTER, exclusive=True)
    books.names.names_done(
        COMPANY,
        run.run_id,
        [
            NameResult(ListKind.CUSTOMER, "Ang Flowers LLC", (7, 8), list_id="L1"),
            NameResult(ListKind.ITEM, "Roses", (1,), list_id="L2"),
            NameResult(ListKind.ITEM, "Fresh Cut Flowers", (2,), list_id="L3"),
        ],
        complete=False,
    )
    assert books.names.pending_names(COMPANY, 100) is None
    assert books.log.get(COMPANY, run.run_id).counts[NAMES_DONE] == 1


# ---------------------------------------------------------------------------------------------- the checkpoint


def on_desktop(export: Export, **changes: object) -> None:  # noqa: F811 - the fixture's type
    shop = export.world
    current = shop.settings.get_settings(shop.company_id)
    shop.settings.put_settings(shop.company_id, current.model_copy(update={"external_system": DESKTOP, **changes}))


def test_on_desktop_the_run_starts_by_waiting_for_the_web_connector(export: Export) -> None:  # noqa: F811
    on_desktop(export)
    run_id = export.use_case.start(export.caller).run_id
    ((first, delay),) = export.queue.sent
    assert (first.step, delay) == (Step.DESKTOP_NAMES, 0)
    export.queue.sent.clear()

    export.use_case.run(first)  # no session yet: it looks again later
    ((wait, delay),) = export.queue.sent
    assert (wait.step, wait.waited, delay) == (Step.DESKTOP_NAMES, 1, export.use_case.desktop_wait_seconds)
    export.queue.sent.clear()

    export.log.runs[run_id]["counts"][NAMES_DONE] = 1  # a session did the names
    export.use_case.run(wait)
    ((following, delay),) = export.queue.sent
    assert (following.step, following.waited, delay) == (Step.INVOICES, 0, 0)


def test_on_desktop_abort_on_error_stops_once_the_names_refused_one(export: Export) -> None:  # noqa: F811
    on_desktop(export, abort_export_on_error=True)
    run_id = export.use_case.start(export.caller).run_id
    export.log.runs[run_id]["counts"][NAMES_DONE] = 1
    export.log.runs[run_id]["messages"].append({"level": "error", "document": "customer 7", "message": "refused"})
    export.use_case.run(export.queue.sent.pop(0)[0])
    assert export.log.runs[run_id]["status"] == "failed" and export.queue.sent == []
    assert export.log.runs[run_id]["messages"][-1]["document"] == "customer 7"


def test_on_desktop_a_web_connector_that_never_runs_fails_the_run_after_a_day(export: Export) -> None:  # noqa: F811
    on_desktop(export)
    run_id = export.use_case.start(export.caller).run_id
    export.queue.sent.clear()
    export.use_case.run(
        Checkpoint(run_id=run_id, company_id=export.world.company_id, step=Step.DESKTOP_NAMES, waited=MAX_DESKTOP_WAITS)
    )
    assert export.log.runs[run_id]["status"] == "failed" and export.queue.sent == []
    assert "no QuickBooks Web Connector session matched or added" in export.log.runs[run_id]["messages"][-1]["message"]
    assert len(export.world.notifier.sent) == 1  # the summary e-mail
