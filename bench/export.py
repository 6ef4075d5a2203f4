"""Sales Invoice Export benchmark (issue 12): QuickBooks Online calls per invoice and wall time against the limit.

One company with 500 shipped invoices, 200 customers and 200 products none of which QuickBooks Online has yet (the
in-memory stores of tests/fakes.py through ``bootstrap.build``) is exported by the real use case: its checkpoints
run one after the other, the invoices it hands to the sync core are drained by the real consumer
(``AccountingSync.process``) into the QuickBooks Online emulator on loopback through the real gateway, client and
request limiter, on real time, with the emulator's own limits (500 requests a minute, 10 in flight). The limiter
is set to 495 a minute (burst 4: any minute sees at most 499). Prints figures; asserts nothing.

Targets: at most 1.3 QuickBooks Online calls per invoice, the directory work included; wall time within 10% of
the floor the 500/minute limit sets for the calls made. ``--quick``: 50 invoices, 20 customers, 20 products.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "common" / "python"), str(ROOT)]

from devstack.qbo_emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorState, serve  # noqa: E402
from tests.fakes import (  # noqa: E402
    FakeNotifier,
    FakeWorkQueue,
    InMemoryAccountingLinkStore,
    InMemoryAccountStore,
    InMemoryDedupStore,
    InMemoryDirectoryStore,
    InMemoryInvoiceStore,
    InMemorySettingsStore,
    InMemorySyncStateStore,
)
from tests.support.qbo import emulator_tokens  # noqa: E402

from ledgersync import bootstrap  # noqa: E402
from ledgersync.adapters.quickbooks_online.client import QuickBooksOnlineClient  # noqa: E402
from ledgersync.adapters.quickbooks_online.limits import InProcessRequestLimiter  # noqa: E402
from ledgersync.adapters.quickbooks_online.oauth import IntuitOAuth  # noqa: E402
from ledgersync.adapters.quickbooks_online.references import InMemoryReferenceIdCache  # noqa: E402
from ledgersync.bootstrap import Adapters  # noqa: E402
from ledgersync.clock import SystemClock  # noqa: E402
from ledgersync.config import Settings  # noqa: E402
from ledgersync.domain.accounting_export import Checkpoint, SalesInvoiceExport  # noqa: E402
from ledgersync.domain.accounts import CompanyCreate, Principal, Role  # noqa: E402
from ledgersync.domain.directory import Kind  # noqa: E402
from ledgersync.domain.invoices import InvoiceCreateRequest, ShipRequest  # noqa: E402
from ledgersync.domain.process_log import LogMessage  # noqa: E402
from ledgersync.domain.purchase_orders import ExternalSystem  # noqa: E402
from ledgersync.domain.quickbooks_online import QuickBooksTokens  # noqa: E402
from ledgersync.domain.sales_invoice_sync import OncePerTick  # noqa: E402
from ledgersync.domain.settings import AccountingSettings, Connection, ConnectionStatus  # noqa: E402
from ledgersync.domain.sync.messages import SyncMessage  # noqa: E402
from ledgersync.errors import RetryableError  # noqa: E402
from support import MemoryLocks, MemoryTokens  # noqa: E402

REALM = "9130350000000912"
LIMIT_PER_MINUTE = 500


@dataclass
class MemoryLog:
    """The run's process log entry, in memory."""

    entry: dict[str, Any] = field(default_factory=lambda: {"status": "running", "counts": {}, "messages": []})

    def start(self, company_id: str, name: str) -> str:
        return "bench-run"

    def add(self, company_id: str, run_id: str, messages: Sequence[LogMessage], counts: dict[str, int]) -> None:
        self.entry["messages"] += [{"level": m.level, "document": m.document, "message": m.message} for m in messages]
        for name, count in counts.items():
            self.entry["counts"][name] = self.entry["counts"].get(name, 0) + count

    def get(self, company_id: str, run_id: str) -> dict[str, Any]:
        return self.entry

    def finish(self, company_id: str, run_id: str, status: str) -> dict[str, Any]:
        self.entry["status"] = status
        return self.entry


@dataclass
class MemoryCheckpoints:
    sent: list[Checkpoint] = field(default_factory=list)

    def send(self, checkpoint: Checkpoint, delay_seconds: int = 0) -> None:
        self.sent.append(checkpoint)


class Quiet:
    def mark_reauthorization_required(self, company_id: str, reason: str) -> None:
        print(f"  ! reauthorization required: {reason}")

    def refresh_token_days_left(self, company_id: str, days: float) -> None:
        return

    def token_refresh_failed(self, company_id: str, reason: str) -> None:
        print(f"  ! token refresh failed: {reason}")


def run(invoices: int, customers: int, products: int) -> None:
    xsd = os.environ.get("QBO_XSD_DIR") or str(ROOT.parent / "shared" / "schemas" / "qbo")
    state = EmulatorState(xsd_dir=xsd if Path(xsd).is_dir() else None)
    emulator = serve(state=state)
    try:
        state.add_record(REALM, "Account", {"Name": "Sales of Product Income", "AccountType": "Income"})
        settings = Settings()
        accounts, directory, states = InMemoryAccountStore(), InMemoryDirectoryStore(), InMemorySyncStateStore()
        settings_store, queue, tokens = InMemorySettingsStore(accounts), FakeWorkQueue(), MemoryTokens()
        limiter = InProcessRequestLimiter(LIMIT_PER_MINUTE - 5, 4, max_wait_seconds=120, clock=SystemClock())
        client = QuickBooksOnlineClient(emulator.url, limiter)
        oauth = IntuitOAuth(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, "http://localhost/cb", emulator.discovery_url)
        quiet = Quiet()
        token_use = QuickBooksTokens(tokens, oauth, MemoryLocks(), quiet, metrics=quiet, clock=SystemClock())
        adapters = Adapters(
            account_store=accounts,  # type: ignore[arg-type]
            settings_store=settings_store,  # type: ignore[arg-type]
            directory_store=directory,  # type: ignore[arg-type]
            invoice_store=InMemoryInvoiceStore(accounts, directory.records, states=states),  # type: ignore[arg-type]
            accounting_link_store=InMemoryAccountingLinkStore(directory.records),
            sync_states=states,
            sync_queue=queue,
            notifier=FakeNotifier(),  # type: ignore[arg-type]
            bill_dedup=InMemoryDedupStore(),
            release_turns=OncePerTick(),
        )
        services = bootstrap.build(
            settings,
            adapters,
            use_cases={
                "quickbooks_client": client,
                "quickbooks_reference_ids": InMemoryReferenceIdCache(),
                "quickbooks_tokens": token_use,
            },
        )
        company_id = services.accounts.create_company(CompanyCreate(name="Bench", currency="USD")).company_id
        settings_store.put_settings(company_id, AccountingSettings(external_system=ExternalSystem.QUICKBOOKS_ONLINE))
        settings_store.put_connection(company_id, Connection(status=ConnectionStatus.CONNECTED, realm_id=REALM))
        tokens.save(company_id, emulator_tokens(state, REALM))
        setup(services, company_id, invoices, customers, products)

        log, checkpoints = MemoryLog(), MemoryCheckpoints()
        export = SalesInvoiceExport(
            candidates=services.export_candidates,
            sync=services.sales_invoice_sync,
            log=log,
            queue=checkpoints,
            matchers=services.export_matchers,
            notifier=FakeNotifier(),
            reauthorization=quiet,
        )
        caller = Principal(company_id=company_id, user_id="bench", roles=frozenset({Role.ADMIN}), token_id="t")
        preview = export.preview(caller)
        calls_before = client.calls
        started = time.monotonic()
        export.start(caller)
        retries = 0
        while checkpoints.sent:
            export.run(checkpoints.sent.pop(0))
            retries += drain(services, queue, settings.sync_queue_max_receives)
        wall = time.monotonic() - started
        calls = client.calls - calls_before
        floor = calls / LIMIT_PER_MINUTE * 60
        entry = log.entry
        in_books = len(state.records(REALM, "Invoice"))
        print(f"export of {invoices} invoices, {customers} new customers, {products} new products")
        print(f"  preview: {preview.model_dump(by_alias=True)}")
        print(f"  run: {entry['status']}, counts {entry['counts']}, {len(entry['messages'])} message(s)")
        print(f"  invoices in QuickBooks: {in_books}; retried deliveries: {retries}")
        print(f"  QuickBooks Online calls: {calls} = {calls / invoices:.3f} per invoice (target <= 1.3)")
        print(
            f"  wall time: {wall:.1f} s; the {LIMIT_PER_MINUTE}/minute floor for {calls} calls is {floor:.1f} s: "
            f"{wall / floor - 1:+.1%} (target within +10%)"
        )
    finally:
        emulator.shutdown()


def setup(services: Any, company_id: str, invoices: int, customers: int, products: int) -> None:
    directory = services.directory
    directory.upsert(company_id, Kind.STORES, [{"id": 11, "code": "SHOP", "name": "Shop", "invoiceSync": "manual"}])
    directory.upsert(company_id, Kind.CARRIERS, [{"id": 4, "code": "AR", "name": "Armellini"}])
    directory.upsert(
        company_id,
        Kind.CUSTOMERS,
        [{"id": 100 + i, "code": f"C{i}", "name": f"Bench Customer {i:03d}"} for i in range(customers)],
    )
    directory.upsert(
        company_id,
        Kind.PRODUCTS,
        [
            {"id": 1 + i, "code": f"P{i}", "name": f"Product {i}", "accountingItem": f"Bench Item {i:03d}"}
            for i in range(products)
        ],
    )
    line = {"boxTypeCode": "HB", "unitsPerBox": 6, "unitType": "Bunch", "availableBoxes": 1_000_000}
    directory.upsert(
        company_id,
        Kind.INVENTORY,
        [{"orderItemId": 1000 + i, "productCode": f"P{i}", **line} for i in range(products)],
    )
    for n in range(invoices):
        created = services.invoices.create(
            company_id,
            "bench",
            InvoiceCreateRequest(
                customer_id=100 + n % customers,
                carrier_id=4,
                store_code="SHOP",
                ship_date="2026-12-10",
                items=[{"orderItemId": 1000 + n % products, "boxes": 1, "price": "12.50"}],
            ),
        )
        services.invoices.confirm(company_id, created.invoice_id)
        services.invoices.ship(company_id, created.invoice_id, ShipRequest())


def drain(services: Any, queue: FakeWorkQueue, max_receives: int) -> int:
    """Deliver the sync queue's messages as its Lambda would; a retryable fault puts the message back."""
    consumer, retries = services.accounting_sync, 0
    receives: dict[str, int] = {}
    while queue.bodies:
        bodies, queue.bodies = queue.bodies, []
        for body in bodies:
            receives[body] = receives.get(body, 0) + 1
            try:
                consumer.process(SyncMessage.parse(body, consumer.target), receives[body], max_receives)
            except RetryableError as fault:
                if retries == 0:
                    print(f"  (first retry: {fault.message})")
                retries += 1
                queue.bodies.append(body)
    return retries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50 invoices, 20 customers, 20 products")
    args = parser.parse_args()
    if args.quick:
        run(50, 20, 20)
    else:
        run(500, 200, 200)


if __name__ == "__main__":
    main()
