"""SQS work queues and SES e-mail."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ledgersync.adapters.aws import client
from ledgersync.config import Settings
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.errors import RetryableError
from ledgersync.observability import logger


class QueueDispatcher:
    """Sends a PO on its way: QuickBooks Online through the sync queue, webhooks through the webhook queue.

    QuickBooks Desktop needs no message: the Web Connector asks for POs in "Sent to External System".
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def dispatch(self, company_id: str, po_id: int, system: ExternalSystem, delivery_id: str | None = None) -> None:
        if system is ExternalSystem.QUICKBOOKS_ONLINE:
            self.send(
                self.settings.sync_queue_url,
                {"companyId": company_id, "purchaseOrderId": po_id, "target": system.value},
            )
        elif system is ExternalSystem.WEBHOOK:
            from ledgersync.domain.webhooks import new_delivery

            message = new_delivery(company_id, po_id, datetime.now(UTC))
            if delivery_id:
                message.delivery_id = delivery_id
            self.send_raw(self.settings.webhook_queue_url, message.to_json())

    def send(self, queue_url: str, body: dict[str, Any], delay_seconds: int = 0) -> None:
        self.send_raw(queue_url, json.dumps(body), delay_seconds)

    def send_raw(self, queue_url: str, body: str, delay_seconds: int = 0) -> None:
        try:
            client("sqs").send_message(
                QueueUrl=queue_url, MessageBody=body, DelaySeconds=max(0, min(delay_seconds, 900))
            )
        except (ClientError, BotoCoreError) as err:
            raise RetryableError("the work could not be queued; try again") from err


class SesNotifier:
    def __init__(self, sender: str) -> None:
        self.sender = sender

    def send(self, to: list[str], subject: str, text: str, html: str) -> None:
        if not to:
            logger.warning("no notification address set; e-mail not sent", extra={"subject": subject})
            return
        try:
            client("ses").send_email(
                Source=self.sender,
                Destination={"ToAddresses": to[:5]},
                Message={
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": text, "Charset": "UTF-8"}, "Html": {"Data": html, "Charset": "UTF-8"}},
                },
            )
        except (ClientError, BotoCoreError) as err:
            raise RetryableError("the notification e-mail could not be sent") from err
