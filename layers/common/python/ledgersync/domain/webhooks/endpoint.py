"""The PO Reconciliation webhook's endpoint (seed 001): its configuration, the set-up use case and the addresses a
webhook may never reach."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Literal, Protocol
from urllib.parse import unquote, urlsplit

from pydantic import EmailStr, Field, StringConstraints, field_validator

from ledgersync.clock import Clock, SystemClock
from ledgersync.domain.accounts import Role
from ledgersync.domain.purchase_orders import CamelModel
from ledgersync.errors import FieldError, LedgersyncError, NotFound, PermanentError, ValidationFailed

MAX_ERROR_EMAILS = 5
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


def safe_endpoint(url: str) -> str:
    """The URL without its query string (which may carry tokens)."""
    parts = urlsplit(url)
    shown = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme else parts.path
    return shown + ("?..." if parts.query else "")
