"""invoice.create benchmark: DynamoDB round trips per request, handler time p50/p95, cold import time per handler.

Runs against moto in process (no network). Prints figures; asserts nothing about time.
Targets: round trips do not grow with the number of items (at most 4); cold import under 300 ms.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from support import use_moto_environment

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "common" / "python"), str(ROOT)]
HANDLERS = [
    "invoice_create",
    "management_api",
    "send_to_external",
    "accounting_sync",
    "webhook_sender",
    "token_refresh",
    "qbwc",
    "scheduler",
]
REQUESTS = 10


def cold_import_ms(function: str) -> float | None:
    """Import the handler module in a fresh interpreter, as a Lambda cold start does."""
    if not (ROOT / "functions" / function / "app.py").exists():
        return None
    code = (
        "import time, sys; sys.path[:0] = ['layers/common/python', '.']; t = time.perf_counter(); "
        f"import functions.{function}.app; print((time.perf_counter() - t) * 1000)"
    )
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "1"}
    runs = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            return None
        runs.append(float(out.stdout.strip().splitlines()[-1]))
    return min(runs)


def main() -> None:
    use_moto_environment(DOCUMENTS_BUCKET="ledgersync-bench", ADMIN_API_KEY_SECRET="ledgersync/admin-api-key")
    from moto import mock_aws

    with mock_aws():
        from tests.support.events import Api
        from tests.support.stack import create_resources

        from ledgersync import bootstrap

        bootstrap.reset()
        create_resources("bench-admin")
        api = Api()
        created = api.post("/v1/companies", {"name": "Bench"}, headers={"X-Admin-Key": "bench-admin"}).json()
        api.token = created["adminToken"]
        inventory = [
            {
                "orderItemId": 10_000 + i,
                "productCode": f"P{i}",
                "boxTypeCode": "HB",
                "unitsPerBox": 10,
                "unitType": "Stem",
                "availableBoxes": 1_000_000,
                "cost": 1,
            }
            for i in range(60)
        ]
        api.put("/v1/directory/inventory", {"records": inventory})
        api.put("/v1/directory/customers", {"records": [{"id": 1, "code": "C", "name": "Customer"}]})
        api.put("/v1/directory/carriers", {"records": [{"id": 1, "code": "FX", "name": "FedEx"}]})
        calls: dict[str, float] = {"n": 0, "aws_ms": 0.0, "start": 0.0}

        def sent(**_: Any) -> None:
            calls["n"] += 1
            calls["start"] = time.perf_counter()

        def answered(**_: Any) -> None:
            calls["aws_ms"] += (time.perf_counter() - calls["start"]) * 1000

        from ledgersync.adapters.aws import dynamodb

        events = dynamodb().meta.client.meta.events
        events.register("before-send.dynamodb", sent)
        events.register("needs-retry.dynamodb", answered)
        print("invoice.create (moto in process; 'own' = handler time less the time spent inside DynamoDB calls,")
        print("which on moto is dominated by moto's own copy of every table per transaction)")
        print(
            f"{'items':>6} {'lines by':>12} {'round trips':>12} {'p50 ms':>8} {'p95 ms':>8} {'own p50':>8} "
            f"{'own p95':>8}"
        )
        for size in (1, 50):
            for by in ("orderItemId", "productCode"):
                trips, times, own = [], [], []
                for attempt in range(REQUESTS + 1):
                    items = [
                        (
                            {"orderItemId": 10_000 + i}
                            if by == "orderItemId"
                            else {"productCode": f"P{i}", "boxTypeCode": "HB", "unitsPerBox": 10, "unitType": "Stem"}
                        )
                        | {"boxes": 1, "price": "1.25"}
                        for i in range(size)
                    ]
                    body = {"customerId": 1, "carrierId": 1, "shipDate": "2026-12-01", "items": items}
                    calls["n"], calls["aws_ms"] = 0, 0.0
                    start = time.perf_counter()
                    answer = api.komet("invoice.create", body)
                    assert answer.status == 201, answer.text
                    if attempt == 0:
                        continue  # warm-up: first use of each code path
                    times.append((time.perf_counter() - start) * 1000)
                    own.append(times[-1] - calls["aws_ms"])
                    trips.append(int(calls["n"]))
                p95, own95 = statistics.quantiles(times, n=20)[18], statistics.quantiles(own, n=20)[18]
                print(
                    f"{size:>6} {by:>12} {max(trips):>12} {statistics.median(times):>8.1f} {p95:>8.1f} "
                    f"{statistics.median(own):>8.1f} {own95:>8.1f}"
                )
    print("\ncold import of each handler module (best of 3, fresh interpreter)")
    for function in HANDLERS:
        ms = cold_import_ms(function)
        print(f"  {function:<18} {'not built' if ms is None else f'{ms:.0f} ms'}")


if __name__ == "__main__":
    main()
