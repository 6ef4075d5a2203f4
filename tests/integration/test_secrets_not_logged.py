"""Secrets stay out of logs: a whole walkthrough through the local stack, with request logging, event logging and
the e-mail echo on, leaves no token, key, password or signing secret in anything the stack or its handlers wrote.
The /__devstack/ admin routes answer only from this machine."""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from devstack.gateway import Gateway
from devstack.seed import example_invoice
from devstack.stack import LocalStack

from ledgersync.observability import logger
from tests.support.http import PDF, Client, approved_purchase_order

pytestmark = pytest.mark.integration


@pytest.fixture
def handler_output() -> Iterator[io.StringIO]:
    """What the handlers' Powertools logger writes, at its most verbose."""
    stream = io.StringIO()
    handler = logger.registered_handler
    previous, level = handler.stream, logger.log_level  # type: ignore[attr-defined]
    handler.setStream(stream)  # type: ignore[attr-defined]
    logger.setLevel("DEBUG")
    try:
        yield stream
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]
        logger.setLevel(level)


def test_no_secret_used_in_a_walkthrough_appears_in_any_output(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, handler_output: io.StringIO
) -> None:
    caplog.set_level(logging.INFO)
    secrets: list[str] = []
    with LocalStack(
        seed=True,
        schedules=False,
        pollers=False,
        log_requests=True,
        print_emails=True,
        environment={"POWERTOOLS_LOGGER_LOG_EVENT": "true"},
    ) as stack:
        assert stack.demo is not None and stack.demo.admin_token and stack.demo.token
        secrets += [stack.admin_api_key, stack.demo.admin_token, stack.demo.token]
        admin = {"X-Admin-Key": stack.admin_api_key}
        # A company, a user and a token, made with the admin key and Bearer calls
        created = requests.post(
            f"{stack.api_url}/v1/companies", json={"name": "Quiet Flowers"}, headers=admin, timeout=30
        )
        assert created.status_code == 201, created.text
        owner = Client(stack.api_url, created.json()["adminToken"])
        user = owner.call("POST", "/v1/users", {"name": "Ana", "email": "ana@example.com", "roles": ["Procurement"]})
        issued = owner.call("POST", "/v1/tokens", {"userId": user.json()["userId"], "apiMethods": ["*"]})
        assert user.status_code == 201 and issued.status_code == 201, (user.text, issued.text)
        secrets += [owner.token, user.json()["token"], issued.json()["token"]]
        # Komet calls with the token in the query string and in the body, and one with a wrong token
        komet = f"{stack.api_url}/api/invoice.create"
        in_query = requests.post(f"{komet}?authenticationToken={stack.demo.token}", json=example_invoice(), timeout=30)
        in_body = requests.post(komet, json={"authenticationToken": stack.demo.token, **example_invoice()}, timeout=30)
        wrong = "lsk_notarealtoken0000000000000000"
        refused = requests.post(f"{komet}?authenticationToken={wrong}", json=example_invoice(), timeout=30)
        assert in_query.status_code == 201 and in_body.status_code == 201, (in_query.text, in_body.text)
        assert refused.status_code == 401
        secrets.append(wrong)
        secrets += webhook_walkthrough(stack)
        secrets += quickbooks_walkthrough(stack, owner)
        # The admin routes, from this machine
        assert requests.get(f"{stack.api_url}/__devstack/endpoints", timeout=10).status_code == 200
        stack.run_schedule("TokenRefreshFunction")
        mails = stack.emails()
    assert any("no such vendor" in m["body"] for m in mails)

    printed = capfd.readouterr()
    everything = "\n".join([printed.out, printed.err, caplog.text, handler_output.getvalue()])
    assert "/api/invoice.create?authenticationToken=***" in printed.out  # the request log ran, masked
    assert '"Event received"' in everything or "httpMethod" in everything  # events were logged, masked
    leaked = [secret for secret in secrets if secret and secret in everything]
    assert not leaked, [_context(everything, secret) for secret in leaked]


def webhook_walkthrough(stack: LocalStack) -> list[str]:
    """The webhook set up with basic auth, a PO delivered to it and one refused (an e-mail); the secrets used."""
    assert stack.demo is not None and stack.demo.admin_token
    demo = Client(stack.api_url, stack.demo.admin_token)
    receiver = stack.emulators["webhook_receiver"].url
    password = "hook-pa55word-kept-quiet"
    demo.call("PUT", "/v1/accounting/settings", {"externalSystem": "webhook", "requireAdditionalCharges": False})
    hook = demo.call(
        "PUT",
        "/v1/webhooks/po-reconciliation",
        {
            "url": f"{receiver}/po-reconciliation",
            "auth": {"type": "basic", "username": "ledgersync", "password": password},
            "errorEmails": ["ops@example.com"],
        },
    )
    assert hook.status_code == 200, hook.text
    quiet = [
        password,
        hook.json()["signingSecret"],
        base64.b64encode(f"ledgersync:{password}".encode()).decode(),
    ]
    po = {
        "poNumber": "P9",
        "vendorId": demo.vendor("FLORA")["id"],
        "shipDate": "2026-03-27",
        "items": [{"categoryProcurementAccountingCode": "CGEN", "totalCost": "0.30"}],
    }
    invoice = {"invoiceNumber": "01-P9", "invoiceAmount": "0.30", "pdfBase64": PDF}
    approved_purchase_order(demo, 9, po, invoice, roles=("Procurement", "Accounting"))
    demo.call("POST", "/v1/purchase-orders/send-to-external", {"purchaseOrderIds": [9]})
    # And a refusal that ends in an e-mail, echoed on the console
    requests.post(f"{receiver}/__receiver/behaviour", json={"status": 422, "body": "no such vendor"}, timeout=10)
    approved_purchase_order(demo, 10, {**po, "poNumber": "P10"}, {**invoice, "invoiceNumber": "01-P10"})
    demo.call("POST", "/v1/purchase-orders/send-to-external", {"purchaseOrderIds": [9, 10]})
    stack.drain_queues()
    return quiet


def quickbooks_walkthrough(stack: LocalStack, owner: Client) -> list[str]:
    """A company connected to QuickBooks Online; the OAuth code, its tokens and the app's client secret."""
    owner.call("PUT", "/v1/accounting/settings", {"externalSystem": "quickbooks_online"})
    authorize = owner.call("GET", "/v1/accounting/quickbooks-online/authorize").json()["authorizationUrl"]
    consent = requests.get(authorize, allow_redirects=False, timeout=10)
    callback = requests.get(consent.headers["Location"], timeout=30)
    assert callback.status_code == 200, callback.text
    qbo = stack.emulators["qbo"].state
    quiet = parse_qs(urlsplit(consent.headers["Location"]).query)["code"]
    quiet += [*qbo.clients.values(), *qbo.access_tokens, *qbo.refresh_tokens]
    return quiet


def _context(text: str, secret: str) -> str:
    at = text.index(secret)
    return text[max(0, at - 200) : at + len(secret) + 50]


def test_devstack_admin_routes_answer_only_loopback_clients_when_called_from_elsewhere() -> None:
    # Given a gateway whose admin routes would show the endpoints (and the admin key)
    calls: list[str] = []

    def admin(method: str, path: str, body: bytes) -> tuple[int, Any]:
        calls.append(path)
        return 200, {"admin_api_key": "k"}

    gateway = Gateway([], lambda function_id, event: None, admin=admin)
    try:
        # When
        answers = {
            ip: gateway.answer("GET", path, [("Host", "h")], b"", ip)
            for ip, path in [
                ("192.0.2.7", "/__devstack/endpoints"),
                ("10.0.0.3", "/__devstack/drain"),
                ("127.0.0.1", "/__devstack/endpoints"),
                ("::1", "/__devstack/emails"),
                ("::ffff:127.0.0.1", "/__devstack/queues"),
            ]
        }
    finally:
        gateway.shutdown()

    # Then strangers get a 403 naming the field, and nothing ran for them
    assert answers["192.0.2.7"].status == 403 and answers["10.0.0.3"].status == 403
    assert b'"field": "sourceIp"' in answers["192.0.2.7"].body and b"admin_api_key" not in answers["192.0.2.7"].body
    assert [answers[ip].status for ip in ("127.0.0.1", "::1", "::ffff:127.0.0.1")] == [200, 200, 200]
    assert calls == ["/__devstack/endpoints", "/__devstack/emails", "/__devstack/queues"]
