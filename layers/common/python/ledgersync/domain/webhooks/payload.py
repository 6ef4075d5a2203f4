"""What a webhook delivery sends (seed 001): the payload, its JSON encoding, the signature and the request headers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from ledgersync.domain.purchase_orders import PDF_LINK_SECONDS, LocationRef, PurchaseOrder, VendorRef
from ledgersync.domain.webhooks.endpoint import BasicAuth, WebhookEndpoint
from ledgersync.money import allocate, to_cents

USER_AGENT = "Ledgersync-Webhook/1.0"
SIGNATURE_HEADER = "X-Ledgersync-Signature"

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
        authorization = "Basic " + b64_text(credentials)
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


def b64_text(raw: bytes) -> str:
    """``raw`` as base64 text (the Basic credentials, and how a receiver could echo them)."""
    return base64.b64encode(raw).decode("ascii")
