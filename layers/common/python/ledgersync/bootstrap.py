"""The one place that builds adapters and use cases. Built lazily, once per Lambda instance."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from ledgersync.adapters.dynamodb import SingleTable
from ledgersync.config import get_settings

if TYPE_CHECKING:
    from ledgersync.adapters.account_store import DynamoAccountStore
    from ledgersync.adapters.company_health import DynamoCompanyHealth
    from ledgersync.adapters.documents import S3Documents
    from ledgersync.adapters.messaging import QueueDispatcher, SesNotifier
    from ledgersync.adapters.purchase_order_store import DirectoryReferences, DynamoPurchaseOrderStore
    from ledgersync.adapters.settings_store import DynamoSettingsStore
    from ledgersync.domain.accounting_sync import AccountingSync
    from ledgersync.domain.accounts import Accounts
    from ledgersync.domain.desktop_sync import WebConnectorService
    from ledgersync.domain.directory import Directory
    from ledgersync.domain.held_work import HeldWork
    from ledgersync.domain.invoices import Invoices
    from ledgersync.domain.purchase_order_service import PurchaseOrders
    from ledgersync.domain.qbo_connection import QuickBooksOnlineConnection
    from ledgersync.domain.quickbooks_online import TokenRefresher
    from ledgersync.domain.sync_outcomes import SyncOutcomes
    from ledgersync.domain.webhooks.delivery import WebhookDeliveries
    from ledgersync.domain.webhooks.endpoint import WebhookSetup


@lru_cache(maxsize=1)
def table() -> SingleTable:
    return SingleTable(get_settings().table_name)


@lru_cache(maxsize=1)
def accounts() -> Accounts:
    from ledgersync.domain.accounts import Accounts

    return Accounts(account_store())


@lru_cache(maxsize=1)
def directory() -> Directory:
    from ledgersync.adapters.directory_store import DynamoDirectoryStore
    from ledgersync.domain.directory import Directory

    return Directory(DynamoDirectoryStore(table()))


@lru_cache(maxsize=1)
def invoices() -> Invoices:
    from ledgersync.adapters.invoice_store import DynamoInvoiceStore
    from ledgersync.domain.invoices import Invoices

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


@lru_cache(maxsize=1)
def purchase_orders() -> PurchaseOrders:
    from ledgersync.domain.purchase_order_service import PurchaseOrders

    return PurchaseOrders(
        store=purchase_order_store(),
        references=references(),
        documents=documents(),
        dispatcher=dispatcher(),
        accounting=settings_store(),
        webhooks=settings_store(),
    )


@lru_cache(maxsize=1)
def documents() -> S3Documents:
    from ledgersync.adapters.documents import s3_documents

    return s3_documents(get_settings())


@lru_cache(maxsize=1)
def dispatcher() -> QueueDispatcher:
    from ledgersync.adapters.messaging import QueueDispatcher

    return QueueDispatcher(get_settings())


@lru_cache(maxsize=1)
def purchase_order_store() -> DynamoPurchaseOrderStore:
    from ledgersync.adapters.purchase_order_store import DynamoPurchaseOrderStore

    return DynamoPurchaseOrderStore(table())


@lru_cache(maxsize=1)
def notifier() -> SesNotifier:
    from ledgersync.adapters.messaging import SesNotifier

    return SesNotifier(get_settings().notification_sender)


def reset() -> None:
    """Forget every built object (tests that switch settings)."""
    from ledgersync.adapters.aws import reset_clients
    from ledgersync.config import get_settings as settings

    settings.cache_clear()
    reset_clients()
    for built in list(globals().values()):
        if callable(getattr(built, "cache_clear", None)):
            built.cache_clear()


@lru_cache(maxsize=1)
def sync_outcomes() -> SyncOutcomes:
    from ledgersync.domain.sync_outcomes import SyncOutcomes

    return SyncOutcomes(
        store=purchase_order_store(),
        accounting=settings_store(),
        notifier=notifier(),
        dispatcher=dispatcher(),
    )


@lru_cache(maxsize=1)
def account_store() -> DynamoAccountStore:
    from ledgersync.adapters.account_store import DynamoAccountStore

    return DynamoAccountStore(table())


@lru_cache(maxsize=1)
def company_health() -> DynamoCompanyHealth:
    from ledgersync.adapters.company_health import DynamoCompanyHealth

    return DynamoCompanyHealth(table(), account_store())


@lru_cache(maxsize=1)
def held_work() -> HeldWork:
    from ledgersync.adapters.messaging import SqsDeadLetters
    from ledgersync.adapters.webhooks import SecretsManagerWebhookEndpoints
    from ledgersync.domain.held_work import HeldWork, InFlightWindows, WebhookErrorEmails
    from ledgersync.domain.purchase_orders import ExternalSystem
    from ledgersync.domain.qbo_connection import ReconnectNotices

    settings = get_settings()
    return HeldWork(
        store=purchase_order_store(),
        accounting=settings_store(),
        outcomes=sync_outcomes(),
        dispatcher=dispatcher(),
        windows=InFlightWindows.of(
            settings.sync_queue_max_receives, settings.sync_queue_visibility_seconds, settings.webhook_retry_hours
        ),
        dead_letters=SqsDeadLetters(
            {
                ExternalSystem.QUICKBOOKS_ONLINE: [u for u in (settings.sync_dead_letter_queue_url,) if u],
                ExternalSystem.WEBHOOK: [u for u in (settings.webhook_dead_letter_queue_url,) if u],
            }
        ),
        webhook_recipients=WebhookErrorEmails(SecretsManagerWebhookEndpoints(settings.secrets_prefix)),
        max_receives={
            ExternalSystem.QUICKBOOKS_ONLINE: settings.sync_queue_max_receives,
            ExternalSystem.WEBHOOK: settings.webhook_queue_max_receives,
        },
        reconnect_notices=ReconnectNotices(settings_store(), notifier()),
    )


@lru_cache(maxsize=1)
def references() -> DirectoryReferences:
    from ledgersync.adapters.directory_store import DynamoDirectoryStore
    from ledgersync.adapters.purchase_order_store import DirectoryReferences

    return DirectoryReferences(DynamoDirectoryStore(table()))


@lru_cache(maxsize=1)
def web_connector() -> WebConnectorService:
    from ledgersync.adapters.qbwc_sessions import DynamoSessionStore
    from ledgersync.adapters.quickbooks_desktop import build_web_connector
    from ledgersync.domain.desktop_work import DesktopOutbox, DesktopOutcomes, TokenCredentials

    return build_web_connector(
        TokenCredentials(accounts()),
        DesktopOutbox(store=purchase_order_store(), references=references(), accounting=settings_store()),
        DesktopOutcomes(sync_outcomes()),
        DynamoSessionStore(table()),
    )


@lru_cache(maxsize=1)
def qbo_connection() -> QuickBooksOnlineConnection:
    from ledgersync.adapters.qbo_connection import DynamoOAuthStates, IntuitAuthorizationClient
    from ledgersync.adapters.quickbooks_online import SecretsManagerTokenStore
    from ledgersync.domain.qbo_connection import QuickBooksOnlineConnection

    settings = get_settings()
    return QuickBooksOnlineConnection(
        states=DynamoOAuthStates(table()),
        intuit=IntuitAuthorizationClient(settings),
        tokens=SecretsManagerTokenStore(settings.secrets_prefix),
        settings=settings_store(),
        outcomes=sync_outcomes(),
        notifier=notifier(),
    )


@lru_cache(maxsize=1)
def token_refresher() -> TokenRefresher:
    from ledgersync.adapters.quickbooks_online import build_token_refresher

    return build_token_refresher(qbo_connection(), get_settings(), table())


@lru_cache(maxsize=1)
def accounting_sync() -> AccountingSync:
    from ledgersync.adapters.quickbooks_online import build_bill_sync
    from ledgersync.domain.accounting_sync import AccountingSync

    return AccountingSync(
        store=purchase_order_store(),
        references=references(),
        accounting=settings_store(),
        bills=build_bill_sync(qbo_connection(), get_settings(), table()),
        outcomes=sync_outcomes(),
    )


@lru_cache(maxsize=1)
def webhook_setup() -> WebhookSetup:
    from ledgersync.adapters.webhooks import build_webhook_setup

    return build_webhook_setup(settings_store(), get_settings())


@lru_cache(maxsize=1)
def webhook_deliveries() -> WebhookDeliveries:
    from ledgersync.adapters.webhooks import build_webhook_deliveries
    from ledgersync.domain.webhook_outcomes import WebhookDocuments, WebhookOutcomes

    settings = get_settings()
    return build_webhook_deliveries(
        WebhookDocuments(purchase_order_store(), references()),
        WebhookOutcomes(sync_outcomes()),
        notifier(),
        settings,
        links=documents(),
        dead_letter_queue_url=settings.webhook_dead_letter_queue_url or None,
    )
