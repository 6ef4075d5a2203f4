"""EventBridge schedule: surface dead letters, release held work and re-send stranded work, company by company."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ledgersync import bootstrap
from ledgersync.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    summary = bootstrap.services().held_work.sweep(bootstrap.services().account_store.company_ids())
    counts = {
        "released": summary.released,
        "redispatched": summary.redispatched,
        "deadLettersSurfaced": summary.dead_letters_surfaced,
        "deadLettersUnreadable": summary.dead_letters_unreadable,
        "errorNoticesSent": summary.notices_sent,
        "reconnectNoticesSent": summary.reconnect_notices_sent,
    }
    for name, value in {
        "HeldWorkReleased": summary.released,
        "StrandedWorkRedispatched": summary.redispatched,
        "DeadLettersSurfaced": summary.dead_letters_surfaced,
        "DeadLettersUnreadable": summary.dead_letters_unreadable,
        "ErrorNoticesSent": summary.notices_sent,
        "ReconnectNoticesSent": summary.reconnect_notices_sent,
    }.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    logger.info("sweep done", extra={**counts, "companies": len(summary.companies)})
    return counts
