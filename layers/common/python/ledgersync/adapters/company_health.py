"""A company's health read from the single table: the profile, PO counts from the status index (no scan) and
the last Web Connector session."""

from __future__ import annotations

from ledgersync.adapters.dynamodb import SingleTable, company_pk
from ledgersync.adapters.purchase_order_store import status_key
from ledgersync.adapters.qbwc_sessions import LAST_SESSION_SK
from ledgersync.adapters.settings_store import DynamoSettingsStore
from ledgersync.domain.accounts import AccountStore
from ledgersync.domain.company_health import CompanyHealth, PurchaseOrderCounts, WebConnectorSessionSummary
from ledgersync.domain.purchase_orders import VendorInvoiceStatus
from ledgersync.errors import NotFound

# A held PO carries its reason as text; an unheld one stores heldReason as null.
HELD_FILTER = "attribute_type(#o.heldReason, :text)"


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
        sent = self._count(company_id, VendorInvoiceStatus.SENT_TO_EXTERNAL)
        held = self.table.count_items(
            status_key(company_id, VendorInvoiceStatus.SENT_TO_EXTERNAL),
            index="gsi1",
            item_filter=HELD_FILTER,
            values={":text": "S"},
        )
        counts = PurchaseOrderCounts(
            pending_approval=self._count(company_id, VendorInvoiceStatus.PENDING_APPROVAL),
            approved=self._count(company_id, VendorInvoiceStatus.APPROVED),
            queued=max(sent - held, 0),
            held=held,
            error=self._count(company_id, VendorInvoiceStatus.ERROR),
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
