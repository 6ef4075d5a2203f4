"""Opt-in checks against a deployed stack: `LEDGERSYNC_E2E_URL=https://.../Prod LEDGERSYNC_E2E_TOKEN=... pytest -m e2e`.

They read only (health, the API description, a token's own invoices), so they are safe against production.
"""

from __future__ import annotations

import os

import pytest
import requests

pytestmark = pytest.mark.e2e
BASE = os.environ.get("LEDGERSYNC_E2E_URL", "").rstrip("/")
TOKEN = os.environ.get("LEDGERSYNC_E2E_TOKEN", "")
needs_stack = pytest.mark.skipif(not BASE, reason="set LEDGERSYNC_E2E_URL to the deployed API's URL")


@needs_stack
def test_deployed_stack_is_healthy_and_describes_its_api() -> None:
    assert requests.get(f"{BASE}/v1/health", timeout=10).status_code == 200
    document = requests.get(f"{BASE}/v1/openapi.json", timeout=10).json()
    assert "/api/invoice.create" in document["paths"]


@needs_stack
@pytest.mark.skipif(not TOKEN, reason="set LEDGERSYNC_E2E_TOKEN to an API token of a test company")
def test_deployed_stack_refuses_a_wrong_token_and_accepts_a_right_one() -> None:
    assert requests.get(f"{BASE}/v1/invoices", headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
    answer = requests.get(f"{BASE}/v1/invoices", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert answer.status_code == 200 and "invoices" in answer.json()
