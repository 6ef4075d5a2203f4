"""The PO Reconciliation webhook's outside world: DNS + HTTP (requests), S3 links, Secrets Manager and SQS.

Every SDK or HTTP failure becomes ``RetryableError`` or ``PermanentError`` with a message a person can act on.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from ledgersync.adapters.aws import client as aws_client
from ledgersync.adapters.aws_errors import aws_call
from ledgersync.adapters.secrets import SecretsManagerJsonStore
from ledgersync.clock import Clock, SystemClock
from ledgersync.domain.sync.messages import SyncMessage
from ledgersync.domain.webhooks.endpoint import (
    AddressRefusedError,
    WebhookEndpoint,
    address_refusal,
)
from ledgersync.domain.webhooks.retries import WebhookResponse
from ledgersync.errors import PermanentError, RetryableError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient
    from requests.models import PreparedRequest

Resolver = Callable[[str, int], list[str]]
MAX_RESPONSE_BYTES = 64 * 1024


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to for TCP, in the resolver's order, without repeats."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


class DnsAddressGuard:
    """Resolves a webhook host once and refuses it when any answer is not a public address.

    Hosts in ``allowed_hosts`` (the local stack's 127.0.0.1 and localhost) skip the address check.
    """

    def __init__(self, allowed_hosts: frozenset[str] = frozenset(), resolver: Resolver = system_resolver) -> None:
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts)
        self.resolver = resolver

    def resolve(self, url: str) -> tuple[str, str, int]:
        """The URL's host name, the checked address to connect to, and the port."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if not host:
            raise PermanentError("the webhook URL has no host")
        try:
            port = parts.port or _default_port(parts.scheme)
        except ValueError as err:
            raise PermanentError(f"the webhook URL has an invalid port: {err}") from err
        try:
            addresses = self.resolver(host, port)
        except (OSError, UnicodeError) as err:
            raise RetryableError(
                f"the webhook host '{host}' could not be resolved ({err}); check the host name"
            ) from err
        if not addresses:
            raise RetryableError(f"the webhook host '{host}' has no address; check the host name")
        if host in self.allowed_hosts:
            return host, addresses[0], port
        for address in addresses:
            reason = address_refusal(address)
            if reason:
                raise AddressRefusedError(
                    f"the webhook host '{host}' resolves to {reason}; webhooks may only reach public internet addresses"
                )
        return host, addresses[0], port

    def check(self, url: str) -> None:
        """Raise when the URL may not be used (see ``resolve``)."""
        self.resolve(url)


class PinnedAddressAdapter(HTTPAdapter):
    """Connects to an address checked beforehand while TLS still sends and verifies the host name (SNI).

    DNS is asked once, by the guard; a second answer (DNS rebinding) can never change where we connect.
    """

    def __init__(self, hostname: str, address: str) -> None:
        self.hostname = hostname
        self.address = address
        super().__init__(pool_connections=1, pool_maxsize=1, max_retries=0)

    def build_connection_pool_key_attributes(
        self, request: PreparedRequest, verify: bool | str, cert: str | tuple[str, str] | None = None
    ) -> Any:
        """The pool of the pinned address; for https with the host name as server_hostname and assert_hostname."""
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        params = cast(dict[str, Any], host_params)
        kwargs = cast(dict[str, Any], pool_kwargs)
        if (urlsplit(request.url or "").hostname or "").lower() != self.hostname:
            raise PermanentError("the webhook request went to a host that was not checked")
        params["host"] = self.address
        if params["scheme"] == "https":
            kwargs["server_hostname"] = self.hostname
            kwargs["assert_hostname"] = self.hostname
        return params, kwargs


def _root_reason(err: BaseException) -> str:
    """The innermost OS-level reason of a requests failure, without the URL (which may carry tokens)."""
    seen: set[int] = set()
    current: BaseException | None = err
    reason = type(err).__name__
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            reason = current.strerror
        nested = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        current = nested or getattr(current, "reason", None) or current.__cause__ or current.__context__
        if not isinstance(current, BaseException):
            break
    return reason


class RequestsWebhookTransport:
    """POSTs with requests: checked and pinned address, no redirects, short timeouts, a capped body read."""

    def __init__(
        self,
        guard: DnsAddressGuard,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        total_timeout: float = 20.0,
        max_body_bytes: int = MAX_RESPONSE_BYTES,
        verify: bool | str = True,
    ) -> None:
        self.guard = guard
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.total_timeout = total_timeout
        self.max_body_bytes = max_body_bytes
        self.verify = verify

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WebhookResponse:
        """One attempt; a 3xx is returned as it is (never followed)."""
        hostname, address, port = self.guard.resolve(url)
        scheme = urlsplit(url).scheme
        shown_host = f"[{hostname}]" if ":" in hostname else hostname
        host_header = shown_host if port == _default_port(scheme) else f"{shown_host}:{port}"
        where = f"{shown_host}:{port}"
        started = time.monotonic()
        session = requests.Session()
        session.trust_env = False  # no proxies or .netrc credentials from the environment
        adapter = PinnedAddressAdapter(hostname, address)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        try:
            with session:
                response = session.post(
                    url,
                    data=body,
                    headers={**headers, "Host": host_header},
                    timeout=(self.connect_timeout, self.read_timeout),
                    allow_redirects=False,
                    stream=True,
                    verify=self.verify,
                )
                with response:
                    content, truncated = self._read(response, started)
                    answered = {k.lower(): v for k, v in response.headers.items()}
                    return WebhookResponse(response.status_code, answered, content, truncated)
        except requests.exceptions.ConnectTimeout as err:
            raise RetryableError(f"could not connect to {where} within {self.connect_timeout:g} s") from err
        except requests.exceptions.ReadTimeout as err:
            raise RetryableError(f"{where} did not answer within {self.read_timeout:g} s") from err
        except requests.exceptions.SSLError as err:
            raise RetryableError(f"the TLS handshake with {where} failed ({_root_reason(err)})") from err
        except requests.exceptions.ConnectionError as err:
            raise RetryableError(f"could not connect to {where} ({_root_reason(err)})") from err
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidHeader) as err:
            raise PermanentError(f"the webhook request could not be built: {_root_reason(err)}") from err
        except requests.exceptions.RequestException as err:
            raise RetryableError(f"the request to {where} failed ({_root_reason(err)})") from err

    def _read(self, response: requests.Response, started: float) -> tuple[bytes, bool]:
        """At most ``max_body_bytes`` of the body, and no longer than ``total_timeout`` since the request began."""
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(chunk_size=8192):
            room = self.max_body_bytes - size
            chunks.append(chunk[:room])
            size += min(len(chunk), room)
            if len(chunk) > room or time.monotonic() - started > self.total_timeout:
                return b"".join(chunks), True
            if size >= self.max_body_bytes:
                return b"".join(chunks), True
        return b"".join(chunks), False


QUEUE_FIX = "check the webhook queue and the function's sqs permissions"


class SecretsManagerWebhookEndpoints:
    """One secret per company, ``<prefix>/webhook/<companyId>``: URL, auth, error e-mails and signing secret; read only
    (what the sender and the sweep need: their roles may not write it).

    Reads are cached in the process for ``cache_seconds`` so a batch of deliveries reads the secret once.
    """

    def __init__(
        self,
        prefix: str,
        client: SecretsManagerClient | None = None,
        cache_seconds: float = 30.0,
        clock: Clock | None = None,
    ) -> None:
        self.secrets = SecretsManagerJsonStore(
            f"{prefix.rstrip('/')}/webhook", "the webhook configuration of company", client
        )
        self.cache_seconds = cache_seconds
        self.clock = clock or SystemClock()
        self._cache: dict[str, tuple[float, WebhookEndpoint | None]] = {}
        self._lock = threading.Lock()

    def load(self, company_id: str) -> WebhookEndpoint | None:
        """The company's endpoint, or None when none was configured."""
        with self._lock:
            cached = self._cache.get(company_id)
        if cached and self.clock.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]
        value = self.secrets.load(company_id)
        endpoint = None if value is None else WebhookEndpoint.model_validate(value)
        with self._lock:
            self._cache[company_id] = (self.clock.monotonic(), endpoint)
        return endpoint


class SecretsManagerWebhookSecrets(SecretsManagerWebhookEndpoints):
    """The company's webhook secret, read and written (the set-up routes)."""

    def save(self, company_id: str, endpoint: WebhookEndpoint) -> None:
        """Write the configuration as a new version of the company's secret (created the first time)."""
        self.secrets.save(
            company_id,
            endpoint.model_dump(mode="json", by_alias=True),
            f"Ledgersync PO Reconciliation webhook of company {company_id}",
        )
        with self._lock:
            self._cache[company_id] = (self.clock.monotonic(), endpoint)


class SqsDeliveryQueue:
    """The webhook queue: new deliveries, postponed attempts (visibility timeout) and parked messages (DLQ).

    The dead-letter queue is the one given, or the one the queue's RedrivePolicy names.
    """

    def __init__(self, queue_url: str, dead_letter_queue_url: str | None = None, client: SQSClient | None = None):
        self.queue_url = queue_url
        self._dead_letter_queue_url = dead_letter_queue_url or None
        self._client = client

    def client(self) -> SQSClient:
        if self._client is None:
            self._client = cast("SQSClient", aws_client("sqs"))
        return self._client

    def enqueue(self, message: SyncMessage) -> None:
        """Queue a delivery for its first attempt."""
        with aws_call("queueing the webhook delivery", QUEUE_FIX):
            self.client().send_message(QueueUrl=self.queue_url, MessageBody=message.to_json())

    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None:
        """Hide the received message for ``delay_seconds``; the consumer then reports it failed so SQS keeps it."""
        with aws_call("postponing the webhook delivery", QUEUE_FIX):
            self.client().change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=delay_seconds
            )

    def dead_letter(self, body: str, reason: str) -> None:
        """Park a message whose retries are spent in the dead-letter queue, with the reason as an attribute."""
        with aws_call(
            "parking the webhook delivery in the dead-letter queue",
            QUEUE_FIX,
        ):
            self.client().send_message(
                QueueUrl=self.dead_letter_queue_url(),
                MessageBody=body,
                MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:1000] or "unknown"}},
            )

    def dead_letter_queue_url(self) -> str:
        """The dead-letter queue's URL, looked up once from the queue's RedrivePolicy when not given."""
        if self._dead_letter_queue_url is None:
            attributes = self.client().get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["RedrivePolicy"])
            policy = attributes.get("Attributes", {}).get("RedrivePolicy")
            if not policy:
                raise PermanentError(f"the webhook queue {self.queue_url} has no dead-letter queue (RedrivePolicy)")
            arn = str(json.loads(policy)["deadLetterTargetArn"])
            account, name = arn.split(":")[4], arn.split(":")[5]
            found = self.client().get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)
            self._dead_letter_queue_url = found["QueueUrl"]
        return self._dead_letter_queue_url
