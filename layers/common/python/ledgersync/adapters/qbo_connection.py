"""The adapters of connecting QuickBooks Online: OAuth states in the table, Intuit through intuit-oauth."""

from __future__ import annotations

from datetime import datetime

from ledgersync.adapters.dynamodb import SingleTable
from ledgersync.adapters.quickbooks_online import IntuitOAuth, app_credentials
from ledgersync.config import Settings
from ledgersync.domain.quickbooks_online import TokenSet
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


class IntuitAuthorizationClient:
    """intuit-oauth with the redirect URI of each authorization (it must match between authorize and exchange)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _oauth(self, redirect_uri: str) -> IntuitOAuth:
        client_id, client_secret = app_credentials(self.settings)
        return IntuitOAuth(
            client_id, client_secret, self.settings.qbo_redirect_uri or redirect_uri, self.settings.qbo_environment
        )

    def authorization_url(self, state: str, redirect_uri: str) -> str:
        return self._oauth(redirect_uri).authorization_url(state)

    def exchange_code(self, code: str, realm_id: str, redirect_uri: str) -> TokenSet:
        return self._oauth(redirect_uri).exchange_code(code, realm_id)

    def revoke(self, token: str) -> None:
        self._oauth("").revoke(token)
