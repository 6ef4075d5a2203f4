"""The composition root: the one place that builds adapters and use cases (cosmicpython's ``bootstrap.py``).

``build(settings, Adapters(...))`` gives the ``Services`` of one Lambda instance. Every port in ``Adapters`` that is
left ``None`` is built on first use from ``settings``; every use case is a ``cached_property`` of ``Services`` whose
imports stay inside it, so a cold start builds (and imports) only what its handler touches. Handlers, routes and
the local stack reach them through ``services()``; tests ``install`` a ``build`` over fakes and ``reset`` after.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ledgersync.config import Settings, get_settings

if TYPE_CHECKING:
    from ledgersync.adapters.account_store import DynamoAccountStore
    from ledgersync.adapters.company_health import DynamoCompanyHealth
    from ledgersync.adapters.directory_store import DynamoDirectoryStore
    from ledgersync.adapters.documents import S3Documents
    from ledgersync.adapters.dynamodb import SingleTable
    from ledgersync.adapters.invoice_store import DynamoInvoiceStore
    from ledgersync.adapters.messaging import SesNotifier, SqsCheckpointQueue, SqsDeadLetters
    from ledgersync.adapters.purchase_order_store import DirectoryReferences, DynamoPurchaseOrderStore
    from ledgersync.adapters.quickbooks_online.client import QuickBooksOnlineClient
    from ledgersync.adapters.quickbooks_online.estimates import QuickBooksOnlineEstimateGateway
    from ledgersync.adapters.quickbooks_online.invoices import QuickBooksOnlineInvoiceGateway
    from ledgersync.adapters.quickbooks_online.oauth import IntuitOAuthApp
    from ledgersync.adapters.quickbooks_online.references import DynamoReferenceIdCache
    from ledgersync.adapters.settings_store import DynamoSettingsStore
    from ledgersync.adapters.sync_state_store import DynamoSyncStateStore
    from ledgersync.adapters.sync_targets import WebhookEndpoints, WorkQueue
    from ledgersync.adapters.webhooks import DnsAddressGuard
    from ledgersync.clock import Clock
    from ledgersync.domain.accounting_export import (
        CheckpointQueue,
        ExportCandidates,
        MatcherFactory,
        SalesInvoiceExport,
    )
    from ledgersync.domain.accounting_links import AccountingLinks, AccountingLinkStore
    from ledgersync.domain.accounting_settings import AccountingSettingsService
    from ledgersync.domain.accounting_sync import AccountingSync
    from ledgersync.domain.accounts import Accounts
    from ledgersync.domain.desktop_sync import SessionStore, WebConnectorService
    from ledgersync.domain.directory import Directory
    from ledgersync.domain.export_dead_letters import ExportDeadLetters
    from ledgersync.domain.held_work import DeadLetterQueues, HeldWork
    from ledgersync.domain.invoices import Invoices
    from ledgersync.domain.operator import Operator
    from ledgersync.domain.process_log import ProcessLog, ProcessLogStore
    from ledgersync.domain.purchase_order_send_again import PurchaseOrderSendAgain
    from ledgersync.domain.purchase_order_service import PurchaseOrders
    from ledgersync.domain.purchase_orders import ExternalSystem
    from ledgersync.domain.qbo_connection import OAuthStates, QuickBooksOnlineConnection, Tokens
    from ledgersync.domain.quickbooks_online import (
        Lock,
        QuickBooksInvoices,
        QuickBooksOnlineGateway,
        QuickBooksTokens,
        ReadableDedupStore,
        TokenMetrics,
        TokenRefresher,
        TokenStore,
    )
    from ledgersync.domain.sales_invoice_sync import AutomaticInvoiceQueue, ReleaseTurns, SalesInvoiceSync
    from ledgersync.domain.sales_order_online import QuickBooksEstimates
    from ledgersync.domain.sales_orders import SalesOrderSync
    from ledgersync.domain.service_health import ServiceHealth
    from ledgersync.domain.sync.documents import DocumentKind
    from ledgersync.domain.sync.mappers import MapperRegistry
    from ledgersync.domain.sync.outcomes import StateWriter, SyncRecorder
    from ledgersync.domain.sync.store import SyncStateStore
    from ledgersync.domain.sync.targets import Creator, DocumentWriter, TargetDocuments, TargetRegistry
    from ledgersync.domain.webhooks.delivery import DeliveryQueue, WebhookDeliveries, WebhookTransport
    from ledgersync.domain.webhooks.endpoint import WebhookSecrets, WebhookSetup


# the automatic invoice queue releases at most this share of QuickBooks Online's per-realm requests a minute,
# leaving the rest to sends by hand, bills and the reads a send may need
AUTOMATIC_SHARE_OF_BUDGET = 0.8


@dataclass
class Adapters:
    """The outside world's ports. Each one left ``None`` is built on first use from the settings (the AWS, Intuit
    and HTTP adapters); tests pass fakes here."""

    table: SingleTable | None = None
    account_store: DynamoAccountStore | None = None
    settings_store: DynamoSettingsStore | None = None
    purchase_order_store: DynamoPurchaseOrderStore | None = None
    directory_store: DynamoDirectoryStore | None = None
    invoice_store: DynamoInvoiceStore | None = None
    accounting_link_store: AccountingLinkStore | None = None
    export_queue: CheckpointQueue | None = None
    company_health: DynamoCompanyHealth | None = None
    oauth_states: OAuthStates | None = None
    desktop_sessions: SessionStore | None = None
    sync_queue: WorkQueue | None = None
    sync_states: SyncStateStore | None = None
    dead_letters: SqsDeadLetters | None = None
    export_dead_letter_queue: DeadLetterQueues | None = None
    webhook_queue: DeliveryQueue | None = None
    notifier: SesNotifier | None = None
    documents: S3Documents | None = None
    admin_api_key: Callable[[], str] | None = None
    quickbooks_secrets: TokenStore | None = None
    webhook_secrets: WebhookSecrets | None = None
    webhook_endpoints: WebhookEndpoints | None = None
    intuit_oauth: IntuitOAuthApp | None = None
    quickbooks_gateway: QuickBooksOnlineGateway | None = None
    bill_dedup: ReadableDedupStore | None = None
    token_lock: Lock | None = None
    token_metrics: TokenMetrics | None = None
    webhook_transport: WebhookTransport | None = None
    address_guard: DnsAddressGuard | None = None
    release_turns: ReleaseTurns | None = None
    process_log_store: ProcessLogStore | None = None
    clock: Clock | None = None


class Services:
    """The use cases (and the ports they share), each built once, on first use."""

    def __init__(self, settings: Settings, adapters: Adapters) -> None:
        self.settings = settings
        self.adapters = adapters

    # ------------------------------------------------------------------------------------ ports
    @cached_property
    def table(self) -> SingleTable:
        if self.adapters.table is not None:
            return self.adapters.table
        from ledgersync.adapters.dynamodb import SingleTable

        return SingleTable(self.settings.table_name)

    @cached_property
    def clock(self) -> Clock:
        if self.adapters.clock is not None:
            return self.adapters.clock
        from ledgersync.clock import SystemClock

        return SystemClock()

    @cached_property
    def account_store(self) -> DynamoAccountStore:
        if self.adapters.account_store is not None:
            return self.adapters.account_store
        from ledgersync.adapters.account_store import DynamoAccountStore

        return DynamoAccountStore(self.table)

    @cached_property
    def settings_store(self) -> DynamoSettingsStore:
        if self.adapters.settings_store is not None:
            return self.adapters.settings_store
        from ledgersync.adapters.settings_store import DynamoSettingsStore

        return DynamoSettingsStore(self.table)

    @cached_property
    def purchase_order_store(self) -> DynamoPurchaseOrderStore:
        if self.adapters.purchase_order_store is not None:
            return self.adapters.purchase_order_store
        from ledgersync.adapters.purchase_order_store import DynamoPurchaseOrderStore

        return DynamoPurchaseOrderStore(self.table)

    @cached_property
    def directory_store(self) -> DynamoDirectoryStore:
        if self.adapters.directory_store is not None:
            return self.adapters.directory_store
        from ledgersync.adapters.directory_store import DynamoDirectoryStore

        return DynamoDirectoryStore(self.table)

    @cached_property
    def accounting_link_store(self) -> AccountingLinkStore:
        if self.adapters.accounting_link_store is not None:
            return self.adapters.accounting_link_store
        from ledgersync.adapters.accounting_link_store import DynamoAccountingLinkStore

        return DynamoAccountingLinkStore(self.table)

    @cached_property
    def invoice_store(self) -> DynamoInvoiceStore:
        if self.adapters.invoice_store is not None:
            return self.adapters.invoice_store
        from ledgersync.adapters.invoice_store import DynamoInvoiceStore

        return DynamoInvoiceStore(self.table)

    @cached_property
    def desktop_sessions(self) -> SessionStore:
        if self.adapters.desktop_sessions is not None:
            return self.adapters.desktop_sessions
        from ledgersync.adapters.qbwc_sessions import DynamoSessionStore

        return DynamoSessionStore(self.table, clock=self.clock)

    @cached_property
    def references(self) -> DirectoryReferences:
        from ledgersync.adapters.purchase_order_store import DirectoryReferences

        return DirectoryReferences(self.directory_store)

    @cached_property
    def company_health(self) -> DynamoCompanyHealth:
        if self.adapters.company_health is not None:
            return self.adapters.company_health
        from ledgersync.adapters.company_health import DynamoCompanyHealth

        return DynamoCompanyHealth(self.table, self.account_store)

    @cached_property
    def sync_queue(self) -> WorkQueue:
        if self.adapters.sync_queue is not None:
            return self.adapters.sync_queue
        from ledgersync.adapters.messaging import SqsWorkQueue

        return SqsWorkQueue(self.settings.sync_queue_url)

    @cached_property
    def sync_states(self) -> SyncStateStore | DynamoSyncStateStore:
        if self.adapters.sync_states is not None:
            return self.adapters.sync_states
        from ledgersync.adapters.sync_state_store import DynamoSyncStateStore

        return DynamoSyncStateStore(self.table)

    @cached_property
    def sync_targets(self) -> TargetRegistry:
        """The registry of targets: the one place that knows which external systems exist and how each is reached."""
        from ledgersync.adapters.sync_targets import QuickBooksDesktopTarget, QuickBooksOnlineTarget, WebhookTarget
        from ledgersync.domain.purchase_orders import ExternalSystem
        from ledgersync.domain.sync.targets import TargetRegistry

        settings = self.settings
        return TargetRegistry(
            {
                ExternalSystem.QUICKBOOKS_ONLINE: QuickBooksOnlineTarget(
                    queue=self.sync_queue,
                    max_receives=settings.sync_queue_max_receives,
                    visibility_seconds=settings.sync_queue_visibility_seconds,
                ),
                ExternalSystem.QUICKBOOKS_DESKTOP: QuickBooksDesktopTarget(),
                ExternalSystem.WEBHOOK: WebhookTarget(
                    queue=self.webhook_queue,
                    max_receives=settings.webhook_queue_max_receives,
                    retry_hours=settings.webhook_retry_hours,
                    configured=self.settings_store,
                ),
            }
        )

    @cached_property
    def mappers(self) -> MapperRegistry:
        """The registry of mappers: the one place that knows which document kinds exist and how each becomes drafts."""
        from ledgersync.domain.purchase_order_bills import PurchaseOrderBills
        from ledgersync.domain.sales_invoice_sync import SalesInvoiceMapper
        from ledgersync.domain.sales_orders import SalesOrderLinkReader, SalesOrderMapper
        from ledgersync.domain.sync.mappers import MapperRegistry

        bills = PurchaseOrderBills(self.purchase_order_store, self.references, self.settings_store)
        # an order's invoice links to its sales order; the sales order maps the order as its invoice would
        links = SalesOrderLinkReader(self.sync_states)
        invoices = SalesInvoiceMapper(self.invoice_store, self.directory_store, self.settings_store, links)
        orders = SalesOrderMapper(SalesInvoiceMapper(self.invoice_store, self.directory_store, self.settings_store))
        return MapperRegistry({bills.kind: bills, invoices.kind: invoices, orders.kind: orders})

    @cached_property
    def sync_state_writer(self) -> StateWriter:
        """Moves states and hands work over, records no outcome: what the API's invoice actions need (so they are
        not granted what an error e-mail reaches)."""
        from ledgersync.domain.sync.outcomes import StateWriter

        return StateWriter(states=self.sync_states, targets=self.sync_targets, clock=self.clock)

    @cached_property
    def sync_recorder(self) -> SyncRecorder:
        from ledgersync.domain.purchase_order_sync import PurchaseOrderErrorNotices
        from ledgersync.domain.sales_invoice_sync import SalesInvoiceErrorNotices
        from ledgersync.domain.sales_orders import sales_order_error_notice
        from ledgersync.domain.sync.documents import DocumentKind
        from ledgersync.domain.sync.outcomes import ErrorNoticesByKind, SyncRecorder

        targets = self.sync_targets
        notices = ErrorNoticesByKind(
            {
                DocumentKind.PURCHASE_ORDER_BILLS: PurchaseOrderErrorNotices(
                    self.purchase_order_store, self.settings_store, self.notifier, targets
                ),
                DocumentKind.SALES_INVOICE: SalesInvoiceErrorNotices(
                    self.invoice_store, self.settings_store, self.notifier, targets
                ),
                DocumentKind.SALES_ORDER: SalesInvoiceErrorNotices(
                    self.invoice_store, self.settings_store, self.notifier, targets, sales_order_error_notice
                ),
            }
        )
        return SyncRecorder(states=self.sync_states, notices=notices, targets=targets, clock=self.clock)

    @cached_property
    def notifier(self) -> SesNotifier:
        if self.adapters.notifier is not None:
            return self.adapters.notifier
        from ledgersync.adapters.messaging import SesNotifier

        return SesNotifier(self.settings.notification_sender)

    @cached_property
    def documents(self) -> S3Documents:
        if self.adapters.documents is not None:
            return self.adapters.documents
        from ledgersync.adapters.documents import AdminKeyLinkKey, DocumentLinkSigner, S3Documents
        from ledgersync.public_url import public_base_url

        settings = self.settings
        return S3Documents(
            settings.documents_bucket,
            DocumentLinkSigner(AdminKeyLinkKey(settings.admin_api_key_secret)),
            public_base_url(settings.public_base_url),
        )

    def admin_api_key(self) -> str:
        """The operator's key for creating companies, from Secrets Manager (cached five minutes)."""
        if self.adapters.admin_api_key is not None:
            return self.adapters.admin_api_key()
        from aws_lambda_powertools.utilities import parameters

        value = parameters.get_secret(self.settings.admin_api_key_secret, max_age=300)
        return value if isinstance(value, str) else value.decode()

    @cached_property
    def intuit_oauth(self) -> IntuitOAuthApp:
        """The one Intuit OAuth adapter: connecting a company and refreshing its tokens share it."""
        if self.adapters.intuit_oauth is not None:
            return self.adapters.intuit_oauth
        from ledgersync.adapters.quickbooks_online.oauth import IntuitOAuthApp

        return IntuitOAuthApp(self.settings, self.clock)

    @cached_property
    def quickbooks_secrets(self) -> TokenStore:
        if self.adapters.quickbooks_secrets is not None:
            return self.adapters.quickbooks_secrets
        from ledgersync.adapters.quickbooks_online.tokens import SecretsManagerTokenStore

        return SecretsManagerTokenStore(self.settings.secrets_prefix)

    @cached_property
    def webhook_secrets(self) -> WebhookSecrets:
        if self.adapters.webhook_secrets is not None:
            return self.adapters.webhook_secrets
        from ledgersync.adapters.webhooks import SecretsManagerWebhookSecrets

        return SecretsManagerWebhookSecrets(self.settings.secrets_prefix)

    @cached_property
    def webhook_endpoints(self) -> WebhookEndpoints:
        if self.adapters.webhook_endpoints is not None:
            return self.adapters.webhook_endpoints
        from ledgersync.adapters.webhooks import SecretsManagerWebhookEndpoints

        return SecretsManagerWebhookEndpoints(self.settings.secrets_prefix)

    @cached_property
    def address_guard(self) -> DnsAddressGuard:
        if self.adapters.address_guard is not None:
            return self.adapters.address_guard
        from ledgersync.adapters.webhooks import DnsAddressGuard

        return DnsAddressGuard(self.settings.allowed_webhook_hosts)

    @cached_property
    def webhook_transport(self) -> WebhookTransport:
        if self.adapters.webhook_transport is not None:
            return self.adapters.webhook_transport
        from ledgersync.adapters.webhooks import RequestsWebhookTransport

        return RequestsWebhookTransport(self.address_guard)

    @cached_property
    def webhook_queue(self) -> DeliveryQueue:
        if self.adapters.webhook_queue is not None:
            return self.adapters.webhook_queue
        from ledgersync.adapters.webhooks import SqsDeliveryQueue

        settings = self.settings
        return SqsDeliveryQueue(settings.webhook_queue_url, settings.webhook_dead_letter_queue_url or None)

    @cached_property
    def dead_letters(self) -> SqsDeadLetters:
        if self.adapters.dead_letters is not None:
            return self.adapters.dead_letters
        from ledgersync.adapters.messaging import SqsDeadLetters
        from ledgersync.domain.purchase_orders import ExternalSystem

        settings = self.settings
        return SqsDeadLetters(
            {
                ExternalSystem.QUICKBOOKS_ONLINE: [u for u in (settings.sync_dead_letter_queue_url,) if u],
                ExternalSystem.WEBHOOK: [u for u in (settings.webhook_dead_letter_queue_url,) if u],
            }
        )

    @cached_property
    def quickbooks_gateway(self) -> QuickBooksOnlineGateway:
        """The QuickBooks Online API over the shared request limiter and the reference id cache."""
        if self.adapters.quickbooks_gateway is not None:
            return self.adapters.quickbooks_gateway
        from ledgersync.adapters.quickbooks_online.bills import QuickBooksOnlineGateway

        return QuickBooksOnlineGateway(self.quickbooks_client, self.quickbooks_reference_ids)

    @cached_property
    def quickbooks_client(self) -> QuickBooksOnlineClient:
        """QuickBooks Online's REST API over the shared per-realm request limiter."""
        from ledgersync.adapters.quickbooks_online.client import QuickBooksOnlineClient, api_base_url
        from ledgersync.adapters.quickbooks_online.limits import DynamoRequestLimiter

        settings = self.settings
        limiter = DynamoRequestLimiter(
            self.table, settings.qbo_requests_per_minute, settings.qbo_max_in_flight, clock=self.clock
        )
        return QuickBooksOnlineClient(api_base_url(settings), limiter)

    @cached_property
    def quickbooks_reference_ids(self) -> DynamoReferenceIdCache:
        from ledgersync.adapters.quickbooks_online.references import DynamoReferenceIdCache

        return DynamoReferenceIdCache(self.table)

    @cached_property
    def bill_dedup(self) -> ReadableDedupStore:
        if self.adapters.bill_dedup is not None:
            return self.adapters.bill_dedup
        from ledgersync.adapters.quickbooks_online.dedup import DynamoDedupStore

        return DynamoDedupStore(self.table)

    @cached_property
    def token_lock(self) -> Lock:
        if self.adapters.token_lock is not None:
            return self.adapters.token_lock
        from ledgersync.adapters.quickbooks_online.tokens import DynamoLock

        return DynamoLock(self.table, self.clock)

    @cached_property
    def token_metrics(self) -> TokenMetrics:
        if self.adapters.token_metrics is not None:
            return self.adapters.token_metrics
        from ledgersync.adapters.quickbooks_online.metrics import PowertoolsTokenMetrics

        return PowertoolsTokenMetrics()

    # ------------------------------------------------------------------------------------ use cases
    @cached_property
    def service_health(self) -> ServiceHealth:
        from ledgersync.domain.service_health import ServiceHealth

        return ServiceHealth(lambda: self.table.get("HEALTH", "HEALTH", consistent=False))

    @cached_property
    def accounts(self) -> Accounts:
        from ledgersync.domain.accounts import Accounts

        return Accounts(self.account_store)

    @cached_property
    def operator(self) -> Operator:
        from ledgersync.domain.operator import Operator

        return Operator(self.accounts, self.company_health, self.admin_api_key)

    @cached_property
    def accounting_settings(self) -> AccountingSettingsService:
        from ledgersync.adapters.quickbooks_desktop import render_qwc
        from ledgersync.domain.accounting_settings import AccountingSettingsService

        return AccountingSettingsService(
            self.settings_store, self.account_store, render_qwc, lambda: self.settings.qbwc_run_every_minutes
        )

    @cached_property
    def directory(self) -> Directory:
        from ledgersync.domain.directory import Directory

        return Directory(self.directory_store)

    @cached_property
    def accounting_links(self) -> AccountingLinks:
        """Customers' and products' links into the accounting system (issue 12), beside the directory records."""
        from ledgersync.domain.accounting_links import AccountingLinks

        return AccountingLinks(self.directory_store, self.accounting_link_store, self.clock)

    @cached_property
    def export_candidates(self) -> ExportCandidates:
        """What the Sales Invoice Export would match, add and send (its preview)."""
        from ledgersync.domain.accounting_export import ExportCandidates

        return ExportCandidates(self.accounting_links, self.invoice_store, self.sync_states, self.settings_store)

    @cached_property
    def export_queue(self) -> CheckpointQueue | SqsCheckpointQueue:
        if self.adapters.export_queue is not None:
            return self.adapters.export_queue
        from ledgersync.adapters.messaging import SqsCheckpointQueue

        return SqsCheckpointQueue(self.settings.export_queue_url)

    @cached_property
    def sales_invoice_export(self) -> SalesInvoiceExport:
        """Rootstock's Sales Invoice Export (issue 12): its steps on the export queue, logged in the process log."""
        from ledgersync.domain.accounting_export import ProcessLogExportLog, SalesInvoiceExport

        return SalesInvoiceExport(
            candidates=self.export_candidates,
            sync=self.sales_invoice_sync,
            log=ProcessLogExportLog(self.process_log),
            queue=self.export_queue,
            matchers=self.export_matchers,
            notifier=self.notifier,
            reauthorization=self.qbo_connection,
            desktop_wait_seconds=self.settings.export_desktop_wait_seconds,
        )

    @cached_property
    def export_matchers(self) -> MatcherFactory:
        """The export's match-or-add for a company: QuickBooks Online's names with a live token, refreshed once on a
        401 (a second 401 fails the run as unauthorized)."""
        from ledgersync.adapters.quickbooks_online.names import QuickBooksOnlineNames
        from ledgersync.domain.accounting_links import NameMatcher
        from ledgersync.domain.quickbooks_online import QuickBooksAccess
        from ledgersync.domain.settings import AccountingSettings

        def matcher(company_id: str, settings: AccountingSettings) -> NameMatcher:
            tokens = self.quickbooks_tokens

            def refresh(rejected: QuickBooksAccess) -> QuickBooksAccess:
                fresh = tokens.refresh(company_id, rejected_access_token=rejected.access_token)
                return QuickBooksAccess(fresh.realm_id, fresh.access_token)

            return QuickBooksOnlineNames(
                self.quickbooks_client,
                self.quickbooks_reference_ids,
                tokens.access_for(company_id),
                settings.invoice_income_account,
                refresh,
            )

        return matcher

    @cached_property
    def invoices(self) -> Invoices:
        from ledgersync.domain.invoices import Invoices

        return Invoices(
            self.invoice_store,
            self.directory,
            clock=self.clock,
            sync=self.sales_invoice_sync,
            sales_orders=self.sales_order_sync,
        )

    @cached_property
    def sales_order_sync(self) -> SalesOrderSync:
        """An order's sales order in accounting: send-sales-order, update on change, the view."""
        from ledgersync.domain.sales_orders import SalesOrderSync

        return SalesOrderSync(
            states=self.sync_states,
            recorder=self.sync_state_writer,
            targets=self.sync_targets,
            accounting=self.settings_store,
            invoice_records=self.invoice_store,
            directory=self.directory_store,
            senders=self.sales_order_targets,
            lookups=self.estimate_lookups,
            clock=self.clock,
        )

    @cached_property
    def sales_order_targets(self) -> frozenset[ExternalSystem]:
        """The targets that take sales orders: those with a sales-order writer (QuickBooks Online's Estimate) or a
        Web Connector job (QuickBooks Desktop's SalesOrderAdd)."""
        from ledgersync.domain.purchase_orders import ExternalSystem

        return frozenset({ExternalSystem.QUICKBOOKS_ONLINE, ExternalSystem.QUICKBOOKS_DESKTOP})

    @cached_property
    def estimate_lookups(self) -> dict[ExternalSystem, QuickBooksEstimates]:
        """The targets that can say at once whether the sales order they hold still exists (QuickBooks Online's
        Estimate; the Web Connector pulls its work)."""
        from ledgersync.domain.purchase_orders import ExternalSystem
        from ledgersync.domain.sales_order_online import QuickBooksEstimates

        estimates = QuickBooksEstimates(self.quickbooks_estimate_gateway, self.quickbooks_tokens)
        return {ExternalSystem.QUICKBOOKS_ONLINE: estimates}

    @cached_property
    def quickbooks_estimate_gateway(self) -> QuickBooksOnlineEstimateGateway:
        """Estimates (an order's sales order) in QuickBooks Online, over the client and id cache of invoices."""
        from ledgersync.adapters.quickbooks_online.estimates import QuickBooksOnlineEstimateGateway

        return QuickBooksOnlineEstimateGateway(self.quickbooks_client, self.quickbooks_reference_ids)

    @cached_property
    def sales_invoice_sync(self) -> SalesInvoiceSync:
        """Goflow's rules for sales invoices in accounting: ship/unship, send now/again, the automatic queue."""
        from ledgersync.domain.sales_invoice_sync import SalesInvoiceSync

        return SalesInvoiceSync(
            states=self.sync_states,
            recorder=self.sync_state_writer,
            targets=self.sync_targets,
            accounting=self.settings_store,
            invoice_records=self.invoice_store,
            directory=self.directory_store,
            lookups=self.invoice_lookups,
            clock=self.clock,
        )

    @cached_property
    def automatic_invoice_queue(self) -> AutomaticInvoiceQueue:
        from ledgersync.domain.sales_invoice_sync import AutomaticInvoiceQueue

        return AutomaticInvoiceQueue(
            states=self.sync_states,
            recorder=self.sync_state_writer,
            targets=self.sync_targets,
            accounting=self.settings_store,
            turns=self.release_turns,
            clock=self.clock,
            cap_per_minute=int(self.settings.qbo_requests_per_minute * AUTOMATIC_SHARE_OF_BUDGET),
            process_log=self.process_log,
        )

    @cached_property
    def release_turns(self) -> ReleaseTurns:
        if self.adapters.release_turns is not None:
            return self.adapters.release_turns
        from ledgersync.adapters.lease import DynamoReleaseTurns

        return DynamoReleaseTurns(self.table, self.clock)

    @cached_property
    def invoice_lookups(self) -> dict[ExternalSystem, QuickBooksInvoices]:
        """The targets that can say at once whether an accounting invoice still exists (send again's check; the
        Web Connector pulls its work, so Desktop checks when it sends)."""
        from ledgersync.domain.purchase_orders import ExternalSystem
        from ledgersync.domain.quickbooks_online import QuickBooksInvoices

        invoices = QuickBooksInvoices(self.quickbooks_invoice_gateway, self.quickbooks_tokens)
        return {ExternalSystem.QUICKBOOKS_ONLINE: invoices}

    @cached_property
    def purchase_orders(self) -> PurchaseOrders:
        from ledgersync.domain.purchase_order_service import PurchaseOrders

        return PurchaseOrders(
            store=self.purchase_order_store,
            references=self.references,
            documents=self.documents,
            accounting=self.settings_store,
            states=self.sync_states,
            targets=self.sync_targets,
            recorder=self.sync_recorder,
        )

    @cached_property
    def purchase_order_send_again(self) -> PurchaseOrderSendAgain:
        """Goflow's Send Again for bills: QuickBooks Online is asked at once which bills it holds by number."""
        from ledgersync.domain.purchase_order_bills import PurchaseOrderBills
        from ledgersync.domain.purchase_order_send_again import PurchaseOrderSendAgain
        from ledgersync.domain.purchase_orders import ExternalSystem
        from ledgersync.domain.quickbooks_online import QuickBooksBillsByNumber

        return PurchaseOrderSendAgain(
            store=self.purchase_order_store,
            mapper=PurchaseOrderBills(self.purchase_order_store, self.references, self.settings_store),
            states=self.sync_states,
            writer=self.sync_state_writer,
            targets=self.sync_targets,
            accounting=self.settings_store,
            finders={
                ExternalSystem.QUICKBOOKS_ONLINE: QuickBooksBillsByNumber(
                    self.quickbooks_gateway, self.quickbooks_tokens
                )
            },
        )

    @cached_property
    def export_dead_letter_queue(self) -> DeadLetterQueues:
        if self.adapters.export_dead_letter_queue is not None:
            return self.adapters.export_dead_letter_queue
        from ledgersync.adapters.messaging import SqsDeadLetters
        from ledgersync.domain.purchase_orders import ExternalSystem

        url = self.settings.export_dead_letter_queue_url
        return SqsDeadLetters({ExternalSystem.QUICKBOOKS_ONLINE: [url] if url else []})

    @cached_property
    def export_dead_letters(self) -> ExportDeadLetters:
        """The sweep's look at the export queue's dead-letter queue: a checkpoint there fails its run (with its
        e-mail) instead of leaving it running."""
        from ledgersync.domain.accounting_export import ProcessLogExportLog
        from ledgersync.domain.export_dead_letters import ExportDeadLetters

        log = ProcessLogExportLog(self.process_log)
        return ExportDeadLetters(self.export_dead_letter_queue, log, self.settings_store, self.notifier)

    @cached_property
    def held_work(self) -> HeldWork:
        from ledgersync.adapters.sync_targets import WebhookErrorEmails
        from ledgersync.domain.held_work import HeldWork
        from ledgersync.domain.purchase_orders import ExternalSystem
        from ledgersync.domain.qbo_connection import ReconnectNotices

        return HeldWork(
            states=self.sync_states,
            accounting=self.settings_store,
            recorder=self.sync_recorder,
            targets=self.sync_targets,
            dead_letters=self.dead_letters,
            reconnect_notices=ReconnectNotices(self.settings_store, self.notifier),
            recipients={ExternalSystem.WEBHOOK: WebhookErrorEmails(self.webhook_endpoints)},
        )

    @cached_property
    def web_connector(self) -> WebConnectorService:
        from ledgersync.adapters.quickbooks_desktop import QbxmlCodec
        from ledgersync.domain.desktop_export import DesktopExportNames
        from ledgersync.domain.desktop_sync import WebConnectorService
        from ledgersync.domain.desktop_work import DesktopOutbox, DesktopOutcomes, TokenCredentials
        from ledgersync.domain.purchase_orders import ExternalSystem

        desktop = ExternalSystem.QUICKBOOKS_DESKTOP
        return WebConnectorService(
            TokenCredentials(self.accounts),
            DesktopOutbox(self.mappers, self.settings_store, self.sync_states, desktop),
            DesktopOutcomes(self.sync_recorder, desktop),
            self.desktop_sessions,
            QbxmlCodec(),
            clock=self.clock,
            process_log=self.process_log,
            export_names=DesktopExportNames(
                self.process_log, self.accounting_links, self.settings_store, desktop, self.clock
            ),
        )

    @cached_property
    def qbo_connection(self) -> QuickBooksOnlineConnection:
        from ledgersync.domain.qbo_connection import QuickBooksOnlineConnection

        tokens: Tokens = self.quickbooks_secrets
        return QuickBooksOnlineConnection(
            states=self.oauth_states,
            intuit=self.intuit_oauth,
            tokens=tokens,
            settings=self.settings_store,
            recorder=self.sync_recorder,
            notifier=self.notifier,
        )

    @cached_property
    def oauth_states(self) -> OAuthStates:
        if self.adapters.oauth_states is not None:
            return self.adapters.oauth_states
        from ledgersync.adapters.qbo_connection import DynamoOAuthStates

        return DynamoOAuthStates(self.table)

    @cached_property
    def quickbooks_tokens(self) -> QuickBooksTokens:
        """A company's tokens over Secrets Manager, Intuit OAuth and a DynamoDB lock; reauthorization is owed to the
        connection use case."""
        from ledgersync.domain.quickbooks_online import QuickBooksTokens

        return QuickBooksTokens(
            self.quickbooks_secrets,
            self.intuit_oauth,
            self.token_lock,
            self.qbo_connection,
            metrics=self.token_metrics,
            clock=self.clock,
        )

    @cached_property
    def process_log(self) -> ProcessLog:
        """Every background run's entry in the process log (``GET /v1/process-log``)."""
        from ledgersync.domain.process_log import ProcessLog

        return ProcessLog(self.process_log_store, self.clock.now)

    @cached_property
    def process_log_store(self) -> ProcessLogStore:
        if self.adapters.process_log_store is not None:
            return self.adapters.process_log_store
        from ledgersync.adapters.process_log_store import DynamoProcessLogStore

        return DynamoProcessLogStore(self.table)

    @cached_property
    def token_refresher(self) -> TokenRefresher:
        from ledgersync.domain.quickbooks_online import TokenRefresher

        return TokenRefresher(self.quickbooks_tokens, process_log=self.process_log)

    @cached_property
    def bill_sync(self) -> Creator:
        """Exactly-once bills over the DynamoDB dedup store, the shared limiter and the id cache."""
        from ledgersync.domain.quickbooks_online import BillSync

        return BillSync(self.quickbooks_gateway, self.quickbooks_tokens, self.bill_dedup, self.clock)

    @cached_property
    def target_documents(self) -> TargetDocuments:
        """Each target's look-up and delete of the documents it holds. Built apart from ``sync_targets`` so that only
        a function whose code looks up or deletes reaches (and is granted) what they need: QuickBooks Online's
        tokens and gateway."""
        from ledgersync.domain.purchase_orders import ExternalSystem
        from ledgersync.domain.quickbooks_online import QuickBooksBills
        from ledgersync.domain.sync.targets import TargetDocuments

        targets = self.sync_targets
        return TargetDocuments(
            {
                ExternalSystem.QUICKBOOKS_ONLINE: QuickBooksBills(self.quickbooks_gateway, self.quickbooks_tokens),
                ExternalSystem.QUICKBOOKS_DESKTOP: targets.documents_of(ExternalSystem.QUICKBOOKS_DESKTOP),
                ExternalSystem.WEBHOOK: targets.documents_of(ExternalSystem.WEBHOOK),
            }
        )

    @cached_property
    def quickbooks_invoice_gateway(self) -> QuickBooksOnlineInvoiceGateway:
        """Sales invoices in QuickBooks Online, over the same client (its limiter) and id cache as bills."""
        from ledgersync.adapters.quickbooks_online.invoices import QuickBooksOnlineInvoiceGateway

        return QuickBooksOnlineInvoiceGateway(self.quickbooks_client, self.quickbooks_reference_ids)

    @cached_property
    def quickbooks_writers(self) -> dict[DocumentKind, DocumentWriter]:
        """What QuickBooks Online does with each kind of document it is sent."""
        from ledgersync.domain.purchase_orders import ExternalSystem
        from ledgersync.domain.quickbooks_online import InvoiceSync, QuickBooksBills, SalesInvoiceCreatedIds
        from ledgersync.domain.sales_order_online import EstimateSync, SalesOrderCreatedIds
        from ledgersync.domain.sync.documents import DocumentKind
        from ledgersync.domain.sync.targets import ComposedWriter

        invoices = InvoiceSync(self.quickbooks_invoice_gateway, self.quickbooks_tokens, self.bill_dedup, self.clock)
        estimates = EstimateSync(self.quickbooks_estimate_gateway, self.quickbooks_tokens, self.bill_dedup, self.clock)
        return {
            DocumentKind.PURCHASE_ORDER_BILLS: ComposedWriter(
                self.bill_sync, QuickBooksBills(self.quickbooks_gateway, self.quickbooks_tokens)
            ),
            DocumentKind.SALES_INVOICE: ComposedWriter(
                invoices, self.invoice_lookups[ExternalSystem.QUICKBOOKS_ONLINE], SalesInvoiceCreatedIds(invoices)
            ),
            DocumentKind.SALES_ORDER: ComposedWriter(
                estimates, self.estimate_lookups[ExternalSystem.QUICKBOOKS_ONLINE], SalesOrderCreatedIds(estimates)
            ),
        }

    @cached_property
    def accounting_sync(self) -> AccountingSync:
        from ledgersync.domain.accounting_sync import AccountingSync
        from ledgersync.domain.purchase_orders import ExternalSystem

        return AccountingSync(
            mappers=self.mappers,
            accounting=self.settings_store,
            writers=self.quickbooks_writers,
            states=self.sync_states,
            recorder=self.sync_recorder,
            target=ExternalSystem.QUICKBOOKS_ONLINE,
        )

    @cached_property
    def webhook_setup(self) -> WebhookSetup:
        from ledgersync.domain.webhooks.endpoint import WebhookSetup

        settings = self.settings
        return WebhookSetup(
            secrets=self.webhook_secrets,
            guard=self.address_guard,
            allowed_hosts=settings.allowed_webhook_hosts,
            clock=self.clock,
            allowed_ports=settings.allowed_webhook_ports,
            state=self.settings_store,
        )

    @cached_property
    def webhook_deliveries(self) -> WebhookDeliveries:
        from ledgersync.domain.purchase_orders import ExternalSystem
        from ledgersync.domain.webhook_outcomes import WebhookDeliveryOutcomes, WebhookDocuments
        from ledgersync.domain.webhooks.delivery import WebhookDeliveries
        from ledgersync.domain.webhooks.retries import RetrySchedule
        from ledgersync.public_url import public_base_url

        settings = self.settings
        webhook = ExternalSystem.WEBHOOK
        return WebhookDeliveries(
            source=WebhookDocuments(self.mappers, self.sync_states, webhook),
            secrets=self.webhook_secrets,
            transport=self.webhook_transport,
            links=self.documents,
            outcomes=WebhookDeliveryOutcomes(self.sync_recorder, self.purchase_order_store, webhook),
            queue=self.webhook_queue,
            notifier=self.notifier,
            target=webhook,
            schedule=RetrySchedule(total_seconds=settings.webhook_retry_hours * 3600),
            clock=self.clock,
            resend_base_url=public_base_url(settings.public_base_url),
        )


def build(
    settings: Settings, adapters: Adapters | None = None, *, use_cases: Mapping[str, Any] | None = None
) -> Services:
    """The services of one instance over ``adapters`` (missing ones built from ``settings`` on first use).

    ``use_cases`` stands a given object in for a whole use case by its ``Services`` name: for tests about what a
    handler does around one (its logging, its batch failures), not for the use case's own behaviour."""
    services = Services(settings, adapters or Adapters())
    for name, given in (use_cases or {}).items():
        if not isinstance(getattr(Services, name, None), cached_property):
            raise TypeError(f"Services has no use case named {name!r}")
        services.__dict__[name] = given  # where cached_property keeps what it built
    return services


class _Instance:
    """The services of this Lambda instance (or process), once built or installed."""

    def __init__(self) -> None:
        self.services: Services | None = None
        self.lock = threading.Lock()


_instance = _Instance()


def services() -> Services:
    """This instance's services, built once from the environment's settings (or the ones ``install`` was given)."""
    built = _instance.services
    if built is None:
        with _instance.lock:
            built = _instance.services
            if built is None:
                built = _instance.services = build(get_settings())
    return built


def install(given: Services) -> None:
    """Use ``given`` from now on (tests, the local stack)."""
    _instance.services = given


def reset() -> None:
    """Forget the built services, the settings read and the cached clients (tests that switch settings)."""
    from ledgersync.adapters.aws import reset_clients

    get_settings.cache_clear()
    reset_clients()
    _instance.services = None
