"""The Sales Invoice Export and the process log under concurrent requests of many companies (issue 12): each company
gets exactly one running export however many start at once, every refusal names that company's own run, every
process log answer holds only the caller's runs, and roles and token methods hold while requests race."""

from __future__ import annotations

import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from devstack.stack import LocalStack

pytestmark = pytest.mark.integration

COMPANIES = 4
STARTS_PER_COMPANY = 6
THREADS = 8


@dataclass(frozen=True)
class Company:
    name: str
    admin_token: str
    user_id: str


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    # no pollers: an export started stays running (its first checkpoint waits on the queue), so every start after
    # the first must find it
    with LocalStack(emulators=False, schedules=False, pollers=False) as running:
        yield running


def _call(base: str, method: str, path: str, token: str, body: Any = None) -> requests.Response:
    return requests.request(
        method, f"{base}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


@pytest.fixture(scope="module")
def companies(stack: LocalStack) -> list[Company]:
    created: list[Company] = []
    for n in range(COMPANIES):
        answer = requests.post(
            f"{stack.api_url}/v1/companies",
            json={"name": f"Exporter {n}"},
            headers={"X-Admin-Key": stack.admin_api_key},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        company = Company(f"Exporter {n}", answer.json()["adminToken"], answer.json()["userId"])
        settings = {"externalSystem": "quickbooks_online"}
        chosen = _call(stack.api_url, "PUT", "/v1/accounting/settings", company.admin_token, settings)
        assert chosen.status_code == 200, chosen.text
        created.append(company)
    return created


def test_each_company_gets_one_export_and_sees_only_its_own_runs_when_many_start_at_once(
    stack: LocalStack, companies: list[Company]
) -> None:
    # Given four companies on QuickBooks Online, and six starts of each company's export mixed with reads of the
    # process log, all in flight at once
    work: list[tuple[str, Company]] = [("start", c) for c in companies for _ in range(STARTS_PER_COMPANY)]
    work += [("list", c) for c in companies for _ in range(STARTS_PER_COMPANY)]
    random.Random(12).shuffle(work)

    def do(item: tuple[str, Company]) -> tuple[str, Company, requests.Response]:
        kind, company = item
        if kind == "start":
            return kind, company, _call(stack.api_url, "POST", "/v1/accounting/export", company.admin_token)
        return kind, company, _call(stack.api_url, "GET", "/v1/process-log", company.admin_token)

    # When they run
    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(do, work))

    # Then no answer is a 5xx; each company has exactly one run, and every 409 names that one
    assert all(r.status_code < 500 for _, _, r in outcomes), [r.text for _, _, r in outcomes if r.status_code >= 500]
    runs: dict[str, str] = {}
    for company in companies:
        starts = [r for kind, c, r in outcomes if kind == "start" and c is company]
        started = [r.json()["runId"] for r in starts if r.status_code == 202]
        assert len(started) == 1, [(r.status_code, r.text) for r in starts]
        runs[company.name] = started[0]
        refused = [r for r in starts if r.status_code != 202]
        assert refused and all(r.status_code == 409 for r in refused), [r.text for r in refused]
        assert all(started[0] in r.json()["message"] for r in refused)
    assert len(set(runs.values())) == COMPANIES
    # every list answered during the race holds only the caller's run (or none yet)
    for kind, company, answer in outcomes:
        if kind == "list":
            assert answer.status_code == 200, answer.text
            assert {r["runId"] for r in answer.json()["runs"]} <= {runs[company.name]}
    # and afterwards: each company lists its run, reads it, and gets 404 for another company's
    for n, company in enumerate(companies):
        listed = _call(stack.api_url, "GET", "/v1/process-log?name=Sales%20Invoice%20Exporter", company.admin_token)
        assert [r["runId"] for r in listed.json()["runs"]] == [runs[company.name]]
        own = _call(stack.api_url, "GET", f"/v1/process-log/{runs[company.name]}", company.admin_token)
        assert own.status_code == 200 and own.json()["status"] == "running", own.text
        other = companies[(n + 1) % COMPANIES]
        theirs = _call(stack.api_url, "GET", f"/v1/process-log/{runs[other.name]}", company.admin_token)
        assert theirs.status_code == 404, theirs.text


def test_an_export_needs_the_accounting_role_and_method_and_the_process_log_its_method_under_concurrency(
    stack: LocalStack, companies: list[Company]
) -> None:
    # Given a Sales user of one company, and a token of its admin limited to reading accounting
    base, company = stack.api_url, companies[0]
    sales = _call(
        base, "POST", "/v1/users", company.admin_token, {"name": "Sam", "email": "sam@example.com", "roles": ["Sales"]}
    )
    assert sales.status_code == 201, sales.text
    limited = _call(
        base, "POST", "/v1/tokens", company.admin_token, {"userId": company.user_id, "apiMethods": ["accounting.read"]}
    )
    assert limited.status_code == 201, limited.text
    sales_token, read_only = sales.json()["token"], limited.json()["token"]

    work = [
        ("POST", "/v1/accounting/export", sales_token),
        ("POST", "/v1/accounting/export", read_only),
        ("GET", "/v1/process-log", read_only),
        ("GET", "/v1/accounting/export/preview", read_only),
    ] * 6
    random.Random(7).shuffle(work)

    # When they race
    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(lambda w: (w, _call(base, w[0], w[1], w[2])), work))

    # Then the Sales user and the read-only token cannot start an export, the read-only token cannot read the process
    # log (its method is processLog.read), and the preview it may read answers
    for (method, path, token), answer in answers:
        if path == "/v1/accounting/export/preview":
            assert answer.status_code == 200, answer.text
        else:
            assert answer.status_code == 403, (method, path, token == sales_token, answer.text)
            assert answer.json()["code"] == "Forbidden" and answer.json()["message"], answer.text
