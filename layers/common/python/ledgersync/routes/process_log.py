"""Routes: the process log (Rootstock's Process Log: each background run of a company, newest first)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from ledgersync import bootstrap
from ledgersync.api import caller
from ledgersync.domain.process_log import ProcessLogPage, ProcessRun
from ledgersync.routes.service import answered, described

router = Router()


@router.get(
    "/v1/process-log",
    summary="The company's background runs (exports, automatic releases, token refreshes, Web Connector sessions)",
    responses=described(ProcessLogPage),
)
def list_process_log(
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^run_[0-9]{20}_[0-9a-f]{8}$")] = None,
    name: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
) -> Response[Any]:
    principal = caller(router, "processLog.read")
    page = bootstrap.services().process_log.page(principal.company_id, limit, cursor, name)
    return answered(page, mode="json")


@router.get(
    "/v1/process-log/<run_id>",
    summary="One run: its counts and every message",
    responses=described(ProcessRun),
)
def get_process_run(run_id: Annotated[str, Path(max_length=40)]) -> Response[Any]:
    principal = caller(router, "processLog.read")
    return answered(bootstrap.services().process_log.get(principal.company_id, run_id), mode="json")
