"""The targets' document operations: the webhook and QuickBooks Desktop refuse a look-up or a delete saying why, and
bootstrap's QuickBooks Online target looks up and deletes through the bills over its gateway."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from ledgersync import bootstrap
from ledgersync.adapters.sync_targets import QuickBooksDesktopTarget, WebhookTarget
from ledgersync.bootstrap import Adapters
from ledgersync.config import Settings
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.quickbooks_online import BillRecord, QuickBooksAccess
from ledgersync.domain.sync.targets import ExternalDocument, TargetDocuments, Unsupported
from tests.unit.test_sync_core import Configured, RecordingQueue


@pytest.mark.parametrize("operation", ["look_up", "delete"])
def test_the_webhook_refuses_a_look_up_or_a_delete_because_its_contract_has_none(operation: str) -> None:
    webhook = WebhookTarget(RecordingQueue("webhook-url", []), 30, 24.0, Configured())

    with pytest.raises(Unsupported, match=r"contract \(seed 001\) has a delivery and its acknowledgement only"):
        getattr(webhook, operation)("c1", "delivery-1", *(["0"] if operation == "delete" else []))


@pytest.mark.parametrize("operation", ["look_up", "delete"])
def test_quickbooks_desktop_refuses_them_now_saying_they_belong_in_a_web_connector_session(operation: str) -> None:
    desktop = QuickBooksDesktopTarget()

    with pytest.raises(Unsupported, match="TxnDel for the company's next session"):
        getattr(desktop, operation)("c1", "TXN-1", *(["0"] if operation == "delete" else []))


@dataclass
class Gateway:
    """The bill side of QuickBooks Online, holding one bill at SyncToken 3."""

    bills: dict[str, str] = field(default_factory=lambda: {"145": "3"})
    asked: list[str] = field(default_factory=list)

    def read_bill(self, access: QuickBooksAccess, bill_id: str) -> BillRecord | None:
        self.asked.append(f"read {bill_id} as {access.realm_id}")
        token = self.bills.get(bill_id)
        return BillRecord(id=bill_id, sync_token=token) if token is not None else None

    def delete_bill(self, access: QuickBooksAccess, bill_id: str, sync_token: str) -> None:
        self.asked.append(f"delete {bill_id} at {sync_token} as {access.realm_id}")
        self.bills.pop(bill_id, None)


@dataclass
class Tokens:
    def access_for(self, company_id: str) -> QuickBooksAccess:
        return QuickBooksAccess("9130", f"token of {company_id}")


def test_bootstrap_gives_each_target_its_document_operations_and_refuses_a_system_it_has_not() -> None:
    services = bootstrap.build(Settings())
    documents = services.target_documents

    assert documents.get(ExternalSystem.WEBHOOK) is services.sync_targets.get(ExternalSystem.WEBHOOK)
    assert documents.get(ExternalSystem.QUICKBOOKS_DESKTOP) is services.sync_targets.get(
        ExternalSystem.QUICKBOOKS_DESKTOP
    )
    with pytest.raises(Unsupported, match="cannot look up or delete documents in this deployment"):
        TargetDocuments({}).get(ExternalSystem.QUICKBOOKS_ONLINE)


def test_bootstraps_quickbooks_online_target_looks_up_and_deletes_through_its_gateway() -> None:
    gateway = Gateway()
    adapters = Adapters(quickbooks_gateway=gateway)  # type: ignore[arg-type]
    services = bootstrap.build(Settings(), adapters, use_cases={"quickbooks_tokens": Tokens()})
    online = services.target_documents.get(ExternalSystem.QUICKBOOKS_ONLINE)

    assert online.look_up("c1", "145") == ExternalDocument(external_id="145", sync_token="3")
    online.delete("c1", "145", "3")
    assert online.look_up("c1", "145") is None

    assert gateway.asked == ["read 145 as 9130", "delete 145 at 3 as 9130", "read 145 as 9130"]
