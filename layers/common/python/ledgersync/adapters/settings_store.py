"""Accounting settings and the connection state, kept on the company's profile item."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ledgersync.adapters.dynamodb import SingleTable, company_pk
from ledgersync.domain.settings import AccountingSettings, Connection, ConnectionStatus
from ledgersync.errors import Conflict, DamagedRecord, NotFound
from ledgersync.validation import field_errors

Model = TypeVar("Model", bound=BaseModel)


class DynamoSettingsStore:
    def __init__(self, table: SingleTable) -> None:
        self.table = table

    def get_accounting(self, company_id: str) -> tuple[AccountingSettings, Connection]:
        """The settings and the connection, from one read of the profile."""
        item = self.table.get(company_pk(company_id), "PROFILE")
        if item is None:
            raise NotFound(f"no company '{company_id}'")
        settings = _parse(AccountingSettings, item.get("accountingSettings"), company_id, "accounting settings")
        if settings.company_currency is None:
            settings.company_currency = str(item.get("currency", "USD"))
        return settings, _parse(Connection, item.get("connection"), company_id, "accounting connection")

    def get_settings(self, company_id: str) -> AccountingSettings:
        return self.get_accounting(company_id)[0]

    def put_settings(self, company_id: str, settings: AccountingSettings) -> None:
        self.table.update(
            company_pk(company_id),
            "PROFILE",
            "SET accountingSettings = :s",
            values={":s": settings.model_dump(mode="json", by_alias=True, exclude={"company_currency"})},
            condition="attribute_exists(pk)",
            returns="NONE",
        )

    def get_connection(self, company_id: str) -> Connection:
        return self.get_accounting(company_id)[1]

    def put_connection(self, company_id: str, connection: Connection) -> None:
        self.table.update(
            company_pk(company_id),
            "PROFILE",
            "SET #c = :c",
            names={"#c": "connection"},
            values={":c": connection.model_dump(mode="json", by_alias=True)},
            condition="attribute_exists(pk)",
            returns="NONE",
        )

    def require_reauthorization(self, company_id: str, connection: Connection) -> bool:
        """One conditional write: of two calls that both saw the connection working, only one writes it."""
        try:
            self.table.update(
                company_pk(company_id),
                "PROFILE",
                "SET #c = :c",
                names={"#c": "connection", "#s": "status"},
                values={
                    ":c": connection.model_dump(mode="json", by_alias=True),
                    ":r": ConnectionStatus.REAUTHORIZATION_REQUIRED.value,
                },
                condition="attribute_exists(pk) AND (attribute_not_exists(#c.#s) OR #c.#s <> :r)",
                returns="NONE",
            )
        except Conflict:
            return False
        return True

    def clear_reconnect_notice(self, company_id: str) -> bool:
        try:
            self.table.update(
                company_pk(company_id),
                "PROFILE",
                "SET #c.#p = :f",
                names={"#c": "connection", "#s": "status", "#p": "reconnectNoticePending"},
                values={":f": False, ":t": True, ":r": ConnectionStatus.REAUTHORIZATION_REQUIRED.value},
                condition="#c.#s = :r AND #c.#p = :t",
                returns="NONE",
            )
        except Conflict:
            return False
        return True

    def is_configured(self, company_id: str) -> bool:
        """Whether the company has set up its PO Reconciliation webhook."""
        item = self.table.get(company_pk(company_id), "PROFILE") or {}
        return bool(item.get("webhookConfigured"))

    def mark_webhook_configured(self, company_id: str) -> None:
        self.table.update(
            company_pk(company_id),
            "PROFILE",
            "SET webhookConfigured = :t",
            values={":t": True},
            condition="attribute_exists(pk)",
        )


def _parse(model: type[Model], stored: Any, company_id: str, what: str) -> Model:
    """A stored part of the profile as its model; one that no longer parses is named, with the way to replace it."""
    try:
        return model.model_validate(stored or {})
    except ValidationError as err:
        first = field_errors(err)[0]
        fix = "PUT /v1/accounting/settings replaces them" if model is AccountingSettings else "reconnect to replace it"
        raise DamagedRecord(
            f"the stored {what} of company '{company_id}' (COMPANY#{company_id} PROFILE) no longer parse "
            f"({first.field}: {first.message}); {fix}"
        ) from err
