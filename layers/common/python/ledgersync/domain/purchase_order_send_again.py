"""Goflow's "Send Again" for bills (issue 12): a PO's bills sent again, never duplicated.

Each vendor invoice's bill is looked for in accounting by its bill number (``<poNumber>-<invoiceNumber>``, cut to
the target's limit by ``document_reference``):

- found and the same (vendor, lines, total): adopted, its id recorded, nothing created;
- found and different: refused (409) with what differs and the fix, unless ``replace``: then the state goes to
  ``deleting`` with the changed bills' ids and ``after_delete: queued`` (the adopted ones kept for the follow-up),
  and the target's consumer deletes them and then creates the new ones, in that order, as the sales invoice's send
  again with replace does (``SyncRecorder.deleted``). The new bills carry the next ``generation`` in their dedup key,
  so a retry or a redelivery never makes a second one;
- not found: sent (queued, as Send to External System queues it).

The plan is written in one transaction with the PO (each conditional on the version read), so of two send-agains at
once one wins and the other is told to reload. Only a target that can answer at once is looked at here (QuickBooks
Online); the Web Connector pulls its work, so for QuickBooks Desktop send again queues the bills and its session's
query-before-add by RefNumber (BillQuery with the lines) makes the same comparison: it adopts a bill found the same,
refuses a changed one with what differs, or with ``replace`` (the state ``deleting``) deletes it (TxnDel), then adds
ours; a foreign one (a cut number whose memo is not ours) is refused. The webhook keeps no
bill numbers: its send again is ``POST /v1/purchase-orders/{id}/resend`` (a new delivery).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from ledgersync.domain.accounts import Principal
from ledgersync.domain.purchase_order_bills import AccountingBill, BillDraft, PurchaseOrderBills, bill_differences
from ledgersync.domain.purchase_order_service import (
    SENDERS,
    AccountingState,
    PurchaseOrderStore,
    _reconciliation_problem,
)
from ledgersync.domain.purchase_order_sync import parts_of, po_ref, shown_status
from ledgersync.domain.purchase_orders import CamelModel, ExternalSystem, PurchaseOrder, VendorInvoiceStatus
from ledgersync.domain.sales_invoice_sync import SendAgainRequest
from ledgersync.domain.settings import ConnectionStatus
from ledgersync.domain.sync.mappers import Unmappable
from ledgersync.domain.sync.outcomes import StateWriter
from ledgersync.domain.sync.state import IN_PROGRESS, SyncState, SyncStatus
from ledgersync.domain.sync.store import SyncStateStore
from ledgersync.domain.sync.targets import TargetRegistry
from ledgersync.errors import Conflict, NotFound

__all__ = ["BillAction", "BillsByNumber", "BillsSentAgain", "PurchaseOrderSendAgain", "SendAgainRequest"]


class BillsByNumber(Protocol):
    """A target that can say at once which bills it holds under a number (QuickBooks Online)."""

    def bills_numbered(self, company_id: str, draft: BillDraft) -> list[AccountingBill]: ...


class BillAction(StrEnum):
    ADOPTED = "adopted"  # found in accounting unchanged: its id recorded, nothing created
    SENT = "sent"  # not in accounting: created by the target's consumer
    REPLACED = "replaced"  # changed in accounting: deleted there first, then created anew
    CHECKED_WHEN_SENT = "checked_when_sent"  # the Web Connector looks it up by RefNumber at its next session


class BillSentAgain(CamelModel):
    invoice_number: str
    bill_number: str
    action: BillAction
    external_id: str | None = None


class BillsSentAgain(CamelModel):
    """``POST /v1/purchase-orders/{id}/send-again`` (202): what happens to each vendor invoice's bill."""

    purchase_order_id: int
    vendor_invoice_status: VendorInvoiceStatus
    bills: list[BillSentAgain]
    message: str


@dataclass
class PurchaseOrderSendAgain:
    store: PurchaseOrderStore
    mapper: PurchaseOrderBills
    states: SyncStateStore
    writer: StateWriter
    targets: TargetRegistry
    accounting: AccountingState
    finders: Mapping[ExternalSystem, BillsByNumber]

    def send_again(self, principal: Principal, po_id: int, request: SendAgainRequest) -> BillsSentAgain:
        principal.require_role(SENDERS, "send bills again")
        company_id = principal.company_id
        order = self.store.get(company_id, po_id)
        if order is None:
            raise NotFound(f"no purchase order {po_id} in this company")
        settings, connection = self.accounting.get_accounting(company_id)
        system = settings.external_system
        if system is None:
            raise Conflict(
                "no external accounting system is chosen; choose QuickBooks Online or QuickBooks Desktop in "
                "PUT /v1/accounting/settings"
            )
        target = self.targets.get(system)
        length = target.bill_number_length
        if length is None:
            raise Conflict(
                f"{target.display_name} keeps no bills to compare: to send PO {order.po_number} to it again use "
                "POST /v1/purchase-orders/{id}/resend (a new delivery)"
            )
        problem = target.readiness(company_id, connection)
        if problem is None and connection.status is ConnectionStatus.REAUTHORIZATION_REQUIRED:
            problem = f"{target.display_name} must be reconnected; reconnect it, then send again"
        if problem is not None:
            raise Conflict(problem)
        state = self.states.get(company_id, po_ref(order), system)
        self._require_sendable(order, state)
        assert state is not None
        drafts = self._drafts(company_id, order, state)
        finder = self.finders.get(system)
        if finder is None:
            # The Web Connector pulls its work: its next session compares each bill found under our RefNumber (lines,
            # total, vendor). With replace the state is deleting: that session deletes the changed ones (TxnDel), and
            # the same write that records the delete queues ours (``SyncRecorder.deleted``), added next.
            planned = self._replacing(order, state) if request.replace else self._queued(order, state, {})
            return self._write(
                order, state, planned, drafts, length, {}, {}, target.display_name, pulled=True, replace=request.replace
            )
        adopted: dict[str, str] = {}
        changed: dict[str, str] = {}
        differences: list[str] = []
        for draft in drafts:
            number = draft.reference(length)
            found = [bill for bill in finder.bills_numbered(company_id, draft) if bill.doc_number == number]
            same = next((bill for bill in found if not bill_differences(draft, bill)), None)
            if same is not None:
                adopted[draft.invoice_number] = same.external_id
            elif found:
                changed[draft.invoice_number] = found[0].external_id
                differences.append(f"bill {number}: {'; '.join(bill_differences(draft, found[0]))}")
        where = target.display_name
        if changed and not request.replace:
            raise Conflict(
                f"the bill in {where} differs from ours ({' / '.join(differences)}); delete it in {where}, or send "
                'again with {"replace": true}'
            )
        now = datetime.now(UTC)
        if changed:
            planned = state.moved(
                SyncStatus.DELETING,
                external_ids=changed,
                parts=parts_of(order),
                after_delete=SyncStatus.QUEUED,
                after_delete_version=order.version + 1,
                after_delete_ids=adopted,
                reason=None,
                notice_pending=False,
                automatic=False,
                sending_since=None,
                dispatched_at=now,
            )
        elif len(adopted) == len(drafts):
            planned = state.moved(
                SyncStatus.SYNCHRONIZED,
                external_ids=adopted,
                parts=parts_of(order),
                document_version=order.version + 1,
                reason=None,
                notice_pending=False,
                synchronized_at=now,
            )
        else:
            planned = self._queued(order, state, adopted)
        return self._write(order, state, planned, drafts, length, adopted, changed, where)

    def _require_sendable(self, order: PurchaseOrder, state: SyncState | None) -> None:
        if not order.is_fully_approved() or order.vendor_invoice_status is not VendorInvoiceStatus.APPROVED:
            raise Conflict(
                f"PO {order.po_number} is not approved; it needs the approval of both Procurement and Accounting "
                "(POST /v1/purchase-orders/{id}/approvals), then Send to External System"
            )
        if state is None:
            raise Conflict(
                f"PO {order.po_number} was never sent; send it with POST /v1/purchase-orders/send-to-external"
            )
        if state.status in IN_PROGRESS or state.status is SyncStatus.DELETING:
            raise Conflict(
                f"PO {order.po_number}'s bills are on their way to accounting right now ({state.status.value}); "
                "send again once they are synchronized or in Error"
            )
        problem = _reconciliation_problem(order)
        if problem is not None:
            raise Conflict(problem)

    def _drafts(self, company_id: str, order: PurchaseOrder, state: SyncState) -> list[BillDraft]:
        document = self.mapper.load(company_id, po_ref(order))
        if document is None:
            raise NotFound(f"no purchase order {order.id} in this company")
        try:
            return self.mapper.drafts(document, state)
        except Unmappable as unfit:
            raise Conflict(unfit.message) from unfit

    def _replacing(self, order: PurchaseOrder, state: SyncState) -> SyncState:
        """Deleting for a target that looks when it sends (the Web Connector): the bills it finds changed are
        deleted there first, then ours follow (queued by the delete's record, with a new generation)."""
        return state.moved(
            SyncStatus.DELETING,
            external_ids={},
            parts=parts_of(order),
            after_delete=SyncStatus.QUEUED,
            after_delete_version=order.version + 1,
            after_delete_ids={},
            reason=None,
            notice_pending=False,
            automatic=False,
            sending_since=None,
            dispatched_at=datetime.now(UTC),
        )

    def _queued(self, order: PurchaseOrder, state: SyncState, adopted: dict[str, str]) -> SyncState:
        """Queued for its target with a new generation: a bill made by an earlier send that is gone from accounting
        is made anew (a new dedup key), not answered by the earlier send's record."""
        changes: dict[str, Any] = {
            "document_version": order.version + 1,
            "parts": parts_of(order),
            "external_ids": adopted,
            "reason": None,
            "notice_pending": False,
            "generation": state.generation + 1,
            "dispatched_at": datetime.now(UTC),
        }
        return state.moved(SyncStatus.QUEUED, **changes)

    def _write(
        self,
        order: PurchaseOrder,
        state: SyncState,
        planned: SyncState,
        drafts: list[BillDraft],
        length: int,
        adopted: dict[str, str],
        changed: dict[str, str],
        where: str,
        pulled: bool = False,
        replace: bool = False,
    ) -> BillsSentAgain:
        sent = order.model_copy(update={"sent_version": order.version + 1})
        unchanged = state.status is SyncStatus.SYNCHRONIZED and planned.status is SyncStatus.SYNCHRONIZED
        if unchanged and planned.external_ids == state.external_ids:
            return self._answer(order, state, drafts, length, adopted, changed, where, pulled, replace)
        try:
            _, written = self.store.save_with_state(sent, order.version, planned, state.version)
        except Conflict as lost:
            raise Conflict(
                f"PO {order.po_number} was changed or sent by someone else at the same moment; reload it and send "
                "again if it still needs it"
            ) from lost
        if written.status in {SyncStatus.QUEUED, SyncStatus.DELETING}:
            self.writer.hand_over(written)
        return self._answer(sent, written, drafts, length, adopted, changed, where, pulled, replace)

    def _answer(
        self,
        order: PurchaseOrder,
        written: SyncState,
        drafts: list[BillDraft],
        length: int,
        adopted: dict[str, str],
        changed: dict[str, str],
        where: str,
        pulled: bool,
        replace: bool = False,
    ) -> BillsSentAgain:
        bills = []
        for draft in drafts:
            part = draft.invoice_number
            if part in adopted:
                action, external_id = BillAction.ADOPTED, adopted[part]
            elif part in changed:
                action, external_id = BillAction.REPLACED, None
            elif pulled:
                action, external_id = BillAction.CHECKED_WHEN_SENT, None
            else:
                action, external_id = BillAction.SENT, None
            bills.append(
                BillSentAgain(
                    invoice_number=part, bill_number=draft.reference(length), action=action, external_id=external_id
                )
            )
        return BillsSentAgain(
            purchase_order_id=order.id,
            vendor_invoice_status=shown_status(order, written),
            bills=bills,
            message=_message(bills, where, replace),
        )


def _message(bills: list[BillSentAgain], where: str, replace: bool = False) -> str:
    said = []
    for action, words in (
        (BillAction.ADOPTED, f"already in {where} unchanged: adopted, nothing created"),
        (BillAction.REPLACED, f"changed in {where}: deleted there first, then sent anew"),
        (BillAction.SENT, f"not in {where}: sent"),
        (
            BillAction.CHECKED_WHEN_SENT,
            "queued for the next Web Connector session, which deletes a bill found changed under that RefNumber "
            "(TxnDel) and then adds ours, adopts one found the same, and sends the rest"
            if replace
            else "queued for the next Web Connector session, which adopts a bill found the same under that RefNumber "
            "and sends the rest (one found changed is refused with what differs)",
        ),
    ):
        numbers = [bill.bill_number for bill in bills if bill.action is action]
        if numbers:
            said.append(f"{', '.join(numbers)} {words}")
    return "; ".join(said)
