"""The requests transport against the devstack receiver over loopback: headers, pinning, redirects, caps, timeouts."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from devstack.webhook_receiver import RunningReceiver, serve

from ledgersync.adapters.webhooks import DnsAddressGuard, RequestsWebhookTransport
from ledgersync.domain.purchase_orders import ExternalSystem, VendorInvoiceStatus
from ledgersync.domain.sync.outcomes import Outcome
from ledgersync.domain.webhooks.delivery import WebhookDeliveries
from ledgersync.domain.webhooks.endpoint import AddressRefusedError, BasicAuth
from ledgersync.domain.webhooks.payload import verify_signature
from ledgersync.domain.webhooks.retries import RetrySchedule
from ledgersync.errors import RetryableError
from tests.unit.test_webhook_delivery import (
    COMPANY,
    PO_ID,
    SIGNING_SECRET,
    FakeLinks,
    FakeNotifier,
    FakeOutcomes,
    FakeQueue,
    FakeSecrets,
    FakeSource,
    endpoint,
    message_body,
    seed_document,
)

pytestmark = pytest.mark.integration
LOCAL = frozenset({"127.0.0.1", "localhost"})


@pytest.fixture
def receiver() -> Iterator[RunningReceiver]:
    running = serve()
    yield running
    running.shutdown()


def transport(**overrides: float) -> RequestsWebhookTransport:
    return RequestsWebhookTransport(DnsAddressGuard(LOCAL), **overrides)  # type: ignore[arg-type]


def deliveries_to(url: str, basic: bool = False) -> tuple[WebhookDeliveries, FakeOutcomes, FakeQueue, FakeNotifier]:
    auth = BasicAuth(type="basic", username="komet", password="s3cret!") if basic else None
    outcomes, queue, notifier = FakeOutcomes(), FakeQueue(), FakeNotifier()
    deliveries = WebhookDeliveries(
        source=FakeSource({(COMPANY, PO_ID): seed_document()}),
        secrets=FakeSecrets({COMPANY: endpoint(auth, url=url)}),
        transport=transport(),
        links=FakeLinks(),
        outcomes=outcomes,
        queue=queue,
        notifier=notifier,
        target=ExternalSystem.WEBHOOK,
        schedule=RetrySchedule(),
    )
    return deliveries, outcomes, queue, notifier


def test_receiver_gets_the_signed_po_with_every_header_when_delivered(receiver: RunningReceiver) -> None:
    # Given a receiver that checks signatures
    receiver.behave(secret=SIGNING_SECRET)
    deliveries, outcomes, _, _ = deliveries_to(f"{receiver.url}/hooks/po", basic=True)
    # When
    report = deliveries.handle(message_body(first=datetime.now(UTC)), "rh", 1)
    # Then
    assert report.outcome is Outcome.SYNCHRONIZED
    assert outcomes.status[PO_ID] is VendorInvoiceStatus.SYNCHRONIZED
    [delivery] = receiver.deliveries
    headers = delivery["headers"]
    assert delivery["path"] == "/hooks/po"
    assert delivery["signatureValid"] is True
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "Ledgersync-Webhook/1.0"
    assert base64.b64decode(headers["Authorization"].removeprefix("Basic ")) == b"komet:s3cret!"
    assert headers["Idempotency-Key"].endswith("7d0c6f0e-1111-4c1e-9a55-000000000001")
    assert verify_signature(SIGNING_SECRET, headers["X-Ledgersync-Signature"], delivery["body"].encode())
    assert delivery["json"]["poNumber"] == "P002271"
    assert '"subTotal":60.00' in delivery["body"]


def test_receiver_lists_deliveries_over_http_when_asked(receiver: RunningReceiver) -> None:
    transport().post(f"{receiver.url}/x", b'{"a":1}', {"Content-Type": "application/json"})
    listed = requests.get(f"{receiver.url}/__receiver/deliveries", timeout=5).json()["deliveries"]
    assert [d["json"] for d in listed] == [{"a": 1}]
    requests.post(f"{receiver.url}/__receiver/behaviour", json={"failTimes": 1, "status": 503}, timeout=5)
    assert transport().post(f"{receiver.url}/x", b"{}", {}).status == 503
    assert transport().post(f"{receiver.url}/x", b"{}", {}).status == 200


def test_retry_is_scheduled_then_the_same_key_is_used_when_the_receiver_fails_once(receiver: RunningReceiver) -> None:
    receiver.behave(failTimes=1, status=503, retryAfter="120")
    deliveries, outcomes, queue, _ = deliveries_to(f"{receiver.url}/hooks/po")
    body = message_body(first=datetime.now(UTC))
    first = deliveries.handle(body, "rh-1", 1)
    second = deliveries.handle(body, "rh-2", 2)
    assert (first.outcome, second.outcome) == (Outcome.RETRY_LATER, Outcome.SYNCHRONIZED)
    assert queue.postponed == [("rh-1", 120)]
    keys = {d["headers"]["Idempotency-Key"] for d in receiver.deliveries}
    assert len(keys) == 1
    assert outcomes.status[PO_ID] is VendorInvoiceStatus.SYNCHRONIZED


def test_po_is_in_error_with_one_email_when_the_receiver_answers_401(receiver: RunningReceiver) -> None:
    receiver.behave(status=401, body='{"error":"invalid credentials for komet:s3cret!"}')
    deliveries, outcomes, queue, notifier = deliveries_to(f"{receiver.url}/hooks/po", basic=True)
    report = deliveries.handle(message_body(first=datetime.now(UTC) - timedelta(minutes=1)), "rh", 1)
    assert report.outcome is Outcome.ERROR
    assert outcomes.errors[PO_ID] == "HTTP 401"
    [mail] = notifier.sent
    assert "invalid credentials" in mail.text
    assert "s3cret!" not in mail.text
    assert queue.postponed == []


def test_redirect_is_not_followed_when_the_receiver_answers_302(receiver: RunningReceiver) -> None:
    # Given a second receiver the first one redirects to
    with serve() as target:
        receiver.behave(redirectTo=f"{target.url}/elsewhere")
        answer = transport().post(f"{receiver.url}/hooks/po", b"{}", {})
        assert answer.status == 302
        assert answer.headers["location"] == f"{target.url}/elsewhere"
        assert target.deliveries == []


def test_body_read_stops_at_64_kb_when_the_receiver_answers_a_huge_body(receiver: RunningReceiver) -> None:
    receiver.behave(status=500, bodyBytes=5_000_000)
    answer = transport().post(f"{receiver.url}/hooks/po", b"{}", {})
    assert answer.status == 500
    assert len(answer.body) == 65536
    assert answer.truncated


def test_attempt_is_retryable_when_the_receiver_answers_too_slowly(receiver: RunningReceiver) -> None:
    receiver.behave(delaySeconds=1.5)
    with pytest.raises(RetryableError, match=r"did not answer within 0.3 s"):
        transport(read_timeout=0.3).post(f"{receiver.url}/hooks/po", b"{}", {})


def test_attempt_is_retryable_when_nothing_listens_on_the_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RetryableError, match=r"could not connect to 127\.0\.0\.1"):
        transport().post(f"http://127.0.0.1:{port}/hooks/po", b"{}", {})


def test_loopback_is_refused_before_connecting_when_it_is_not_an_allowed_host(receiver: RunningReceiver) -> None:
    strict = RequestsWebhookTransport(DnsAddressGuard(frozenset()))
    with pytest.raises(AddressRefusedError, match="loopback"):
        strict.post(f"{receiver.url}/hooks/po", b"{}", {})
    assert receiver.deliveries == []


def test_connection_goes_to_the_checked_address_with_the_original_host_header_when_pinned(
    receiver: RunningReceiver,
) -> None:
    # Given a host name no real DNS knows, which our checked lookup maps to the receiver's address
    port = urlsplit(receiver.url).port
    lookups: list[str] = []

    def resolve(host: str, port_: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    pinned = RequestsWebhookTransport(DnsAddressGuard(frozenset({"hooks.ledgersync.test"}), resolve))
    # When
    answer = pinned.post(f"http://hooks.ledgersync.test:{port}/hooks/po?x=1", b'{"ok":true}', {})
    # Then the request reached the address we checked, with the name in Host, after one lookup
    assert answer.status == 200
    assert lookups == ["hooks.ledgersync.test"]
    [delivery] = receiver.deliveries
    assert delivery["headers"]["Host"] == f"hooks.ledgersync.test:{port}"
    assert delivery["path"] == "/hooks/po?x=1"


def test_environment_proxies_are_ignored_when_posting(
    receiver: RunningReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    assert transport().post(f"{receiver.url}/hooks/po", b"{}", {}).status == 200
    assert json.loads(receiver.deliveries[0]["body"]) == {}


def test_receiver_answers_503_for_the_given_count_then_200_when_told_to_fail(receiver: RunningReceiver) -> None:
    receiver.behave(failTimes=2, status=503)
    statuses = [transport().post(f"{receiver.url}/h", b"{}", {}).status for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert [d["answeredStatus"] for d in receiver.deliveries] == [503, 503, 200]


def self_signed(tmp_path: Path, name: str) -> tuple[str, str]:
    """A certificate for ``name`` (also its own CA) and its key, as files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_file), str(key_file)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """An https server on 127.0.0.1 whose certificate names hooks.ledgersync.test; yields port, CA file, SNI seen."""
    import ssl
    import threading

    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request, Response

    cert, key = self_signed(tmp_path, "hooks.ledgersync.test")
    seen: list[str] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: seen.append(name or "")

    @Request.application
    def app(request: Request) -> Response:
        return Response('{"ok":true}', status=200, content_type="application/json")

    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_port, cert, seen
    server.shutdown()
    server.server_close()


def pinned_https(name: str, ca_file: str) -> RequestsWebhookTransport:
    return RequestsWebhookTransport(
        DnsAddressGuard(frozenset({name}), lambda host, port: ["127.0.0.1"]), verify=ca_file
    )


def test_tls_sends_and_verifies_the_host_name_when_connecting_to_the_pinned_address(
    tls_server: tuple[int, str, list[str]],
) -> None:
    port, ca_file, seen = tls_server
    answer = pinned_https("hooks.ledgersync.test", ca_file).post(f"https://hooks.ledgersync.test:{port}/po", b"{}", {})
    assert answer.status == 200
    assert seen == ["hooks.ledgersync.test"]


def test_tls_is_refused_when_the_certificate_names_another_host(tls_server: tuple[int, str, list[str]]) -> None:
    port, ca_file, _ = tls_server
    with pytest.raises(RetryableError, match="TLS handshake"):
        pinned_https("other.ledgersync.test", ca_file).post(f"https://other.ledgersync.test:{port}/po", b"{}", {})
