"""Seed 001's Setup role: it sets up the PO Reconciliation webhook, only an Admin grants it, and the failure
e-mail names roles that exist."""

from __future__ import annotations

from typing import Any

import pytest

from ledgersync import bootstrap
from ledgersync.domain.accounts import Role
from ledgersync.domain.purchase_order_service import SENDERS
from ledgersync.domain.webhooks.endpoint import WEBHOOK_SETUP_ROLES
from tests.support.events import Api

WEBHOOK = {"url": "http://localhost/hooks/po", "auth": {"type": "bearer", "token": "t0ken"}, "errorEmails": ["a@b.co"]}


def _user(api: Api, roles: list[str], token: str | None = None) -> dict[str, Any]:
    answer = api.post("/v1/users", {"name": "Sam", "email": "sam@flowers.example", "roles": roles}, token=token)
    assert answer.status == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


@pytest.fixture
def local_webhooks(monkeypatch: pytest.MonkeyPatch, company: dict[str, Any]) -> dict[str, Any]:
    monkeypatch.setenv("WEBHOOK_ALLOWED_HOSTS", "localhost")
    bootstrap.reset()
    return company


def test_setup_user_sets_up_the_webhook_when_an_admin_granted_the_role(api: Api, local_webhooks: Any) -> None:
    # Given a user an Admin created with the Setup role only
    setup = _user(api, ["Setup"])
    # When that user sets up the webhook
    answer = api.put("/v1/webhooks/po-reconciliation", WEBHOOK, token=setup["token"])
    # Then it is stored
    assert answer.status == 200, answer.text
    assert answer.json()["url"] == WEBHOOK["url"]


def test_webhook_set_up_is_refused_when_the_user_has_neither_admin_nor_setup(api: Api, local_webhooks: Any) -> None:
    sales = _user(api, ["Sales"])
    answer = api.put("/v1/webhooks/po-reconciliation", WEBHOOK, token=sales["token"])
    assert answer.status == 403
    assert "Admin, Setup" in answer.json()["message"]


def test_setup_user_cannot_grant_setup_when_creating_users_or_tokens(api: Api, company: dict[str, Any]) -> None:
    # Given a Setup user and a Sales user
    setup = _user(api, ["Setup"])
    sales = _user(api, ["Sales"])
    # When the Setup user creates a user with Setup, or a token for another user
    created = api.post(
        "/v1/users", {"name": "X", "email": "x@flowers.example", "roles": ["Setup"]}, token=setup["token"]
    )
    issued = api.post("/v1/tokens", {"userId": sales["userId"], "apiMethods": []}, token=setup["token"])
    # Then both are refused: only an Admin grants roles
    assert created.status == 403
    assert issued.status == 403
    # And a Setup user may still issue a token for itself
    own = api.post("/v1/tokens", {"userId": setup["userId"], "apiMethods": ["accounting.write"]}, token=setup["token"])
    assert own.status == 201, own.text


def test_failure_email_names_roles_that_exist_when_it_says_who_fixes_and_resends() -> None:
    from tests.unit.test_webhook_delivery import WebhookResponse, make_world, message_body

    world = make_world(WebhookResponse(401, {}, b"no"))
    world.deliveries.handle(message_body(), "rh", 3)
    [mail] = world.notifier.sent
    assert "Admin or Setup role: PUT /v1/webhooks/po-reconciliation" in mail.text
    senders = sorted(role.value for role in SENDERS)
    assert f"{', '.join(senders[:-1])} or {senders[-1]} role" in mail.text
    assert "Setup token" not in mail.text
    assert Role.SETUP in WEBHOOK_SETUP_ROLES
