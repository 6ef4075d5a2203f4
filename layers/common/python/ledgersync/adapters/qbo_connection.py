"""The OAuth states of connecting QuickBooks Online, in the table (Intuit itself: quickbooks_online.IntuitOAuthApp)."""

from __future__ import annotations

from datetime import datetime

from ledgersync.adapters.dynamodb import SingleTable
from ledgersync.errors import Conflict


class DynamoOAuthStates:
    def __init__(self, table: SingleTable) -> None:
        self.table = table

    def put(self, state: str, company_id: str, redirect_uri: str, expires_at: datetime) -> None:
        self.table.put(
            {
                "pk": f"OAUTHSTATE#{state}",
                "sk": "STATE",
                "companyId": company_id,
                "redirectUri": redirect_uri,
                "expiresAt": int(expires_at.timestamp()),
            },
            condition="attribute_not_exists(pk)",
        )

    def take(self, state: str, now: datetime) -> tuple[str, str] | None:
        """The state's company and redirect URI, deleting it so that it serves once; None if unknown or expired."""
        item = self.table.get(f"OAUTHSTATE#{state}", "STATE")
        if item is None or int(item["expiresAt"]) <= int(now.timestamp()):
            return None
        try:
            self.table.delete(f"OAUTHSTATE#{state}", "STATE", condition="attribute_exists(pk)")
        except Conflict:
            return None
        return str(item["companyId"]), str(item["redirectUri"])
