"""Integration fixtures: moto in server mode on loopback, the handlers talking to it over HTTP."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.conftest import ADMIN_KEY
from tests.support.events import Api


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh moto server on 127.0.0.1; every boto3 client of the process points at it."""
    from aws_lambda_powertools.utilities.parameters.base import clear_caches
    from devstack.atomic_moto import AtomicMotoServer

    from ledgersync import bootstrap
    from tests.support.stack import create_resources

    server = AtomicMotoServer().start()
    url = server.url
    requests.post(f"{url}/moto-api/reset", timeout=10)  # moto's backends are per process, not per server
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": url,
        "TABLE_NAME": "ledgersync-it",
        "ADMIN_API_KEY_SECRET": "ledgersync/admin-api-key",
        "DOCUMENTS_BUCKET": "ledgersync-documents-it",
    }.items():
        monkeypatch.setenv(name, value)
    bootstrap.reset()
    clear_caches()
    create_resources(ADMIN_KEY)
    try:
        yield url
    finally:
        bootstrap.reset()
        clear_caches()
        server.stop()
        os.environ.pop("AWS_ENDPOINT_URL", None)


@pytest.fixture
def live_api(moto_server: str) -> Api:
    return Api()


@pytest.fixture
def live_company(live_api: Api) -> dict[str, Any]:
    answer = live_api.post("/v1/companies", {"name": "Live Flowers"}, headers={"X-Admin-Key": ADMIN_KEY})
    assert answer.status == 201, answer.text
    created: dict[str, Any] = answer.json()
    live_api.token = created["adminToken"]
    return created
