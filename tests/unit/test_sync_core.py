"""The sync core: one message contract (reading the bodies in flight at deploy time), the transition table, the
target registry as the only place that names an external system, and the PO's send as one transaction."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledgersync.adapters.sync_targets import QuickBooksDesktopTarget, QuickBooksOnlineTarget, WebhookTarget
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.settings import Connection, ConnectionStatus
from ledgersync.domain.sync.documents import DocumentKind, DocumentRef
from ledgersync.domain.sync.messages import SyncMessage, UnreadableMessage
from ledgersync.domain.sync.state import TRANSITIONS, InvalidTransition, SyncState, SyncStatus
from ledgersync.domain.sync.targets import TargetRegistry, Unsupported
from ledgersync.errors import Conflict

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers/common/python/ledgersync"
SYSTEM_BRANCH = re.compile(r"ExternalSystem\.(QUICKBOOKS|WEBHOOK)")
# The registry (bootstrap), the target adapters themselves, and QuickBooks Online's own connection use case, whose
# records are QuickBooks Online connections (model values, not a branch)
MAY_NAME_A_SYSTEM = {
    "layers/common/python/ledgersync/bootstrap.py",
    "layers/common/python/ledgersync/adapters/sync_targets.py",
    "layers/common/python/ledgersync/domain/qbo_connection.py",
}
PO_7 = DocumentRef.purchase_order(7)
DELIVERY = "7d0c6f0e-1111-4c1e-9a55-000000000001"


def test_no_module_but_the_registry_and_the_targets_names_an_external_system() -> None:
    sources = [*PACKAGE.rglob("*.py"), *(ROOT / "functions").rglob("*.py")]
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sources
        if str(path.relative_to(ROOT)) not in MAY_NAME_A_SYSTEM
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SYSTEM_BRANCH.search(line)
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("body", "target", "expected"),
    [
        (  # the sync queue's body before this contract
            {"companyId": "c1", "purchaseOrderId": 7, "target": "quickbooks_online"},
            None,
            SyncMessage(company_id="c1", document=PO_7, target=ExternalSystem.QUICKBOOKS_ONLINE),
        ),
        (  # an older one still, without its target: the queue's own
            {"companyId": "c1", "purchaseOrderId": "7"},
            ExternalSystem.QUICKBOOKS_ONLINE,
            SyncMessage(company_id="c1", document=PO_7, target=ExternalSystem.QUICKBOOKS_ONLINE),
        ),
        (  # the webhook queue's DeliveryMessage
            {"companyId": "c1", "purchaseOrderId": 7, "deliveryId": DELIVERY, "firstAttemptAt": "2026-12-01T10:00:00"},
            ExternalSystem.WEBHOOK,
            SyncMessage(
                company_id="c1",
                document=PO_7,
                target=ExternalSystem.WEBHOOK,
                delivery_id=DELIVERY,
                first_attempt_at=datetime(2026, 12, 1, 10, tzinfo=UTC),
            ),
        ),
    ],
)
def test_a_message_in_flight_at_deploy_time_is_read_when_parsed(
    body: dict[str, object], target: ExternalSystem | None, expected: SyncMessage
) -> None:
    assert SyncMessage.parse(json.dumps(body), target) == expected


def test_a_message_round_trips_in_camel_case_when_written_and_parsed() -> None:
    message = SyncMessage(
        company_id="c1",
        document=DocumentRef(kind=DocumentKind.SALES_INVOICE, id="INV-9"),
        target=ExternalSystem.WEBHOOK,
    )
    written = json.loads(message.to_json())
    assert written == {
        "companyId": "c1",
        "document": {"kind": "sales_invoice", "id": "INV-9"},
        "target": "webhook",
        "deliveryId": None,
        "firstAttemptAt": None,
    }
    assert SyncMessage.parse(message.to_json()) == message


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("{not json", "not JSON"),
        ("[1]", "not a JSON object"),
        (json.dumps({"companyId": "c1", "purchaseOrderId": True}), "purchaseOrderId"),
        (json.dumps({"companyId": "c1", "purchaseOrderId": 7}), "target"),
        (json.dumps({"companyId": "c1", "document": {"kind": "invoice", "id": "1"}, "target": "webhook"}), "kind"),
    ],
)
def test_a_message_that_names_no_document_is_refused_saying_why_when_parsed(body: str, says: str) -> None:
    with pytest.raises(UnreadableMessage) as refused:
        SyncMessage.parse(body)
    assert says in refused.value.message


def test_a_state_is_born_queued_or_scheduled_only() -> None:
    with pytest.raises(InvalidTransition) as refused:
        SyncState.new("c1", PO_7, ExternalSystem.WEBHOOK, status=SyncStatus.SYNCHRONIZED)
    assert refused.value.message == "purchase_order_bills 7 for webhook cannot go from no state to synchronized"


@pytest.mark.parametrize(
    ("source", "to"),
    [(s, t) for s in SyncStatus for t in SyncStatus if t not in TRANSITIONS[s]],
)
def test_every_move_the_table_does_not_list_raises_a_conflict_naming_both_ends(
    source: SyncStatus, to: SyncStatus
) -> None:
    state = SyncState(company_id="c1", document=PO_7, target=ExternalSystem.QUICKBOOKS_ONLINE, status=source)
    with pytest.raises(InvalidTransition) as refused:
        state.moved(to)
    assert isinstance(refused.value, Conflict)
    assert f"from {source.value} to {to.value}" in refused.value.message


def test_a_part_is_recorded_only_while_the_document_is_being_sent() -> None:
    queued = SyncState.new("c1", PO_7, ExternalSystem.QUICKBOOKS_ONLINE, parts=["A", "B"])
    one = queued.with_part_recorded("A", "101")
    assert one.status is SyncStatus.QUEUED and not one.all_parts_recorded()
    assert one.with_part_recorded("B", "102").all_parts_recorded()
    synchronized = one.moved(SyncStatus.SYNCHRONIZED)
    with pytest.raises(InvalidTransition):
        synchronized.with_part_recorded("B", "102")


@dataclass
class RecordingQueue:
    name: str = "sync"
    sent: list[tuple[str, str]] = field(default_factory=list)

    def enqueue(self, message: SyncMessage) -> None:
        self.sent.append((self.name, message.to_json()))


@dataclass
class Configured:
    companies: set[str] = field(default_factory=set)

    def is_configured(self, company_id: str) -> bool:
        return company_id in self.companies


def registry(sent: list[tuple[str, str]], configured: Configured) -> TargetRegistry:
    return TargetRegistry(
        {
            ExternalSystem.QUICKBOOKS_ONLINE: QuickBooksOnlineTarget(RecordingQueue("sync-url", sent), 10, 720),
            ExternalSystem.QUICKBOOKS_DESKTOP: QuickBooksDesktopTarget(),
            ExternalSystem.WEBHOOK: WebhookTarget(RecordingQueue("webhook-url", sent), 30, 24.0, configured),
        }
    )


def test_each_target_says_why_it_refuses_a_send_and_where_its_work_goes() -> None:
    sent: list[tuple[str, str]] = []
    configured = Configured()
    targets = registry(sent, configured)
    online, desktop, webhook = (targets.get(system) for system in ExternalSystem)
    not_connected = Connection(status=ConnectionStatus.NOT_CONNECTED)
    # readiness: QuickBooks Online must be connected, the webhook set up; the Web Connector needs nothing
    assert "not connected" in (online.readiness("c1", not_connected) or "")
    assert online.readiness("c1", Connection(status=ConnectionStatus.CONNECTED)) is None
    assert "not set up" in (webhook.readiness("c1", not_connected) or "")
    configured.companies.add("c1")
    assert webhook.readiness("c1", not_connected) is None
    assert desktop.readiness("c1", not_connected) is None
    # dispatch: one message on its own queue; the Web Connector pulls its work
    for target in (online, desktop, webhook):
        target.dispatch(SyncMessage(company_id="c1", document=PO_7, target=target.system))
    assert [url for url, _ in sent] == ["sync-url", "webhook-url"]
    # the sweep's in-flight windows: every receive's visibility timeout, the retry window plus 12 h, none
    assert online.in_flight_window() == timedelta(seconds=10 * 720) + timedelta(minutes=15)
    assert webhook.in_flight_window() == timedelta(hours=36)
    assert desktop.in_flight_window() is None
    # a webhook send is a new delivery (a new Idempotency-Key); the vendor needs no accounting name there
    assert webhook.new_delivery_id() != webhook.new_delivery_id() and online.new_delivery_id() is None
    assert (online.needs_accounting_name, desktop.needs_accounting_name, webhook.needs_accounting_name) == (
        True,
        True,
        False,
    )


def test_a_target_the_deployment_has_not_is_refused_when_asked_for() -> None:
    targets = TargetRegistry({ExternalSystem.QUICKBOOKS_DESKTOP: QuickBooksDesktopTarget()})
    with pytest.raises(Unsupported):
        targets.get(ExternalSystem.WEBHOOK)
    assert targets.display_name(ExternalSystem.QUICKBOOKS_DESKTOP) == "QuickBooks Desktop"
    assert targets.display_name(None) == "the external system"


def test_a_send_and_an_edit_racing_it_lose_one_side_cleanly_when_written_in_one_transaction(aws: None) -> None:
    from ledgersync import bootstrap
    from ledgersync.domain.purchase_orders import PurchaseOrder, PurchaseOrderItem

    orders, states = bootstrap.services().purchase_order_store, bootstrap.services().sync_states
    item = PurchaseOrderItem(category_procurement_accounting_code="CGEN", total_cost="1.00")  # type: ignore[arg-type]
    order = orders.save(
        PurchaseOrder(company_id="c1", id=7, po_number="P7", vendor_id=1, ship_date="2026-12-01", items=[item]),  # type: ignore[arg-type]
        None,
    )
    edited = orders.save(order.model_copy(update={"po_number": "P7-b"}), order.version)
    queued = SyncState.new("c1", PO_7, ExternalSystem.QUICKBOOKS_ONLINE)
    # When a send that read the PO before the edit commits its state with the PO write
    with pytest.raises(Conflict):
        orders.save_with_state(order, order.version, queued, None)
    # Then neither was written: the edit stands and no state exists
    assert states.get("c1", PO_7, ExternalSystem.QUICKBOOKS_ONLINE) is None
    stored = orders.get("c1", 7)
    assert stored is not None and stored.po_number == "P7-b" and stored.version == edited.version
    # And a send whose state someone else wrote first writes no PO either
    states.put(queued, None)
    with pytest.raises(Conflict):
        orders.save_with_state(edited, edited.version, queued, None)
    again = orders.get("c1", 7)
    assert again is not None and again.version == edited.version and again.sent_version is None
