"""The sync queue's consumer: a sent PO's vendor invoices become bills in QuickBooks Online."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from ledgersync import bootstrap
from ledgersync.adapters.messaging import postpone
from ledgersync.domain.accounting_sync import retry_delay
from ledgersync.domain.sync.documents import DocumentKind
from ledgersync.domain.sync.messages import SyncMessage
from ledgersync.domain.sync.outcomes import Outcome
from ledgersync.errors import RetryableError
from ledgersync.observability import keys_per_record, logger, metrics, tracer

# A batch whose every record failed (all throttled, say) reports its failures; raising would retry the batch whole.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@keys_per_record
def record_handler(record: SQSRecord) -> None:
    """A retryable fault raises (the record comes back after QuickBooks' Retry-After, with a backoff floor, else
    after its visibility timeout); on the queue's last receive it ends in Error instead. Outcomes go on the
    document's sync state."""
    consumer = bootstrap.services().accounting_sync
    message = SyncMessage.parse(record.body, consumer.target)
    keys: dict[str, Any] = {"company_id": message.company_id, "document": str(message.document)}
    if message.document.kind is DocumentKind.PURCHASE_ORDER_BILLS:
        keys["po_id"] = message.document.purchase_order_id
    logger.thread_safe_append_keys(**keys)
    settings = bootstrap.services().settings
    attempt = int(record.attributes.approximate_receive_count or 1)
    try:
        result = consumer.process(message, attempt, settings.sync_queue_max_receives)
    except RetryableError as fault:
        if fault.retry_after_seconds is not None:
            delay = retry_delay(attempt, fault.retry_after_seconds, settings.sync_queue_visibility_seconds)
            postpone(settings.sync_queue_url, record.receipt_handle, delay)
        raise
    name = {
        Outcome.SYNCHRONIZED: "DocumentsSynchronized",
        Outcome.ERROR: "SyncFailed",
        Outcome.HELD: "SyncHeld",
        Outcome.DELETED: "DocumentsDeleted",
    }.get(result)
    if name:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    logger.info("document processed", extra={"result": result.value, "attempt": attempt})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
