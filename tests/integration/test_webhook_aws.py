"""Webhook adapters against moto (S3 links, Secrets Manager, SQS) and the consumer end to end with the receiver."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from devstack.runtime import LambdaContext
from devstack.webhook_receiver import RunningReceiver, serve

from ledgersync import bootstrap
from ledgersync.adapters.aws import reset_clients
from ledgersync.adapters.documents import DocumentGrant
from ledgersync.adapters.webhooks import SecretsManagerWebhookSecrets, SqsDeliveryQueue
from ledgersync.bootstrap import Adapters
from ledgersync.config import Settings
from ledgersync.domain.purchase_orders import ExternalSystem, VendorInvoiceStatus
from ledgersync.domain.webhooks.delivery import WebhookDeliveries, new_delivery
from ledgersync.domain.webhooks.endpoint import WebhookConfigRequest
from tests.support.services import InstallServices
from tests.unit.test_webhook_delivery import (
    COMPANY,
    PO_ID,
    FakeNotifier,
    FakeOutcomes,
    FakeSource,
    endpoint,
    seed_document,
)

pytestmark = pytest.mark.integration
BUCKET = "ledgersync-webhook-docs"
PREFIX = "ledgersync/test"


@dataclass
class Aws:
    queue_url: str
    dlq_url: str
    sqs: Any


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    from moto import mock_aws

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        reset_clients()
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        boto3.client("secretsmanager").create_secret(Name="ledgersync/admin-api-key", SecretString="it-admin-key")
        sqs = boto3.client("sqs")
        dlq_url = sqs.create_queue(QueueName="webhook-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 30})
        queue_url = sqs.create_queue(
            QueueName="webhook", Attributes={"VisibilityTimeout": "360", "RedrivePolicy": policy}
        )["QueueUrl"]
        yield Aws(queue_url, dlq_url, sqs)
        reset_clients()


@pytest.fixture
def receiver() -> Iterator[RunningReceiver]:
    running = serve()
    yield running
    running.shutdown()


def settings(aws: Aws) -> Settings:
    return Settings.model_validate({
        "WEBHOOK_QUEUE_URL": aws.queue_url, "SECRETS_PREFIX": PREFIX, "DOCUMENTS_BUCKET": BUCKET,
        "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1,localhost", "WEBHOOK_ALLOWED_PORTS": "8099", "WEBHOOK_RETRY_HOURS": "24",
        "PUBLIC_BASE_URL": "https://api.ledgersync.example",
    })  # fmt: skip


def receive(aws: Aws, url: str | None = None) -> list[dict[str, Any]]:
    answer = aws.sqs.receive_message(
        QueueUrl=url or aws.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"],
        MessageAttributeNames=["All"], WaitTimeSeconds=0,
    )  # fmt: skip
    messages: list[dict[str, Any]] = answer.get("Messages", [])
    return messages


def sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:webhook",
        "awsRegion": "us-east-1",
    } for m in messages]}  # fmt: skip


def six_hour_grant(link: str) -> DocumentGrant:
    """The grant a webhook's PDF link carries, checked as the API checks it; it must reach six hours from now."""
    assert link.startswith("https://api.ledgersync.example/v1/documents/"), link
    documents = bootstrap.build(Settings.model_validate({"DOCUMENTS_BUCKET": BUCKET})).documents
    assert documents.links is not None
    grant = documents.links.verify(link.rsplit("/", 1)[1])
    assert grant.expires_at - time.time() == pytest.approx(6 * 3600, abs=60)
    return grant


def test_invoice_link_is_served_by_the_api_for_exactly_six_hours_when_signed(moto_aws: Aws) -> None:
    documents = bootstrap.build(settings(moto_aws)).documents
    url = documents.presigned_pdf_url(f"{COMPANY}/purchase-orders/{PO_ID}/01-P002271.pdf")
    grant = six_hour_grant(url)
    assert grant.key == f"{COMPANY}/purchase-orders/{PO_ID}/01-P002271.pdf"
    assert "X-Amz-" not in url  # not signed with the Lambda session's credentials, which die before six hours


def test_webhook_config_round_trips_through_secrets_manager_when_saved(moto_aws: Aws) -> None:
    store = SecretsManagerWebhookSecrets(PREFIX, cache_seconds=0)
    assert store.load(COMPANY) is None
    store.save(COMPANY, endpoint())
    store.save(COMPANY, endpoint(url="https://erp.example.com/v2/po"))
    stored = json.loads(
        boto3.client("secretsmanager").get_secret_value(SecretId=f"{PREFIX}/webhook/{COMPANY}")["SecretString"]
    )
    assert stored["url"] == "https://erp.example.com/v2/po"
    assert stored["signingSecret"] == endpoint().signing_secret
    loaded = store.load(COMPANY)
    assert loaded is not None
    assert loaded.url == "https://erp.example.com/v2/po"
    assert loaded.auth == endpoint().auth


def test_configure_stores_the_secret_and_answers_masked_when_set_up_through_the_composition_root(moto_aws: Aws) -> None:
    services = bootstrap.build(settings(moto_aws))
    boto3.client("dynamodb").create_table(
        TableName=services.settings.table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
        BillingMode="PAY_PER_REQUEST",
    )  # the set-up marks the company's profile configured (the flag Send to External System checks)
    services.table.put({"pk": f"COMPANY#{COMPANY}", "sk": "PROFILE"})
    setup = services.webhook_setup
    request = WebhookConfigRequest.model_validate({
        "url": "http://127.0.0.1:8099/hook", "auth": {"type": "bearer", "token": "tok-123456"},
        "errorEmails": ["ap@flowers.example"],
    })  # fmt: skip
    view = setup.configure_webhook(COMPANY, request)
    assert view.auth.token == "********"
    assert setup.get_webhook(COMPANY).signing_secret is None
    raw = boto3.client("secretsmanager").get_secret_value(SecretId=f"{PREFIX}/webhook/{COMPANY}")["SecretString"]
    assert "tok-123456" in raw
    assert view.signing_secret is not None
    assert view.signing_secret in raw
    assert services.settings_store.is_configured(COMPANY)


def test_message_is_hidden_for_the_delay_when_a_retry_is_scheduled(moto_aws: Aws) -> None:
    queue = SqsDeliveryQueue(moto_aws.queue_url)
    queue.enqueue(new_delivery(COMPANY, PO_ID, datetime.now(UTC), ExternalSystem.WEBHOOK))
    [message] = receive(moto_aws)
    queue.retry_later(message["ReceiptHandle"], 600)
    assert receive(moto_aws) == []
    attributes = moto_aws.sqs.get_queue_attributes(QueueUrl=moto_aws.queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"


def test_message_lands_in_the_queues_dead_letter_queue_when_parked(moto_aws: Aws) -> None:
    SqsDeliveryQueue(moto_aws.queue_url).dead_letter('{"deliveryId":"d-1"}', "HTTP 503; gave up after 24 hours")
    [parked] = receive(moto_aws, moto_aws.dlq_url)
    assert parked["Body"] == '{"deliveryId":"d-1"}'
    assert parked["MessageAttributes"]["reason"]["StringValue"] == "HTTP 503; gave up after 24 hours"


def consumer(
    aws: Aws, receiver: RunningReceiver, install_services: InstallServices
) -> tuple[WebhookDeliveries, FakeOutcomes, FakeNotifier]:
    """The handler's deliveries as the composition root wires them over moto and the receiver, with the PO side (the
    document read and the outcomes written) and the e-mail faked."""
    SecretsManagerWebhookSecrets(PREFIX).save(COMPANY, endpoint(url=f"{receiver.url}/hooks/po"))
    outcomes, notifier = FakeOutcomes(), FakeNotifier()
    source = FakeSource({(COMPANY, PO_ID): seed_document()})
    wired = bootstrap.build(settings(aws), Adapters(notifier=notifier)).webhook_deliveries
    deliveries = replace(wired, source=source, outcomes=outcomes)
    install_services(use_cases={"webhook_deliveries": deliveries}, settings=settings(aws))
    return deliveries, outcomes, notifier


def test_po_is_synchronized_after_one_postponed_attempt_when_the_receiver_fails_once(
    moto_aws: Aws, receiver: RunningReceiver, install_services: InstallServices
) -> None:
    from functions.webhook_sender import app

    # Given a receiver that fails once and a queued delivery
    receiver.behave(failTimes=1, status=503)
    deliveries, outcomes, _ = consumer(moto_aws, receiver, install_services)
    deliveries.queue.enqueue(new_delivery(COMPANY, PO_ID, datetime.now(UTC), ExternalSystem.WEBHOOK))
    # When the consumer gets it
    first = receive(moto_aws)
    answer = app.lambda_handler(sqs_event(first), LambdaContext())
    # Then the record is reported failed and stays hidden instead of coming back at once
    assert answer == {"batchItemFailures": [{"itemIdentifier": first[0]["MessageId"]}]}
    assert receive(moto_aws) == []
    # When the backoff has passed (time travel: make it visible) and the consumer gets it again
    moto_aws.sqs.change_message_visibility(
        QueueUrl=moto_aws.queue_url, ReceiptHandle=first[0]["ReceiptHandle"], VisibilityTimeout=0
    )
    second = receive(moto_aws)
    assert second[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    assert app.lambda_handler(sqs_event(second), LambdaContext()) == {"batchItemFailures": []}
    # Then the PO is synchronized and the receiver saw two attempts with one key and a six-hour PDF link
    assert outcomes.status[PO_ID] is VendorInvoiceStatus.SYNCHRONIZED
    attempts = receiver.deliveries
    assert [a["answeredStatus"] for a in attempts] == [503, 200]
    assert len({a["headers"]["Idempotency-Key"] for a in attempts}) == 1
    six_hour_grant(attempts[1]["json"]["vendorInvoices"][0]["file"])


def test_message_is_dead_lettered_with_one_email_when_24_hours_of_retries_are_spent(
    moto_aws: Aws, receiver: RunningReceiver, install_services: InstallServices
) -> None:
    from functions.webhook_sender import app

    receiver.behave(status=503, body="maintenance")
    deliveries, outcomes, notifier = consumer(moto_aws, receiver, install_services)
    deliveries.queue.enqueue(
        new_delivery(COMPANY, PO_ID, datetime.now(UTC) - timedelta(hours=24, minutes=5), ExternalSystem.WEBHOOK)
    )
    answer = app.lambda_handler(sqs_event(receive(moto_aws)), LambdaContext())
    assert answer == {"batchItemFailures": []}
    assert outcomes.status[PO_ID] is VendorInvoiceStatus.ERROR
    [parked] = receive(moto_aws, moto_aws.dlq_url)
    assert json.loads(parked["Body"])["document"] == {"kind": "purchase_order_bills", "id": str(PO_ID)}
    assert "gave up after 24 hours" in parked["MessageAttributes"]["reason"]["StringValue"]
    [mail] = notifier.sent
    assert "HTTP 503" in mail.text
    assert "maintenance" in mail.text
    assert "POST https://api.ledgersync.example/v1/purchase-orders/12345/resend" in mail.text
