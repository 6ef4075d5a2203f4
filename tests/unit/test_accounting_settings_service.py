"""The accounting set-up's rules at the use-case level: the settings merge and its repair, who may change the
settings or download the .qwc file, and the connection view."""

from __future__ import annotations

import pytest

from ledgersync.domain.accounting_settings import AccountingSettingsService
from ledgersync.domain.accounts import Accounts, CompanyCreate, Principal, Role
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.qbo_connection import CONNECTED_MESSAGE, QuickBooksOnlineConnected
from ledgersync.domain.settings import AccountingSettings, Connection, ConnectionStatus
from ledgersync.errors import DamagedRecord, Forbidden
from tests.fakes import InMemoryAccountStore, InMemorySettingsStore


class DamageableSettingsStore(InMemorySettingsStore):
    """The in-memory settings store of one company; ``damaged`` makes its settings unreadable, as the DynamoDB
    adapter finds an item written by hand (``DamagedRecord``), until they are put again."""

    def __init__(self, settings: AccountingSettings | None = None, connection: Connection | None = None) -> None:
        super().__init__(InMemoryAccountStore())
        Accounts(self.accounts).create_company(CompanyCreate(name="Demo Flowers"))
        self.company_id = next(iter(self.accounts.profiles))
        self.damaged = False
        self.puts: list[AccountingSettings] = []
        if settings is not None:
            super().put_settings(self.company_id, settings)
        if connection is not None:
            self.put_connection(self.company_id, connection)

    def get_settings(self, company_id: str) -> AccountingSettings:
        if self.damaged:
            raise DamagedRecord("the accounting settings of this company cannot be read; PUT them again")
        return super().get_settings(company_id)

    def put_settings(self, company_id: str, settings: AccountingSettings) -> None:
        super().put_settings(company_id, settings)
        self.damaged = False
        self.puts.append(settings)


class RecordingQwc:
    def __init__(self) -> None:
        self.rendered: list[tuple[str, str, str, str, int]] = []

    def __call__(
        self, company_id: str, company_name: str, user_name: str, app_url: str, run_every_minutes: int
    ) -> bytes:
        self.rendered.append((company_id, company_name, user_name, app_url, run_every_minutes))
        return b"<QBWCXML/>"


def service(store: DamageableSettingsStore, qwc: RecordingQwc | None = None) -> AccountingSettingsService:
    return AccountingSettingsService(store, store.accounts, qwc or RecordingQwc(), lambda: 15)


def of(store: DamageableSettingsStore, *roles: Role) -> Principal:
    return Principal(company_id=store.company_id, user_id="U1", roles=frozenset(roles), token_id="T1")


def test_a_change_keeps_the_fields_it_does_not_give_when_merged() -> None:
    # Given settings that chose QuickBooks Desktop and an address
    store = DamageableSettingsStore(
        AccountingSettings(external_system=ExternalSystem.QUICKBOOKS_DESKTOP, notification_emails=["ap@example.com"])
    )

    # When an Admin changes only requireAdditionalCharges
    merged = service(store).change(
        of(store, Role.ADMIN), AccountingSettings.model_validate({"requireAdditionalCharges": False})
    )

    # Then the rest is kept, and that is what is stored
    assert merged.external_system is ExternalSystem.QUICKBOOKS_DESKTOP
    assert merged.notification_emails == ["ap@example.com"] and merged.require_additional_charges is False
    assert store.puts == [merged]


def test_damaged_settings_are_replaced_by_defaults_and_the_change_when_changed() -> None:
    # Given settings that no longer parse
    store = DamageableSettingsStore(AccountingSettings(notification_emails=["old@example.com"]))
    store.damaged = True

    # When an Admin puts one field, then the stored settings are the defaults with that field: repaired
    merged = service(store).change(
        of(store, Role.ADMIN), AccountingSettings.model_validate({"externalSystem": "webhook"})
    )
    assert merged == AccountingSettings(external_system=ExternalSystem.WEBHOOK)
    read = service(store).read(of(store, Role.ADMIN))
    assert (read.external_system, read.notification_emails) == (ExternalSystem.WEBHOOK, [])


def test_only_an_admin_changes_the_settings_when_asked() -> None:
    store = DamageableSettingsStore()
    with pytest.raises(Forbidden, match="change the accounting settings"):
        service(store).change(of(store, Role.ACCOUNTING), AccountingSettings())
    assert store.puts == []


def test_the_connection_names_the_chosen_system_when_viewed() -> None:
    # Given a company that chose QuickBooks Desktop, with the QuickBooks Online connection it had before
    store = DamageableSettingsStore(
        AccountingSettings(external_system=ExternalSystem.QUICKBOOKS_DESKTOP),
        Connection(external_system=ExternalSystem.QUICKBOOKS_ONLINE, status=ConnectionStatus.NOT_CONNECTED),
    )

    # Then the view names the chosen system, and the stored connection is unchanged
    view = service(store).connection(of(store, Role.SALES))
    assert view.external_system is ExternalSystem.QUICKBOOKS_DESKTOP
    assert store.get_connection(store.company_id).external_system is ExternalSystem.QUICKBOOKS_ONLINE


def test_the_qwc_file_is_rendered_for_the_company_when_an_admin_downloads_it() -> None:
    qwc = RecordingQwc()
    store = DamageableSettingsStore()
    answer = service(store, qwc).web_connector_file(of(store, Role.ADMIN), "https://api.example.com/qbwc")
    assert (answer.body, answer.file_name) == (b"<QBWCXML/>", "ledgersync.qwc")
    company = store.company_id
    assert qwc.rendered == [(company, "Demo Flowers", company, "https://api.example.com/qbwc", 15)]


def test_only_an_admin_downloads_the_qwc_file_when_asked() -> None:
    qwc = RecordingQwc()
    with pytest.raises(Forbidden, match="QuickBooks Web Connector file"):
        store = DamageableSettingsStore()
        service(store, qwc).web_connector_file(of(store, Role.PROCUREMENT), "https://x/qbwc")
    assert qwc.rendered == []


def test_the_connected_answer_is_the_message_then_every_field_of_the_connection_when_built() -> None:
    # Given a connection (a field added to Connection must reach the callback's answer, or building it fails)
    connection = Connection(status=ConnectionStatus.CONNECTED, realm_id="9130", reconnect_notice_pending=False)

    # Then the answer carries the message first and then the connection as it is
    answer = QuickBooksOnlineConnected.of(connection).model_dump(by_alias=True)
    assert list(QuickBooksOnlineConnected.model_fields) == ["message", *Connection.model_fields]
    assert answer == {"message": CONNECTED_MESSAGE, **connection.model_dump(by_alias=True)}
