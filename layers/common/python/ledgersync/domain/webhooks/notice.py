"""The e-mail a failed webhook delivery sends (seed 001's notification), secrets redacted."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from ledgersync.domain.accounts import Role
from ledgersync.domain.notices import Excerpt, Fact, Notice
from ledgersync.domain.purchase_order_service import SENDERS
from ledgersync.domain.purchase_orders import PurchaseOrder
from ledgersync.domain.webhooks.endpoint import (
    WEBHOOK_SETUP_ROLES,
    WEBHOOK_SETUP_ROUTE,
    BasicAuth,
    WebhookEndpoint,
    safe_endpoint,
)
from ledgersync.domain.webhooks.payload import b64_text
from ledgersync.domain.webhooks.retries import AttemptResult

EXCERPT_CHARS = 1024
RESEND_ROUTE = "/v1/purchase-orders/{id}/resend"

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
        values += [endpoint.auth.password, b64_text(f"{endpoint.auth.username}:{endpoint.auth.password}".encode())]
    else:
        values.append(endpoint.auth.token)
    return values


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
            Fact("Endpoint", safe_endpoint(endpoint.url)),
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
