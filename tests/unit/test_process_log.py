"""GET /v1/process-log and /v1/process-log/{runId}: a company's background runs, newest first, only its own."""

from __future__ import annotations

from typing import Any

from ledgersync import bootstrap
from ledgersync.domain.process_log import RunName, RunStatus
from tests.conftest import ADMIN_KEY
from tests.support.events import Api


def _runs(company_id: str, count: int) -> list[str]:
    log = bootstrap.services().process_log
    ids = []
    for n in range(count):
        run = log.start(company_id, RunName.SALES_INVOICE_EXPORTER if n % 2 else RunName.TOKEN_REFRESH)
        run.error(f"problem {n}", f"invoice {n}")
        run.count(failed=1, exported=n)
        run.finish()
        ids.append(run.run_id)
    return ids


def test_the_log_lists_newest_first_a_page_at_a_time_and_by_name(api: Api, company: dict[str, Any]) -> None:
    ids = _runs(company["companyId"], 3)

    first = api.get("/v1/process-log?limit=2").json()
    rest = api.get(f"/v1/process-log?limit=2&cursor={first['nextCursor']}").json()
    exports = api.get("/v1/process-log?name=Sales%20Invoice%20Exporter").json()

    assert [r["runId"] for r in first["runs"] + rest["runs"]] == ids[::-1] and rest["nextCursor"] is None
    assert [r["runId"] for r in exports["runs"]] == [ids[1]]
    summary = exports["runs"][0]
    assert set(summary) == {"runId", "name", "startedAt", "finishedAt", "status", "counts", "errors"}
    assert summary["status"] == RunStatus.PARTIAL and summary["errors"] == 1
    assert summary["counts"] == {"failed": 1, "exported": 1}


def test_one_run_shows_its_messages(api: Api, company: dict[str, Any]) -> None:
    (run_id,) = _runs(company["companyId"], 1)

    answer = api.get(f"/v1/process-log/{run_id}")

    assert answer.status == 200
    body = answer.json()
    assert body["runId"] == run_id and body["name"] == "QuickBooks Online Token Refresh"
    assert body["messages"] == [{"level": "error", "document": "invoice 0", "message": "problem 0"}]
    assert body["finishedAt"] is not None and body["status"] == "partial"


def test_another_companys_run_is_404_and_its_list_is_not_shown(api: Api, company: dict[str, Any]) -> None:
    other = api.post("/v1/companies", {"name": "Other", "currency": "USD"}, headers={"X-Admin-Key": ADMIN_KEY}).json()
    (theirs,) = _runs(other["companyId"], 1)

    assert api.get(f"/v1/process-log/{theirs}").status == 404
    assert api.get("/v1/process-log").json() == {"runs": [], "nextCursor": None}


def test_a_bad_cursor_or_limit_is_400_naming_it(api: Api, company: dict[str, Any]) -> None:
    for query, field in (("cursor=nope", "cursor"), ("limit=0", "limit"), ("limit=101", "limit")):
        answer = api.get(f"/v1/process-log?{query}")
        assert answer.status == 400, query
        assert field in str(answer.json()["errors"]), answer.text
