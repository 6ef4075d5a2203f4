"""The Web Connector's view of our data: who may connect, which POs wait, and where outcomes go."""

from __future__ import annotations

from dataclasses import dataclass

from ledgersync.domain.accounts import Accounts
from ledgersync.domain.desktop_sync import DesktopWork
from ledgersync.domain.purchase_order_service import AccountingState, PurchaseOrderStore, References
from ledgersync.domain.purchase_orders import ExternalSystem, VendorInvoiceStatus
from ledgersync.domain.sync_outcomes import SyncOutcomes
from ledgersync.errors import Forbidden, Unauthorized


@dataclass
class TokenCredentials:
    """The .qwc's UserName is the company id; the password is any live API token of that company (seed 000)."""

    accounts: Accounts

    def company_for(self, user_name: str, password: str) -> str | None:
        try:
            principal = self.accounts.authenticate(password)
        except (Unauthorized, Forbidden):
            return None
        return principal.company_id if principal.company_id == user_name.strip() else None


@dataclass
class DesktopOutbox:
    """POs "Sent to External System" by a company whose accounting is QuickBooks Desktop."""

    store: PurchaseOrderStore
    references: References
    accounting: AccountingState

    def pending_bills(self, company_id: str, limit: int) -> list[DesktopWork]:
        settings = self.accounting.get_settings(company_id)
        if settings.external_system is not ExternalSystem.QUICKBOOKS_DESKTOP:
            return []
        work = []
        for order in self.store.list_by_status(company_id, VendorInvoiceStatus.SENT_TO_EXTERNAL)[:limit]:
            vendor = self.references.vendor(company_id, order.vendor_id)
            location = self.references.location(company_id, order.location_id) if order.location_id else None
            work.append(
                DesktopWork(
                    order=order,
                    vendor=vendor,
                    location=location,
                    mapping=settings,
                    company_currency=settings.company_currency or "USD",
                )
            )
        return work


@dataclass
class DesktopOutcomes:
    outcomes: SyncOutcomes

    def invoice_synchronized(self, company_id: str, purchase_order_id: int, invoice_number: str, txn_id: str) -> None:
        self.outcomes.bill_recorded(company_id, purchase_order_id, invoice_number, txn_id)

    def purchase_order_failed(self, company_id: str, purchase_order_id: int, message: str) -> None:
        self.outcomes.failed(company_id, purchase_order_id, message)
