"""QuickBooks Online bill sync benchmark: QuickBooks calls per bill and bills per minute under the company limit.

Starts the QuickBooks Online emulator on loopback with its per-company limits (500 requests/minute, 10 in flight)
and sends bills through the real gateway, OAuth client, limiter and exactly-once logic (in-memory stores).
Prints figures; asserts nothing about time. Targets: 1 call per bill in steady state; bills per minute at least
90% of the limit with zero 429 answers. ``--quick`` keeps the run to about 20 seconds (default about 70).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "common" / "python"), str(ROOT)]

from devstack.qbo_emulator import (  # noqa: E402 - after the path set-up a script needs
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    EmulatorState,
    RunningEmulator,
    serve,
)
from tests.support.qbo import emulator_tokens  # noqa: E402

from ledgersync.adapters.quickbooks_online.bills import QuickBooksOnlineGateway  # noqa: E402
from ledgersync.adapters.quickbooks_online.client import QuickBooksOnlineClient  # noqa: E402
from ledgersync.adapters.quickbooks_online.limits import InProcessRequestLimiter  # noqa: E402
from ledgersync.adapters.quickbooks_online.oauth import IntuitOAuth  # noqa: E402
from ledgersync.adapters.quickbooks_online.references import InMemoryReferenceIdCache  # noqa: E402
from ledgersync.clock import SystemClock  # noqa: E402
from ledgersync.domain.purchase_order_bills import BillDraft, BillLine, BillLineKind  # noqa: E402
from ledgersync.domain.quickbooks_online import (  # noqa: E402
    BillSync,
    DedupEntry,
    DedupState,
    QuickBooksTokens,
)
from support import MemoryLocks, MemoryTokens  # noqa: E402

REALM = "9130350000000777"
VENDORS = 40


class MemoryDedup:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: dict[tuple[str, str], DedupEntry] = {}

    def put_if_absent(self, company_id: str, key: str, entry: DedupEntry) -> DedupEntry | None:
        with self.lock:
            existing = self.entries.get((company_id, key))
            if existing is None:
                self.entries[(company_id, key)] = entry
            return existing

    def replace(self, company_id: str, key: str, expected: DedupEntry, new: DedupEntry) -> bool:
        with self.lock:
            if self.entries.get((company_id, key)) != expected:
                return False
            self.entries[(company_id, key)] = new
            return True

    def complete(self, company_id: str, key: str, attempt: int, result_id: str) -> None:
        with self.lock:
            entry = self.entries[(company_id, key)]
            done = entry.model_copy(update={"state": DedupState.COMPLETED, "result_id": result_id})
            self.entries[(company_id, key)] = done


class Quiet:
    def mark_reauthorization_required(self, company_id: str, reason: str) -> None:
        print(f"reauthorization required for {company_id}: {reason}")

    def refresh_token_days_left(self, company_id: str, days: float) -> None:
        return

    def token_refresh_failed(self, company_id: str, reason: str) -> None:
        print(f"token refresh failed for {company_id}: {reason}")


def draft(vendor: int, number: int) -> BillDraft:
    return BillDraft(
        company_id="bench",
        purchase_order_id=number,
        po_number=f"PO{number}",
        invoice_number=f"I{number}",
        vendor_name=f"Grower {vendor:02d}",
        txn_date=date(2025, 3, 1),
        currency=None,
        lines=[
            BillLine(
                kind=BillLineKind.ITEM,
                ref_name="Fresh Cut Flowers",
                amount=Decimal("120.40"),
                description="Fresh Cut Flowers",
                class_name="Miami",
            ),
            BillLine(kind=BillLineKind.ACCOUNT, ref_name="Freight", amount=Decimal("15.00"), description="Freight"),
        ],
        memo=f"Ledgersync PO PO{number} vendor invoice I{number} (PO{number}-I{number})",
    )


def worst_minute(times: list[float]) -> int:
    times = sorted(times)
    worst, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - 60:
            start += 1
        worst = max(worst, end - start + 1)
    return worst


def build(args: argparse.Namespace) -> tuple[RunningEmulator, QuickBooksOnlineClient, BillSync]:
    """The emulator with a company set up, and the real adapters and use case over it."""
    xsd = os.environ.get("QBO_XSD_DIR") or str(ROOT.parent / "shared" / "schemas" / "qbo")
    state = EmulatorState(
        requests_per_minute=args.limit, xsd_dir=xsd if Path(xsd).is_dir() else None, approve_realm=REALM
    )
    emulator = serve(state=state)
    for name, entity in [("Fresh Cut Flowers", "Item"), ("Freight", "Account"), ("Miami", "Class")]:
        state.add_record(REALM, entity, {"Name": name})
    for vendor in range(VENDORS):
        state.add_record(REALM, "Vendor", {"DisplayName": f"Grower {vendor:02d}"})
    store = MemoryTokens()
    store.save("bench", emulator_tokens(state, REALM))
    quiet = Quiet()
    oauth = IntuitOAuth(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, "http://localhost/cb", emulator.discovery_url)
    tokens = QuickBooksTokens(store, oauth, MemoryLocks(), quiet, metrics=quiet, clock=SystemClock())
    limiter = InProcessRequestLimiter(args.rpm, args.in_flight, max_wait_seconds=120)
    client = QuickBooksOnlineClient(emulator.url, limiter)
    sync = BillSync(QuickBooksOnlineGateway(client, InMemoryReferenceIdCache()), tokens, MemoryDedup(), SystemClock())
    return emulator, client, sync


def calls_per_bill(client: QuickBooksOnlineClient, sync: BillSync) -> None:
    """Print the QuickBooks calls a bill costs: the first ever, a new vendor's first, and steady state."""
    before = client.calls
    sync.send(draft(0, 1))
    first_ever = client.calls - before
    before = client.calls
    sync.send(draft(1, 2))
    new_vendor = client.calls - before
    before = client.calls
    for n in range(3, 13):
        sync.send(draft(n % 2, n))
    steady = (client.calls - before) / 10
    for vendor in range(2, VENDORS):  # every vendor known before the throughput run
        sync.send(draft(vendor, 100 + vendor))
    print(f"QuickBooks calls, first bill ever (vendor, item, account, class unknown): {first_ever}")
    print(f"QuickBooks calls, first bill of a new vendor: {new_vendor}")
    print(f"QuickBooks calls per bill, steady state: {steady:.2f} (target 1)")


def throughput(emulator: RunningEmulator, sync: BillSync, seconds: float, workers: int) -> tuple[int, float, list[str]]:
    """Send bills from ``workers`` threads for ``seconds``; the number sent, the time taken, the failures."""
    sent = 0
    failures: list[str] = []
    counter = threading.Lock()
    numbers = iter(range(10_000, 10_000_000))
    deadline = time.monotonic() + seconds

    def worker() -> None:
        nonlocal sent
        while time.monotonic() < deadline:
            with counter:
                number = next(numbers)
            try:
                sync.send(draft(number % VENDORS, number))
            except Exception as failure:  # a benchmark reports every failure and goes on
                failures.append(f"{type(failure).__name__}: {failure}")
                continue
            with counter:
                sent += 1

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sent, time.monotonic() - started, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a 20-second throughput run instead of 65 seconds")
    parser.add_argument("--seconds", type=float, default=None, help="throughput run length (at most 150)")
    parser.add_argument("--limit", type=int, default=500, help="the emulator's requests per minute per company")
    parser.add_argument("--rpm", type=int, default=450, help="Ledgersync's own budget (QBO_REQUESTS_PER_MINUTE)")
    parser.add_argument("--in-flight", type=int, default=4, help="QBO_MAX_IN_FLIGHT")
    args = parser.parse_args()
    seconds = min(150.0, args.seconds or (20.0 if args.quick else 65.0))
    emulator, client, sync = build(args)
    try:
        calls_per_bill(client, sync)
        state = emulator.state
        served_before = len(state.realm(REALM).served_at)
        throttled_before = state.stats(REALM)["throttled"]
        sent, elapsed, failures = throughput(emulator, sync, seconds, args.in_flight * 2)
        served = state.realm(REALM).served_at[served_before:]
        per_minute = sent / elapsed * 60
        print(f"throughput run: {elapsed:.1f} s, {sent} bills, {args.in_flight} in flight, budget {args.rpm}/min")
        print(
            f"bills per minute: {per_minute:.1f} ({per_minute / args.limit:.1%} of the {args.limit}/min limit; "
            f"target at least 90%)"
        )
        print(f"most QuickBooks calls in any 60 s: {worst_minute(served)} (limit {args.limit})")
        print(
            f"429 answers: {state.stats(REALM)['throttled'] - throttled_before} (target 0); "
            f"failed sends: {len(failures)}"
        )
        for failure in failures[:5]:
            print(f"  {failure}")
    finally:
        emulator.shutdown()


if __name__ == "__main__":
    main()
