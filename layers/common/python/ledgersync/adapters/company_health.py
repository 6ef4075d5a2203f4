"""A company's health read from the single table: the profile, PO counts from the status indexes (no scan: the
POs' approval lifecycle and their sync states) and the last Web Connector session."""

from __future__ import annotations

from ledgersync.adapters.dynamodb import SingleTable, company_pk
from ledgersync.adapters.purchase_order_store import status_key
from ledgersync.adapters.qbwc_sessions import LAST_SESSION_SK
from ledgersync.adapters.settings_store import DynamoSettingsStore
from ledgersync.adapters.sync_state_store import DynamoSyncStateStore
from ledgersync.domain.accounts import AccountStore
from ledgersync.domain.company_health import CompanyHealth, PurchaseOrderCounts, WebConnectorSessionSummary
from ledgersync.domain.purchase_orders import VendorInvoiceStatus
from ledgersync.domain.sync.state import SyncStatus
from ledgersync.errors import NotFound


class DynamoCompanyHealth:
    """The operator's view of one company: a few reads, each from a key or the status index."""

    def __init__(self, table: SingleTable, accounts: AccountStore) -> None:
        self.table = table
        self.accounts = accounts

    def read(self, company_id: str) -> CompanyHealth:
        company = self.accounts.get_company(company_id)
        if company is None:
            raise NotFound(f"no company '{company_id}'")
        settings, connection = DynamoSettingsStore(self.table).get_accounting(company_id)
        connection.external_system = settings.external_system
        states = DynamoSyncStateStore(self.table)
        counts = PurchaseOrderCounts(
            pending_approval=self._count(company_id, VendorInvoiceStatus.PENDING_APPROVAL),
            approved=self._count(company_id, VendorInvoiceStatus.APPROVED),
            queued=sum(
                states.count_by_status(company_id, status)
                for status in (SyncStatus.QUEUED, SyncStatus.SCHEDULED, SyncStatus.SENDING)
            ),
            held=states.count_by_status(company_id, SyncStatus.HELD),
            error=states.count_by_status(company_id, SyncStatus.ERROR),
        )
        last = self.table.get(company_pk(company_id), LAST_SESSION_SK, consistent=False)
        return CompanyHealth(
            company_id=company.id,
            name=company.name,
            connection=connection,
            purchase_orders=counts,
            last_web_connector_session=WebConnectorSessionSummary.model_validate(last) if last else None,
        )

    def _count(self, company_id: str, status: VendorInvoiceStatus) -> int:
        return self.table.count_items(status_key(company_id, status), index="gsi1")
