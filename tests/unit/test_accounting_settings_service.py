"""The accounting set-up's rules at the use-case level: the settings merge and its repair, who may change the
settings or download the .qwc file, and the connection view."""

from __future__ import annotations

import pytest

from ledgersync.domain.accounting_settings import AccountingSettingsService
from ledgersync.domain.accounts import Company, Principal, Role
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.settings import AccountingSettings, Connection, ConnectionStatus
from ledgersync.errors import DamagedRecord, Forbidden


class InMemorySettingsStore:
    """One company's settings and connection; ``damaged`` makes the settings unreadable, as a hand-edited item."""

    def __init__(self, settings: AccountingSettings | None = None, connection: Connection | None = None) -> None:
        self.settings = settings or AccountingSettings()
        self.stored_connection = connection or Connection()
        self.damaged = False
        self.puts: list[AccountingSettings] = []

    def get_settings(self, company_id: str) -> AccountingSettings:
        if self.damaged:
            raise DamagedRecord("the accounting settings of this company cannot be read; PUT them again")
        return self.settings

    def get_accounting(self, company_id: str) -> tuple[AccountingSettings, Connection]:
        return self.get_settings(company_id), self.stored_connection

    def put_settings(self, company_id: str, settings: AccountingSettings) -> None:
        self.settings, self.damaged = settings, False
        self.puts.append(settings)

    def get_connection(self, company_id: str) -> Connection:
        return self.stored_connection

    def put_connection(self, company_id: str, connection: Connection) -> None:
        self.stored_connection = connection

    def require_reauthorization(self, company_id: str, connection: Connection) -> bool:
        self.stored_connection = connection
        return True

    def clear_reconnect_notice(self, company_id: str) -> bool:
        return False


class OneCompany:
    def get_company(self, company_id: str) -> Company | None:
        return Company(id=company_id, name="Demo Flowers", currency="USD", created_at="2026-12-01")


class RecordingQwc:
    def __init__(self) -> None:
        self.rendered: list[tuple[str, str, str, str, int]] = []

    def __call__(
        self, company_id: str, company_name: str, user_name: str, app_url: str, run_every_minutes: int
    ) -> bytes:
        self.rendered.append((company_id, company_name, user_name, app_url, run_every_minutes))
        return b"<QBWCXML/>"


def service(store: InMemorySettingsStore, qwc: RecordingQwc | None = None) -> AccountingSettingsService:
    return AccountingSettingsService(store, OneCompany(), qwc or RecordingQwc(), lambda: 15)


def principal(*roles: Role) -> Principal:
    return Principal(company_id="C1", user_id="U1", roles=frozenset(roles), token_id="T1")


ADMIN = principal(Role.ADMIN)


def test_a_change_keeps_the_fields_it_does_not_give_when_merged() -> None:
    # Given settings that chose QuickBooks Desktop and an address
    store = InMemorySettingsStore(
        AccountingSettings(external_system=ExternalSystem.QUICKBOOKS_DESKTOP, notification_emails=["ap@example.com"])
    )

    # When an Admin changes only requireAdditionalCharges
    merged = service(store).change(ADMIN, AccountingSettings.model_validate({"requireAdditionalCharges": False}))

    # Then the rest is kept, and that is what is stored
    assert merged.external_system is ExternalSystem.QUICKBOOKS_DESKTOP
    assert merged.notification_emails == ["ap@example.com"] and merged.require_additional_charges is False
    assert store.puts == [merged]


def test_damaged_settings_are_replaced_by_defaults_and_the_change_when_changed() -> None:
    # Given settings that no longer parse
    store = InMemorySettingsStore(AccountingSettings(notification_emails=["old@example.com"]))
    store.damaged = True

    # When an Admin puts one field, then the stored settings are the defaults with that field: repaired
    merged = service(store).change(ADMIN, AccountingSettings.model_validate({"externalSystem": "webhook"}))
    assert merged == AccountingSettings(external_system=ExternalSystem.WEBHOOK)
    assert service(store).read(ADMIN) == merged


def test_only_an_admin_changes_the_settings_when_asked() -> None:
    store = InMemorySettingsStore()
    with pytest.raises(Forbidden, match="change the accounting settings"):
        service(store).change(principal(Role.ACCOUNTING), AccountingSettings())
    assert store.puts == []


def test_the_connection_names_the_chosen_system_when_viewed() -> None:
    # Given a company that chose QuickBooks Desktop, with the QuickBooks Online connection it had before
    store = InMemorySettingsStore(
        AccountingSettings(external_system=ExternalSystem.QUICKBOOKS_DESKTOP),
        Connection(external_system=ExternalSystem.QUICKBOOKS_ONLINE, status=ConnectionStatus.NOT_CONNECTED),
    )

    # Then the view names the chosen system, and the stored connection is unchanged
    view = service(store).connection(principal(Role.SALES))
    assert view.external_system is ExternalSystem.QUICKBOOKS_DESKTOP
    assert store.stored_connection.external_system is ExternalSystem.QUICKBOOKS_ONLINE


def test_the_qwc_file_is_rendered_for_the_company_when_an_admin_downloads_it() -> None:
    qwc = RecordingQwc()
    answer = service(InMemorySettingsStore(), qwc).web_connector_file(ADMIN, "https://api.example.com/qbwc")
    assert (answer.body, answer.file_name) == (b"<QBWCXML/>", "ledgersync.qwc")
    assert qwc.rendered == [("C1", "Demo Flowers", "C1", "https://api.example.com/qbwc", 15)]


def test_only_an_admin_downloads_the_qwc_file_when_asked() -> None:
    qwc = RecordingQwc()
    with pytest.raises(Forbidden, match="QuickBooks Web Connector file"):
        service(InMemorySettingsStore(), qwc).web_connector_file(principal(Role.PROCUREMENT), "https://x/qbwc")
    assert qwc.rendered == []
