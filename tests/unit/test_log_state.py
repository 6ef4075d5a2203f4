"""Logs carry only their own request: keys one invocation (or one SQS record) appends never reach the next's lines,
and every line has its credentials masked."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from devstack.runtime import LambdaContext

from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.sync.messages import SyncMessage
from ledgersync.domain.sync.outcomes import Outcome
from ledgersync.observability import keys_per_record, logger, redact, redact_text
from tests.support.events import Api
from tests.support.services import InstallServices

RUN_KEYS = ("company_id", "po_id", "user_id", "realm_id")


class LineCapture:
    """Every JSON line the shared Powertools logger writes (at INFO and above) while it is open."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def __enter__(self) -> LineCapture:
        self.handler = logger.registered_handler
        self.previous = self.handler.stream  # type: ignore[attr-defined]
        self.handler.setStream(self.stream)  # type: ignore[attr-defined]
        self.level = logger.log_level
        logger.setLevel("INFO")
        return self

    def __exit__(self, *exc: object) -> None:
        self.handler.setStream(self.previous)  # type: ignore[attr-defined]
        logger.setLevel(self.level)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line.startswith("{")]


@pytest.fixture
def capture() -> Iterator[LineCapture]:
    with LineCapture() as lines:
        yield lines
    logger.clear_state()


@dataclass
class RecordingSync:
    """An accounting sync that, like an adapter might, appends the QuickBooks realm of the company it syncs."""

    realms: dict[str, str]
    synced: list[tuple[str, int]] = field(default_factory=list)

    target = ExternalSystem.QUICKBOOKS_ONLINE

    def process(self, message: SyncMessage, attempt: int = 1, max_attempts: int = 0) -> Outcome:
        company_id, purchase_order_id = message.company_id, message.document.purchase_order_id
        if company_id in self.realms:
            logger.append_keys(realm_id=self.realms[company_id])
        self.synced.append((company_id, purchase_order_id))
        return Outcome.SYNCHRONIZED


def sqs_event(*messages: tuple[str, int]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m{index}",
                "receiptHandle": f"rh-{index}",
                "body": json.dumps({"companyId": company, "purchaseOrderId": po}),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1714564800000"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:sync",
                "awsRegion": "us-east-1",
            }
            for index, (company, po) in enumerate(messages)
        ]
    }


REFRESHED = "QuickBooks token refresh finished"


def run_token_refresh() -> None:
    """Another function, as the schedule invokes it (no company is due)."""
    from functions.token_refresh import app

    app.lambda_handler({"source": "aws.events", "detail-type": "Scheduled Event", "companyIds": []}, LambdaContext())


def test_a_later_function_logs_none_of_the_po_sync_keys_when_a_po_sync_ran_first(
    aws: None, install_services: InstallServices, capture: LineCapture
) -> None:
    from functions.accounting_sync import app

    # Given a PO sync that appended its company, PO and realm
    install_services(use_cases={"accounting_sync": RecordingSync({"co_first": "realm-1"})})
    assert app.lambda_handler(sqs_event(("co_first", 4242)), LambdaContext()) == {"batchItemFailures": []}
    synced = [line for line in capture.lines() if line["message"] == "document processed"]
    assert synced[0]["company_id"] == "co_first" and synced[0]["po_id"] == 4242

    # When another function runs next in the same instance
    run_token_refresh()

    # Then its lines carry none of the sync's keys
    refreshed = [line for line in capture.lines() if line["message"] == REFRESHED]
    assert refreshed, capture.lines()
    for key in RUN_KEYS:
        assert key not in refreshed[0], refreshed[0]


def test_a_later_function_logs_no_caller_when_an_api_call_authenticated_first(
    company: dict[str, Any], api: Api, capture: LineCapture
) -> None:
    # Given an API call whose caller was appended to the log keys (api.caller) and removed when it ended
    assert api.get("/v1/accounting/settings").status in (200, 404)
    assert not {"company_id", "user_id"} & set(logger.get_current_keys())

    # When the token refresh runs next
    run_token_refresh()

    # Then its lines name no company or user
    refreshed = [line for line in capture.lines() if line["message"] == REFRESHED]
    assert refreshed and not {"company_id", "user_id"} & set(refreshed[0])


def test_each_record_of_a_batch_logs_only_its_own_company_when_a_batch_mixes_companies(
    install_services: InstallServices, capture: LineCapture
) -> None:
    from functions.accounting_sync import app

    # Given one batch: company A (connected to realm-A) first, then company B (no realm)
    fake = RecordingSync({"co_a": "realm-A"})
    install_services(use_cases={"accounting_sync": fake})

    # When
    app.lambda_handler(sqs_event(("co_a", 1), ("co_b", 2)), LambdaContext())

    # Then B's line names B and its PO, and not A's realm
    processed = {line["company_id"]: line for line in capture.lines() if line["message"] == "document processed"}
    assert fake.synced == [("co_a", 1), ("co_b", 2)]
    assert processed["co_a"]["realm_id"] == "realm-A"
    assert processed["co_b"]["po_id"] == 2 and "realm_id" not in processed["co_b"]


def test_keys_appended_by_a_record_handler_are_gone_after_it_when_it_raises() -> None:
    logger.append_keys(service_area="kept")

    @keys_per_record
    def handler(record: str) -> None:
        logger.append_keys(company_id=record, service_area="changed")
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        handler("co_x")

    keys = logger.get_current_keys()
    assert "company_id" not in keys and keys["service_area"] == "kept"
    logger.remove_keys(["service_area"])


def test_an_event_logged_by_inject_lambda_context_has_its_credentials_masked(capture: LineCapture) -> None:
    # Given a handler that logs its event, as POWERTOOLS_LOGGER_LOG_EVENT=true makes every handler do
    @logger.inject_lambda_context(log_event=True, clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> None:
        logger.info("calling out", extra={"url": event["path"] + "?authenticationToken=lsk_inurl9", "event": event})

    event = {
        "path": "/v1/accounting/quickbooks-online/callback",
        "headers": {"Authorization": "Bearer lsk_header1", "X-Admin-Key": "admin-key-7", "Host": "localhost"},
        "multiValueHeaders": {"Authorization": ["Basic dXNlcjpwYXNzd29yZA=="]},
        "queryStringParameters": {"code": "oauth-code-3", "state": "st", "authenticationToken": "lsk_query2"},
        "body": json.dumps(
            {
                "authenticationToken": "lsk_body4",
                "auth": {"type": "basic", "username": "ap", "password": "hook-password-5"},
                "clientSecret": "qbo-client-secret-6",
                "customerCode": "ANG",
            }
        ),
    }

    # When
    handler(event, LambdaContext())

    # Then nothing secret is written, and what is not secret still is
    text = capture.stream.getvalue()
    for secret in (
        "lsk_header1",
        "admin-key-7",
        "dXNlcjpwYXNzd29yZA==",
        "oauth-code-3",
        "lsk_query2",
        "lsk_body4",
        "hook-password-5",
        "qbo-client-secret-6",
        "lsk_inurl9",
    ):
        assert secret not in text
    assert "ANG" in text and "localhost" in text and '"ap' in text.replace('\\"', '"')


def test_credentials_are_masked_by_shape_in_free_text() -> None:
    text = (
        "GET /api/invoice.list?authenticationToken=lsk_abc&limit=5 Authorization: Bearer eyJhbGciOi.x.y "
        'X-Admin-Key: k-123 {"refresh_token": "RT-9", "SyncToken": "3"}'
    )

    masked = redact_text(text)

    assert masked == (
        "GET /api/invoice.list?authenticationToken=***&limit=5 Authorization: Bearer *** "
        'X-Admin-Key: *** {"refresh_token": "***", "SyncToken": "3"}'
    )


def test_credentials_are_masked_by_name_in_nested_records() -> None:
    record = {
        "headers": {"x-admin-key": "k", "Content-Type": "application/json"},
        "secret": {"url": "https://hooks.example.com/po", "signingSecret": "s", "auth": {"token": "t"}},
        "qbo": {"access_token": "a", "refreshToken": "r", "client_secret": "c", "realmId": "9"},
        "customer": {"code": "ANG"},
    }

    assert redact(record) == {
        "headers": {"x-admin-key": "***", "Content-Type": "application/json"},
        "secret": "***",
        "qbo": {"access_token": "***", "refreshToken": "***", "client_secret": "***", "realmId": "9"},
        "customer": {"code": "ANG"},
    }


@dataclass
class BlockingSync:
    """A sync that holds its record until told to go on, so another thread can log meanwhile."""

    started: threading.Event = field(default_factory=threading.Event)
    go_on: threading.Event = field(default_factory=threading.Event)

    target = ExternalSystem.QUICKBOOKS_ONLINE

    def process(self, message: SyncMessage, attempt: int = 1, max_attempts: int = 0) -> Outcome:
        self.started.set()
        assert self.go_on.wait(10)
        return Outcome.SYNCHRONIZED


def test_a_record_in_flight_lends_its_keys_to_no_other_thread_when_functions_share_a_process(
    install_services: InstallServices, capture: LineCapture
) -> None:
    from functions.accounting_sync import app

    # Given a sync record of company A in flight on one thread (the local stack runs functions side by side)
    blocking = BlockingSync()
    install_services(use_cases={"accounting_sync": blocking})
    worker = threading.Thread(target=app.lambda_handler, args=(sqs_event(("co_in_flight", 7)), LambdaContext()))
    worker.start()
    assert blocking.started.wait(10)

    # When another thread logs meanwhile
    logger.info("another request's line")
    blocking.go_on.set()
    worker.join(10)

    # Then that line carries none of the record's keys, and the record's own line has them
    lines = capture.lines()
    other = next(line for line in lines if line["message"] == "another request's line")
    assert not {"company_id", "po_id"} & set(other), other
    processed = next(line for line in lines if line["message"] == "document processed")
    assert processed["company_id"] == "co_in_flight" and processed["po_id"] == 7
