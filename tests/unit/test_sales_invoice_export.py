"""Rootstock's Sales Invoice Export on the in-memory stores: the preview's counts, match-or-add linking each
customer and product once, invoices through the sync core exactly once (whatever else sends them), errors logged
per record, abortExportOnError, one run at a time, unauthorized failing the run and a new export carrying on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from ledgersync.domain.accounting_export import (
    RUN_NAME,
    UNAUTHORIZED,
    Checkpoint,
    ExportCandidates,
    SalesInvoiceExport,
)
from ledgersync.domain.accounting_links import AccountingLinks, NameMatches
from ledgersync.domain.accounts import Principal, Role
from ledgersync.domain.directory import Kind
from ledgersync.domain.invoices import AccountingStatus
from ledgersync.domain.process_log import LogMessage
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.quickbooks_online import AccessTokenRejected
from ledgersync.domain.settings import AccountingSettings, ConnectionStatus
from ledgersync.errors import Conflict
from tests.fakes import InMemoryAccountingLinkStore
from tests.unit.test_sales_invoice_sync import ONLINE, World, world  # noqa: F401 - the fixture

# ---------------------------------------------------------------------------------------------- fakes


@dataclass
class FakeNames:
    """QuickBooks' names: found when held, added otherwise, refused when listed in ``refuse``."""

    system: ExternalSystem = ONLINE
    held: dict[tuple[Kind, str], str] = field(default_factory=dict)
    refuse: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[Kind, list[str]]] = field(default_factory=list)
    rejected: bool = False

    def match_or_add(self, kind: Kind, names: Sequence[str]) -> NameMatches:
        self.calls.append((kind, list(names)))
        if self.rejected:
            raise AccessTokenRejected("401 again")
        answer = NameMatches()
        for name in names:
            if name in self.refuse:
                answer.refused[name] = self.refuse[name]
            elif (kind, name) in self.held:
                answer.found[name] = self.held[(kind, name)]
            else:
                self.held[(kind, name)] = f"Q{len(self.held) + 1}"
                answer.added[name] = self.held[(kind, name)]
        return answer


@dataclass
class FakeLog:
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def start(self, company_id: str, name: str) -> str:
        running = [r for r, e in self.runs.items() if e["status"] == "running" and e["name"] == name]
        if running:
            raise Conflict(f"a {name} run is running ({running[0]}); wait for it to finish")
        run_id = f"run-{len(self.runs) + 1}"
        self.runs[run_id] = {"name": name, "status": "running", "counts": {}, "messages": []}
        return run_id

    def add(self, company_id: str, run_id: str, messages: Sequence[LogMessage], counts: dict[str, int]) -> None:
        entry = self.runs[run_id]
        entry["messages"] += [{"level": m.level, "document": m.document, "message": m.message} for m in messages]
        for name, count in counts.items():
            entry["counts"][name] = entry["counts"].get(name, 0) + count

    def get(self, company_id: str, run_id: str) -> dict[str, Any]:
        return self.runs[run_id]

    def finish(self, company_id: str, run_id: str, status: str) -> dict[str, Any]:
        self.runs[run_id]["status"] = status
        return self.runs[run_id]


@dataclass
class FakeCheckpoints:
    sent: list[tuple[Checkpoint, int]] = field(default_factory=list)

    def send(self, checkpoint: Checkpoint, delay_seconds: int = 0) -> None:
        self.sent.append((checkpoint, delay_seconds))


@dataclass
class Marks:
    reasons: list[str] = field(default_factory=list)

    def mark_reauthorization_required(self, company_id: str, reason: str) -> None:
        self.reasons.append(reason)


@dataclass
class Export:
    world: World
    use_case: SalesInvoiceExport
    names: FakeNames
    log: FakeLog
    queue: FakeCheckpoints
    marks: Marks
    links: InMemoryAccountingLinkStore

    @property
    def caller(self) -> Principal:
        return Principal(
            company_id=self.world.company_id, user_id="u1", roles=frozenset({Role.ACCOUNTING}), token_id="t1"
        )

    def run_to_the_end(self) -> dict[str, Any]:
        """Start an export and work its checkpoints, draining the sync queue as the consumer would."""
        run_id = self.use_case.start(self.caller).run_id
        for _ in range(100):
            if not self.queue.sent:
                break
            checkpoint, _ = self.queue.sent.pop(0)
            self.use_case.run(checkpoint)
            self.world.drain()
        return {"runId": run_id, **self.log.runs[run_id]}


@pytest.fixture
def export(world: World) -> Export:  # noqa: F811 - the fixture imported above
    directory = world.services.directory_store
    links = InMemoryAccountingLinkStore(directory.records)  # type: ignore[attr-defined]
    names, log, queue, marks = FakeNames(), FakeLog(), FakeCheckpoints(), Marks()
    candidates = ExportCandidates(
        links=AccountingLinks(directory, links, world.clock),
        invoices=world.services.invoice_store,
        states=world.states,
        accounting=world.settings,
    )
    use_case = SalesInvoiceExport(
        candidates=candidates,
        sync=world.services.sales_invoice_sync,
        log=log,
        queue=queue,
        matchers=lambda company_id, settings: names,
        notifier=world.notifier,  # type: ignore[arg-type]
        reauthorization=marks,
    )
    return Export(world, use_case, names, log, queue, marks, links)


def shipped(shop: World, count: int) -> list[int]:
    shop.store("SHOP", "manual")
    orders = [shop.order("SHOP") for _ in range(count)]
    for invoice_id in orders:
        shop.ship(invoice_id)
    return orders


# ---------------------------------------------------------------------------------------------- tests


def test_the_preview_counts_unlinked_customers_and_products_and_invoices_not_in_accounting(export: Export) -> None:
    shop = export.world
    orders = shipped(shop, 3)
    shop.order("SHOP")  # Confirmed: approved, counted
    shop.services.directory.upsert(shop.company_id, Kind.PRODUCTS, [{"id": 1, "code": "RSAS60", "name": "Rose"}])
    shop.services.sales_invoice_sync.send_now(shop.company_id, orders[0])
    shop.drain()

    preview = export.use_case.preview(export.caller)

    assert preview.model_dump(by_alias=True) == {"productExportQty": 1, "customerExportQty": 1, "invoiceExportQty": 3}


def test_an_export_links_customers_and_products_and_sends_each_invoice_once(export: Export) -> None:
    shop = export.world
    orders = shipped(shop, 3)
    shop.services.directory.upsert(shop.company_id, Kind.PRODUCTS, [{"id": 1, "code": "RSAS60", "name": "Rose"}])
    export.names.held[(Kind.CUSTOMERS, "Ang")] = "58"

    entry = export.run_to_the_end()

    assert entry["status"] == "succeeded"
    assert entry["counts"] == {
        "customersMatched": 1,
        "customersAdded": 0,
        "productsMatched": 0,
        "productsAdded": 1,
        "invoicesExported": 3,
        "invoicesFailed": 0,
    }
    assert sorted(d.invoice_id for d in shop.books.documents.values()) == sorted(orders)
    link = export.links.get_many(shop.company_id, Kind.CUSTOMERS, [7], ONLINE)[7]
    assert (link.id, link.name, link.system) == ("58", "Ang", ONLINE)
    item = export.links.get_many(shop.company_id, Kind.PRODUCTS, [1], ONLINE)[1]
    assert item.name == "Fresh Cut Flowers"  # no accountingItem: the item its invoice lines go on (invoiceItemName)
    record = shop.services.directory.page(shop.company_id, Kind.CUSTOMERS)[0]
    shown = export.use_case.candidates.links.shown(shop.company_id, Kind.CUSTOMERS, record, ONLINE)
    assert shown[0]["accountingLink"]["id"] == "58"
    assert (
        export.use_case.candidates.links.shown(shop.company_id, Kind.CUSTOMERS, record, None)[0]["accountingLink"]
        is None
    )
    mails = shop.notifier.sent
    assert len(mails) == 1 and RUN_NAME in mails[0].subject and mails[0].to == ["ap@example.com"]

    again = export.run_to_the_end()  # everything is linked and in accounting: nothing is matched or sent again

    assert again["status"] == "succeeded" and set(again["counts"].values()) == {0}
    assert len(shop.books.documents) == 3
    assert export.use_case.preview(export.caller).invoice_export_qty == 0


def test_an_invoice_sent_by_someone_else_meanwhile_is_not_sent_twice(export: Export) -> None:
    shop = export.world
    orders = shipped(shop, 2)
    run_id = export.use_case.start(export.caller).run_id
    for _ in range(2):  # customers, products
        export.use_case.run(export.queue.sent.pop(0)[0])
    shop.services.sales_invoice_sync.send_now(shop.company_id, orders[0])  # a person's send now, not drained
    export.use_case.run(export.queue.sent.pop(0)[0])  # the invoices step
    shop.drain()
    while export.queue.sent:
        export.use_case.run(export.queue.sent.pop(0)[0])

    assert sorted(d.invoice_id for d in shop.books.documents.values()) == sorted(orders)
    assert export.log.runs[run_id]["counts"]["invoicesExported"] == 1


def test_a_name_the_accounting_system_refuses_is_an_error_naming_the_record_and_the_run_goes_on(
    export: Export,
) -> None:
    shop = export.world
    shipped(shop, 1)
    products = [
        {"id": 1, "code": "RSAS60", "name": "Rose", "accountingItem": "Rose: Red"},
        {"id": 2, "code": "TU", "name": "Tulip"},  # on the settings' invoiceItemName
    ]
    shop.services.directory.upsert(shop.company_id, Kind.PRODUCTS, products)
    export.names.refuse["Rose: Red"] = "QuickBooks Online refuses the name 'Rose: Red': it contains a colon"

    entry = export.run_to_the_end()

    assert entry["status"] == "partial"
    assert entry["messages"] == [
        {
            "level": "error",
            "document": "product 1",
            "message": "product 'RSAS60': QuickBooks Online refuses the name 'Rose: Red': it contains a colon",
        }
    ]
    assert entry["counts"]["productsAdded"] == 1 and entry["counts"]["invoicesExported"] == 1
    assert "product 1" in shop.notifier.sent[-1].text


def test_abort_export_on_error_stops_the_run_at_the_first_error(export: Export) -> None:
    shop = export.world
    shipped(shop, 1)
    settings = shop.settings.get_settings(shop.company_id)
    shop.settings.put_settings(shop.company_id, settings.model_copy(update={"abort_export_on_error": True}))
    export.names.refuse["Ang"] = "QuickBooks Online refuses the name 'Ang'"

    entry = export.run_to_the_end()

    assert entry["status"] == "failed"
    assert [k for k, _ in export.names.calls] == [Kind.CUSTOMERS]  # products were never looked at
    assert shop.books.documents == {}


def test_a_second_export_while_one_runs_is_refused_naming_the_running_one(export: Export) -> None:
    first = export.use_case.start(export.caller).run_id
    with pytest.raises(Conflict, match=first):
        export.use_case.start(export.caller)


def test_an_invoice_the_accounting_system_refuses_is_counted_failed_with_its_reason(export: Export) -> None:
    shop = export.world
    shipped(shop, 2)
    shop.books.refuse = "QuickBooks refused the sales invoice: the customer is inactive"

    entry = export.run_to_the_end()

    assert entry["status"] == "partial"
    assert entry["counts"]["invoicesFailed"] == 2 and entry["counts"]["invoicesExported"] == 0
    assert {m["message"] for m in entry["messages"] if m["level"] == "error"} == {shop.books.refuse}


def test_unauthorized_fails_the_run_with_the_seeds_words_and_a_new_export_carries_on(export: Export) -> None:
    shop = export.world
    orders = shipped(shop, 2)
    export.names.rejected = True

    entry = export.run_to_the_end()

    assert entry["status"] == "failed"
    assert entry["messages"][-1]["message"] == UNAUTHORIZED
    assert export.marks.reasons and "401" in export.marks.reasons[0]
    assert shop.books.documents == {}

    export.names.rejected = False  # reconnected
    again = export.run_to_the_end()

    assert again["status"] == "succeeded" and again["counts"]["invoicesExported"] == 2
    assert sorted(d.invoice_id for d in shop.books.documents.values()) == sorted(orders)


def test_held_invoices_of_a_company_to_reconnect_fail_the_run_as_unauthorized(export: Export) -> None:
    shop = export.world
    orders = shipped(shop, 1)
    run_id = export.use_case.start(export.caller).run_id
    for _ in range(3):  # customers, products, invoices (queued, not drained)
        export.use_case.run(export.queue.sent.pop(0)[0])
    shop.connect(ConnectionStatus.REAUTHORIZATION_REQUIRED)
    shop.drain()  # the consumer holds it

    export.use_case.run(export.queue.sent.pop(0)[0])

    assert shop.accounting(orders[0]).status is AccountingStatus.HELD
    assert export.log.runs[run_id]["status"] == "failed"
    assert export.log.runs[run_id]["messages"][-1]["message"] == UNAUTHORIZED


def test_an_export_needs_a_quickbooks_system_chosen_and_names_both(export: Export) -> None:
    shop = export.world
    shop.settings.put_settings(shop.company_id, AccountingSettings(external_system=None))
    with pytest.raises(Conflict) as refused:
        export.use_case.start(export.caller)
    assert "QuickBooks Online" in refused.value.message and "QuickBooks Desktop" in refused.value.message
    assert not export.queue.sent and not export.log.runs  # nothing started


# ---------------------------------------------------------------------------------------------- through the API


def test_the_preview_and_the_links_through_the_api_on_the_table(api: Any, company: dict[str, Any]) -> None:
    from datetime import UTC, datetime

    from ledgersync import bootstrap
    from ledgersync.domain.accounting_links import AccountingLink

    customers = [{"id": 7, "code": "ANG", "name": "Ang"}, {"id": 8, "code": "BL", "name": "Bloom"}]
    assert api.put("/v1/directory/customers", {"records": customers}).status == 200
    assert api.put("/v1/directory/products", {"records": [{"id": 1, "code": "R", "name": "Rose"}]}).status == 200

    refused = api.get("/v1/accounting/export/preview")  # no accounting system chosen yet
    assert refused.status == 409 and "QuickBooks Online" in refused.json()["message"]

    assert api.put("/v1/accounting/settings", {"externalSystem": "quickbooks_online"}).status == 200
    link = AccountingLink(id="58", name="Ang", system=ONLINE, linked_at=datetime(2026, 12, 2, tzinfo=UTC))
    bootstrap.services().accounting_link_store.put_many(company["companyId"], Kind.CUSTOMERS, {7: link})
    assert api.put("/v1/directory/customers", {"records": customers}).status == 200  # an upsert keeps the link

    preview = api.get("/v1/accounting/export/preview")
    assert preview.status == 200
    assert preview.json() == {"productExportQty": 1, "customerExportQty": 1, "invoiceExportQty": 0}
    shown = {c["code"]: c["accountingLink"] for c in api.get("/v1/directory/customers").json()["records"]}
    assert shown == {
        "ANG": {"id": "58", "name": "Ang", "system": "quickbooks_online", "linkedAt": "2026-12-02T00:00:00Z"},
        "BL": None,
    }

    assert api.put("/v1/accounting/settings", {"externalSystem": "quickbooks_desktop"}).status == 200
    shown = {c["code"]: c["accountingLink"] for c in api.get("/v1/directory/customers").json()["records"]}
    assert shown == {"ANG": None, "BL": None}  # a link into QuickBooks Online is no link on Desktop
