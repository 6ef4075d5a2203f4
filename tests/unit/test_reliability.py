"""No document is silently stranded: last receives end in Error, dead letters surface, the sweep lists companies."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from devstack.runtime import LambdaContext
from devstack.template import Template

from ledgersync import bootstrap
from ledgersync.domain.accounting_sync import retry_delay
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.sync.messages import SyncMessage
from ledgersync.domain.sync.outcomes import Outcome
from ledgersync.errors import RetryableError
from tests.support.events import Api
from tests.support.mail import sent_emails
from tests.support.services import InstallServices
from tests.unit.test_accounting_sync import RecordingBills, consumer, sent  # noqa: F401 - the fixture
from tests.unit.test_purchase_orders import send
from tests.unit.test_webhook_delivery import PO_ID, make_world, message_body

ROOT = Path(__file__).resolve().parents[2]


def test_the_consumers_limits_repeat_the_queues_redrive_policy_when_read_from_the_template() -> None:
    # Given the template the stack deploys
    template = Template.load(ROOT / "template.yaml")
    resources: dict[str, Any] = template.resources
    environment = template.functions["AccountingSyncFunction"].environment

    def queue(name: str) -> dict[str, Any]:
        properties: dict[str, Any] = resources[name]["Properties"]
        return properties

    # Then what the consumers count against is what SQS counts against
    for name in ("SyncQueue",):
        assert int(environment["SYNC_QUEUE_MAX_RECEIVES"]) == queue(name)["RedrivePolicy"]["maxReceiveCount"]
        assert int(environment["SYNC_QUEUE_VISIBILITY_SECONDS"]) == queue(name)["VisibilityTimeout"]
    assert int(environment["WEBHOOK_QUEUE_MAX_RECEIVES"]) == queue("WebhookQueue")["RedrivePolicy"]["maxReceiveCount"]


def test_every_company_is_listed_when_the_sweep_asks_for_them(api: Api) -> None:
    # Given two companies
    from tests.conftest import ADMIN_KEY

    ids = []
    for name in ("Alpha Flowers", "beta blooms"):
        answer = api.post("/v1/companies", {"name": name}, headers={"X-Admin-Key": ADMIN_KEY})
        assert answer.status == 201, answer.text
        ids.append(answer.json()["companyId"])
    # When the sweep lists them (an empty begins_with is a ValidationException in DynamoDB)
    listed = bootstrap.services().account_store.company_ids()
    # Then both are there
    assert sorted(listed) == sorted(ids)


def test_the_last_receive_of_a_throttled_po_ends_in_error_with_one_email_and_it_can_be_sent_again(
    sent: tuple[Api, str],  # noqa: F811 - the fixture
) -> None:
    api, company_id = sent
    throttled = RecordingBills(fail_with=RetryableError("QuickBooks Online is throttling requests (429)", 60.0))
    # Given nine throttled receives: the queue retries them
    for attempt in range(1, 10):
        with pytest.raises(RetryableError):
            consumer(throttled).sync(company_id, 1, attempt, 10)
    assert api.get("/v1/purchase-orders/1").json()["vendorInvoiceStatus"] == "Sent to External System"
    # When the tenth (the queue's last) is throttled too
    assert consumer(throttled).sync(company_id, 1, 10, 10) is Outcome.ERROR
    # Then the PO shows the error, what failed and how many attempts, with one e-mail
    po = api.get("/v1/purchase-orders/1").json()
    assert po["vendorInvoiceStatus"] == "Error"
    assert "throttling" in po["error"] and "10 attempts" in po["error"]
    (mail,) = sent_emails()
    assert mail.destinations["ToAddresses"] == ["ap@example.com"] and "10 attempts" in mail.body
    # And "send again" is accepted and syncs it
    (again,) = send(api, 1)
    assert again["accepted"], again
    assert consumer(RecordingBills()).sync(company_id, 1, 1, 10) is Outcome.SYNCHRONIZED


def test_a_throttled_record_comes_back_after_retry_after_when_quickbooks_asks_for_60_seconds(
    aws: None, monkeypatch: pytest.MonkeyPatch, install_services: InstallServices
) -> None:
    from functions.accounting_sync import app

    # Given a received sync message and QuickBooks asking to wait 60 s
    sqs = boto3.client("sqs")
    url = os.environ["SYNC_QUEUE_URL"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"companyId": "c1", "purchaseOrderId": 1}))
    (message,) = sqs.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    class Throttled:
        target = ExternalSystem.QUICKBOOKS_ONLINE

        def process(self, message: SyncMessage, attempt: int, max_attempts: int) -> Outcome:
            raise RetryableError("QuickBooks Online is throttling requests (429)", retry_after_seconds=60.0)

    postponed: list[tuple[str, str, float]] = []
    install_services(use_cases={"accounting_sync": Throttled()})
    monkeypatch.setattr(app, "postpone", lambda q, r, s: postponed.append((q, r, s)))
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {"ApproximateReceiveCount": "1"},
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
    }
    # When the consumer handles it
    answer = app.lambda_handler({"Records": [record]}, LambdaContext(function_name="accounting_sync"))
    # Then the record is reported failed (not raised: the whole batch failed) and shows again in 60 s, not 720 s
    assert answer == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert postponed == [(url, message["ReceiptHandle"], 60)]


def test_a_batch_whose_every_record_fails_reports_them_instead_of_raising(aws: None) -> None:
    from functions.accounting_sync import app

    records = [
        {"messageId": f"m{i}", "receiptHandle": f"r{i}", "body": "not json", "attributes": {}, "eventSource": "aws:sqs"}
        for i in range(2)
    ]
    answer = app.lambda_handler({"Records": records}, LambdaContext(function_name="accounting_sync"))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m0"}, {"itemIdentifier": "m1"}]}


def test_retry_delay_honours_retry_after_within_a_backoff_floor_and_the_visibility_timeout() -> None:
    assert retry_delay(1, 60.0, 720) == 60
    assert retry_delay(1, 1.0, 720) == 30
    assert retry_delay(4, 1.0, 720) == 240
    assert retry_delay(9, 60.0, 720) == 720
    assert retry_delay(1, 3600.0, 720) == 720


def test_the_last_receive_of_a_failing_webhook_delivery_ends_in_error_with_one_email() -> None:
    from ledgersync.domain.webhooks.retries import WebhookResponse

    # Given an endpoint that answers 503, on the queue's last receive, well inside the 24-hour window
    world = make_world(WebhookResponse(503))
    # When the delivery is handled
    report = world.deliveries.handle(message_body(), "rh-30", 30, max_receives=30)
    # Then the PO is in Error (what failed, how many attempts), one e-mail went, no retry was scheduled
    assert report.outcome is Outcome.ERROR
    assert "HTTP 503" in world.outcomes.errors[PO_ID] and "30 attempts" in world.outcomes.errors[PO_ID]
    assert len(world.notifier.sent) == 1 and world.queue.postponed == []


def test_a_dead_lettered_sync_message_turns_its_po_into_error_once_and_stays_for_redrive(
    sent: tuple[Api, str],  # noqa: F811 - the fixture
) -> None:
    api, company_id = sent
    sqs = boto3.client("sqs")
    dlq = os.environ["SYNC_DEAD_LETTER_QUEUE_URL"]
    sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"companyId": company_id, "purchaseOrderId": 1}))
    sqs.send_message(QueueUrl=dlq, MessageBody="{not json")
    # When the sweep runs twice
    first = bootstrap.services().held_work.sweep([company_id])
    second = bootstrap.services().held_work.sweep([company_id], now=datetime.now(UTC) + timedelta(minutes=5))
    # Then the PO is in Error with the reason, one e-mail went, the unreadable letter is counted
    po = api.get("/v1/purchase-orders/1").json()
    assert po["vendorInvoiceStatus"] == "Error" and "dead-letter queue" in po["error"] and "10 times" in po["error"]
    assert (first.dead_letters_surfaced, first.dead_letters_unreadable) == (1, 1)
    assert second.dead_letters_surfaced == 0
    assert len(sent_emails()) == 1
    # And both messages are still in the dead-letter queue for the operator
    attributes = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]
    assert (
        int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 2
    )


@pytest.mark.parametrize(("receive", "ends_the_run"), [(4, False), (5, True)])
def test_an_export_step_that_crashes_fails_its_run_on_the_last_receive_and_still_dead_letters(
    aws: None, install_services: InstallServices, receive: int, ends_the_run: bool
) -> None:
    from functions.accounting_export import app

    from ledgersync.domain.accounting_export import Checkpoint, Step

    # Given an export checkpoint whose step crashes (not a retryable fault: a bug, say), on its fourth or fifth (the
    # export queue's last) receive
    failed: list[tuple[str, str]] = []

    class Crashing:
        def run(self, checkpoint: Checkpoint) -> None:
            raise KeyError("boom")

        def fail(self, checkpoint: Checkpoint, reason: str) -> None:
            failed.append((checkpoint.run_id, reason))

    install_services(use_cases={"sales_invoice_export": Crashing()})
    checkpoint = Checkpoint(run_id="run_1", company_id="c1", step=Step.INVOICES)
    record = {
        "messageId": "m1",
        "receiptHandle": "r1",
        "body": checkpoint.model_dump_json(by_alias=True),
        "attributes": {"ApproximateReceiveCount": str(receive)},
        "eventSource": "aws:sqs",
    }
    # When the consumer handles it
    answer = app.lambda_handler({"Records": [record]}, LambdaContext(function_name="accounting_export"))
    # Then the record failed (so SQS delivers it again, or dead-letters it after the last), and on the last receive
    # its run ended failed saying why, instead of staying "running"
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert failed == ([("run_1", "an internal error (KeyError) on every attempt")] if ends_the_run else [])
