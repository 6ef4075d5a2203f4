"""SQS work queues (sending, postponement, dead letters, redrive) and SES e-mail."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ledgersync.adapters.aws import client
from ledgersync.adapters.aws_errors import aws_call
from ledgersync.domain.accounting_export import Checkpoint
from ledgersync.domain.held_work import DeadLetter
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.sync.messages import SyncMessage
from ledgersync.observability import logger


class SqsWorkQueue:
    """One work queue (the sync queue): each message is one ``SyncMessage``."""

    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url

    def enqueue(self, message: SyncMessage) -> None:
        with aws_call(f"queueing the work on {self.queue_url}", "check the queue and the function's sqs:SendMessage"):
            client("sqs").send_message(QueueUrl=self.queue_url, MessageBody=message.to_json())


class SqsCheckpointQueue:
    """The export queue (issue 12): each message is one ``Checkpoint`` of a run, delayed up to 15 minutes."""

    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url

    def send(self, checkpoint: Checkpoint, delay_seconds: int = 0) -> None:
        with aws_call(f"queueing the export's next step on {self.queue_url}", "check the function's sqs:SendMessage"):
            client("sqs").send_message(
                QueueUrl=self.queue_url,
                MessageBody=checkpoint.model_dump_json(by_alias=True),
                DelaySeconds=min(max(int(delay_seconds), 0), 900),
            )


def postpone(queue_url: str, receipt_handle: str, seconds: float) -> None:
    """Make a received message visible again in ``seconds`` (QuickBooks' Retry-After) instead of its timeout."""
    with aws_call(
        "postponing the message (it comes back after its visibility timeout)",
        "check the function's sqs:ChangeMessageVisibility",
    ):
        client("sqs").change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=int(min(max(seconds, 1), 43_200))
        )


class SqsDeadLetters:
    """The dead-letter queues, read without deleting: the sweep surfaces each message, an operator redrives."""

    PEEK_SECONDS = 60  # the sweep reads each message once per run; it is visible again for a redrive after this

    def __init__(self, queues: Mapping[ExternalSystem, list[str]], max_messages: int = 500) -> None:
        self.queues = queues
        self.max_messages = max_messages

    def peek(self) -> Iterator[tuple[ExternalSystem, DeadLetter]]:
        for system, urls in self.queues.items():
            for url in urls:
                for message in self._receive(url):
                    count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1))
                    yield system, DeadLetter(queue=url.rsplit("/", 1)[-1], body=message["Body"], receive_count=count)

    def _receive(self, url: str) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        while len(seen) < self.max_messages:
            with aws_call(f"reading the dead-letter queue {url} (the next sweep tries again)"):
                answer = client("sqs").receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=self.PEEK_SECONDS,
                    AttributeNames=["ApproximateReceiveCount"],
                )
            messages = [m for m in answer.get("Messages", []) if m["MessageId"] not in seen]
            if not messages:
                return
            for message in messages:
                seen.add(message["MessageId"])
                yield message


def redrive(dead_letter_queue_url: str, target_queue_url: str, limit: int = 10_000) -> int:
    """Move a dead-letter queue's messages back to their queue (what ``start-message-move-task`` does on AWS).

    Each message is sent to the target before it is deleted from the DLQ, so a crash can repeat a message but
    never lose one; the consumers are exactly-once (dedup keys, current-delivery checks), so a repeat is harmless.
    """
    sqs = client("sqs")
    moved = 0
    with aws_call(f"redriving {dead_letter_queue_url} to {target_queue_url}"):
        while moved < limit:
            answer = sqs.receive_message(QueueUrl=dead_letter_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60)
            messages = answer.get("Messages", [])
            if not messages:
                return moved
            for message in messages:
                sqs.send_message(QueueUrl=target_queue_url, MessageBody=message["Body"])
                sqs.delete_message(QueueUrl=dead_letter_queue_url, ReceiptHandle=message["ReceiptHandle"])
                moved += 1
    return moved


class SesNotifier:
    def __init__(self, sender: str) -> None:
        self.sender = sender

    def send(self, to: list[str], subject: str, text: str, html: str) -> None:
        if not to:
            logger.warning("no notification address set; e-mail not sent", extra={"subject": subject})
            return
        with aws_call("sending the notification e-mail", f"check that SES may send from {self.sender}"):
            client("ses").send_email(
                Source=self.sender,
                Destination={"ToAddresses": to[:5]},
                Message={
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": text, "Charset": "UTF-8"}, "Html": {"Data": html, "Charset": "UTF-8"}},
                },
            )
