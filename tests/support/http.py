"""Calling the local stack over HTTP as a user would, and the seed 000 steps every end-to-end test repeats."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import requests

PDF = base64.b64encode(b"%PDF-1.4\n% vendor invoice\n").decode()


class Client:
    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> requests.Response:
        return requests.request(
            method, self.base + path, json=body, timeout=30, headers={"Authorization": f"Bearer {token or self.token}"}
        )

    def vendor(self, code: str) -> dict[str, Any]:
        records = self.call("GET", "/v1/directory/vendors").json()["records"]
        return next(v for v in records if v["code"] == code)  # type: ignore[no-any-return]


def send_to_local_webhook(api: Client, receiver: str, token: str, error_emails: Sequence[str]) -> requests.Response:
    """Make the local webhook receiver the company's external system (seed 001's set-up), bearer auth ``token``."""
    api.call("PUT", "/v1/accounting/settings", {"externalSystem": "webhook", "requireAdditionalCharges": False})
    answer = api.call(
        "PUT",
        "/v1/webhooks/po-reconciliation",
        {
            "url": f"{receiver}/po-reconciliation",
            "auth": {"type": "bearer", "token": token},
            "errorEmails": list(error_emails),
        },
    )
    assert answer.status_code == 200, answer.text
    return answer


def approved_purchase_order(
    api: Client,
    po_id: int,
    po: dict[str, Any],
    invoice: dict[str, Any],
    roles: Sequence[str] = ("Procurement", "Accounts Payable"),
) -> None:
    """Store the PO, upload its vendor invoice, and approve it with one new user per role (seed 000)."""
    assert api.call("PUT", f"/v1/purchase-orders/{po_id}", po).status_code == 200
    assert api.call("POST", f"/v1/purchase-orders/{po_id}/vendor-invoices", invoice).status_code == 201
    for role in roles:
        user = api.call("POST", "/v1/users", {"name": role, "email": "u@example.com", "roles": [role]}).json()
        assert api.call("POST", f"/v1/purchase-orders/{po_id}/approvals", token=user["token"]).status_code == 200
