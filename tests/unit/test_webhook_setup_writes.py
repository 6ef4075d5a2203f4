"""The webhook set-up writes the endpoint secret, then the settings flag: a failure between the two leaves no state
a send could act on half-way, and retrying the set-up converges."""

from __future__ import annotations

from typing import Any

import pytest

from ledgersync.adapters.settings_store import DynamoSettingsStore
from ledgersync.errors import RetryableError
from tests.support.events import Api
from tests.unit.test_purchase_orders import approved, send, setup  # noqa: F401 - the fixture

WEBHOOK = {"url": "http://localhost/hooks/po", "auth": {"type": "bearer", "token": "t0ken"}, "errorEmails": ["a@b.co"]}


@pytest.fixture
def webhook_company(setup: Api, monkeypatch: pytest.MonkeyPatch) -> Api:  # noqa: F811
    from ledgersync import bootstrap

    monkeypatch.setenv("WEBHOOK_ALLOWED_HOSTS", "localhost")
    bootstrap.reset()
    setup.put("/v1/accounting/settings", {"externalSystem": "webhook"})
    approved(setup)
    return setup


def test_send_refuses_with_the_fix_and_a_retried_set_up_completes_when_the_settings_write_failed(
    webhook_company: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = webhook_company
    # Given the settings write failing once, after the endpoint secret was stored
    failures = [RetryableError("DynamoDB is throttling the settings")]
    real_mark = DynamoSettingsStore.mark_webhook_configured

    def mark_failing_once(store: DynamoSettingsStore, company_id: str) -> None:
        if failures:
            raise failures.pop()
        real_mark(store, company_id)

    monkeypatch.setattr(DynamoSettingsStore, "mark_webhook_configured", mark_failing_once)
    first = api.put("/v1/webhooks/po-reconciliation", WEBHOOK)
    assert first.status == 503, first.text
    # When a PO is sent meanwhile, then the set-up retried, then the PO sent again
    (meanwhile,) = send(api, 1)
    retried = api.put("/v1/webhooks/po-reconciliation", WEBHOOK)
    (after,) = send(api, 1)
    # Then the half-done set-up refused the send with the fix; the retry completed it and showed the signing secret
    assert meanwhile["accepted"] is False
    assert "set it with PUT /v1/webhooks/po-reconciliation" in meanwhile["message"]
    assert retried.status == 200, retried.text
    body: dict[str, Any] = retried.json()
    shown = api.get("/v1/webhooks/po-reconciliation").json()
    assert body["signingSecret"].endswith(shown["signingSecretHint"][3:])
    assert after["accepted"] is True, after
    assert api.put("/v1/webhooks/po-reconciliation", WEBHOOK).json().get("signingSecret") is None
