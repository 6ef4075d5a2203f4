"""Web Connector benchmark: SOAP round trips per synced bill, DynamoDB calls per SOAP call, handler time per call.

The real handler (functions/qbwc/app.py) behind the loopback gateway, sessions in DynamoDB (moto in process),
the Web Connector played by zeep against the fake company file, in-memory ports for the PO side.
Prints figures; asserts nothing about time. Target: under 1 SOAP round trip per bill in a batch of 50.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from support import use_moto_environment

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "common" / "python"), str(ROOT)]
BATCHES = tuple(int(n) for n in os.environ.get("QBWC_BENCH_BATCHES", "1,10,50,200").split(","))


def main() -> None:
    use_moto_environment()
    import logging
    import warnings

    import boto3
    from moto import mock_aws

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", "No application metrics to publish")

    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="ledgersync-bench",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        )
        run()


def run() -> None:
    from botocore.client import BaseClient
    from devstack.fake_qb_company import FakeCompany
    from devstack.qbwc_simulator import InMemoryPurchaseOrders, LocalGateway, run_session
    from functions.qbwc import app as qbwc_app
    from tests.support.desktop import COMPANY, TOKEN, USER, VENDOR, purchase_order

    from ledgersync import bootstrap
    from ledgersync.adapters.dynamodb import SingleTable
    from ledgersync.adapters.qbwc_sessions import DynamoSessionStore
    from ledgersync.adapters.quickbooks_desktop import QbxmlCodec
    from ledgersync.adapters.soap import parse_call
    from ledgersync.config import Settings
    from ledgersync.domain.desktop_sync import WebConnectorService

    dynamo_calls = {"n": 0}
    make_api_call = getattr(BaseClient, "_make_api_call")  # noqa: B009 (private, hence no attribute in the stubs)

    def counted(client: Any, operation: str, params: Any) -> Any:
        if client.meta.service_model.service_name == "dynamodb":
            dynamo_calls["n"] += 1
        return make_api_call(client, operation, params)

    setattr(BaseClient, "_make_api_call", counted)  # noqa: B010 (count every DynamoDB request of every thread)
    timings: dict[str, list[float]] = defaultdict(list)
    dynamo_per_call: dict[str, list[int]] = defaultdict(list)

    def timed_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        method = parse_call(event["body"]).method if event["httpMethod"] == "POST" else "GET ?wsdl"
        before = dynamo_calls["n"]
        started = time.perf_counter()
        answer: dict[str, Any] = qbwc_app.lambda_handler(event, context)
        timings[method].append((time.perf_counter() - started) * 1000)
        dynamo_per_call[method].append(dynamo_calls["n"] - before)
        return answer

    print("QuickBooks Web Connector sessions (loopback HTTP, zeep, moto in process)")
    print(f"{'bills':>6} {'SOAP calls':>11} {'qbXML msgs':>11} {'calls/bill':>11} {'session ms':>11}")
    with LocalGateway(timed_handler) as gateway:
        for size in BATCHES:
            ledger = InMemoryPurchaseOrders()
            ledger.tokens[(USER, TOKEN)] = COMPANY
            for po_id in range(1, size + 1):
                ledger.add(purchase_order(po_id))
            store = DynamoSessionStore(SingleTable("ledgersync-bench"))
            service = WebConnectorService(
                ledger, ledger, ledger, store, QbxmlCodec(), batch_size=50, max_jobs_per_session=500
            )
            bootstrap.install(bootstrap.build(Settings.from_environment(), use_cases={"web_connector": service}))
            company = FakeCompany(
                vendors=[VENDOR], items=["Fresh Cut Flowers"], accounts=["Freight"], classes=["Chicago"]
            )
            started = time.perf_counter()
            result = run_session(f"{gateway.url}/qbwc", USER, TOKEN, company)
            elapsed = (time.perf_counter() - started) * 1000
            bills = len(company.bills)
            assert result.completed and bills == size, result.as_dict()
            print(
                f"{bills:>6} {result.soap_calls:>11} {result.messages:>11} {result.soap_calls / bills:>11.2f} "
                f"{elapsed:>11.0f}"
            )
    print("\nhandler time per call, all sessions (ms) and DynamoDB requests per call")
    print(f"{'method':<20} {'calls':>6} {'p50':>8} {'p95':>8} {'max':>8} {'dynamo max':>11}")
    for method, values in sorted(timings.items()):
        p95 = statistics.quantiles(values, n=20)[18] if len(values) >= 2 else values[0]
        print(
            f"{method:<20} {len(values):>6} {statistics.median(values):>8.1f} {p95:>8.1f} {max(values):>8.1f} "
            f"{max(dynamo_per_call[method]):>11}"
        )


if __name__ == "__main__":
    main()
