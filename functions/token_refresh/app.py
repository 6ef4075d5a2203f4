"""EventBridge schedule: refresh every connected company's QuickBooks Online tokens before they expire."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from ledgersync import bootstrap
from ledgersync.domain.quickbooks_online import refresh_tokens
from ledgersync.observability import logger, metrics, tracer


@logger.inject_lambda_context(log_event=False, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Refresh the companies that are due (every company of the table unless the event names some)."""
    named = event.get("companyIds")
    company_ids = [str(c) for c in named] if isinstance(named, list) and named else None
    summary = refresh_tokens(
        bootstrap.services().token_refresher, company_ids or bootstrap.services().account_store.company_ids()
    )
    metrics.add_metric(name="TokensRefreshed", unit=MetricUnit.Count, value=len(summary.refreshed))
    logger.info("QuickBooks token refresh finished", extra=summary.model_dump())
    return summary.model_dump()
