"""Automatic invoice queue benchmark (issue 10): sends per minute, evenness, time to the last invoice, QuickBooks
Online calls and queries per invoice. Cases: one company's burst shipped at once (then the next day's, names cached:
the steady state); 3 companies at once; the same burst with the job run twice every minute (a scheduler delivering
each event twice: a minute's second run should release nothing more); one company's burst next to another's few.

By default the real engine runs on a simulated clock (``EngineAutoSync``): the in-memory stores of tests/fakes.py
through ``bootstrap.build``, a FakeClock, invoices made with ``invoice.create`` in an automatic store, confirmed and
shipped; once a simulated minute the scheduled job's ``AutomaticInvoiceQueue.release_due`` (0 to 15 seconds late,
now and then twice in a minute), then the queue drained by the real consumer (``AccountingSync.process``, retries
put back after the handler's delay) into QuickBooks Online: the real ``InvoiceSync``, invoice gateway, client and
request limiter (on the simulated clock) over the QuickBooks Online emulator on loopback, with customers and items
set up in it. Each HTTP call takes 0.25 simulated seconds and is counted per realm and simulated minute by the
client's transport. One consumer takes the messages in order (no Lambda concurrency), and the scheduler's sweep of
held work is not run (nothing is held here). The emulator's own per-minute limit runs on real time, which goes
hundreds of times slower than the simulated clock here, so it is lifted; the 500 calls a minute per realm are
checked on the simulated clock.
``--simulated`` runs the stand-in instead (``SimulatedAutoSync``: the pacing planner, FIFO workers and a counting
fake QuickBooks; no network, about a second); ``--quick`` ships fewer invoices (120 at once, 3 x 60, 120 next to 10).
Prints figures; asserts nothing.

Targets: max minute / mean at most 1.2; the last one sent within the window plus 2 minutes; 1 QuickBooks call
and at most 0.05 queries per invoice in steady state (the next day's shipments, names cached); the small company's
invoices at most a minute later than when it is alone; never more than 500 calls a minute per realm.

The seam: ``AutoSync`` is what the bench drives, ``QuickBooksCounts`` what it reads of QuickBooks.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import os
import random
import sys
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import zip_longest
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "common" / "python"), str(ROOT)]

from devstack.qbo_emulator import (  # noqa: E402 - after the path set-up a script needs
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    EmulatorState,
    RunningEmulator,
    serve,
)
from tests.fakes import (  # noqa: E402
    FakeClock,
    FakeNotifier,
    FakeWorkQueue,
    InMemoryAccountStore,
    InMemoryDedupStore,
    InMemoryDirectoryStore,
    InMemoryInvoiceStore,
    InMemoryPurchaseOrderStore,
    InMemorySettingsStore,
    InMemorySyncStateStore,
)

from ledgersync import bootstrap  # noqa: E402
from ledgersync.adapters.quickbooks_online.client import QuickBooksOnlineClient  # noqa: E402
from ledgersync.adapters.quickbooks_online.limits import InProcessRequestLimiter  # noqa: E402
from ledgersync.adapters.quickbooks_online.oauth import IntuitOAuth  # noqa: E402
from ledgersync.adapters.quickbooks_online.references import InMemoryReferenceIdCache  # noqa: E402
from ledgersync.bootstrap import Adapters  # noqa: E402
from ledgersync.config import Settings  # noqa: E402
from ledgersync.domain.accounting_sync import retry_delay  # noqa: E402
from ledgersync.domain.accounts import CompanyCreate  # noqa: E402
from ledgersync.domain.directory import Kind  # noqa: E402
from ledgersync.domain.invoices import AccountingStatus, InvoiceCreateRequest, ShipRequest  # noqa: E402
from ledgersync.domain.purchase_orders import ExternalSystem  # noqa: E402
from ledgersync.domain.quickbooks_online import QuickBooksTokens, TokenSet  # noqa: E402
from ledgersync.domain.sales_invoice_sync import OncePerTick  # noqa: E402
from ledgersync.domain.settings import AccountingSettings, Connection, ConnectionStatus  # noqa: E402
from ledgersync.domain.sync.messages import SyncMessage  # noqa: E402
from ledgersync.domain.sync.pacing import TICK, release_count  # noqa: E402
from ledgersync.errors import RetryableError  # noqa: E402
from support import MemoryLocks, MemoryTokens  # noqa: E402

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SHIPPED = START + timedelta(seconds=20)  # "at once": every order of a burst shipped in this second
REALM_LIMIT = 500  # QuickBooks Online requests per minute per realm
INVOICES_PER_TICK = 450  # the limiter's budget (QBO_REQUESTS_PER_MINUTE) at one call per invoice
ITEMS = ("Fresh Cut Flowers", "Roses", "Freight")

# how many of one company's scheduled invoices to release now: (deadlines, now, released this tick) -> count
ReleaseStep = Callable[[Sequence[datetime], datetime, int], int]


def planner_step(deadlines: Sequence[datetime], now: datetime, released_this_tick: int) -> int:
    """The pacing planner as the release step, within the realm's budget."""
    return release_count(deadlines, now, cap=INVOICES_PER_TICK, released_this_tick=released_this_tick)


@dataclass(frozen=True)
class Invoice:
    company: str
    number: int
    customer: str
    items: tuple[str, ...]
    shipped_at: datetime


@dataclass(frozen=True)
class Sent:
    invoice: Invoice
    at: datetime


@dataclass
class CountingQuickBooks:
    """A fake QuickBooks Online that counts what it is asked: every call, the queries among them, per realm."""

    calls: int = 0
    queries: int = 0
    creates: int = 0
    call_times: dict[str, list[datetime]] = field(default_factory=lambda: defaultdict(list))

    def query(self, realm_id: str, kind: str, name: str, at: datetime) -> str:
        self.calls += 1
        self.queries += 1
        self.call_times[realm_id].append(at)
        return f"{kind}-{name}"

    def create_invoice(self, realm_id: str, invoice: Invoice, references: list[str], at: datetime) -> str:
        self.calls += 1
        self.creates += 1
        self.call_times[realm_id].append(at)
        return f"{realm_id}-{invoice.number}"

    def busiest_minute(self) -> int:
        """The most calls one realm received in a calendar minute."""
        return max(
            (
                max(Counter(at.replace(second=0, microsecond=0) for at in times).values())
                for times in self.call_times.values()
            ),
            default=0,
        )


class QuickBooksCounts(Protocol):
    """What the bench reads of the QuickBooks side: the fake below, or a count kept by the real client."""

    @property
    def calls(self) -> int: ...

    @property
    def queries(self) -> int: ...

    def busiest_minute(self) -> int: ...


class AutoSync(Protocol):
    """What the bench drives: shipping, the scheduled job's runs, and what reached QuickBooks."""

    @property
    def quickbooks(self) -> QuickBooksCounts: ...

    def ship(self, invoice: Invoice) -> None: ...

    def run_scheduled_job(self, now: datetime) -> None: ...

    def sent(self) -> list[Sent]: ...


class SimulatedAutoSync:
    """The scheduled job and the consumer, simulated: per-company schedules, the release step, FIFO workers."""

    def __init__(
        self,
        window: timedelta,
        release_step: ReleaseStep = planner_step,
        *,
        workers: int = 2,
        call_seconds: float = 0.25,
    ) -> None:
        self.window = window
        self.release_step = release_step
        self.quickbooks = CountingQuickBooks()
        self.cache = InMemoryReferenceIdCache()
        self.call_time = timedelta(seconds=call_seconds)
        self.scheduled: dict[str, list[tuple[datetime, int, Invoice]]] = defaultdict(list)  # a heap per company
        self.released_in: dict[tuple[str, int], int] = Counter()  # (company, tick) -> released in that tick
        self.workers_free_at = [START] * workers
        self._sent: list[Sent] = []

    def ship(self, invoice: Invoice) -> None:
        heapq.heappush(self.scheduled[invoice.company], (invoice.shipped_at + self.window, invoice.number, invoice))

    def run_scheduled_job(self, now: datetime) -> None:
        """Ask the release step per company, then queue the released round-robin across companies.

        Queued company by company, a company's whole tick share would sit ahead of every other company's invoices
        in the shared queue (600 at once with a one-minute window: over a minute ahead of a small company's 10).
        """
        tick = (now - START) // TICK
        shares: list[list[Invoice]] = []
        for company, heap in self.scheduled.items():
            ready = [deadline for deadline, _, invoice in heap if invoice.shipped_at <= now]
            count = self.release_step(ready, now, self.released_in[(company, tick)])
            self.released_in[(company, tick)] += count
            shares.append([heapq.heappop(heap)[2] for _ in range(count)])
        for turn in zip_longest(*shares):
            for invoice in turn:
                if invoice is not None:
                    self.consume(invoice, now)

    def consume(self, invoice: Invoice, released_at: datetime) -> None:
        """One queued message: the first free worker looks up what the cache lacks, then creates the invoice."""
        worker = min(range(len(self.workers_free_at)), key=self.workers_free_at.__getitem__)
        at = max(released_at, self.workers_free_at[worker])
        realm = f"realm-{invoice.company}"
        references = []
        for kind, name in [("Customer", invoice.customer), *(("Item", item) for item in invoice.items)]:
            known = self.cache.get(realm, kind, name)
            if known is None:
                known = self.quickbooks.query(realm, kind, name, at)
                self.cache.put(realm, kind, name, known)
                at += self.call_time
            references.append(known)
        self.quickbooks.create_invoice(realm, invoice, references, at)
        at += self.call_time
        self.workers_free_at[worker] = at
        self._sent.append(Sent(invoice, at))

    def sent(self) -> list[Sent]:
        return list(self._sent)


# ---------------------------------------------------------------------------------------------- the real engine


def minute_of(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


class CountingTransport(requests.Session):
    """The QuickBooks Online client's HTTP session: counts each call and the reads in it per realm, stamped with the
    simulated time, then lets ``call_seconds`` of simulated time pass (the call's latency) and sends it on.

    Reads are what Intuit meters: a ``GET`` (a query or an entity read) and each query inside a batch."""

    def __init__(self, clock: FakeClock, call_seconds: float) -> None:
        super().__init__()
        self.clock = clock
        self.call_seconds = call_seconds
        self.lock = threading.Lock()
        self.calls = 0
        self.queries = 0
        self.call_times: dict[str, list[datetime]] = defaultdict(list)
        self.kinds: Counter[str] = Counter()  # "POST invoice", "POST batch", "GET query", ...

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        method, url = str(method), str(url)
        path = urlsplit(url).path
        realm, _, operation = path.partition("/v3/company/")[2].partition("/")
        body = kwargs.get("json") or {}
        reads = 0
        if method == "GET":
            reads = 1
        elif operation == "batch":
            reads = sum(1 for item in body.get("BatchItemRequest", []) if "Query" in item)
        with self.lock:
            self.calls += 1
            self.queries += reads
            self.call_times[realm].append(self.clock.now())
            self.kinds[f"{method} {operation.split('/')[0]}"] += 1
            self.clock.advance(self.call_seconds)
        return super().request(method, url, *args, **kwargs)

    def busiest_minute(self) -> int:
        """The most calls one realm received in a calendar minute of the simulated clock."""
        return max((max(Counter(map(minute_of, times)).values()) for times in self.call_times.values()), default=0)


class LoudTokenEvents:
    """Reauthorization and token metrics: a bench whose tokens last the whole run should see none, so say so."""

    def mark_reauthorization_required(self, company_id: str, reason: str) -> None:
        print(f"  ! reauthorization required for {company_id}: {reason}")

    def refresh_token_days_left(self, company_id: str, days: float) -> None:
        print(f"  ! tokens refreshed for {company_id} ({days:.0f} days left)")

    def token_refresh_failed(self, company_id: str, reason: str) -> None:
        print(f"  ! token refresh failed for {company_id}: {reason}")


@dataclass
class Delivery:
    """One message on the simulated sync queue: visible from ``visible_at``, received ``receives`` times."""

    body: str
    visible_at: datetime
    receives: int = 0


@dataclass
class BenchCompany:
    """A company of the bench: its Ledgersync id, its realm, and its accounting customers' directory ids."""

    company_id: str
    realm_id: str
    customers: dict[str, int] = field(default_factory=dict)


REALMS = itertools.count(1)  # every world's companies get realms of their own in the one emulator
STORE_ID, CARRIER_ID, FIRST_ORDER_ITEM = 11, 4, 1000


def start_emulator() -> RunningEmulator:
    """The QuickBooks Online emulator on loopback, its schema loaded, its real-time per-minute limit lifted."""
    xsd = os.environ.get("QBO_XSD_DIR") or str(ROOT.parent / "shared" / "schemas" / "qbo")
    state = EmulatorState(requests_per_minute=10**9, xsd_dir=xsd if Path(xsd).is_dir() else None)
    if state.validator is not None:
        state.validator.schema  # noqa: B018 - Intuit's schema loads now, not within the first request's timeout
    return serve(state=state)


class EngineAutoSync:
    """The real scheduled job, consumer and QuickBooks Online path on a simulated clock (see the module)."""

    def __init__(self, emulator: RunningEmulator, window: timedelta, *, call_seconds: float = 0.25) -> None:
        self.emulator = emulator
        self.window = window
        self.settings = Settings()
        self.clock = FakeClock(START)
        self.quickbooks = CountingTransport(self.clock, call_seconds)
        self.queue = FakeWorkQueue()
        self.inbox: list[Delivery] = []
        self.retries: Counter[str] = Counter()
        self.failures: list[str] = []
        self.companies: dict[str, BenchCompany] = {}
        self.to_ship: list[tuple[datetime, int, Invoice]] = []  # a heap by shipping time
        self.shipped: list[tuple[Invoice, str, int]] = []  # (the bench's invoice, company id, Ledgersync invoice id)
        self.tokens = MemoryTokens()
        accounts = InMemoryAccountStore()
        directory = InMemoryDirectoryStore()
        states = InMemorySyncStateStore()
        self.settings_store = InMemorySettingsStore(accounts)
        settings = self.settings
        limiter = InProcessRequestLimiter(
            settings.qbo_requests_per_minute, settings.qbo_max_in_flight, max_wait_seconds=20, clock=self.clock
        )
        client = QuickBooksOnlineClient(emulator.url, limiter, session=self.quickbooks)
        events = LoudTokenEvents()
        oauth = IntuitOAuth(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, "http://localhost/cb", emulator.discovery_url)
        tokens = QuickBooksTokens(self.tokens, oauth, MemoryLocks(), events, metrics=events, clock=self.clock)
        adapters = Adapters(
            account_store=accounts,  # type: ignore[arg-type]
            settings_store=self.settings_store,  # type: ignore[arg-type]
            directory_store=directory,  # type: ignore[arg-type]
            invoice_store=InMemoryInvoiceStore(accounts, directory.records, states=states),  # type: ignore[arg-type]
            purchase_order_store=InMemoryPurchaseOrderStore(states),  # type: ignore[arg-type]
            sync_states=states,
            sync_queue=self.queue,
            notifier=FakeNotifier(),  # type: ignore[arg-type]
            bill_dedup=InMemoryDedupStore(),
            release_turns=OncePerTick(),
            clock=self.clock,
        )
        self.services = bootstrap.build(
            settings,
            adapters,
            use_cases={
                "quickbooks_client": client,
                "quickbooks_reference_ids": InMemoryReferenceIdCache(),
                "quickbooks_tokens": tokens,
            },
        )

    # ------------------------------------------------------------------ set-up

    def company(self, letter: str) -> BenchCompany:
        """The bench company ``letter``, set up on first use: connected to a realm of its own (an income account and
        the items there), an automatic store, a carrier, and a product and inventory line per item."""
        known = self.companies.get(letter)
        if known is not None:
            return known
        services, state = self.services, self.emulator.state
        company_id = services.accounts.create_company(CompanyCreate(name=f"Bench {letter}", currency="USD")).company_id
        realm_id = f"9130{next(REALMS):012d}"
        self.settings_store.put_settings(
            company_id,
            AccountingSettings(
                external_system=ExternalSystem.QUICKBOOKS_ONLINE,
                notification_emails=["ap@example.com"],
                auto_sync_window_minutes=int(self.window / TICK),
            ),
        )
        self.settings_store.put_connection(company_id, Connection(status=ConnectionStatus.CONNECTED, realm_id=realm_id))
        raw = state.issue_tokens(realm_id)  # valid for an hour of real time, the whole run; here for days
        self.tokens.save(
            company_id,
            TokenSet(
                realm_id=realm_id,
                access_token=raw["access_token"],
                refresh_token=raw["refresh_token"],
                access_expires_at=START + timedelta(days=30),
                refresh_expires_at=START + timedelta(days=100),
                refreshed_at=START,
            ),
        )
        income = state.add_record(realm_id, "Account", {"Name": "Sales of Product Income", "AccountType": "Income"})
        for name in ITEMS:
            state.add_record(
                realm_id, "Item", {"Name": name, "Type": "Service", "IncomeAccountRef": {"value": income["Id"]}}
            )
        directory = services.directory
        directory.upsert(
            company_id,
            Kind.STORES,
            [
                {
                    "id": STORE_ID,
                    "code": "AUTO",
                    "name": "Automatic",
                    "customerMode": "direct",
                    "invoiceSync": "automatic",
                }
            ],
        )
        directory.upsert(company_id, Kind.CARRIERS, [{"id": CARRIER_ID, "code": "AR", "name": "Armellini"}])
        directory.upsert(
            company_id,
            Kind.PRODUCTS,
            [{"id": i + 1, "code": f"P{i}", "name": name, "accountingItem": name} for i, name in enumerate(ITEMS)],
        )
        directory.upsert(
            company_id,
            Kind.INVENTORY,
            [
                {
                    "orderItemId": FIRST_ORDER_ITEM + i,
                    "productCode": f"P{i}",
                    "boxTypeCode": "HB",
                    "unitsPerBox": 6,
                    "unitType": "Bunch",
                    "availableBoxes": 1_000_000,
                }
                for i in range(len(ITEMS))
            ],
        )
        self.companies[letter] = known = BenchCompany(company_id, realm_id)
        return known

    def customer(self, company: BenchCompany, name: str) -> int:
        """The directory id of the customer ``name``, added (with its namesake in QuickBooks) on first use."""
        if name not in company.customers:
            customer_id = 100 + len(company.customers)
            self.services.directory.upsert(
                company.company_id, Kind.CUSTOMERS, [{"id": customer_id, "code": f"C{customer_id}", "name": name}]
            )
            self.emulator.state.add_record(company.realm_id, "Customer", {"DisplayName": name})
            company.customers[name] = customer_id
        return company.customers[name]

    # ------------------------------------------------------------------ AutoSync

    def ship(self, invoice: Invoice) -> None:
        """Shipped at ``invoice.shipped_at``: made, confirmed and shipped when the simulated clock gets there."""
        heapq.heappush(self.to_ship, (invoice.shipped_at, len(self.shipped) + len(self.to_ship), invoice))

    def run_scheduled_job(self, now: datetime) -> None:
        """Ship what is due by ``now``, run the job at ``now`` (or as soon after as the consumer lets the clock be),
        then let the consumer drain the queue."""
        while self.to_ship and self.to_ship[0][0] <= now:
            self._ship_now(heapq.heappop(self.to_ship)[2])
        self._move_to(now)
        self.services.automatic_invoice_queue.release_due(self.services.account_store.company_ids())
        self.drain()

    def sent(self) -> list[Sent]:
        sent: list[Sent] = []
        for invoice, company_id, invoice_id in self.shipped:
            accounting = self.services.invoices.get(company_id, invoice_id).accounting
            if accounting.status is AccountingStatus.SENT and accounting.sent_at is not None:
                sent.append(Sent(invoice, accounting.sent_at))
        return sent

    # ------------------------------------------------------------------ what the bench checks besides

    def statuses(self) -> Counter[str]:
        """How many of the shipped invoices stand in each accounting status."""
        return Counter(
            self.services.invoices.get(company_id, invoice_id).accounting.status.value
            for _, company_id, invoice_id in self.shipped
        )

    def documents_in_quickbooks(self) -> tuple[int, int]:
        """Invoices in the companies' realms, and how many document numbers a realm holds more than once."""
        count = repeated = 0
        for company in self.companies.values():
            numbers = Counter(row.get("DocNumber") for row in self.emulator.state.records(company.realm_id, "Invoice"))
            count += sum(numbers.values())
            repeated += sum(1 for times in numbers.values() if times > 1)
        return count, repeated

    def served_by_emulator(self) -> int:
        """The API calls the emulator counted for the companies' realms (the transport's count, seen from there)."""
        return sum(int(self.emulator.state.stats(company.realm_id)["calls"]) for company in self.companies.values())

    # ------------------------------------------------------------------ the simulation

    def _ship_now(self, invoice: Invoice) -> None:
        self._move_to(invoice.shipped_at)
        company = self.company(invoice.company)
        customer_id = self.customer(company, invoice.customer)
        invoices = self.services.invoices
        created = invoices.create(
            company.company_id,
            "bench",
            InvoiceCreateRequest(
                customer_id=customer_id,
                carrier_id=CARRIER_ID,
                store_code="AUTO",
                ship_date=invoice.shipped_at.date(),
                items=[
                    {"orderItemId": FIRST_ORDER_ITEM + ITEMS.index(item), "boxes": 1, "price": "12.50"}
                    for item in invoice.items
                ],
            ),
        )
        if created.invoice_id is None:
            raise RuntimeError(f"invoice.create made no invoice for {invoice}: {created.message}")
        invoices.confirm(company.company_id, created.invoice_id)
        invoices.ship(company.company_id, created.invoice_id, ShipRequest())
        self.shipped.append((invoice, company.company_id, created.invoice_id))

    def _move_to(self, moment: datetime) -> None:
        """Simulated time only goes forward: a consumer still busy past ``moment`` leaves the clock where it is."""
        if moment > self.clock.now():
            self.clock.advance(moment - self.clock.now())

    def drain(self) -> None:
        """Deliver every visible message, in order, as the sync queue's Lambda would: a retryable fault puts the
        message back after the handler's delay (Retry-After with a backoff floor, else the visibility timeout)."""
        consumer = self.services.accounting_sync
        visibility = self.settings.sync_queue_visibility_seconds
        delivered, most = 0, 20 * (len(self.shipped) + 1)
        while True:
            bodies, self.queue.bodies = self.queue.bodies, []
            self.inbox += [Delivery(body, self.clock.now()) for body in bodies]
            now = self.clock.now()
            ready = [delivery for delivery in self.inbox if delivery.visible_at <= now]
            if not ready:
                return
            delivered += len(ready)
            if delivered > most:  # each message would be queueing another: the engine would never be done
                raise RuntimeError(
                    f"the consumer delivered {delivered} messages in one drain for {len(self.shipped)} invoices; "
                    f"processing keeps queueing new work (the last: {ready[-1].body})"
                )
            self.inbox = [delivery for delivery in self.inbox if delivery.visible_at > now]
            for delivery in ready:
                delivery.receives += 1
                message = SyncMessage.parse(delivery.body, consumer.target)
                try:
                    consumer.process(message, delivery.receives, self.settings.sync_queue_max_receives)
                except RetryableError as fault:
                    self.retries[fault.message] += 1
                    delay = visibility
                    if fault.retry_after_seconds is not None:
                        delay = retry_delay(delivery.receives, fault.retry_after_seconds, visibility)
                    delivery.visible_at = self.clock.now() + timedelta(seconds=delay)
                    self.inbox.append(delivery)
                except Exception as failure:  # a benchmark reports every failure and goes on
                    self.failures.append(f"{message.document}: {type(failure).__name__}: {failure}")


def burst(company: str, count: int, customers: int, first_number: int = 1, at: datetime = SHIPPED) -> list[Invoice]:
    """``count`` orders of one company shipped at once, spread over ``customers`` accounting customers."""
    return [
        Invoice(company, n, f"Customer {n % customers:03d}", ITEMS[: 1 + n % len(ITEMS)], at)
        for n in range(first_number, first_number + count)
    ]


def run(
    system: AutoSync,
    invoices: list[Invoice],
    minutes: int,
    start: datetime = START,
    seed: int = 7,
    twice: float = 0.1,
) -> list[Sent]:
    """Ship ``invoices``, run the job once a minute from ``start``: a little late, and in a ``twice`` share of the
    minutes (chosen at random) a second time, as a scheduler that delivers an event twice would."""
    rng = random.Random(seed)
    for invoice in invoices:
        system.ship(invoice)
    for minute in range(minutes):
        now = start + minute * TICK + timedelta(seconds=rng.randint(0, 15))
        system.run_scheduled_job(now)
        if rng.random() < twice:  # the scheduler fired twice this minute
            system.run_scheduled_job(now + timedelta(seconds=rng.randint(5, 40)))
    return system.sent()


def sends_per_minute(sent: list[Sent]) -> list[int]:
    """Sends in each minute from the first send to the last (zeros included)."""
    counts = Counter((item.at - START) // TICK for item in sent)
    return [counts[minute] for minute in range(min(counts), max(counts) + 1)]


def histogram(sent: list[Sent]) -> str:
    """Runs of equal per-minute counts, minutes counted from the shipping minute: ``11-60: 4/min``."""
    counts = Counter((item.at - START) // TICK for item in sent)
    first, last = min(counts), max(counts)
    rows: list[str] = []
    start = first
    for minute in range(first, last + 2):
        if minute == last + 1 or counts[minute] != counts[start]:
            span = f"{start}" if start == minute - 1 else f"{start}-{minute - 1}"
            rows.append(f"{span}: {counts[start]}/min")
            start = minute
    return ", ".join(rows)


def report_evenness(title: str, sent: list[Sent], window: timedelta) -> None:
    minutes = sends_per_minute(sent)
    mean = sum(minutes) / len(minutes)
    last = max(item.at - item.invoice.shipped_at for item in sent)
    print(title)
    print(f"  sends per minute (minute after shipping: count): {histogram(sent)}")
    print(f"  max minute / mean: {max(minutes) / mean:.2f} (max {max(minutes)}, mean {mean:.2f}; target <= 1.2)")
    target = window + 2 * TICK
    print(f"  time to the last one: {last.total_seconds() / 60:.1f} min (target <= {target.total_seconds() / 60:.0f})")


def per_company(sent: list[Sent]) -> dict[str, list[Sent]]:
    companies: dict[str, list[Sent]] = defaultdict(list)
    for item in sent:
        companies[item.invoice.company].append(item)
    return companies


@dataclass(frozen=True)
class Sizes:
    """How many invoices each scenario ships."""

    burst: int = 600  # one company at once
    per_company: int = 200  # each of 3 companies at once
    small: int = 10  # the small company next to a burst
    customers: int = 40


QUICK = Sizes(burst=120, per_company=60)


def report_engine(system: AutoSync, invoices: int) -> None:
    """What only the real engine can show: statuses left, retries, failures, the documents QuickBooks holds."""
    if not isinstance(system, EngineAutoSync):
        return
    statuses = system.statuses()
    documents, repeated = system.documents_in_quickbooks()
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(system.quickbooks.kinds.items()))
    served = system.served_by_emulator()
    print(
        f"  engine: statuses {dict(statuses)}; invoices in QuickBooks {documents} for {invoices} orders "
        f"(numbers held twice: {repeated}); calls: {kinds} (the emulator served {served})"
    )
    for reason, count in system.retries.most_common(5):
        print(f"  ! retried {count} times: {reason}")
    for failure in system.failures[:5]:
        print(f"  ! failed: {failure}")
    if len(system.failures) > 5:
        print(f"  ! ... {len(system.failures) - 5} more failures")


def scenarios(system_for: Callable[[], AutoSync], window: timedelta, sizes: Sizes) -> None:
    """The issue's three cases, and the steady state of the first one's next day."""
    label = f"{int(window / TICK)} min"
    minutes = int(window / TICK) + 4
    big, customers = sizes.burst, sizes.customers

    # N at once for one company; then, the cache warm, a second day's N (steady state)
    system = system_for()
    first_day = run(system, burst("A", big, customers=customers), minutes)
    report_evenness(f"{big} invoices shipped at once, one company, window {label}", first_day, window)
    calls, queries = system.quickbooks.calls, system.quickbooks.queries
    print(f"  QuickBooks calls per invoice, cold cache: {calls / big:.3f} ({queries / big:.3f} queries)")
    next_day = START + timedelta(days=1)
    # the next day's N: two customers new since the first day
    second = burst("A", big, customers=customers + 2, first_number=big + 1, at=next_day + timedelta(seconds=20))
    run(system, second, minutes, next_day)
    calls, queries = system.quickbooks.calls - calls, system.quickbooks.queries - queries
    print(
        f"  QuickBooks calls per invoice, steady state (the next {big}, cache warm): {calls / big:.3f} (target 1); "
        f"queries per invoice: {queries / big:.3f} (target <= 0.05)"
    )
    print(
        f"  most QuickBooks calls in a minute for the realm: {system.quickbooks.busiest_minute()} (limit {REALM_LIMIT})"
    )
    report_engine(system, 2 * big)

    # 3 companies x M at once
    each = sizes.per_company
    system = system_for()
    sent = run(system, [invoice for company in "BCD" for invoice in burst(company, each, customers=customers)], minutes)
    report_evenness(f"3 companies x {each} shipped at once, window {label} (all companies)", sent, window)
    for company, items in sorted(per_company(sent).items()):
        minutes_of = sends_per_minute(items)
        print(
            f"  company {company}: {histogram(items)}; max minute / mean "
            f"{max(minutes_of) / (sum(minutes_of) / len(minutes_of)):.2f}"
        )
    print(
        f"  QuickBooks calls per invoice (cold caches): {system.quickbooks.calls / (3 * each):.3f}; "
        f"most calls in a minute for one realm: {system.quickbooks.busiest_minute()} (limit {REALM_LIMIT})"
    )
    report_engine(system, 3 * each)

    # every minute's job run twice: the second run of a minute must release nothing more
    system = system_for()
    twice = run(system, burst("G", big, customers=customers), minutes, twice=1.0)
    report_evenness(
        f"{big} invoices at once, one company, the job run twice every minute, window {label}", twice, window
    )
    report_engine(system, big)

    # one company's burst next to another's few, against the few alone
    small = sizes.small
    system = system_for()
    together = per_company(run(system, burst("E", big, customers=customers) + burst("F", small, customers=5), minutes))
    alone = per_company(run(system_for(), burst("F", small, customers=5), minutes))
    alone_at = {item.invoice.number: item.at for item in alone["F"]}
    extra = max(item.at - alone_at[item.invoice.number] for item in together["F"])
    print(f"{big} invoices of one company next to {small} of another, window {label}")
    print(
        f"  the small company's worst extra delay: {extra.total_seconds():.1f} s (target <= 60); "
        f"its sends: {histogram(together['F'])}; the big one's: {histogram(together['E'])}"
    )
    report_engine(system, big + small)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--window", type=int, default=60, help="autoSyncWindowMinutes (1 to 1440)")
    parser.add_argument("--quick", action="store_true", help="fewer invoices: 120 at once, 3 x 60, 120 next to 10")
    parser.add_argument("--simulated", action="store_true", help="the stand-in for the engine (no emulator)")
    parser.add_argument("--call-seconds", type=float, default=0.25, help="simulated seconds each QuickBooks call takes")
    args = parser.parse_args()
    window = timedelta(minutes=args.window)
    sizes = QUICK if args.quick else Sizes()
    if args.simulated:
        print("the simulated job, consumer and QuickBooks (--simulated)")
        scenarios(lambda: SimulatedAutoSync(window, call_seconds=args.call_seconds), window, sizes)
        return
    print("the real engine on a simulated clock, QuickBooks Online = the emulator on loopback")
    emulator = start_emulator()
    try:
        scenarios(lambda: EngineAutoSync(emulator, window, call_seconds=args.call_seconds), window, sizes)
    finally:
        emulator.shutdown()


if __name__ == "__main__":
    main()
