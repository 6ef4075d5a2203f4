"""The AWS-backed QuickBooks Online ports on moto: token secrets, locks, dedup entries, the shared limiter, metrics."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from devstack.runtime import LambdaContext

from ledgersync.adapters.dynamodb import SingleTable
from ledgersync.adapters.quickbooks_online.dedup import DynamoDedupStore
from ledgersync.adapters.quickbooks_online.limits import DynamoRequestLimiter
from ledgersync.adapters.quickbooks_online.metrics import PowertoolsTokenMetrics
from ledgersync.adapters.quickbooks_online.references import DynamoReferenceIdCache
from ledgersync.adapters.quickbooks_online.tokens import DynamoLock, SecretsManagerTokenStore
from ledgersync.domain.quickbooks_online import BillOutcome, BillSync, DedupEntry, DedupState
from ledgersync.errors import RetryableError
from tests.fakes import FakeClock
from tests.support.services import InstallServices
from tests.unit.test_quickbooks_online import START, World, draft, tokens_for


@pytest.fixture
def table(aws: None) -> SingleTable:
    """The single table on moto in process (the conftest ``aws`` fixture: fake credentials, resources created)."""
    return SingleTable(os.environ["TABLE_NAME"])


def stepped_time(epoch: float = 1_700_000_000.0) -> FakeClock:
    """A fake clock at ``epoch`` seconds of wall time."""
    return FakeClock(datetime.fromtimestamp(epoch, UTC))


# ---------------------------------------------------------------------------------------------- tokens in secrets


def test_tokens_round_trip_through_one_secret_per_company_when_saved_twice(table: SingleTable) -> None:
    store = SecretsManagerTokenStore("ledgersync")
    clock = FakeClock(START)

    store.save("c1", tokens_for(clock, n=1))
    store.save("c1", tokens_for(clock, n=2))
    store.save("c2", tokens_for(clock, n=3))
    boto3.client("secretsmanager").create_secret(Name="ledgersync/webhook/c3", SecretString="x")

    assert store.load("c1") == tokens_for(clock, n=2)
    assert store.load("never-connected") is None
    stored = boto3.client("secretsmanager").get_secret_value(SecretId="ledgersync/qbo/c1")["SecretString"]
    assert json.loads(stored)["refresh_token"] == "refresh-2"


# ---------------------------------------------------------------------------------------------- lock


def test_lock_admits_one_refresher_until_released_or_expired(table: SingleTable) -> None:
    time_now = stepped_time()
    lock = DynamoLock(table, clock=time_now)

    first = lock.acquire("c1", "qbo-token-refresh", 60)
    second = lock.acquire("c1", "qbo-token-refresh", 60)
    other_company = lock.acquire("c2", "qbo-token-refresh", 60)
    time_now.advance(61)
    after_expiry = lock.acquire("c1", "qbo-token-refresh", 60)
    assert after_expiry is not None
    lock.release("c1", "qbo-token-refresh", after_expiry)
    after_release = lock.acquire("c1", "qbo-token-refresh", 60)

    assert first is not None and second is None and other_company is not None
    assert after_release is not None


# ---------------------------------------------------------------------------------------------- dedup


def test_dedup_entry_is_written_once_and_replaced_only_from_the_expected_state(table: SingleTable) -> None:
    store = DynamoDedupStore(table)
    pending = DedupEntry(state=DedupState.PENDING, attempt=1, started_at=START, reference="PO-1-I")

    assert store.put_if_absent("c1", "bill#1#I", pending) is None
    assert store.put_if_absent("c1", "bill#1#I", pending.model_copy(update={"attempt": 5})) == pending
    failed = pending.model_copy(update={"state": DedupState.FAILED})
    assert store.replace("c1", "bill#1#I", pending, failed) is True
    assert store.replace("c1", "bill#1#I", pending, failed) is False
    store.complete("c1", "bill#1#I", 2, "123")
    done = store.put_if_absent("c1", "bill#1#I", pending)
    assert done is not None and done.state is DedupState.COMPLETED and done.result_id == "123"


def test_bill_is_created_once_when_two_sends_share_the_dynamodb_dedup_store(table: SingleTable) -> None:
    world = World()
    sync = BillSync(world.qbo, world.tokens, DynamoDedupStore(table), world.clock)

    first = sync.send(draft())
    second = BillSync(world.qbo, world.tokens, DynamoDedupStore(table), world.clock).send(draft())

    assert (first.outcome, second.outcome) == (BillOutcome.CREATED, BillOutcome.ALREADY_SYNCHRONIZED)
    assert len(world.qbo.bills) == 1


# ---------------------------------------------------------------------------------------------- shared limiter


def test_shared_limiter_holds_the_call_over_the_window_budget_until_the_next_window(table: SingleTable) -> None:
    time_now = stepped_time(1_700_000_000.0)  # the start of a 5-second window
    limiter = DynamoRequestLimiter(table, 120, 4, clock=time_now)

    for _ in range(10):  # 120/minute is 10 per 5-second window
        with limiter.slot("realm-1"):
            pass
    with limiter.slot("realm-1"):
        pass

    assert len(time_now.slept) == 1
    assert time_now.now().timestamp() >= 1_700_000_005.0


def test_shared_limiter_refuses_a_call_when_every_in_flight_slot_stays_taken(table: SingleTable) -> None:
    time_now = stepped_time()
    limiter = DynamoRequestLimiter(table, 450, 2, clock=time_now, max_wait_seconds=1.0)

    with limiter.slot("realm-1"), limiter.slot("realm-1"):
        with pytest.raises(RetryableError), limiter.slot("realm-1"):
            pass
        with limiter.slot("realm-2"):  # another company is not held up
            pass
    with limiter.slot("realm-1"):  # released slots are free again
        pass


def test_reference_ids_are_shared_between_instances_and_can_be_forgotten(table: SingleTable) -> None:
    DynamoReferenceIdCache(table).put("realm-1", "Vendor", "O'Brien Farms", "56")

    other = DynamoReferenceIdCache(table)
    found = other.get("realm-1", "Vendor", "O'Brien Farms")
    other.forget("realm-1", "Vendor", "O'Brien Farms")

    assert found == "56"
    assert DynamoReferenceIdCache(table).get("realm-1", "Vendor", "O'Brien Farms") is None


# ---------------------------------------------------------------------------------------------- metrics and handler


def test_days_left_metric_has_one_bounded_dimension_when_emitted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    PowertoolsTokenMetrics().refresh_token_days_left("c1", 99.5)

    captured = capsys.readouterr()
    lines = (captured.out + captured.err).splitlines()
    emitted = [json.loads(line) for line in lines if line.startswith("{")]
    metric = next(m for m in emitted if "RefreshTokenDaysLeft" in m)
    assert metric["RefreshTokenDaysLeft"] in (99.5, [99.5])
    assert metric["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert "CompanyId" not in metric


def test_scheduled_handler_refreshes_due_companies_and_returns_the_summary(install_services: InstallServices) -> None:
    from functions.token_refresh import app

    from ledgersync.bootstrap import Adapters

    world = World()
    world.store.saved["c1"] = tokens_for(world.clock, refreshed_ago=timedelta(days=2))

    class Companies:
        """The table's company list; the token store's own listing (ListSecrets) must not be used."""

        def company_ids(self) -> list[str]:
            return ["c1", "c2"]

    install_services(
        Adapters(
            account_store=Companies(),
            quickbooks_secrets=world.store,
            intuit_oauth=world.oauth,
            token_lock=world.lock,
            token_metrics=world.metrics,
            clock=world.clock,
        )
    )

    answer: dict[str, Any] = app.lambda_handler({"source": "aws.events"}, LambdaContext(function_name="token_refresh"))

    assert answer["refreshed"] == ["c1"] and answer["not_connected"] == ["c2"]
    assert world.store.saved["c1"].refresh_token == "refresh-1"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "has no value yet"),
        ("not json", "does not hold JSON"),
        (
            '{"clientId": "REPLACE_WITH_INTUIT_CLIENT_ID", "clientSecret": "REPLACE_WITH_INTUIT_CLIENT_SECRET"}',
            "placeholder",
        ),
        ('{"clientId": "ABc123"}', "has no clientSecret"),
    ],
)
def test_unconfigured_intuit_app_is_refused_naming_the_command_when_credentials_are_read(
    aws: None, value: str | None, problem: str
) -> None:
    # Given the app secret as the template creates it (empty) or as an operator may leave it
    from ledgersync.adapters.quickbooks_online.oauth import IntuitAppNotConfigured, app_credentials
    from ledgersync.config import Settings

    sm = boto3.client("secretsmanager")
    sm.create_secret(Name="ledgersync/stack/quickbooks-online-app", **({"SecretString": value} if value else {}))
    settings = Settings(QBO_APP_SECRET="ledgersync/stack/quickbooks-online-app")

    # When / Then
    with pytest.raises(IntuitAppNotConfigured, match=problem) as refused:
        app_credentials(settings)
    assert refused.value.status_code == 503
    assert (
        "aws secretsmanager put-secret-value --secret-id ledgersync/stack/quickbooks-online-app"
        in refused.value.message
    )


def test_real_intuit_credentials_are_returned_when_the_operator_put_them(aws: None) -> None:
    from ledgersync.adapters.quickbooks_online.oauth import app_credentials
    from ledgersync.config import Settings

    boto3.client("secretsmanager").create_secret(
        Name="ledgersync/stack/qbo-app", SecretString='{"clientId": "ABc123", "clientSecret": "s3cr3t"}'
    )

    assert app_credentials(Settings(QBO_APP_SECRET="ledgersync/stack/qbo-app")) == ("ABc123", "s3cr3t")
