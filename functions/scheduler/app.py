"""EventBridge schedule, once a minute: release the automatic invoice queue's due invoices, paced over each
company's window; then surface dead letters (an export checkpoint's fails its run), release held work and re-send
stranded work, company by company."""

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
    services = bootstrap.services()
    company_ids = services.account_store.company_ids()
    released = services.automatic_invoice_queue.release_due(company_ids)
    counts: dict[str, int] = {"autoSyncReleased": released.released, "autoSyncHeld": released.held}
    metrics.add_metric(name="AutoSyncReleased", unit=MetricUnit.Count, value=released.released)
    metrics.add_metric(name="AutoSyncHeld", unit=MetricUnit.Count, value=released.held)
    summary = services.held_work.sweep(company_ids)
    exports = services.export_dead_letters.surface()
    counts |= {
        "released": summary.released,
        "redispatched": summary.redispatched,
        "deadLettersSurfaced": summary.dead_letters_surfaced + exports.surfaced,
        "deadLettersUnreadable": summary.dead_letters_unreadable + exports.unreadable,
        "errorNoticesSent": summary.notices_sent,
        "reconnectNoticesSent": summary.reconnect_notices_sent,
    }
    for name, value in {
        "HeldWorkReleased": summary.released,
        "StrandedWorkRedispatched": summary.redispatched,
        "DeadLettersSurfaced": summary.dead_letters_surfaced + exports.surfaced,
        "DeadLettersUnreadable": summary.dead_letters_unreadable + exports.unreadable,
        "ErrorNoticesSent": summary.notices_sent,
        "ReconnectNoticesSent": summary.reconnect_notices_sent,
    }.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    logger.info("sweep done", extra={**counts, "companies": len(summary.companies)})
    return counts
