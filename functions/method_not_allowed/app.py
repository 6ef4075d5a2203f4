"""405 for a method a declared path does not take: API Gateway sends every path's other methods here (an ``ANY``
event per path in template.yaml; a path's own methods win over its ``ANY``). No AWS call, no configuration.

``ALLOWED_METHODS`` is the template's routes by path; tests/unit/test_method_not_allowed.py checks that it, and
this function's ``ANY`` events, equal them.
"""

from __future__ import annotations

import json
from typing import Any

from ledgersync.errors import ErrorBody, FieldError

ALLOWED_METHODS: dict[str, tuple[str, ...]] = {
    "/api/boxtype.list": ("GET", "POST"),
    "/api/carrier.list": ("GET", "POST"),
    "/api/customer.list": ("GET", "POST"),
    "/api/inventory.list": ("GET", "POST"),
    "/api/invoice.checkout": ("POST",),
    "/api/invoice.create": ("POST",),
    "/api/location.list": ("GET", "POST"),
    "/api/product.list": ("GET", "POST"),
    "/qbwc": ("GET", "POST"),
    "/v1/accounting/connection": ("GET",),
    "/v1/process-log": ("GET",),
    "/v1/process-log/{runId}": ("GET",),
    "/v1/accounting/export": ("POST",),
    "/v1/accounting/export/preview": ("GET",),
    "/v1/accounting/quickbooks-desktop/qwc": ("GET",),
    "/v1/accounting/quickbooks-online/authorize": ("GET",),
    "/v1/accounting/quickbooks-online/callback": ("GET",),
    "/v1/accounting/quickbooks-online/disconnect": ("POST",),
    "/v1/accounting/settings": ("GET", "PUT"),
    "/v1/companies": ("POST",),
    "/v1/companies/{id}/health": ("GET",),
    "/v1/directory/{kind}": ("GET", "PUT"),
    "/v1/docs": ("GET",),
    "/v1/docs/{asset}": ("GET",),
    "/v1/documents/{token}": ("GET",),
    "/v1/health": ("GET",),
    "/v1/invoices": ("GET",),
    "/v1/invoices/{id}": ("GET", "PUT"),
    "/v1/invoices/{id}/confirm": ("POST",),
    "/v1/invoices/{id}/ship": ("POST",),
    "/v1/invoices/{id}/unship": ("POST",),
    "/v1/invoices/{id}/send-now": ("POST",),
    "/v1/invoices/{id}/send-again": ("POST",),
    "/v1/invoices/{id}/send-sales-order": ("POST",),
    "/v1/openapi.json": ("GET",),
    "/v1/purchase-orders/send-to-external": ("POST",),
    "/v1/purchase-orders/{id}": ("GET", "PUT"),
    "/v1/purchase-orders/{id}/approvals": ("POST",),
    "/v1/purchase-orders/{id}/resend": ("POST",),
    "/v1/purchase-orders/{id}/send-again": ("POST",),
    "/v1/purchase-orders/{id}/vendor-invoices": ("POST",),
    "/v1/purchase-orders/{id}/vendor-invoices/{invoiceNumber}": ("DELETE", "PUT"),
    "/v1/tokens": ("POST",),
    "/v1/tokens/{id}": ("DELETE",),
    "/v1/users": ("POST",),
    "/v1/webhooks/po-reconciliation": ("GET", "PUT"),
}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The 405 answer in the API's error shape, ``Allow`` listing the methods the event's resource takes."""
    resource = str(event.get("resource") or "")
    method = str(event.get("httpMethod") or "")
    allowed = ALLOWED_METHODS.get(resource, ())
    takes = ", ".join(allowed) or "no method"
    body = ErrorBody(
        "MethodNotAllowed",
        f"{event.get('path') or resource} does not take {method}; it takes {takes}",
        [FieldError("method", f"{method} is not one of {takes}")],
    ).as_dict()
    if resource.startswith("/api/"):
        body = {"status": "0", **body}  # seed 002's Komet methods answer every error with status "0"
    return {
        "statusCode": 405,
        "headers": {"Content-Type": "application/json", "Allow": ", ".join(allowed)},
        "body": json.dumps(body),
    }
