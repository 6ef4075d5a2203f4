"""Vendor invoices of purchase orders: storing, approving and "Send to External System" (seed 000)."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Protocol

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, WithJsonSchema

from ledgersync.domain.accounts import Principal, Role
from ledgersync.domain.invoices import Amount
from ledgersync.domain.purchase_order_sync import parts_of, po_ref, shown_status, sync_view
from ledgersync.domain.purchase_orders import (
    MAX_PDF_BYTES,
    PDF_LINK_SECONDS,
    AdditionalCharge,
    Approval,
    ApprovalGroup,
    CamelModel,
    LocationRef,
    Money,
    PurchaseOrder,
    PurchaseOrderItem,
    VendorInvoice,
    VendorInvoiceStatus,
    VendorRef,
)
from ledgersync.domain.settings import AccountingSettings, Connection
from ledgersync.domain.sync.outcomes import SyncRecorder
from ledgersync.domain.sync.state import SyncState, SyncStatus
from ledgersync.domain.sync.state import latest as latest_state
from ledgersync.domain.sync.store import SyncStateStore
from ledgersync.domain.sync.targets import TargetRegistry
from ledgersync.errors import Conflict, FieldError, NotFound, PermanentError, RetryableError, ValidationFailed
from ledgersync.money import to_cents
from ledgersync.observability import logger
from ledgersync.validation import IsoDateText

SENDERS = {Role.ADMIN, Role.ACCOUNTS_PAYABLE, Role.PROCUREMENT, Role.PROCUREMENT_MANAGER}
APPROVERS = {
    ApprovalGroup.PROCUREMENT: {Role.PROCUREMENT, Role.PROCUREMENT_MANAGER},
    ApprovalGroup.ACCOUNTING: {Role.ACCOUNTING, Role.ACCOUNTS_PAYABLE},
}
SENDABLE = {VendorInvoiceStatus.APPROVED, VendorInvoiceStatus.ERROR}
LOCKED = {VendorInvoiceStatus.SENT_TO_EXTERNAL, VendorInvoiceStatus.SYNCHRONIZED}
# What a path segment of a route carries (Powertools' rule): an invoice number names its invoice in the URL.
URL_SAFE = "-._~()'!*:@,;=+&$%<>[]{}|^"
_URL_SEGMENT = re.compile(rf"[\w {re.escape(URL_SAFE)}]+")


def _url_segment(value: str) -> str:
    if not _URL_SEGMENT.fullmatch(value):
        raise ValueError(f"may hold letters, digits, spaces and {URL_SAFE} only (not / ? # \\ or quotes)")
    return value


InvoiceNumber = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50), AfterValidator(_url_segment)
]


class PurchaseOrderIn(CamelModel):
    """``PUT /v1/purchase-orders/{id}``."""

    po_number: str = Field(min_length=1, max_length=20)
    vendor_id: int = Field(ge=1)
    location_id: int | None = Field(default=None, ge=1)
    ship_date: IsoDateText
    arrival_date: IsoDateText | None = None
    items: list[PurchaseOrderItem] = Field(min_length=1, max_length=500)
    additional_charges: list[AdditionalCharge] = Field(default_factory=list, max_length=50)


class VendorInvoiceIn(CamelModel):
    """``POST /v1/purchase-orders/{id}/vendor-invoices`` and ``PUT .../vendor-invoices/{invoiceNumber}``; the PDF
    comes base64-encoded. The number is required (seed 000: the bill's reference is the PO number and it) and is
    the invoice's name in its URL, so it holds only what a URL path segment carries."""

    invoice_number: InvoiceNumber
    invoice_amount: Money
    total_additional_charges: Money = Decimal("0.00")
    pdf_base64: str | None = None


class SendRequest(CamelModel):
    purchase_order_ids: list[int] = Field(min_length=1, max_length=100)


class SendResult(CamelModel):
    """One PO's answer to Send to External System: accepted, or refused with what to do (``message``)."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)  # the status is always there, or null

    purchase_order_id: int
    accepted: bool
    vendor_invoice_status: VendorInvoiceStatus | None = None
    message: str


class SendAnswer(CamelModel):
    """``POST /v1/purchase-orders/send-to-external``: one result per PO asked, in the order asked."""

    results: list[SendResult]

    @property
    def accepted(self) -> int:
        return sum(1 for result in self.results if result.accepted)


class PurchaseOrderItemView(CamelModel):
    category_procurement_accounting_code: str
    total_cost: Amount
    description: str | None


class AdditionalChargeView(CamelModel):
    code: str
    amount: Amount
    name: str | None


class VendorInvoiceView(CamelModel):
    """A vendor invoice as the API shows it: its PDF as a link valid six hours (``file``), null without one."""

    invoice_number: str | None
    invoice_amount: Amount
    total_additional_charges: Amount
    uploaded_at: datetime | None
    file: str | None


class PurchaseOrderView(CamelModel):
    """A PO as the API answers it: its fields, vendor invoices and approvals, its ``vendorInvoiceStatus`` and sync
    fields derived from its sync state, and the computed totals. The answer to a change also says whether it reset
    approvals (``approvalsReset``) and, when it did, which ones and why (``notice``); a read has neither."""

    id: int
    po_number: str
    vendor_id: int
    location_id: int | None
    ship_date: date
    arrival_date: date | None
    items: list[PurchaseOrderItemView]
    additional_charges: list[AdditionalChargeView]
    vendor_invoices: list[VendorInvoiceView]
    approvals: list[Approval]
    vendor_invoice_status: VendorInvoiceStatus
    external_ids: dict[str, str]
    error: str | None
    error_notice_pending: bool
    held_reason: str | None
    webhook_delivery_id: str | None
    webhook_notified_delivery_id: str | None
    sent_at: datetime | None
    synchronized_at: datetime | None
    sub_total: Amount
    total_charges: Amount
    total: Amount
    # Absent from a read's answer (``body``), so never null: the schema says what a present one is.
    approvals_reset: Annotated[bool | None, WithJsonSchema({"type": "boolean"})] = None
    notice: Annotated[str | None, WithJsonSchema({"type": "string"})] = None

    def body(self) -> dict[str, Any]:
        """The JSON answer: every field (nulls included) but ``approvalsReset`` and ``notice``, absent when unset."""
        return self.model_dump(mode="python", by_alias=True, exclude={"approvals_reset", "notice"} - self._present())

    def _present(self) -> set[str]:
        return {name for name in ("approvals_reset", "notice") if getattr(self, name) is not None}


class PurchaseOrderStore(Protocol):
    def get(self, company_id: str, po_id: int) -> PurchaseOrder | None: ...
    def save(self, order: PurchaseOrder, expected_version: int | None) -> PurchaseOrder: ...

    def save_with_state(
        self, order: PurchaseOrder, expected_version: int, state: SyncState, expected_state_version: int | None
    ) -> tuple[PurchaseOrder, SyncState]:
        """The PO and its sync state in one atomic write, each conditional on the version read; Conflict when
        either changed."""


class References(Protocol):
    """The directory records a PO refers to."""

    def vendor(self, company_id: str, vendor_id: int) -> VendorRef | None: ...
    def location(self, company_id: str, location_id: int) -> LocationRef | None: ...
    def exchange_rates(self, company_id: str) -> list[dict[str, Any]]:
        """Every exchange rate of the company's directory: ``{currency, effectiveFrom, rate}`` (company units per
        unit of the currency from that date)."""


class Documents(Protocol):
    def put_pdf(self, company_id: str, po_id: int, name: str, data: bytes) -> str: ...
    def delete_pdf(self, key: str) -> None: ...
    def presigned_pdf_url(self, key: str, expires_in: int = PDF_LINK_SECONDS) -> str: ...


class AccountingState(Protocol):
    def get_accounting(self, company_id: str) -> tuple[AccountingSettings, Connection]: ...
    def get_settings(self, company_id: str) -> AccountingSettings: ...


@dataclass
class PurchaseOrders:
    store: PurchaseOrderStore
    references: References
    documents: Documents
    accounting: AccountingState
    states: SyncStateStore
    targets: TargetRegistry
    recorder: SyncRecorder

    def put(self, principal: Principal, po_id: int, request: PurchaseOrderIn) -> PurchaseOrderView:
        """Store a PO. Changing it clears its approvals (they approved other numbers), and the answer says so; the
        same PO stored again changes nothing. Its vendor invoices and sync history are kept."""
        principal.require_role(SENDERS | {Role.ACCOUNTING}, "store purchase orders")
        if self.references.vendor(principal.company_id, request.vendor_id) is None:
            raise ValidationFailed(FieldError("vendorId", f"vendor {request.vendor_id} is not in the directory"))
        if request.location_id and self.references.location(principal.company_id, request.location_id) is None:
            raise ValidationFailed(FieldError("locationId", f"location {request.location_id} is not in the directory"))
        fields = request.model_dump()
        stored = PurchaseOrder(company_id=principal.company_id, id=po_id, **fields)
        current = self.store.get(principal.company_id, po_id)
        if current is None:
            return self.view(self.store.save(stored, None), reset=set())
        state = self._state(current)
        _require_changeable(current, state, "can no longer change")
        if current.model_dump(include=set(fields)) == stored.model_dump(include=set(fields)):
            return self.view(current, state, reset=set())
        order = current.model_copy(update={name: getattr(stored, name) for name in fields})
        reset = _reset_approvals(order)
        saved, state = self._save_changed(order, current.version, state)
        return self.view(saved, state, reset=reset, why="the PO changed")

    def add_vendor_invoice(self, principal: Principal, po_id: int, request: VendorInvoiceIn) -> PurchaseOrderView:
        order = self._get(principal.company_id, po_id)
        state = self._state(order)
        _require_changeable(order, state, "takes no more vendor invoices")
        if any(v.invoice_number == request.invoice_number for v in order.vendor_invoices):
            raise ValidationFailed(
                FieldError("invoiceNumber", f"invoice {request.invoice_number} is already on PO {order.po_number}")
            )
        data = _pdf(request.pdf_base64)
        key = self._store_pdf(order, request.invoice_number, data)
        order.vendor_invoices.append(_vendor_invoice(request, key))
        reset = _reset_approvals(order)
        saved, state = self._save_replacing(order, state, new_key=key, old_key=None)
        return self.view(saved, state, reset=reset, why="a vendor invoice was added")

    def replace_vendor_invoice(
        self, principal: Principal, po_id: int, invoice_number: str, request: VendorInvoiceIn
    ) -> PurchaseOrderView:
        """Correct a vendor invoice until its PO is sent: the whole invoice (number, amounts, PDF) is replaced, the
        old PDF deleted, the approvals reset."""
        order = self._get(principal.company_id, po_id)
        state = self._state(order)
        _require_changeable(order, state, "and its vendor invoices can no longer change")
        index = self._invoice_index(order, state, invoice_number)
        renamed = request.invoice_number != order.vendor_invoices[index].invoice_number
        if renamed and any(v.invoice_number == request.invoice_number for v in order.vendor_invoices):
            raise ValidationFailed(
                FieldError("invoiceNumber", f"invoice {request.invoice_number} is already on PO {order.po_number}")
            )
        data = _pdf(request.pdf_base64)
        old_key = order.vendor_invoices[index].pdf_key
        key = self._store_pdf(order, request.invoice_number, data)
        order.vendor_invoices[index] = _vendor_invoice(request, key)
        reset = _reset_approvals(order)
        saved, state = self._save_replacing(order, state, new_key=key, old_key=old_key)
        return self.view(saved, state, reset=reset, why=f"vendor invoice {invoice_number} was replaced")

    def remove_vendor_invoice(self, principal: Principal, po_id: int, invoice_number: str) -> PurchaseOrderView:
        """Remove a vendor invoice and its PDF until its PO is sent; the approvals are reset."""
        order = self._get(principal.company_id, po_id)
        state = self._state(order)
        _require_changeable(order, state, "and its vendor invoices can no longer change")
        removed = order.vendor_invoices.pop(self._invoice_index(order, state, invoice_number))
        reset = _reset_approvals(order)
        saved, state = self._save_replacing(order, state, new_key=None, old_key=removed.pdf_key)
        return self.view(saved, state, reset=reset, why=f"vendor invoice {invoice_number} was removed")

    def approve(self, principal: Principal, po_id: int) -> PurchaseOrderView:
        """One approval from Procurement and one from Accounting; each user approves once."""
        order = self._get(principal.company_id, po_id)
        if not order.vendor_invoices:
            raise Conflict(f"PO {order.po_number} has no vendor invoice to approve yet")
        state = self._state(order)
        status = shown_status(order, state)
        if status not in {VendorInvoiceStatus.PENDING_APPROVAL, VendorInvoiceStatus.APPROVED}:
            raise Conflict(f"PO {order.po_number} is '{status.value}'; nothing to approve")
        if any(a.user_id == principal.user_id for a in order.approvals):
            raise Conflict("you already approved this PO; the other approval must come from another user")
        groups = [g for g, roles in APPROVERS.items() if principal.roles & roles and g not in order.approved_groups()]
        if not groups:
            if not any(principal.roles & roles for roles in APPROVERS.values()):
                principal.require_role(
                    APPROVERS[ApprovalGroup.PROCUREMENT] | APPROVERS[ApprovalGroup.ACCOUNTING],
                    "approve vendor invoices",
                )
            raise Conflict("this PO already has the approval your role gives")
        role = next(r for r in sorted(principal.roles) if r in APPROVERS[groups[0]])
        order.approvals.append(
            Approval(user_id=principal.user_id, group=groups[0], role=role.value, approved_at=datetime.now(UTC))
        )
        if order.is_fully_approved():
            order.vendor_invoice_status = VendorInvoiceStatus.APPROVED
        return self.view(self.store.save(order, order.version), state)

    def send_to_external(self, principal: Principal, request: SendRequest) -> SendAnswer:
        """The Actions button: each PO is accepted (now "Sent to External System") or refused with the reason."""
        principal.require_role(SENDERS, "send to the external system")
        settings, connection = self.accounting.get_accounting(principal.company_id)
        system_problem = self._system_problem(principal.company_id, settings, connection)
        results = []
        for po_id in dict.fromkeys(request.purchase_order_ids):
            order = self.store.get(principal.company_id, po_id)
            if order is None:
                results.append(SendResult(purchase_order_id=po_id, accepted=False, message=f"no PO {po_id}"))
                continue
            state = self._state(order, settings)
            problem = system_problem or self._refusal(order, state, settings)
            if problem:
                results.append(
                    SendResult(
                        purchase_order_id=po_id,
                        accepted=False,
                        message=problem,
                        vendor_invoice_status=shown_status(order, state),
                    )
                )
                continue
            results.append(self._send(order, state, settings))
        return SendAnswer(results=results)

    def view(
        self,
        order: PurchaseOrder,
        state: SyncState | None = None,
        reset: set[ApprovalGroup] | None = None,
        why: str = "",
    ) -> PurchaseOrderView:
        """The PO as the API shows it (``PurchaseOrderView``), each PDF as a link valid six hours, its status and
        sync fields derived from its sync state; ``reset`` (a change's answer) the approvals it reset, ``why`` why."""
        fields = order.model_dump(mode="python", exclude={"company_id", "version", "sent_version", "vendor_invoices"})
        invoices = [
            VendorInvoiceView(
                invoice_number=invoice.invoice_number,
                invoice_amount=invoice.invoice_amount,
                total_additional_charges=invoice.total_additional_charges,
                uploaded_at=invoice.uploaded_at,
                file=self.documents.presigned_pdf_url(invoice.pdf_key) if invoice.pdf_key else None,
            )
            for invoice in order.vendor_invoices
        ]
        notice = None
        if reset:
            names = " and ".join(sorted(g.value.capitalize() for g in reset))
            notice = (
                f"the {names} approval{'s were' if len(reset) > 1 else ' was'} reset because {why}; the PO "
                "needs the approval of both Procurement and Accounting again"
            )
        return PurchaseOrderView.model_validate(
            {
                **fields,
                **sync_view(state),
                "vendor_invoices": invoices,
                "vendor_invoice_status": shown_status(order, state),
                "approvals_reset": None if reset is None else bool(reset),
                "notice": notice,
            }
        )

    def get(self, principal: Principal, po_id: int) -> PurchaseOrderView:
        order = self._get(principal.company_id, po_id)
        return self.view(order, self._state(order))

    def _state(self, order: PurchaseOrder, settings: AccountingSettings | None = None) -> SyncState | None:
        """The PO's sync state as the PO shows it: the one written last, whatever its target."""
        system = (settings or self.accounting.get_settings(order.company_id)).external_system
        return latest_state(self.states.list_for_document(order.company_id, po_ref(order), system))

    def _invoice_index(self, order: PurchaseOrder, state: SyncState | None, invoice_number: str) -> int:
        """Where vendor invoice ``invoice_number`` is on the PO; NotFound when it is not there, Conflict when it is
        already a document in the external system (a PO in Error may have some)."""
        for index, invoice in enumerate(order.vendor_invoices):
            if invoice.invoice_number == invoice_number:
                document = state.external_ids.get(invoice_number) if state else None
                if document:
                    raise Conflict(
                        f"vendor invoice {invoice_number} is already document {document} in the external system; "
                        "correct it there"
                    )
                return index
        raise NotFound(f"PO {order.po_number} has no vendor invoice {invoice_number}")

    def _store_pdf(self, order: PurchaseOrder, invoice_number: str, data: bytes | None) -> str | None:
        """Each upload gets a key of its own, so a replaced or removed PDF can be deleted without touching another
        invoice's (two numbers may make the same file name)."""
        if data is None:
            return None
        name = f"{invoice_number}-{uuid.uuid4().hex[:12]}"
        return self.documents.put_pdf(order.company_id, order.id, name, data)

    def _save_replacing(
        self, order: PurchaseOrder, state: SyncState | None, new_key: str | None, old_key: str | None
    ) -> tuple[PurchaseOrder, SyncState | None]:
        """Save the PO, then delete the PDF it no longer refers to. When the save is refused the new upload is
        deleted instead, so no stored PDF is left that no invoice names."""
        try:
            saved = self._save_changed(order, order.version, state)
        except Conflict:
            if new_key:
                self._delete_quietly(new_key)
            raise
        if old_key and old_key != new_key:
            self._delete_quietly(old_key)
        return saved

    def _save_changed(
        self, order: PurchaseOrder, expected_version: int, state: SyncState | None
    ) -> tuple[PurchaseOrder, SyncState | None]:
        """Save a changed PO; a state in Error is superseded by the change in the same transaction."""
        if state is None or not state.can_move(SyncStatus.SUPERSEDED) or state.status is not SyncStatus.ERROR:
            return self.store.save(order, expected_version), state
        return self.store.save_with_state(order, expected_version, state.moved(SyncStatus.SUPERSEDED), state.version)

    def _delete_quietly(self, key: str) -> None:
        """The change is saved whatever happens here: a PDF that could not be deleted is logged for the operator
        (its links die within six hours) rather than failing a change that was made."""
        try:
            self.documents.delete_pdf(key)
        except (RetryableError, PermanentError) as fault:
            logger.warning("superseded invoice PDF left in the bucket", extra={"key": key, "reason": fault.message})

    def _get(self, company_id: str, po_id: int) -> PurchaseOrder:
        order = self.store.get(company_id, po_id)
        if order is None:
            raise NotFound(f"no purchase order {po_id} in this company")
        return order

    def _send(self, order: PurchaseOrder, shown: SyncState | None, settings: AccountingSettings) -> SendResult:
        """One transaction bumps the PO's version and queues its sync state for the company's target, then the work
        is handed to the target; an edit or a send racing it makes one side lose cleanly."""
        system = settings.external_system
        assert system is not None
        target = self.targets.get(system)
        previous = shown_status(order, shown)
        # ``shown`` came from every target's states, or the legacy one for ``system`` when none is stored: None says
        # there is no state for ``system`` either, so only another target's state sends us back to the store.
        current = shown
        if shown is not None and shown.target is not system:
            current = self.states.get(order.company_id, po_ref(order), system)
        changes: dict[str, Any] = {
            "document_version": order.version + 1,
            "parts": parts_of(order),
            "reason": None,
            "notice_pending": False,
            "delivery_id": target.new_delivery_id(),
            "dispatched_at": datetime.now(UTC),
        }
        if current is None:
            state = SyncState.new(order.company_id, po_ref(order), system, **changes)
        else:
            state = current.moved(SyncStatus.QUEUED, **changes)
        order.sent_version = order.version + 1
        try:
            _, queued = self.store.save_with_state(order, order.version, state, current.version if current else None)
        except Conflict:
            return SendResult(
                purchase_order_id=order.id,
                accepted=False,
                message="this PO was changed or sent by someone else at the same moment; reload it",
                vendor_invoice_status=previous,
            )
        self.recorder.dispatch(queued)
        return SendResult(
            purchase_order_id=order.id,
            accepted=True,
            message="Sent to External System",
            vendor_invoice_status=VendorInvoiceStatus.SENT_TO_EXTERNAL,
        )

    def _system_problem(self, company_id: str, settings: AccountingSettings, connection: Connection) -> str | None:
        system = settings.external_system
        if system is None:
            return (
                "no external accounting system is chosen; choose QuickBooks Online, QuickBooks Desktop or the "
                "webhook in PUT /v1/accounting/settings"
            )
        return self.targets.get(system).readiness(company_id, connection)

    def _refusal(self, order: PurchaseOrder, state: SyncState | None, settings: AccountingSettings) -> str | None:
        """Why seed 000's rules refuse this PO, in words that say what to do; None when it may go."""
        status = shown_status(order, state)
        if status is VendorInvoiceStatus.SENT_TO_EXTERNAL:
            return "already Sent to External System; wait for it to become S or Error"
        if status is VendorInvoiceStatus.SYNCHRONIZED:
            return "already synchronized (S); it will not be sent twice"
        if not order.vendor_invoices:
            return "the vendor has not uploaded an invoice for this PO yet"
        if status not in SENDABLE or not order.is_fully_approved():
            missing = sorted(g.value for g in set(ApprovalGroup) - order.approved_groups())
            return f"needs the approval of both Procurement and Accounting; missing: {', '.join(missing)}"
        if settings.require_additional_charges and not order.additional_charges:
            return (
                "has no additional charges; add them to the PO (or turn off requireAdditionalCharges in the "
                "accounting settings)"
            )
        vendor = self.references.vendor(order.company_id, order.vendor_id)
        system = settings.external_system
        needs_name = system is not None and self.targets.get(system).needs_accounting_name
        if vendor is None or (needs_name and not vendor.accounting_name):
            name = vendor.name if vendor else order.vendor_id
            return (
                f"vendor '{name}' has no Accounting Name; set it in the directory to the vendor's exact name in "
                "the accounting system"
            )
        if any(not v.invoice_number for v in order.vendor_invoices):
            return "a vendor invoice has no invoice number; the vendor must upload it with its number"
        return _reconciliation_problem(order)


def _require_changeable(order: PurchaseOrder, state: SyncState | None, what: str) -> None:
    status = shown_status(order, state)
    if status in LOCKED:
        raise Conflict(f"PO {order.po_number} is '{status.value}' {what}")


def _reset_approvals(order: PurchaseOrder) -> set[ApprovalGroup]:
    """A change of amounts voids the approvals given: clear them and say which groups had approved."""
    reset = order.approved_groups()
    order.approvals = []
    order.vendor_invoice_status = VendorInvoiceStatus.PENDING_APPROVAL
    order.sent_version = None
    return reset


def _vendor_invoice(request: VendorInvoiceIn, key: str | None) -> VendorInvoice:
    return VendorInvoice(
        invoice_number=request.invoice_number,
        invoice_amount=request.invoice_amount,
        total_additional_charges=request.total_additional_charges,
        pdf_key=key,
        uploaded_at=datetime.now(UTC),
    )


def _reconciliation_problem(order: PurchaseOrder) -> str | None:
    invoiced = to_cents(sum((v.invoice_amount for v in order.vendor_invoices), Decimal(0)))
    charged = to_cents(sum((v.total_additional_charges for v in order.vendor_invoices), Decimal(0)))
    if invoiced != order.total:
        return (
            f"the vendor invoices add up to {invoiced:.2f} but the PO total is {order.total:.2f} (lines "
            f"{order.sub_total:.2f} + charges {order.total_charges:.2f}); correct the invoices or the PO"
        )
    if charged != order.total_charges:
        return (
            f"the vendor invoices carry {charged:.2f} of additional charges but the PO has "
            f"{order.total_charges:.2f}; correct the invoices' totalAdditionalCharges or the PO's charges"
        )
    return None


def _pdf(encoded: str | None) -> bytes | None:
    """The PDF of a vendor invoice, or None when the request carries none (``pdfBase64`` absent or null). An empty
    value (``$(base64 file)`` of a missing file), anything that is not base64 or not a PDF, or a PDF over the
    limit is refused naming ``pdfBase64``."""
    if encoded is None:
        return None
    limit = f"{MAX_PDF_BYTES // (1024 * 1024)} MB"
    if not encoded.strip():
        raise ValidationFailed(FieldError("pdfBase64", "is empty: send the PDF's bytes base64-encoded, or omit it"))
    if len(encoded) > (MAX_PDF_BYTES + 2) // 3 * 4:
        raise ValidationFailed(FieldError("pdfBase64", f"the PDF is over {limit}"))
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ValidationFailed(FieldError("pdfBase64", "is not valid base64")) from err
    if not data:
        raise ValidationFailed(FieldError("pdfBase64", "is empty: send the PDF's bytes base64-encoded, or omit it"))
    if not data.startswith(b"%PDF-"):
        raise ValidationFailed(FieldError("pdfBase64", "is not a PDF (a PDF file starts with %PDF-)"))
    if len(data) > MAX_PDF_BYTES:
        raise ValidationFailed(FieldError("pdfBase64", f"the PDF is over {limit}"))
    return data
