"""Issue 14 item 5, end to end: while the Intuit app's secret holds no credentials (the template creates it empty),
connecting answers 503 with the command that fixes it, and a connected company's queued sync waits for the fix."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parameters.base import clear_caches
from devstack.stack import LocalStack

from ledgersync import bootstrap
from tests.integration.test_redrive import bills, company, connect_quickbooks, fresh_company, poller, send_po
from tests.support.http import Client


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(seed=False, schedules=False, pollers=False) as running:
        yield running


def forget_cached_secrets() -> None:
    """What a new Lambda environment would see: no cached secret, no Intuit client built from an old one."""
    bootstrap.reset()
    clear_caches()


@pytest.fixture
def app_secret(stack: LocalStack) -> Iterator[str]:
    """The QBO_APP_SECRET's name; its working value (the emulator's app) is put back after the test."""
    name = stack.environment["QBO_APP_SECRET"]
    sm = stack.client("secretsmanager")
    working = sm.get_secret_value(SecretId=name)["SecretString"]
    yield name
    try:
        sm.put_secret_value(SecretId=name, SecretString=working)
    except sm.exceptions.ResourceNotFoundException:
        sm.create_secret(Name=name, SecretString=working)
    forget_cached_secrets()


def store_intuit_credentials(stack: LocalStack, name: str) -> None:
    """What the operator does (``put-secret-value``): the emulator's app credentials into the secret."""
    client_id, client_secret = next(iter(stack.emulators["qbo"].state.clients.items()))
    stack.client("secretsmanager").put_secret_value(
        SecretId=name, SecretString=json.dumps({"clientId": client_id, "clientSecret": client_secret})
    )
    forget_cached_secrets()


def empty_as_the_template_creates_it(stack: LocalStack, name: str) -> None:
    sm = stack.client("secretsmanager")
    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    sm.create_secret(Name=name, Description="Intuit app credentials")


def placeholder(stack: LocalStack, name: str) -> None:
    value = json.dumps({"clientId": "REPLACE_ME", "clientSecret": "REPLACE_ME"})
    stack.client("secretsmanager").put_secret_value(SecretId=name, SecretString=value)


@pytest.mark.parametrize(
    ("unconfigure", "problem"),
    [(empty_as_the_template_creates_it, "has no value yet"), (placeholder, "still holds a placeholder clientId")],
)
def test_connecting_answers_503_naming_the_put_secret_value_command_when_the_intuit_app_is_not_configured(
    stack: LocalStack, app_secret: str, unconfigure: object, problem: str
) -> None:
    # Given a company set up for QuickBooks Online and an Intuit app secret without credentials
    api = fresh_company(stack, f"Unconfigured {problem}")
    settings = {"externalSystem": "quickbooks_online", "requireAdditionalCharges": False}
    assert api.call("PUT", "/v1/accounting/settings", settings).status_code == 200
    assert callable(unconfigure)
    unconfigure(stack, app_secret)
    forget_cached_secrets()
    # When it asks to connect
    answer = api.call("GET", "/v1/accounting/quickbooks-online/authorize")
    # Then the API says the service is not configured yet, and how the operator fixes it
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert body["code"] == "IntuitAppNotConfigured", body
    assert f"aws secretsmanager put-secret-value --secret-id {app_secret}" in body["message"]
    assert problem in body["message"]
    assert answer.headers["Content-Type"].startswith("application/json")


def connected_and_unconfigured(stack: LocalStack, name: str, app_secret: str) -> tuple[Client, str, str]:
    """A company connected to QuickBooks Online whose access token has expired (its next call must refresh with
    the Intuit app's keys), and the app's secret emptied as the template creates it."""
    from ledgersync.adapters.quickbooks_online.tokens import SecretsManagerTokenStore

    api, company_id = company(stack, name)
    realm = connect_quickbooks(stack, api)
    store = SecretsManagerTokenStore(stack.environment["SECRETS_PREFIX"])
    tokens = store.load(company_id)
    assert tokens is not None
    store.save(company_id, tokens.model_copy(update={"access_expires_at": datetime.now(UTC) - timedelta(minutes=5)}))
    empty_as_the_template_creates_it(stack, app_secret)
    forget_cached_secrets()
    return api, company_id, realm


def test_a_queued_sync_waits_while_the_intuit_app_is_not_configured_and_goes_through_once_it_is(
    stack: LocalStack, app_secret: str
) -> None:
    # Given a connected company whose access token has expired (the next call must refresh, with the app's keys)
    # And the Intuit app's secret emptied, as the template creates it
    api, _, realm = connected_and_unconfigured(stack, "Unconfigured Sync", app_secret)
    emails_before = len(stack.emails())
    # When a PO is sent and the sync queue's consumer runs (twice, as the queue retries it)
    send_po(api, 9101)
    sync = poller(stack, "AccountingSyncFunction")
    for _ in range(2):
        attempt = sync.poll_once(0, redeliver_failures_now=True)
        assert (attempt.received, attempt.failed) == (1, 1)
    # Then the work is kept for a retry: the PO is still on its way, without an error or an e-mail, no bill exists
    shown = api.call("GET", "/v1/purchase-orders/9101").json()
    assert shown["vendorInvoiceStatus"] == "Sent to External System" and shown["error"] is None, shown
    assert len(stack.emails()) == emails_before
    assert bills(stack, realm) == []
    assert stack.queue_depths()["SyncQueue"]["visible"] == 1
    # When the operator stores the credentials (the fixture's working value) and the queue tries again
    store_intuit_credentials(stack, app_secret)
    stack.drain_queues()
    # Then the bill is created once and the PO is "S"
    assert len(bills(stack, realm)) == 1
    assert api.call("GET", "/v1/purchase-orders/9101").json()["vendorInvoiceStatus"] == "S"


def last_receive(stack: LocalStack) -> dict[str, Any]:
    """The sync queue's one message, received as the queue's last allowed receive (maxReceiveCount)."""
    from devstack.pollers import sqs_record

    sqs, queue = stack.client("sqs"), stack.resources.queues["SyncQueue"]
    (message,) = sqs.receive_message(QueueUrl=queue, AttributeNames=["All"])["Messages"]
    record = sqs_record(message, stack.resources.queue_arns["SyncQueue"], stack.region)
    record["attributes"]["ApproximateReceiveCount"] = stack.environment["SYNC_QUEUE_MAX_RECEIVES"]
    return record


def test_the_last_receive_holds_the_po_instead_of_failing_it_when_the_intuit_app_is_not_configured(
    stack: LocalStack, app_secret: str
) -> None:
    # Given a connected company that must refresh its token, and the Intuit app's secret emptied
    api, _, realm = connected_and_unconfigured(stack, "Unconfigured Last Receive", app_secret)
    emails_before = len(stack.emails())
    send_po(api, 9201)
    # When the queue delivers the sync for the last time it may
    record = last_receive(stack)
    answer = stack.invoke("AccountingSyncFunction", {"Records": [record]})
    stack.client("sqs").delete_message(
        QueueUrl=stack.resources.queues["SyncQueue"], ReceiptHandle=record["receiptHandle"]
    )
    # (done: the consumer reported no failure, so the poller deletes it)
    # Then the PO is held with the operator's fix, not in Error, and no e-mail went to the customer
    assert answer == {"batchItemFailures": []}
    shown = api.call("GET", "/v1/purchase-orders/9201").json()
    assert shown["vendorInvoiceStatus"] == "Sent to External System" and shown["error"] is None, shown
    assert "put-secret-value" in (shown["heldReason"] or ""), shown
    assert len(stack.emails()) == emails_before
    # When the operator stores the credentials and the sweep runs
    store_intuit_credentials(stack, app_secret)
    assert stack.run_schedule("SchedulerFunction.EveryMinute")["released"] >= 1
    stack.drain_queues()
    # Then the held work goes through once
    assert len(bills(stack, realm)) == 1
    assert api.call("GET", "/v1/purchase-orders/9201").json()["vendorInvoiceStatus"] == "S"
