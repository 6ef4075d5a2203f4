"""The PO Reconciliation webhook (seed 001): configuration, payload, signature, retry schedule and delivery.

Pure Python over Protocol ports; the HTTP, DNS, S3, Secrets Manager and SQS sides live in
``ledgersync.adapters.webhooks``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import random
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from ledgersync.clock import Clock, SystemClock
from ledgersync.domain.accounts import Role
from ledgersync.domain.notices import Excerpt, Fact, Notice, Notifier, send_notice
from ledgersync.domain.purchase_order_service import SENDERS
from ledgersync.domain.purchase_orders import (
    PDF_LINK_SECONDS,
    CamelModel,
    LocationRef,
    PurchaseOrder,
    VendorInvoiceStatus,
    VendorRef,
)
from ledgersync.errors import (
    Conflict,
    FieldError,
    LedgersyncError,
    NotFound,
    PermanentError,
    RetryableError,
    ValidationFailed,
)
from ledgersync.money import allocate, to_cents

USER_AGENT = "Ledgersync-Webhook/1.0"
SIGNATURE_HEADER = "X-Ledgersync-Signature"
MAX_ERROR_EMAILS = 5
EXCERPT_CHARS = 1024
MAX_VISIBILITY_SECONDS = 12 * 60 * 60 - 5 * 60  # SQS allows 12 h per receive; keep a margin for the handler's own time
RESEND_ROUTE = "/v1/purchase-orders/{id}/resend"
WEBHOOK_SETUP_ROUTE = "/v1/webhooks/po-reconciliation"
MASK = "********"

# ---------------------------------------------------------------------------------------------------------------------
# Configuration: PUT /v1/webhooks/po-reconciliation

HeaderSafe = Annotated[str, StringConstraints(min_length=1, max_length=1000, pattern=r"^[^\x00-\x1f\x7f]+$")]


class BasicAuth(CamelModel):
    """HTTP Basic: ``Authorization: Basic base64(username:password)``."""

    type: Literal["basic"]
    username: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f:]+$")]
    password: HeaderSafe


class BearerAuth(CamelModel):
    """A bearer token: ``Authorization: Bearer <token>``."""

    type: Literal["bearer"]
    token: Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[\x21-\x7e]+$")]


HTTPS_PORT = 443
HTTP_PORT = 80
WebhookAuth = Annotated[BasicAuth | BearerAuth, Field(discriminator="type")]


def _unsafe_character(value: str) -> str | None:
    """The first control character or space in ``value``, raw or percent-encoded (at any depth), if any."""
    seen = value
    for _ in range(5):
        for char in seen:
            if char.isspace() or not char.isprintable():
                return repr(char)
        decoded = unquote(seen, errors="replace")
        if decoded == seen:
            return None
        seen = decoded
    return None


def _check_url_shape(value: str) -> str:
    """An absolute http(s) URL with a host, no credentials in it, no fragment, and no control characters or spaces
    anywhere, raw or percent-encoded (they split headers and request lines on the way out)."""
    unsafe = _unsafe_character(value)
    if unsafe is not None:
        raise ValueError(f"must not contain spaces or control characters, raw or percent-encoded (found {unsafe})")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as err:
        raise ValueError(f"is not a valid URL: {err}") from err
    if parts.scheme not in ("https", "http"):
        raise ValueError("must be an https:// URL")
    if not parts.hostname:
        raise ValueError("must name a host, e.g. https://example.com/hooks/po")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials; put them in auth")
    if parts.fragment:
        raise ValueError("must not have a #fragment")
    if port == 0:
        raise ValueError("must not use port 0")
    return value


class WebhookConfigRequest(CamelModel):
    """``PUT /v1/webhooks/po-reconciliation``: the endpoint, its authentication and 1-5 error addresses."""

    url: Annotated[str, StringConstraints(min_length=8, max_length=2048)]
    auth: WebhookAuth
    error_emails: list[EmailStr] = Field(min_length=1, max_length=MAX_ERROR_EMAILS)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url_shape(value)

    @field_validator("error_emails")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(v.lower() for v in value))


class WebhookEndpoint(CamelModel):
    """The stored configuration, secrets included (kept in Secrets Manager, never returned by the API)."""

    url: str
    auth: WebhookAuth
    error_emails: list[str]
    signing_secret: str = Field(min_length=32)
    updated_at: datetime


class MaskedAuth(CamelModel):
    """The auth as GET shows it: the type and the username; password and token always masked."""

    type: Literal["basic", "bearer"]
    username: str | None = None
    password: str | None = None
    token: str | None = None


class WebhookConfigView(CamelModel):
    """``GET``/``PUT /v1/webhooks/po-reconciliation`` answer. ``signingSecret`` only when it was just created."""

    url: str
    auth: MaskedAuth
    error_emails: list[str]
    signing_secret_hint: str
    signing_secret: str | None = None
    updated_at: datetime

    @classmethod
    def of(cls, endpoint: WebhookEndpoint, reveal_secret: bool = False) -> WebhookConfigView:
        """Mask every secret of a stored endpoint."""
        if isinstance(endpoint.auth, BasicAuth):
            auth = MaskedAuth(type="basic", username=endpoint.auth.username, password=MASK)
        else:
            auth = MaskedAuth(type="bearer", token=MASK)
        return cls(
            url=endpoint.url,
            auth=auth,
            error_emails=list(endpoint.error_emails),
            signing_secret_hint="..." + endpoint.signing_secret[-4:],
            signing_secret=endpoint.signing_secret if reveal_secret else None,
            updated_at=endpoint.updated_at,
        )


class WebhookSecrets(Protocol):
    """Where a company's webhook endpoint, auth and signing secret are kept."""

    def load(self, company_id: str) -> WebhookEndpoint | None: ...
    def save(self, company_id: str, endpoint: WebhookEndpoint) -> None: ...


class WebhookSetupState(Protocol):
    """Whether a company's webhook set-up is complete: the flag Send to External System checks (the settings)."""

    def is_configured(self, company_id: str) -> bool: ...
    def mark_webhook_configured(self, company_id: str) -> None: ...


class AddressGuard(Protocol):
    """Refuses URLs whose host resolves to an address a webhook must never reach."""

    def check(self, url: str) -> None:
        """Raise ``AddressRefusedError`` (``RetryableError`` when DNS does not answer) for a URL not to use."""


class AddressRefusedError(PermanentError):
    """The webhook host resolves to a private, loopback, link-local, metadata or otherwise non-public address."""


# Seed 001: "User Roles: Admin and Setup" set the webhook up.
WEBHOOK_SETUP_ROLES = frozenset({Role.ADMIN, Role.SETUP})


@dataclass
class WebhookSetup:
    """Use cases of the webhook's configuration."""

    secrets: WebhookSecrets
    guard: AddressGuard
    allowed_hosts: frozenset[str] = frozenset()
    clock: Clock = field(default_factory=SystemClock)
    # Ports besides 443 (and 80 for a local plain-http host); None allows any (the local stack's random ports).
    allowed_ports: frozenset[int] | None = frozenset()
    state: WebhookSetupState = field(kw_only=True)

    def configure_webhook(self, company_id: str, request: WebhookConfigRequest) -> WebhookConfigView:
        """Check and store the endpoint, then mark the set-up complete; the signing secret is made once and shown
        until a set-up completed (the answer that made it, or the retry of a set-up that failed half-way)."""
        parts = urlsplit(request.url)
        host = (parts.hostname or "").lower()
        plain = parts.scheme == "http"
        if plain and host not in self.allowed_hosts:
            raise ValidationFailed(FieldError("url", "must be an https:// URL"))
        port = parts.port or (HTTP_PORT if plain else HTTPS_PORT)
        usual = {HTTPS_PORT, HTTP_PORT} if plain else {HTTPS_PORT}
        if self.allowed_ports is not None and port not in usual | self.allowed_ports:
            raise ValidationFailed(FieldError("url", f"must use port {HTTPS_PORT} (https), not {port}"))
        try:
            self.guard.check(request.url)
        except LedgersyncError as err:
            raise ValidationFailed(FieldError("url", err.message)) from err
        current = self.secrets.load(company_id)
        # Shown until a set-up completed: a set-up that failed after storing the secret never showed it, so its
        # retry does (and keeps it, so a receiver that already has it stays right).
        reveal = current is None or not self.state.is_configured(company_id)
        signing_secret = current.signing_secret if current else secrets.token_urlsafe(32)
        endpoint = WebhookEndpoint(
            url=request.url,
            auth=request.auth,
            error_emails=list(request.error_emails),
            signing_secret=signing_secret,
            updated_at=self.clock.now(),
        )
        # The secret first, then the flag Send to External System checks: a send never finds the flag without the
        # endpoint; until the flag lands the send refuses with the fix (this PUT), and a retry of it converges.
        self.secrets.save(company_id, endpoint)
        self.state.mark_webhook_configured(company_id)
        return WebhookConfigView.of(endpoint, reveal_secret=reveal)

    def get_webhook(self, company_id: str) -> WebhookConfigView:
        """The masked configuration; NotFound when none is set up."""
        endpoint = self.secrets.load(company_id)
        if endpoint is None:
            raise NotFound("no PO Reconciliation webhook is configured; PUT /v1/webhooks/po-reconciliation first")
        return WebhookConfigView.of(endpoint)


# ---------------------------------------------------------------------------------------------------------------------
# Addresses a webhook may not reach (checked at set-up and again at send time, after DNS)

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack instance metadata
        "169.254.170.2",  # ECS task metadata and credentials
        "169.254.169.253",  # Amazon DNS resolver
        "169.254.169.123",  # Amazon time sync
        "fd00:ec2::254",  # AWS instance metadata over IPv6
        "fd00:ec2::23",  # Amazon DNS resolver over IPv6
        "100.100.100.200",  # Alibaba Cloud metadata
        "192.0.0.192",  # Oracle Cloud metadata
    )
)


def address_refusal(address: str) -> str | None:
    """Why a webhook may not connect to ``address`` (an IP literal), or None when it is a public address."""
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"'{address}' is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            reason = address_refusal(str(embedded))
            if reason:
                return reason
    checks: tuple[tuple[bool, str], ...] = (
        (ip in METADATA_ADDRESSES, "a cloud metadata address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
        (not ip.is_global, "a non-public address"),
    )
    for refused, reason in checks:
        if refused:
            return f"{ip} is {reason}"
    return None


# ---------------------------------------------------------------------------------------------------------------------
# Payload (seed 001's field list, with real JSON types)


class DocumentLinks(Protocol):
    """Temporary download links to stored documents."""

    def presigned_pdf_url(self, key: str, expires_in: int = PDF_LINK_SECONDS) -> str: ...


@dataclass(frozen=True)
class ReconciliationDocument:
    """What a delivery needs: the PO, its vendor and location, and which delivery is the PO's current one."""

    order: PurchaseOrder
    vendor: VendorRef
    location: LocationRef | None
    current_delivery_id: str | None = None


def invoice_item_splits(order: PurchaseOrder) -> list[list[Decimal]]:
    """Each vendor invoice's share of each PO item: ``splits[invoice][item]``.

    Every PO item is split across the vendor invoices in proportion to each invoice's product amount
    (``invoiceAmount - totalAdditionalCharges``) by largest remainder, the rule the QuickBooks bills use, so
    the webhook and the bills agree and the items of all invoices add up to ``subTotal`` to the cent.
    """
    invoices = order.vendor_invoices
    weights = [inv.invoice_amount - inv.total_additional_charges for inv in invoices]
    per_item = [allocate(item.total_cost, weights) for item in order.items]
    return [[split[index] for split in per_item] for index in range(len(invoices))]


def build_payload(document: ReconciliationDocument, links: DocumentLinks) -> dict[str, Any]:
    """The webhook body for a PO. Amounts stay Decimal; ``encode_payload`` writes them as two-decimal numbers.

    ``subTotal`` is the documented field; ``subtotal`` (the spelling of seed 001's sample) carries the same
    value so receivers built against either keep working.
    """
    order, vendor, location = document.order, document.vendor, document.location
    vendor_body: dict[str, Any] = {
        "id": vendor.id,
        "code": vendor.code,
        "name": vendor.name,
        "vendorAccountingCode": vendor.accounting_name,
        "type": vendor.type,
    }
    splits = invoice_item_splits(order)
    invoices = []
    for invoice, shares in zip(order.vendor_invoices, splits, strict=True):
        invoices.append(
            {
                "invoiceNumber": invoice.invoice_number,
                "invoiceAmount": to_cents(invoice.invoice_amount),
                "totalAdditionalCharges": to_cents(invoice.total_additional_charges),
                "file": links.presigned_pdf_url(invoice.pdf_key, expires_in=PDF_LINK_SECONDS)
                if invoice.pdf_key
                else None,
                "vendor": dict(vendor_body),
                "purchaseOrderItems": [
                    {"categoryProcurementAccountingCode": item.category_procurement_accounting_code, "totalCost": share}
                    for item, share in zip(order.items, shares, strict=True)
                ],
            }
        )
    return {
        "id": order.id,
        "poNumber": order.po_number,
        "shipDate": order.ship_date,
        "arrivalDate": order.arrival_date,
        "subTotal": order.sub_total,
        "subtotal": order.sub_total,
        "total": order.total,
        "location": {"id": location.id, "code": location.code, "name": location.name} if location else None,
        "vendorInvoices": invoices,
    }


_quote: Callable[[str], str] = json.encoder.encode_basestring


def _write(value: Any, out: list[str]) -> None:
    """Append the JSON text of ``value`` to ``out`` (one list, no intermediate strings: the body is built once)."""
    kind = type(value)
    if kind is str:
        out.append(_quote(value))
    elif kind is Decimal:
        cents = to_cents(value)
        out.append(f"{cents.copy_abs() if cents == 0 else cents:f}")
    elif kind is dict:
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            out.append(("," if index else "") + _quote(str(key)) + ":")
            _write(item, out)
        out.append("}")
    elif kind is list or kind is tuple:
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif value is None or kind is bool:
        out.append("null" if value is None else ("true" if value else "false"))
    elif kind is int:
        out.append(str(value))
    elif isinstance(value, datetime | date):
        out.append(_quote(value.isoformat()))
    elif isinstance(value, Mapping):
        _write(dict(value), out)
    else:
        raise TypeError(f"cannot write {kind.__name__} into a webhook body (amounts must be Decimal)")


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """UTF-8 JSON in which every Decimal is a number with exactly two decimals (0.1 + 0.2 is written 0.30)."""
    out: list[str] = []
    _write(payload, out)
    return "".join(out).encode()


# ---------------------------------------------------------------------------------------------------------------------
# Signature: X-Ledgersync-Signature: t=<unix ts>,v1=<hex HMAC-SHA256 of "<ts>.<body>">


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>." + body`` under the company's signing secret."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The value of the X-Ledgersync-Signature header."""
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify_signature(secret: str, header: str, body: bytes, tolerance_s: int = 300, now: float | None = None) -> bool:
    """True when ``header`` signs ``body`` (the raw bytes received) with ``secret`` within ``tolerance_s`` seconds.

    Standard library only, so a receiver can copy it as it is.
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


def request_headers(endpoint: WebhookEndpoint, delivery_id: str, body: bytes, timestamp: int) -> dict[str, str]:
    """Every header of one attempt: content type, auth, user agent, idempotency key and signature."""
    if isinstance(endpoint.auth, BasicAuth):
        credentials = f"{endpoint.auth.username}:{endpoint.auth.password}".encode()
        authorization = "Basic " + _b64(credentials)
    else:
        authorization = f"Bearer {endpoint.auth.token}"
    return {
        "Content-Type": "application/json",
        "Accept": "application/json, */*;q=0.5",
        "Authorization": authorization,
        "User-Agent": USER_AGENT,
        "Idempotency-Key": idempotency_key(delivery_id),
        SIGNATURE_HEADER: signature_header(endpoint.signing_secret, timestamp, body),
    }


def idempotency_key(delivery_id: str) -> str:
    """The Idempotency-Key of a delivery: the same on every retry of it, new for a resend."""
    return f"po-reconciliation-{delivery_id}"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# ---------------------------------------------------------------------------------------------------------------------
# Retry schedule: exponential windows with full jitter, anchored on the first attempt, over at least 24 hours


@dataclass(frozen=True)
class RetrySchedule:
    """When to try again after a retryable failure.

    Time since the first attempt is cut into windows whose width doubles from ``base_seconds`` up to
    ``cap_seconds`` (30 s, 1 min, 2 min, ... 2 h, 2 h, ...). After a failure in window *i* the next
    attempt lands at a uniformly random moment of window *i + 1* (full jitter over the whole window),
    so retries of many deliveries spread out, the count of attempts is bounded (``max_attempts``) and
    retries stop only once ``total_seconds`` have passed since the first attempt.
    """

    total_seconds: float = 24 * 3600.0
    base_seconds: float = 30.0
    cap_seconds: float = 2 * 3600.0

    def boundaries(self) -> list[float]:
        """Start of each window, from 0 to the first window that starts at or after ``total_seconds``, plus its end."""
        edges = [0.0]
        width = self.base_seconds
        while edges[-1] < self.total_seconds:
            edges.append(edges[-1] + width)
            width = min(width * 2, self.cap_seconds)
        edges.append(edges[-1] + width)
        return edges

    def max_attempts(self) -> int:
        """The most attempts one delivery can make (first attempt included)."""
        return len(self.boundaries()) - 1

    def next_delay(
        self,
        elapsed: float,
        retry_after: float | None = None,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> int | None:
        """Seconds until the next attempt, or None when the retries are spent (``elapsed >= total_seconds``)."""
        elapsed = max(elapsed, 0.0)
        if elapsed >= self.total_seconds:
            return None
        edges = self.boundaries()
        index = next(i for i in range(len(edges) - 1) if edges[i] <= elapsed < edges[i + 1])
        start, end = edges[index + 1], edges[index + 2]
        delay = uniform(start, end) - elapsed
        if retry_after is not None:
            delay = max(delay, retry_after)
        return int(min(max(delay, 1.0), MAX_VISIBILITY_SECONDS))


# ---------------------------------------------------------------------------------------------------------------------
# Outcome of one attempt


@dataclass(frozen=True)
class WebhookResponse:
    """What the endpoint answered: status, headers (lower-case names) and at most the first 64 KB of the body."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    truncated: bool = False


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FINAL = "final"


@dataclass(frozen=True)
class AttemptResult:
    """How one attempt ended and why."""

    verdict: Verdict
    reason: str
    status: int | None = None
    retry_after: float | None = None
    response: WebhookResponse | None = None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from ``now``: delta-seconds or an HTTP-date; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def classify_response(response: WebhookResponse, now: datetime) -> AttemptResult:
    """2xx delivered; 408, 429 (honouring Retry-After) and 5xx retried; 3xx and every other 4xx final."""
    status = response.status
    if 200 <= status < 300:
        return AttemptResult(Verdict.DELIVERED, f"HTTP {status}", status, response=response)
    retry_after = parse_retry_after(response.headers.get("retry-after"), now)
    if status in (408, 429) or 500 <= status < 600:
        return AttemptResult(Verdict.RETRY, f"HTTP {status}", status, retry_after, response)
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        target = f" to {_safe_endpoint(location)}" if location else ""
        reason = f"HTTP {status}: the endpoint redirected{target}; redirects are not followed, set the final URL"
        return AttemptResult(Verdict.FINAL, reason, status, response=response)
    return AttemptResult(Verdict.FINAL, f"HTTP {status}", status, response=response)


# ---------------------------------------------------------------------------------------------------------------------
# The error e-mail (seed 001's notification)


_CREDENTIAL_PATTERN = re.compile(r"(?i)\b(bearer|basic|token|password|secret)(\s*[:=]?\s*)([^\s,;\"'&<>]{4,})")


def redact(text: str, secret_values: Sequence[str]) -> str:
    """``text`` with every known secret and anything that looks like a credential replaced by [redacted]."""
    for value in sorted((s for s in secret_values if len(s) >= 4), key=len, reverse=True):
        text = text.replace(value, "[redacted]")
    return _CREDENTIAL_PATTERN.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)


def endpoint_secrets(endpoint: WebhookEndpoint) -> list[str]:
    """Every secret of an endpoint in the forms a receiver could echo back."""
    values = [endpoint.signing_secret]
    if isinstance(endpoint.auth, BasicAuth):
        values += [endpoint.auth.password, _b64(f"{endpoint.auth.username}:{endpoint.auth.password}".encode())]
    else:
        values.append(endpoint.auth.token)
    return values


def _safe_endpoint(url: str) -> str:
    """The URL without its query string (which may carry tokens)."""
    parts = urlsplit(url)
    shown = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme else parts.path
    return shown + ("?..." if parts.query else "")


def _role_names(roles: frozenset[Role] | set[Role]) -> str:
    names = sorted(role.value for role in roles)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def delivery_failed_notice(
    order: PurchaseOrder,
    endpoint: WebhookEndpoint,
    result: AttemptResult,
    *,
    attempts: int,
    first_attempt_at: datetime,
    resend_base_url: str = "",
) -> Notice:
    """Seed 001's error notification: what failed, where, the endpoint's answer, attempts and how to resend."""
    excerpt = ""
    if result.response is not None and result.response.body:
        decoded = result.response.body.decode("utf-8", errors="replace")
        excerpt = redact(decoded, endpoint_secrets(endpoint))[:EXCERPT_CHARS]
    status = f"HTTP {result.status}" if result.status is not None else "no HTTP answer"
    resend = f"POST {resend_base_url.rstrip('/')}{RESEND_ROUTE.format(id=order.id)}"
    subject = ("PO", order.po_number, "could not be sent to your PO Reconciliation webhook")
    return Notice(
        subject_parts=subject,
        what_happened=" ".join(subject) + ".",
        facts=(
            Fact("Purchase order", f"{order.po_number} (id {order.id})"),
            Fact("Endpoint", _safe_endpoint(endpoint.url)),
            Fact("Status", status),
            Fact("Error", redact(result.reason, endpoint_secrets(endpoint))),
            Fact("Attempts", f"{attempts} since {first_attempt_at.astimezone(UTC).isoformat(timespec='seconds')}"),
        ),
        excerpt=Excerpt("Response (first 1 KB, secrets redacted)", excerpt or "(empty)"),
        what_to_do_label="",
        what_to_do=(
            "The purchase order is now in status Error. Fix the endpoint or its credentials (a user with the "
            f"{_role_names(WEBHOOK_SETUP_ROLES)} role: PUT {WEBHOOK_SETUP_ROUTE}), then send it again from "
            f"Ledgersync, or call {resend} with the token of a user with the {_role_names(SENDERS)} role."
        ),
    )


# ---------------------------------------------------------------------------------------------------------------------
# Delivery through the webhook queue


class DeliveryMessage(BaseModel):
    """The webhook queue's message: which PO of which company, the delivery id and when the first attempt began."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    company_id: str = Field(min_length=1, max_length=64)
    purchase_order_id: int
    delivery_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9-]+$")
    first_attempt_at: datetime

    @field_validator("first_attempt_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)


def new_delivery(company_id: str, purchase_order_id: int, now: datetime) -> DeliveryMessage:
    """A new delivery of a PO (first send or resend): a fresh delivery id, so a fresh Idempotency-Key."""
    return DeliveryMessage(
        company_id=company_id, purchase_order_id=purchase_order_id, delivery_id=str(uuid.uuid4()), first_attempt_at=now
    )


class WebhookTransport(Protocol):
    """POSTs one attempt. Raises RetryableError (timeout, connection) or PermanentError (refused address)."""

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> WebhookResponse: ...


class ReconciliationSource(Protocol):
    """Loads what a delivery sends, at send time."""

    def load(self, company_id: str, purchase_order_id: int) -> ReconciliationDocument | None: ...


class DeliveryOutcomes(Protocol):
    """Records a delivery's outcome on the PO (the PO repository implements it).

    Each call names the delivery; an implementation ignores outcomes of a delivery that is no longer the
    PO's current one (a resend superseded it).
    """

    def mark_sent(self, company_id: str, purchase_order_id: int, delivery_id: str) -> None:
        """Status "Sent to External System", current delivery = ``delivery_id``, error cleared."""

    def mark_synchronized(self, company_id: str, purchase_order_id: int, delivery_id: str) -> None:
        """Status "S"."""

    def mark_failed(self, company_id: str, purchase_order_id: int, delivery_id: str, reason: str) -> bool:
        """Status "Error" with ``reason``; True while this delivery's error e-mail has not been marked sent."""

    def mark_notified(self, company_id: str, purchase_order_id: int, delivery_id: str) -> None:
        """The error e-mail of this delivery went out."""


class DeliveryQueue(Protocol):
    """The webhook queue: new deliveries, postponed attempts and parked (dead-lettered) messages."""

    def enqueue(self, message: DeliveryMessage) -> None: ...
    def retry_later(self, receipt_handle: str, delay_seconds: int) -> None: ...
    def dead_letter(self, body: str, reason: str) -> None: ...


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY_SCHEDULED = "retry_scheduled"
    FAILED = "failed"
    SKIPPED = "skipped"
    PARKED = "parked"


@dataclass(frozen=True)
class DeliveryReport:
    """What the consumer did with one message; ``retry_in`` is set when a retry was scheduled."""

    outcome: Outcome
    reason: str
    delivery_id: str | None = None
    attempt: int = 1
    status: int | None = None
    retry_in: int | None = None


class RetryScheduledError(RetryableError):
    """Raised by the consumer for a postponed record, so the batch reports it failed and SQS keeps it."""


@dataclass
class WebhookDeliveries:
    """Delivers POs to the company's webhook, one SQS message at a time, and resends on request."""

    source: ReconciliationSource
    secrets: WebhookSecrets
    transport: WebhookTransport
    links: DocumentLinks
    outcomes: DeliveryOutcomes
    queue: DeliveryQueue
    notifier: Notifier
    schedule: RetrySchedule = field(default_factory=RetrySchedule)
    clock: Clock = field(default_factory=SystemClock)
    uniform: Callable[[float, float], float] = random.uniform
    resend_base_url: str = ""

    def handle(
        self, body: str, receipt_handle: str, receive_count: int = 1, max_receives: int | None = None
    ) -> DeliveryReport:
        """Attempt one delivery; schedule a retry, or record success or final failure (with its e-mail).

        On the queue's last receive (``receive_count >= max_receives``) a retryable failure is final too.
        """
        try:
            message = DeliveryMessage.model_validate_json(body)
        except ValidationError as err:
            reason = f"unreadable webhook message: {err.errors()[0].get('msg', 'invalid')}"
            self.queue.dead_letter(body, reason)
            return DeliveryReport(Outcome.PARKED, reason)
        document = self.source.load(message.company_id, message.purchase_order_id)
        if document is None:
            return DeliveryReport(Outcome.SKIPPED, "the purchase order no longer exists", message.delivery_id)
        if document.current_delivery_id not in (None, message.delivery_id):
            return DeliveryReport(Outcome.SKIPPED, "a newer delivery replaced this one", message.delivery_id)
        endpoint = self.secrets.load(message.company_id)
        if endpoint is None:
            reason = "no PO Reconciliation webhook is configured; PUT /v1/webhooks/po-reconciliation, then resend"
            self.outcomes.mark_failed(message.company_id, message.purchase_order_id, message.delivery_id, reason)
            return DeliveryReport(Outcome.FAILED, reason, message.delivery_id, receive_count)
        result = self._attempt(message, document, endpoint)
        attempt = max(receive_count, 1)
        if result.verdict is Verdict.DELIVERED:
            self.outcomes.mark_synchronized(message.company_id, message.purchase_order_id, message.delivery_id)
            return DeliveryReport(Outcome.DELIVERED, result.reason, message.delivery_id, attempt, result.status)
        if result.verdict is Verdict.RETRY:
            elapsed = (self.clock.now() - message.first_attempt_at).total_seconds()
            delay = self.schedule.next_delay(elapsed, result.retry_after, self.uniform)
            last_receive = max_receives is not None and attempt >= max_receives
            if delay is not None and not last_receive:
                self.queue.retry_later(receipt_handle, delay)
                return DeliveryReport(
                    Outcome.RETRY_SCHEDULED, result.reason, message.delivery_id, attempt, result.status, delay
                )
            hours = self.schedule.total_seconds / 3600
            gave_up = f"gave up after {attempt} attempts" if delay is not None else f"gave up after {hours:g} hours"
            spent = AttemptResult(Verdict.FINAL, f"{result.reason}; {gave_up}", result.status, None, result.response)
            self._fail(message, document, endpoint, spent, attempt)
            self.queue.dead_letter(body, spent.reason)
            return DeliveryReport(Outcome.FAILED, spent.reason, message.delivery_id, attempt, result.status)
        self._fail(message, document, endpoint, result, attempt)
        return DeliveryReport(Outcome.FAILED, result.reason, message.delivery_id, attempt, result.status)

    def _attempt(
        self, message: DeliveryMessage, document: ReconciliationDocument, endpoint: WebhookEndpoint
    ) -> AttemptResult:
        now = self.clock.now()
        payload = encode_payload(build_payload(document, self.links))
        headers = request_headers(endpoint, message.delivery_id, payload, int(now.timestamp()))
        try:
            response = self.transport.post(endpoint.url, payload, headers)
        except RetryableError as err:
            return AttemptResult(Verdict.RETRY, err.message, retry_after=err.retry_after_seconds)
        except PermanentError as err:
            return AttemptResult(Verdict.FINAL, err.message)
        return classify_response(response, self.clock.now())

    def _fail(
        self,
        message: DeliveryMessage,
        document: ReconciliationDocument,
        endpoint: WebhookEndpoint,
        result: AttemptResult,
        attempts: int,
    ) -> None:
        company, po_id, delivery = message.company_id, message.purchase_order_id, message.delivery_id
        reason = redact(result.reason, endpoint_secrets(endpoint))
        if not self.outcomes.mark_failed(company, po_id, delivery, reason):
            return
        notice = delivery_failed_notice(
            document.order,
            endpoint,
            result,
            attempts=attempts,
            first_attempt_at=message.first_attempt_at,
            resend_base_url=self.resend_base_url,
        )
        send_notice(self.notifier, list(endpoint.error_emails), notice)
        self.outcomes.mark_notified(company, po_id, delivery)

    def resend(self, company_id: str, purchase_order_id: int) -> DeliveryMessage:
        """``POST /v1/purchase-orders/{id}/resend``: a new delivery (new id and Idempotency-Key) of an approved PO."""
        document = self.source.load(company_id, purchase_order_id)
        if document is None:
            raise NotFound(f"no purchase order {purchase_order_id}")
        order = document.order
        if order.vendor_invoice_status is VendorInvoiceStatus.PENDING_APPROVAL:
            raise Conflict(f"purchase order {order.po_number} is not approved yet; it cannot be sent")
        if self.secrets.load(company_id) is None:
            raise Conflict("no PO Reconciliation webhook is configured; PUT /v1/webhooks/po-reconciliation first")
        message = new_delivery(company_id, purchase_order_id, self.clock.now())
        self.outcomes.mark_sent(company_id, purchase_order_id, message.delivery_id)
        self.queue.enqueue(message)
        return message
