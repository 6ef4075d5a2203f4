"""Issue 8: under concurrent requests to the local stack, every answer belongs to the caller's company and a
request without a token is refused, whatever the other requests in flight carry."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from devstack.runtime import ExecutionEnvironment, FunctionBusyError, FunctionFailedError, LocalFunction
from devstack.stack import LocalStack
from devstack.template import FunctionSpec

COMPANIES = 4
PURCHASE_ORDER_ID = 777  # every tenant has its own PO under the same id
REQUESTS = 200
THREADS = 8


@dataclass(frozen=True)
class Tenant:
    name: str
    admin_token: str
    customer: str
    po_number: str = ""


@dataclass(frozen=True)
class Outcome:
    kind: str
    tenant: Tenant | None
    status: int
    body: Any


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(emulators=False, schedules=False, pollers=False) as running:
        yield running


@pytest.fixture(scope="module")
def tenants(stack: LocalStack) -> list[Tenant]:
    created: list[Tenant] = []
    for n in range(COMPANIES):
        name = f"Tenant {n}"
        answer = requests.post(
            f"{stack.api_url}/v1/companies",
            json={"name": name},
            headers={"X-Admin-Key": stack.admin_api_key},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        token = answer.json()["adminToken"]
        customer = f"Customer of tenant {n}"
        loaded = requests.put(
            f"{stack.api_url}/v1/directory/customers",
            json={"records": [{"id": 100 + n, "code": f"C{n}", "name": customer}]},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert loaded.status_code == 200, loaded.text
        for kind, record in (
            ("vendors", {"id": 1, "code": "V", "name": "Vendor"}),
            ("locations", {"id": 1, "code": "L", "name": "Hub"}),
        ):
            added = requests.put(
                f"{stack.api_url}/v1/directory/{kind}",
                json={"records": [record]},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            assert added.status_code == 200, added.text
        po_number = f"P-TENANT-{n}"
        purchase_order = {
            "poNumber": po_number,
            "vendorId": 1,
            "locationId": 1,
            "shipDate": "2026-12-10",
            "arrivalDate": "2026-12-11",
            "items": [{"categoryProcurementAccountingCode": "CGEN", "totalCost": 10.0}],
            "additionalCharges": [],
        }
        stored = requests.put(
            f"{stack.api_url}/v1/purchase-orders/{PURCHASE_ORDER_ID}",
            json=purchase_order,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert stored.status_code == 200, stored.text
        created.append(Tenant(name, token, customer, po_number))
    return created


def _komet_list(base: str, tenant: Tenant | None) -> Outcome:
    body = {"authenticationToken": tenant.admin_token} if tenant else {}
    answer = requests.post(f"{base}/api/customer.list", json=body, timeout=60)
    return Outcome("komet", tenant, answer.status_code, answer.json())


def _bearer_list(base: str, tenant: Tenant | None) -> Outcome:
    headers = {"Authorization": f"Bearer {tenant.admin_token}"} if tenant else {}
    answer = requests.get(f"{base}/v1/directory/customers", headers=headers, timeout=60)
    return Outcome("bearer", tenant, answer.status_code, answer.json())


def _create_user(base: str, tenant: Tenant | None) -> Outcome:
    headers = {"Authorization": f"Bearer {tenant.admin_token}"} if tenant else {}
    user = {"name": "Concurrent admin", "email": "admin@example.com", "roles": ["Admin"]}
    answer = requests.post(f"{base}/v1/users", json=user, headers=headers, timeout=60)
    return Outcome("user", tenant, answer.status_code, answer.json())


def _purchase_order(base: str, tenant: Tenant | None) -> Outcome:
    """A route of another function (send_to_external) than the lists' (the management API)."""
    headers = {"Authorization": f"Bearer {tenant.admin_token}"} if tenant else {}
    answer = requests.get(f"{base}/v1/purchase-orders/{PURCHASE_ORDER_ID}", headers=headers, timeout=60)
    return Outcome("po", tenant, answer.status_code, answer.json())


def _customers(outcome: Outcome) -> list[str]:
    records = outcome.body["customers"] if outcome.kind == "komet" else outcome.body["records"]
    return [str(record["name"]) for record in records]


def test_every_answer_belongs_to_the_callers_company_when_requests_of_many_companies_run_at_once(
    stack: LocalStack, tenants: list[Tenant]
) -> None:
    # Given 200 requests: Komet lists (token in the body), Bearer lists and user creations, from 4 companies,
    # and a fifth of them without any token
    calls: list[Callable[[str, Tenant | None], Outcome]] = [_komet_list, _bearer_list, _create_user, _purchase_order]
    shuffled = random.Random(8)
    plan = [
        (calls[i % len(calls)], None if i % 5 == 4 else tenants[shuffled.randrange(COMPANIES)]) for i in range(REQUESTS)
    ]
    shuffled.shuffle(plan)

    # When they are sent at once
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        outcomes = list(pool.map(lambda step: step[0](stack.api_url, step[1]), plan))

    # Then every tokenless request is refused and every other answer is its own company's
    assert len(outcomes) == REQUESTS
    strangers = [o for o in outcomes if o.tenant is None]
    assert strangers and {o.status for o in strangers} == {401}, [(o.kind, o.status) for o in strangers]
    assert {o.kind for o in strangers} == {"komet", "bearer", "user", "po"}
    callers = [o for o in outcomes if o.tenant is not None]
    # And the PO read, served by another function while the lists ran, is the caller's own PO
    orders = [o for o in callers if o.kind == "po"]
    assert orders and {o.status for o in orders} == {200}, [o.body for o in orders if o.status != 200]
    assert [o for o in orders if o.tenant and o.body["poNumber"] != o.tenant.po_number] == []
    lists = [o for o in callers if o.kind in {"komet", "bearer"}]
    assert {o.status for o in lists} == {200}, [o.body for o in lists if o.status != 200]
    foreign = [(o.tenant.name, _customers(o)) for o in lists if o.tenant and _customers(o) != [o.tenant.customer]]
    assert foreign == []
    users = [o for o in callers if o.kind == "user"]
    assert users and {o.status for o in users} == {201}, [o.body for o in users if o.status != 201]
    # And each user was created in the company of the token that asked for it
    for created in users:
        assert created.tenant is not None
        seen = _bearer_list(stack.api_url, Tenant("new user", created.body["token"], created.tenant.customer))
        assert _customers(seen) == [created.tenant.customer]


HANDLER = """
import threading
import time

active = 0
most = 0
guard = threading.Lock()


def lambda_handler(event, context):
    global active, most
    with guard:
        active += 1
        most = max(most, active)
    time.sleep(event.get("hold", 0.02))
    with guard:
        active -= 1
    if event.get("again"):
        return event["again"]()
    return most
"""


def _local_function(tmp_path: Path, timeout: int = 5) -> LocalFunction:
    folder = tmp_path / "fn"
    folder.mkdir()
    (folder / "app.py").write_text(HANDLER, encoding="utf-8")
    spec = FunctionSpec("Fn", folder, "app.lambda_handler", "python3.12", timeout, 128, {}, [], [])
    return LocalFunction(spec, "fn", "us-east-1")


def test_a_function_serves_one_invocation_at_a_time_when_requests_arrive_together(tmp_path: Path) -> None:
    # Given one function, as one execution environment
    function = _local_function(tmp_path)
    # When 8 invocations arrive at once
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: function.invoke({}), range(8)))
    # Then the handler never ran two of them at once
    assert function.module.most == 1
    assert function.invocations == 8


def test_a_function_that_invokes_itself_fails_instead_of_waiting_forever(tmp_path: Path) -> None:
    function = _local_function(tmp_path)
    with pytest.raises(FunctionFailedError) as failed:
        function.invoke({"again": lambda: function.invoke({})})
    assert isinstance(failed.value.error, FunctionFailedError)
    assert isinstance(failed.value.error.error, FunctionBusyError)


def test_an_invocation_waiting_for_a_busy_function_fails_after_the_timeout(tmp_path: Path) -> None:
    # Given a function with a 1 s timeout kept busy for longer
    function = _local_function(tmp_path, timeout=1)
    with ThreadPoolExecutor(max_workers=2) as pool:
        busy = pool.submit(function.invoke, {"hold": 3})
        while function.invocations == 0:
            time.sleep(0.01)
        # When another invocation arrives, Then it is refused as busy rather than run alongside
        with pytest.raises(FunctionFailedError) as failed:
            function.invoke({})
        assert busy.result() == 1
    assert isinstance(failed.value.error, FunctionBusyError)


class Probe:
    """Counts the invocations running at once, across every function that is handed it."""

    def __init__(self) -> None:
        self.guard = threading.Lock()
        self.active = 0
        self.most = 0

    def run(self, hold: float) -> None:
        with self.guard:
            self.active += 1
            self.most = max(self.most, self.active)
        time.sleep(hold)
        with self.guard:
            self.active -= 1


PROBED = """
def lambda_handler(event, context):
    event["probe"].run(0.01)
    return "ok"
"""


def test_functions_sharing_an_environment_never_run_at_once_when_invoked_together(tmp_path: Path) -> None:
    # Given two functions in one execution environment (the local stack's API functions share one, because
    # Powertools keeps the resolver's current event on a class)
    shared = ExecutionEnvironment()
    functions = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "app.py").write_text(PROBED, encoding="utf-8")
        spec = FunctionSpec(name, folder, "app.lambda_handler", "python3.12", 5, 128, {}, [], [])
        functions.append(LocalFunction(spec, name, "us-east-1", environment=shared))
    probe = Probe()

    # When both are invoked from many threads at once
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: functions[i % 2].invoke({"probe": probe}), range(16)))

    # Then no two invocations ever ran at once, of the same function or of the other
    assert probe.most == 1
    assert functions[0].invocations == 8 and functions[1].invocations == 8
    assert shared.running_on is None


def test_the_stacks_api_functions_share_one_environment_and_consumers_have_their_own(stack: LocalStack) -> None:
    api = {route.function_id for route in stack.template.routes}
    environments = {fid: function._environment for fid, function in stack.functions.items()}
    assert len({id(environments[fid]) for fid in api}) == 1
    others = [fid for fid in stack.functions if fid not in api]
    assert others and all(environments[fid] is not environments[next(iter(api))] for fid in others)
