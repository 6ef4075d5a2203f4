"""SQS consumers fed as a Lambda event source mapping feeds them.

A poll receives up to the batch size, hands the handler an ``aws:sqs`` event, deletes what succeeded and
leaves the rest in flight: reported ``batchItemFailures`` only, or the whole batch when the handler raised
or answered an invalid failure list. The rest come back after the visibility timeout, and the queue's
redrive policy (moto applies it on receive) moves a message to the dead-letter queue at maxReceiveCount.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from devstack.runtime import FunctionCodeMissingError, FunctionFailedError
from devstack.template import SqsSource

Invoker = Callable[[str, dict[str, Any]], Any]


@dataclass
class PollResult:
    """What one poll did: messages received, deleted as done, and left for redelivery."""

    received: int = 0
    succeeded: int = 0
    failed: int = 0


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One record of an ``aws:sqs`` Lambda event, from a ReceiveMessage entry."""
    attributes = {k: str(v) for k, v in (message.get("Attributes") or {}).items()}
    message_attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        message_attributes[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType", "String"),
        }
    body = message.get("Body", "")
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": body,
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def failed_ids(result: Any, batch_ids: set[str], report_failures: bool) -> set[str]:
    """The message ids to leave for redelivery, from the handler's answer (ReportBatchItemFailures rules)."""
    if not report_failures:
        return set()
    if result is None:
        return set()
    if not isinstance(result, dict):
        return set(batch_ids)
    failures = result.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return set(batch_ids)
    ids: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in batch_ids:
            return set(batch_ids)  # an invalid failure list fails the whole batch, as Lambda does
        ids.add(identifier)
    return ids


class SqsPoller:
    """One SQS event source: polls its queue and invokes its function."""

    def __init__(
        self, source: SqsSource, *, queue_url: str, queue_arn: str, sqs: Any, invoke: Invoker, region: str
    ) -> None:
        self.source = source
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.sqs = sqs
        self.invoke = invoke
        self.region = region
        self._lock = threading.Lock()
        self._in_flight_failures: dict[str, str] = {}
        self._thread: threading.Thread | None = None
        self.paused = threading.Event()

    @property
    def name(self) -> str:
        return f"{self.source.function_id}.{self.source.event_name}"

    def poll_once(self, wait_seconds: int = 0, redeliver_failures_now: bool = False) -> PollResult:
        """Receive one batch, invoke the function, delete the successes."""
        with self._lock:
            if redeliver_failures_now:
                self._release_failures()
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(self.source.batch_size, 10),
                WaitTimeSeconds=wait_seconds,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages = answer.get("Messages", [])
            if not messages:
                return PollResult()
            records = [sqs_record(m, self.queue_arn, self.region) for m in messages]
            batch_ids = {r["messageId"] for r in records}
            try:
                result = self.invoke(self.source.function_id, {"Records": records})
                failed = failed_ids(result, batch_ids, self.source.report_batch_item_failures)
            except (FunctionFailedError, FunctionCodeMissingError) as error:
                print(f"devstack: {self.name}: the batch failed and will be redelivered: {error}", file=sys.stderr)
                failed = set(batch_ids)
            done = [r for r in records if r["messageId"] not in failed]
            for start in range(0, len(done), 10):
                chunk = done[start : start + 10]
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(chunk)],
                )
            for record in records:
                if record["messageId"] in failed:
                    self._in_flight_failures[record["messageId"]] = record["receiptHandle"]
                else:
                    self._in_flight_failures.pop(record["messageId"], None)
            if redeliver_failures_now:
                self._release_failures()
            return PollResult(len(records), len(done), len(failed))

    def _release_failures(self) -> None:
        """Make failed messages visible now instead of after their visibility timeout (tests' time travel)."""
        for message_id, receipt in list(self._in_flight_failures.items()):
            with contextlib.suppress(Exception):  # the message was deleted or received again meanwhile
                self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=0)
            self._in_flight_failures.pop(message_id, None)

    def start(self, stop: threading.Event) -> None:
        """Poll in a background thread until ``stop`` is set."""

        def loop() -> None:
            while not stop.is_set():
                if self.paused.is_set():
                    stop.wait(0.05)
                    continue
                try:
                    result = self.poll_once(wait_seconds=0)
                except Exception as error:  # a poller never dies; the error is shown
                    if stop.is_set():
                        return
                    print(f"devstack: {self.name}: polling failed: {error}", file=sys.stderr)
                    stop.wait(1)
                    continue
                if result.received == 0:
                    stop.wait(0.2)

        self._thread = threading.Thread(target=loop, name=f"devstack-poller-{self.name}", daemon=True)
        self._thread.start()

    def join(self, timeout: float = 5) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
