"""The one place that builds adapters and use cases. Built lazily, once per Lambda instance."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from ledgersync.adapters.dynamodb import SingleTable
from ledgersync.config import get_settings
from ledgersync.domain.accounts import Accounts
from ledgersync.domain.directory import Directory
from ledgersync.domain.invoices import Invoices

if TYPE_CHECKING:
    from ledgersync.adapters.settings_store import DynamoSettingsStore


@lru_cache(maxsize=1)
def table() -> SingleTable:
    return SingleTable(get_settings().table_name)


@lru_cache(maxsize=1)
def accounts() -> Accounts:
    from ledgersync.adapters.account_store import DynamoAccountStore

    return Accounts(DynamoAccountStore(table()))


@lru_cache(maxsize=1)
def directory() -> Directory:
    from ledgersync.adapters.directory_store import DynamoDirectoryStore

    return Directory(DynamoDirectoryStore(table()))


@lru_cache(maxsize=1)
def invoices() -> Invoices:
    from ledgersync.adapters.invoice_store import DynamoInvoiceStore

    return Invoices(DynamoInvoiceStore(table()), directory())


def admin_api_key() -> str:
    """The operator's key for creating companies, from Secrets Manager (cached five minutes)."""
    from aws_lambda_powertools.utilities import parameters

    value = parameters.get_secret(get_settings().admin_api_key_secret, max_age=300)
    return value if isinstance(value, str) else value.decode()


@lru_cache(maxsize=1)
def settings_store() -> DynamoSettingsStore:
    from ledgersync.adapters.settings_store import DynamoSettingsStore

    return DynamoSettingsStore(table())


def reset() -> None:
    """Forget every built object (tests that switch settings)."""
    from ledgersync.adapters.aws import reset_clients
    from ledgersync.config import get_settings as settings

    settings.cache_clear()
    reset_clients()
    for built in (table, accounts, directory, invoices, settings_store):
        built.cache_clear()
