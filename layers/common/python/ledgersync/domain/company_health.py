"""What an operator sees of one company (``GET /v1/companies/{id}/health``): its accounting connection, the
purchase orders waiting, held or failed, and the last QuickBooks Web Connector session."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from ledgersync.domain.settings import Connection


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class PurchaseOrderCounts(_Camel):
    """POs in each working status. Synchronized ("S") POs are not counted: they only grow, and counting them
    would read every PO the company ever synchronized."""

    pending_approval: int
    approved: int
    queued: int  # "Sent to External System" and on its way
    held: int  # "Sent to External System" but held (heldReason): a disconnected accounting system
    error: int


class WebConnectorSessionSummary(_Camel):
    """The company's last Web Connector session, kept after the session itself expires."""

    user_name: str
    status: str
    started_at: datetime
    updated_at: datetime
    progress: int
    bills: int  # bills the session carried
    invoices: int = 0  # sales invoices it carried (to add or to delete)
    last_error: str | None = None


class CompanyHealth(_Camel):
    company_id: str
    name: str
    connection: Connection
    purchase_orders: PurchaseOrderCounts
    last_web_connector_session: WebConnectorSessionSummary | None = None


class CompanyHealthReader(Protocol):
    def read(self, company_id: str) -> CompanyHealth:
        """The company's health; NotFound when there is no such company."""
