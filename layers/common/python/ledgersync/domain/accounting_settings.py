"""A company's accounting set-up: its settings, the view of its connection, and its Web Connector (.qwc) file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ledgersync.domain.accounts import Company, Principal, Role
from ledgersync.domain.settings import AccountingSettings, Connection, SettingsStore
from ledgersync.errors import DamagedRecord

# Who may change the accounting settings and download the Web Connector file.
SETUP_ROLES = frozenset({Role.ADMIN})
QWC_FILE_NAME = "ledgersync.qwc"


class Companies(Protocol):
    def get_company(self, company_id: str) -> Company | None: ...


class RenderQwc(Protocol):
    def __call__(
        self, company_id: str, company_name: str, user_name: str, app_url: str, run_every_minutes: int
    ) -> bytes: ...


@dataclass(frozen=True)
class WebConnectorFile:
    """The .qwc file a company adds to its QuickBooks Web Connector, and the name it is downloaded under."""

    body: bytes
    file_name: str = QWC_FILE_NAME


@dataclass
class AccountingSettingsService:
    """The rules of the accounting set-up: what a change merges, who may make it, what the connection shows."""

    store: SettingsStore
    companies: Companies
    render_qwc: RenderQwc
    run_every_minutes: Callable[[], int]

    def read(self, caller: Principal) -> AccountingSettings:
        return self.store.get_settings(caller.company_id)

    def change(self, caller: Principal, request: AccountingSettings) -> AccountingSettings:
        """Merge the fields the request gives into the stored settings (an Admin only). Settings that no longer
        parse (``DamagedRecord``) are replaced whole by the defaults plus the request: the way to repair them."""
        caller.require_role(set(SETUP_ROLES), "change the accounting settings")
        try:
            current = self.store.get_settings(caller.company_id)
        except DamagedRecord:
            current = AccountingSettings()
        merged = current.model_copy(update=request.model_dump(exclude_unset=True))
        self.store.put_settings(caller.company_id, merged)
        return merged

    def connection(self, caller: Principal) -> Connection:
        """The connection, naming the external system the settings choose (which may not be the connected one)."""
        settings, connection = self.store.get_accounting(caller.company_id)
        return connection.model_copy(update={"external_system": settings.external_system})

    def web_connector_file(self, caller: Principal, app_url: str) -> WebConnectorFile:
        """The company's .qwc file (an Admin only), its user name the company id, its AppURL ``app_url``."""
        caller.require_role(set(SETUP_ROLES), "download the QuickBooks Web Connector file")
        company = self.companies.get_company(caller.company_id)
        name = company.name if company else caller.company_id
        body = self.render_qwc(caller.company_id, name, caller.company_id, app_url, self.run_every_minutes())
        return WebConnectorFile(body)
