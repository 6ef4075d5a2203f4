"""Scheduled care of sent work: release what a disconnection held, re-dispatch what a lost message stranded."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ledgersync.domain.purchase_order_service import AccountingState, Dispatcher, PurchaseOrderStore
from ledgersync.domain.purchase_orders import ExternalSystem, VendorInvoiceStatus
from ledgersync.domain.settings import ConnectionStatus
from ledgersync.domain.sync_outcomes import SyncOutcomes

STRANDED_AFTER = timedelta(minutes=30)


@dataclass
class SweepSummary:
    released: int = 0
    redispatched: int = 0
    companies: list[str] = field(default_factory=list)


@dataclass
class HeldWork:
    store: PurchaseOrderStore
    accounting: AccountingState
    outcomes: SyncOutcomes
    dispatcher: Dispatcher

    def sweep(self, company_ids: Iterable[str], now: datetime | None = None) -> SweepSummary:
        """For each company whose accounting is reachable: release held POs and re-send stranded ones.

        A PO "Sent to External System" for longer than 30 minutes without an outcome lost its message (a crash
        between the state write and the enqueue, or a message redriven to the DLQ and purged); sending it again
        is harmless because every outside call is guarded by a dedup key.
        """
        now = now or datetime.now(UTC)
        summary = SweepSummary()
        for company_id in company_ids:
            settings, connection = self.accounting.get_accounting(company_id)
            system = settings.external_system
            if system in (None, ExternalSystem.QUICKBOOKS_DESKTOP):
                continue  # the Web Connector pulls its own work
            if connection.status is ConnectionStatus.REAUTHORIZATION_REQUIRED:
                continue
            summary.companies.append(company_id)
            summary.released += self.outcomes.release_held(company_id)
            for order in self.store.list_by_status(company_id, VendorInvoiceStatus.SENT_TO_EXTERNAL):
                if order.held_reason is None and order.sent_at and now - order.sent_at > STRANDED_AFTER:
                    assert system is not None
                    self.dispatcher.dispatch(company_id, order.id, system, order.webhook_delivery_id)
                    summary.redispatched += 1
        return summary
