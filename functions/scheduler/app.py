"""EventBridge schedule: release held work and re-send stranded work, company by company."""

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
    summary = bootstrap.held_work().sweep(bootstrap.account_store().company_ids())
    metrics.add_metric(name="HeldWorkReleased", unit=MetricUnit.Count, value=summary.released)
    metrics.add_metric(name="StrandedWorkRedispatched", unit=MetricUnit.Count, value=summary.redispatched)
    logger.info("sweep done", extra={"released": summary.released, "redispatched": summary.redispatched})
    return {"released": summary.released, "redispatched": summary.redispatched}
