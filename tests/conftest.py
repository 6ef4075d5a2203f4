"""Shared fixtures: AWS emulated in process by moto, the single table created as template.yaml declares it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.events import Api
from tests.support.services import InstallServices, install_built_services

ADMIN_KEY = "test-admin-key"
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Ledgersync")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in process, the table and the admin key secret created, every cached client forgotten."""
    from aws_lambda_powertools.utilities.parameters.base import clear_caches
    from moto import mock_aws

    from ledgersync import bootstrap
    from tests.support.stack import create_resources

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "TABLE_NAME": "ledgersync-test",
        "ADMIN_API_KEY_SECRET": "ledgersync/admin-api-key",
        "DOCUMENTS_BUCKET": "ledgersync-documents-test",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    _serialize_moto_requests(monkeypatch)
    with mock_aws():
        bootstrap.reset()
        clear_caches()
        create_resources(ADMIN_KEY)
        yield
        bootstrap.reset()
        clear_caches()


def _serialize_moto_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto applies one request at a time, as devstack's AtomicMotoServer does: its backends are not thread-safe (a
    cancelled TransactWriteItems restores a copy of the table taken before it began, undoing what another thread
    wrote meanwhile), which real DynamoDB never does."""
    import threading

    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.RLock()
    process = BotocoreStubber.process_request

    def serialized(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            return process(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", serialized)


@pytest.fixture
def api(aws: None) -> Api:
    return Api()


@pytest.fixture
def company(api: Api) -> dict[str, Any]:
    """A new company (USD) with its admin token."""
    answer = api.post("/v1/companies", {"name": "Demo Flowers", "currency": "USD"}, headers={"X-Admin-Key": ADMIN_KEY})
    assert answer.status == 201, answer.text
    created: dict[str, Any] = answer.json()
    api.token = created["adminToken"]
    return created


@pytest.fixture
def install_services() -> Iterator[InstallServices]:
    """``install_services(Adapters(...fakes), use_cases={...}, settings=...)``: see tests.support.services."""
    from ledgersync import bootstrap

    yield install_built_services
    bootstrap.reset()
