"""The webhook queue's consumer: one POST per record, retries scheduled on the message, outcomes on the PO."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from ledgersync import bootstrap
from ledgersync.domain.sync.outcomes import Outcome
from ledgersync.domain.webhooks.delivery import RetryScheduledError, WebhookDeliveries
from ledgersync.errors import RetryableError
from ledgersync.observability import keys_per_record, logger, metrics, tracer

# A batch whose every record was postponed is not an invocation error: report the failures, do not raise.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
RESERVE_MS = 25_000  # one attempt may take up to ~20 s (connect 3 + read 10 + capped body); never start one late
METRICS = {
    Outcome.SYNCHRONIZED: "WebhookDelivered",
    Outcome.RETRY_LATER: "WebhookRetryScheduled",
    Outcome.ERROR: "WebhookFailed",
    Outcome.PARKED: "WebhookParked",
    Outcome.NOTHING_TO_DO: "WebhookSkipped",
}


def handle_record(record: SQSRecord, deliveries: WebhookDeliveries, remaining_ms: int | None = None) -> None:
    """Deliver one record; a postponed or retryable one raises so the batch reports it failed and SQS keeps it."""
    if remaining_ms is not None and remaining_ms < RESERVE_MS:
        raise RetryableError("not enough time left in this invocation; the record is tried again by the next one")
    receive_count = int(record.attributes.approximate_receive_count or 1)
    report = deliveries.handle(
        record.body, record.receipt_handle, receive_count, bootstrap.services().settings.webhook_queue_max_receives
    )
    metrics.add_metric(name=METRICS[report.outcome], unit=MetricUnit.Count, value=1)
    logger.info(
        "webhook delivery handled",
        extra={
            "outcome": report.outcome.value,
            "delivery_id": report.delivery_id,
            "attempt": report.attempt,
            "status": report.status,
            "retry_in": report.retry_in,
            "reason": report.reason,
        },
    )
    if report.outcome is Outcome.RETRY_LATER:
        raise RetryScheduledError(f"attempt {report.attempt} failed ({report.reason}); next in {report.retry_in} s")


@keys_per_record
def record_handler(record: SQSRecord, lambda_context: LambdaContext | None = None) -> None:
    remaining = lambda_context.get_remaining_time_in_millis() if lambda_context is not None else None
    handle_record(record, bootstrap.services().webhook_deliveries, remaining)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
