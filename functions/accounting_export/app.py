"""The export queue's consumer (issue 12): one checkpoint of a Sales Invoice Export run per record."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from ledgersync import bootstrap
from ledgersync.domain.accounting_export import Checkpoint
from ledgersync.errors import RetryableError
from ledgersync.observability import keys_per_record, logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@keys_per_record
def record_handler(record: SQSRecord) -> None:
    """Run one step; a fault raises so SQS delivers the checkpoint again, and on the queue's last receive the run
    ends failed (with its e-mail) instead of leaving it running. A crash on the last receive still dead-letters the
    checkpoint, for the operator (the sweep finds its run ended and leaves it)."""
    checkpoint = Checkpoint.model_validate_json(record.body)
    logger.thread_safe_append_keys(company_id=checkpoint.company_id, run_id=checkpoint.run_id, step=checkpoint.step)
    export = bootstrap.services().sales_invoice_export
    attempt = int(record.attributes.approximate_receive_count or 1)
    try:
        export.run(checkpoint)
    except RetryableError as fault:
        if attempt >= bootstrap.services().settings.export_queue_max_receives:
            export.fail(checkpoint, fault.message)
            return
        raise
    except Exception as crash:
        if attempt >= bootstrap.services().settings.export_queue_max_receives:
            logger.exception("export step crashed on its last receive; the run is failed")
            export.fail(checkpoint, f"an internal error ({type(crash).__name__}) on every attempt")
        raise
    logger.info("export step done", extra={"attempt": attempt})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
