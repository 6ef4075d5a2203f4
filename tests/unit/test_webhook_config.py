"""PUT/GET /v1/webhooks/po-reconciliation: the request model, the masked view and the set-up use case."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import ValidationError

from ledgersync.adapters.webhooks import DnsAddressGuard
from ledgersync.domain.webhooks.endpoint import WebhookConfigRequest, WebhookSetup
from ledgersync.errors import NotFound, RetryableError, ValidationFailed
from tests.fakes import FakeClock
from tests.unit.test_webhook_delivery import FakeSecrets

PASSWORD = "correct-horse-battery"
TOKEN = "eyJhbGciOi.payload.sig"
PUBLIC = "93.184.216.34"


def request(**changes: Any) -> WebhookConfigRequest:
    body: dict[str, Any] = {
        "url": "https://erp.example.com/hooks/po",
        "auth": {"type": "basic", "username": "komet", "password": PASSWORD},
        "errorEmails": ["AP@flowers.example"],
    }
    body.update(changes)
    return WebhookConfigRequest.model_validate(body)


@dataclass
class FakeSetupState:
    """The settings' set-up flag; ``failures`` marks fail first (the settings write failing after the secret's)."""

    configured: set[str] = field(default_factory=set)
    failures: int = 0

    def is_configured(self, company_id: str) -> bool:
        return company_id in self.configured

    def mark_webhook_configured(self, company_id: str) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise RetryableError("DynamoDB is throttling the settings")
        self.configured.add(company_id)


def setup_with(
    answers: dict[str, list[str]] | None = None,
    ports: frozenset[int] | None = frozenset({8099}),
    state: FakeSetupState | None = None,
) -> tuple[WebhookSetup, FakeSecrets]:
    table = answers or {}

    def resolve(host: str, port: int) -> list[str]:
        return table.get(host, [PUBLIC])

    secrets = FakeSecrets()
    allowed = frozenset({"127.0.0.1", "localhost"})
    guard = DnsAddressGuard(allowed, resolve)
    return WebhookSetup(secrets, guard, allowed, FakeClock(), ports, state=state or FakeSetupState()), secrets


def refused_fields(**changes: Any) -> set[str]:
    with pytest.raises(ValidationError) as caught:
        request(**changes)
    return {str(e["loc"][0]) for e in caught.value.errors()}


def test_request_is_accepted_when_auth_is_basic_or_bearer() -> None:
    assert request().auth.type == "basic"
    bearer = request(auth={"type": "bearer", "token": TOKEN})
    assert bearer.auth.type == "bearer"


@pytest.mark.parametrize("auth", [
    {"type": "basic", "username": "komet"},
    {"type": "basic", "username": "ko:met", "password": "x"},
    {"type": "bearer"},
    {"type": "bearer", "token": "has space"},
    {"type": "bearer", "token": "line\r\nX-Injected: 1"},
    {"type": "digest", "username": "a", "password": "b"},
])  # fmt: skip
def test_request_is_refused_when_auth_is_incomplete_or_unsafe(auth: dict[str, Any]) -> None:
    assert refused_fields(auth=auth) == {"auth"}


@pytest.mark.parametrize("emails", [[], [f"u{i}@flowers.example" for i in range(6)], ["not-an-address"]])
def test_request_is_refused_when_error_addresses_are_missing_too_many_or_invalid(emails: list[str]) -> None:
    assert refused_fields(errorEmails=emails) == {"errorEmails"}


def test_error_addresses_are_deduplicated_when_repeated_in_other_case() -> None:
    assert request(errorEmails=["AP@flowers.example", "ap@flowers.example"]).error_emails == ["ap@flowers.example"]


@pytest.mark.parametrize("url", [
    "ftp://erp.example.com/po", "erp.example.com/po", "https:///po", "https://user:pw@erp.example.com/po",
    "https://erp.example.com/po#frag", "https://erp.example.com:99999/po", "javascript:alert(1)",
])  # fmt: skip
def test_request_is_refused_when_the_url_is_not_a_plain_web_address(url: str) -> None:
    assert refused_fields(url=url) == {"url"}


def test_plain_http_is_refused_when_the_host_is_not_allowed_locally() -> None:
    setup, secrets = setup_with()
    with pytest.raises(ValidationFailed) as caught:
        setup.configure_webhook("c1", request(url="http://erp.example.com/po"))
    assert caught.value.errors[0].field == "url"
    assert "https" in caught.value.errors[0].message
    assert secrets.endpoints == {}


def test_plain_http_is_accepted_when_the_host_is_allowed_locally() -> None:
    setup, _ = setup_with({"127.0.0.1": ["127.0.0.1"]})
    assert setup.configure_webhook("c1", request(url="http://127.0.0.1:8099/hook")).url == "http://127.0.0.1:8099/hook"


@pytest.mark.parametrize(("host", "address", "why"), [
    ("internal.example.com", "10.0.0.12", "private"),
    ("metadata.example.com", "169.254.169.254", "metadata"),
    ("v6.example.com", "fd00:ec2::254", "metadata"),
    ("loop.example.com", "::1", "loopback"),
])  # fmt: skip
def test_url_is_refused_at_set_up_when_its_host_resolves_to_a_refused_address(
    host: str, address: str, why: str
) -> None:
    setup, secrets = setup_with({host: [address]})
    with pytest.raises(ValidationFailed) as caught:
        setup.configure_webhook("c1", request(url=f"https://{host}/po"))
    assert caught.value.errors[0].field == "url"
    assert why in caught.value.errors[0].message
    assert secrets.endpoints == {}


def test_view_never_shows_a_secret_when_configured_with_basic_auth() -> None:
    setup, _ = setup_with()
    view = setup.configure_webhook("c1", request())
    shown = setup.get_webhook("c1").model_dump_json(by_alias=True)
    assert PASSWORD not in shown
    assert view.signing_secret is not None
    assert view.signing_secret not in shown
    assert '"username":"komet"' in shown
    assert '"password":"********"' in shown
    assert '"errorEmails":["ap@flowers.example"]' in shown


def test_view_never_shows_the_token_when_configured_with_bearer_auth() -> None:
    setup, _ = setup_with()
    setup.configure_webhook("c1", request(auth={"type": "bearer", "token": TOKEN}))
    shown = setup.get_webhook("c1").model_dump_json(by_alias=True)
    assert TOKEN not in shown
    assert '"token":"********"' in shown


def test_signing_secret_is_made_once_and_shown_only_then_when_the_webhook_is_reconfigured() -> None:
    setup, secrets = setup_with()
    first = setup.configure_webhook("c1", request())
    second = setup.configure_webhook("c1", request(auth={"type": "bearer", "token": TOKEN}))
    assert first.signing_secret is not None
    assert len(first.signing_secret) >= 43
    assert second.signing_secret is None
    assert second.signing_secret_hint == first.signing_secret_hint == "..." + first.signing_secret[-4:]
    assert secrets.endpoints["c1"].signing_secret == first.signing_secret
    assert secrets.endpoints["c1"].auth.type == "bearer"


def test_a_retry_shows_the_kept_signing_secret_when_the_set_up_failed_after_storing_it() -> None:
    # Given a set-up whose settings write fails after the endpoint secret was stored
    state = FakeSetupState(failures=1)
    setup, secrets = setup_with(state=state)
    with pytest.raises(RetryableError):
        setup.configure_webhook("c1", request())
    assert "c1" in secrets.endpoints and not state.is_configured("c1")
    stored = secrets.endpoints["c1"].signing_secret
    # When the person retries
    retried = setup.configure_webhook("c1", request())
    # Then the set-up is complete and the answer shows the secret the receiver must verify with, once
    assert state.is_configured("c1")
    assert retried.signing_secret == stored == secrets.endpoints["c1"].signing_secret
    assert setup.configure_webhook("c1", request()).signing_secret is None


def test_companies_get_different_signing_secrets_when_each_configures_a_webhook() -> None:
    setup, secrets = setup_with()
    setup.configure_webhook("c1", request())
    setup.configure_webhook("c2", request())
    assert secrets.endpoints["c1"].signing_secret != secrets.endpoints["c2"].signing_secret


def test_reading_is_not_found_when_no_webhook_is_configured() -> None:
    setup, _ = setup_with()
    with pytest.raises(NotFound, match="PUT /v1/webhooks/po-reconciliation"):
        setup.get_webhook("c1")


@pytest.mark.parametrize("url", [
    "https://erp.example.com/po\r\nX-Injected: 1", "https://erp.example.com/p o", "https://erp.example.com/po\t",
    "https://erp.example.com/po%0d%0aX-Injected:%201", "https://erp.example.com/p%20o", "https://erp.example.com/%09",
    "https://erp.example.com/po?a=%250A", "https://erp.example.com/po ", " https://erp.example.com/po",
    "https://erp.example.com/po?q=\x00",
])  # fmt: skip
def test_url_is_refused_when_it_holds_spaces_or_control_characters_raw_or_percent_encoded(url: str) -> None:
    assert refused_fields(url=url) == {"url"}


@pytest.mark.parametrize("url", ["https://erp.example.com:8443/po", "https://erp.example.com:80/po"])
def test_url_is_refused_at_set_up_when_its_port_is_not_443_and_no_setting_allows_it(url: str) -> None:
    setup, secrets = setup_with(ports=frozenset())
    with pytest.raises(ValidationFailed) as caught:
        setup.configure_webhook("c1", request(url=url))
    assert caught.value.errors[0].field == "url"
    assert "443" in caught.value.errors[0].message
    assert secrets.endpoints == {}


def test_url_is_accepted_on_443_or_on_a_port_the_setting_allows() -> None:
    setup, _ = setup_with(ports=frozenset({8443}))
    assert setup.configure_webhook("c1", request(url="https://erp.example.com:443/po")).url.endswith(":443/po")
    assert setup.configure_webhook("c1", request(url="https://erp.example.com:8443/po")).url.endswith(":8443/po")
    anywhere, _ = setup_with(ports=None)
    assert anywhere.configure_webhook("c1", request(url="http://127.0.0.1:54321/hook")).url.endswith(":54321/hook")


def test_plain_http_on_port_80_is_accepted_only_for_a_host_allowed_locally() -> None:
    setup, _ = setup_with({"localhost": ["127.0.0.1"]}, ports=frozenset())
    assert setup.configure_webhook("c1", request(url="http://localhost/hook")).url == "http://localhost/hook"
