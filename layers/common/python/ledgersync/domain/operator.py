"""The operator's methods, called with the admin API key (``X-Admin-Key``): creating companies, reading one's health."""

from __future__ import annotations

from collections.abc import Callable

from ledgersync.domain.accounts import Accounts, CompanyCreate, CompanyCreated, admin_key_matches
from ledgersync.domain.company_health import CompanyHealth, CompanyHealthReader
from ledgersync.errors import FieldError, Unauthorized

ADMIN_KEY_HEADER = "X-Admin-Key"
ADMIN_KEY_REFUSED = "X-Admin-Key is missing or wrong: send the admin API key (the stack output AdminApiKeySecretArn)"


class Operator:
    """Each method first refuses a missing or wrong admin key (compared in constant time), naming the header."""

    def __init__(self, accounts: Accounts, health: CompanyHealthReader, admin_key: Callable[[], str]) -> None:
        self.accounts = accounts
        self.health = health
        self.admin_key = admin_key

    def create_company(self, given_key: str | None, request: CompanyCreate) -> CompanyCreated:
        self._require_admin_key(given_key)
        return self.accounts.create_company(request)

    def company_health(self, given_key: str | None, company_id: str) -> CompanyHealth:
        self._require_admin_key(given_key)
        return self.health.read(company_id)

    def _require_admin_key(self, given: str | None) -> None:
        if not admin_key_matches(given, self.admin_key()):
            raise Unauthorized(ADMIN_KEY_REFUSED, [FieldError(ADMIN_KEY_HEADER, ADMIN_KEY_REFUSED)])
