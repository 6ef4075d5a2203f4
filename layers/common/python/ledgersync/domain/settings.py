"""A company's accounting settings: the external system, bill mappings, classes, notification addresses."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Protocol

from pydantic import EmailStr, Field, StringConstraints, field_validator

from ledgersync.currencies import ISO_4217
from ledgersync.domain.purchase_orders import MAX_MAPPINGS, AccountingName, BillMapping, CamelModel, ExternalSystem

MAX_NOTIFICATION_ADDRESSES = 5
# QuickBooks item names: at most 31 characters (QuickBooks Desktop's limit; Online allows more, Desktop does not).
ItemName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=31)]
ChargeCode = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=10)]
CurrencyCode = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=3, max_length=3)]


class ConnectionStatus(StrEnum):
    NOT_CONNECTED = "not_connected"
    CONNECTED = "connected"
    REAUTHORIZATION_REQUIRED = "reauthorization_required"


class AccountingSettings(BillMapping):
    """``PUT /v1/accounting/settings``: every field optional; what is not given keeps its default."""

    external_system: ExternalSystem | None = None
    notification_emails: list[EmailStr] = Field(default_factory=list, max_length=MAX_NOTIFICATION_ADDRESSES)
    require_additional_charges: bool = True
    company_currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    # Sales invoices (issue 10): the item a line goes on when its product names none, the item of each
    # additional charge (by charge code), and the window an automatic store's shipped invoices are spread over.
    invoice_item_name: ItemName = "Fresh Cut Flowers"
    invoice_charge_items: dict[ChargeCode, ItemName] = Field(default_factory=dict, max_length=MAX_MAPPINGS)
    auto_sync_window_minutes: int = Field(default=60, ge=1, le=1440)
    # The export (issue 12): the income account of items it adds, and whether it stops at the first error.
    invoice_income_account: AccountingName = "Sales of Product Income"
    abort_export_on_error: bool = False
    # Other currencies (issue 12): the A/P account a foreign vendor's bills go to and the A/R account a foreign
    # customer's invoices go to, by ISO 4217 code ({"CAD": "Accounts Payable - CAD"}); QuickBooks keeps each
    # account in one currency and refuses a transaction in another.
    ap_account_by_currency: dict[CurrencyCode, AccountingName] = Field(default_factory=dict, max_length=MAX_MAPPINGS)
    ar_account_by_currency: dict[CurrencyCode, AccountingName] = Field(default_factory=dict, max_length=MAX_MAPPINGS)

    @field_validator("notification_emails")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(v.lower() for v in value))

    @field_validator("ap_account_by_currency", "ar_account_by_currency")
    @classmethod
    def _iso_currencies(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(code for code in value if code not in ISO_4217)
        if unknown:
            verb = "is not an ISO 4217 currency code" if len(unknown) == 1 else "are not ISO 4217 currency codes"
            raise ValueError(f'{", ".join(unknown)} {verb} (three letters, e.g. "CAD")')
        return value


class Connection(CamelModel):
    """``GET /v1/accounting/connection``."""

    external_system: ExternalSystem | None = None
    status: ConnectionStatus = ConnectionStatus.NOT_CONNECTED
    realm_id: str | None = None
    reason: str | None = None
    reconnect_notice_pending: bool = False  # the reconnect e-mail is still owed (its send failed)

    @property
    def owes_reconnect_notice(self) -> bool:
        return self.status is ConnectionStatus.REAUTHORIZATION_REQUIRED and self.reconnect_notice_pending


class SettingsStore(Protocol):
    def get_accounting(self, company_id: str) -> tuple[AccountingSettings, Connection]: ...
    def get_settings(self, company_id: str) -> AccountingSettings: ...
    def put_settings(self, company_id: str, settings: AccountingSettings) -> None: ...
    def get_connection(self, company_id: str) -> Connection: ...
    def put_connection(self, company_id: str, connection: Connection) -> None: ...
    def require_reauthorization(self, company_id: str, connection: Connection) -> bool:
        """Write ``connection`` unless the stored one already requires reauthorization; True when written."""

    def clear_reconnect_notice(self, company_id: str) -> bool:
        """Record that the owed reconnect e-mail went, if the connection still owes it; True when cleared."""
