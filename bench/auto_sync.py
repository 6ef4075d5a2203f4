"""Automatic invoice queue benchmark (issue 10): sends per minute, evenness, time to the last invoice, QuickBooks
Online calls and queries per invoice, and one company's burst next to another company's few invoices.

On a simulated clock (no sleeping, no network, about a second): companies ship invoices at once; the scheduled
job runs once a minute (0 to 15 seconds late, now and then twice in a minute) and releases, per company, what the
release step says; a simulated consumer (a few workers shared by every company, FIFO, a fixed time per call)
sends each released invoice to a counting fake QuickBooks Online through a name-to-id cache: one query per
customer or item not yet cached, one create per invoice. Prints figures; asserts nothing.
Targets: max minute / mean at most 1.2; the last one sent within the window plus 2 minutes; 1 QuickBooks call
and at most 0.05 queries per invoice in steady state; the small company's invoices at most a minute later than
when it is alone; never more than 500 calls a minute per realm.

The seam: ``AutoSync`` is what the bench drives. ``SimulatedAutoSync`` stands for the real scheduled job and
consumer and takes the per-tick release step as a function (the pacing planner for now); the real job and
consumer, run on the same simulated clock against a counting QuickBooks, can take its place.
"""

from __future__ import annotations

import argparse
import heapq
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import zip_longest
from pathlib import Path
from typing import Protocol

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "common" / "python"), str(ROOT)]

from ledgersync.adapters.quickbooks_online.references import InMemoryReferenceIdCache  # noqa: E402
from ledgersync.domain.sync.pacing import TICK, release_count  # noqa: E402

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


def burst(company: str, count: int, customers: int, first_number: int = 1, at: datetime = SHIPPED) -> list[Invoice]:
    """``count`` orders of one company shipped at once, spread over ``customers`` accounting customers."""
    return [
        Invoice(company, n, f"Customer {n % customers:03d}", ITEMS[: 1 + n % len(ITEMS)], at)
        for n in range(first_number, first_number + count)
    ]


def run(system: AutoSync, invoices: list[Invoice], minutes: int, start: datetime = START, seed: int = 7) -> list[Sent]:
    """Ship ``invoices``, run the job once a minute from ``start`` (a little late, now and then twice)."""
    rng = random.Random(seed)
    for invoice in invoices:
        system.ship(invoice)
    for minute in range(minutes):
        now = start + minute * TICK + timedelta(seconds=rng.randint(0, 15))
        system.run_scheduled_job(now)
        if rng.random() < 0.1:  # the scheduler fired twice this minute
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--window", type=int, default=60, help="autoSyncWindowMinutes (1 to 1440)")
    args = parser.parse_args()
    window = timedelta(minutes=args.window)
    minutes = args.window + 4
    system_for = partial(SimulatedAutoSync, window)

    # 600 at once for one company; then, the cache warm, a second day's 600 (steady state)
    system = system_for()
    first_day = run(system, burst("A", 600, customers=40), minutes)
    report_evenness(f"600 invoices shipped at once, one company, window {args.window} min", first_day, window)
    calls, queries = system.quickbooks.calls, system.quickbooks.queries
    print(f"  QuickBooks calls per invoice, cold cache: {calls / 600:.3f} ({queries / 600:.3f} queries)")
    next_day = START + timedelta(days=1)
    # the next day's 600: two customers new since the first day
    run(system, burst("A", 600, customers=42, first_number=601, at=next_day + timedelta(seconds=20)), minutes, next_day)
    calls, queries = system.quickbooks.calls - calls, system.quickbooks.queries - queries
    print(
        f"  QuickBooks calls per invoice, steady state (the next 600, cache warm): {calls / 600:.3f} (target 1); "
        f"queries per invoice: {queries / 600:.3f} (target <= 0.05)"
    )
    print(
        f"  most QuickBooks calls in a minute for the realm: {system.quickbooks.busiest_minute()} (limit {REALM_LIMIT})"
    )

    # 3 companies x 200 at once
    system = system_for()
    sent = run(system, [invoice for company in "BCD" for invoice in burst(company, 200, customers=40)], minutes)
    report_evenness(f"3 companies x 200 shipped at once, window {args.window} min (all companies)", sent, window)
    for company, items in sorted(per_company(sent).items()):
        minutes_of = sends_per_minute(items)
        print(
            f"  company {company}: {histogram(items)}; max minute / mean "
            f"{max(minutes_of) / (sum(minutes_of) / len(minutes_of)):.2f}"
        )
    print(
        f"  QuickBooks calls per invoice (cold caches): {system.quickbooks.calls / 600:.3f}; "
        f"most calls in a minute for one realm: {system.quickbooks.busiest_minute()} (limit {REALM_LIMIT})"
    )

    # one company's 600 next to another's 10, against the 10 alone
    together = per_company(run(system_for(), burst("E", 600, customers=40) + burst("F", 10, customers=5), minutes))
    alone = per_company(run(system_for(), burst("F", 10, customers=5), minutes))
    alone_at = {item.invoice.number: item.at for item in alone["F"]}
    extra = max(item.at - alone_at[item.invoice.number] for item in together["F"])
    print(f"600 invoices of one company next to 10 of another, window {args.window} min")
    print(
        f"  the small company's worst extra delay: {extra.total_seconds():.1f} s (target <= 60); "
        f"its sends: {histogram(together['F'])}"
    )


if __name__ == "__main__":
    main()
