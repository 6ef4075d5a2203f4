"""Sales invoices: the Komet ``invoice.create`` method (seed 002), ``invoice.checkout`` and reads."""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import Counter as Tally
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from ledgersync.clock import SYSTEM_CLOCK, Clock
from ledgersync.currencies import rate_in_force
from ledgersync.domain.directory import IMPLICIT_STORE, UnitType, product_key
from ledgersync.domain.sync.state import SyncState, SyncStatus
from ledgersync.domain.sync.store import StateWrite
from ledgersync.errors import Conflict, FieldError, NotFound, ValidationFailed
from ledgersync.money import to_cents
from ledgersync.validation import iso_date

MAX_ITEMS = 90
MAX_ATTEMPTS = 40
UNKNOWN_CUSTOMER_CODE = "UNKNOWN"
TRUE_WORDS = {"1", "true", "yes", "y", "on"}
FALSE_WORDS = {"0", "false", "no", "n", "off", ""}


def _flag(value: Any) -> Any:
    """Seed 002 booleans arrive as 1/0, true/false or "True"/"False"; anything else is refused."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().casefold() in TRUE_WORDS | FALSE_WORDS:
        return value.strip().casefold() in TRUE_WORDS
    raise ValueError("must be a boolean: true/false or 1/0")


def _strict_int(value: Any) -> Any:
    """Integers may come as JSON numbers or digit strings, never as fractions or booleans."""
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")  # noqa: TRY004 - pydantic wants ValueError
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("must be a whole number")
    if isinstance(value, Decimal) and value != value.to_integral_value():
        raise ValueError("must be a whole number")
    return value


# Described as seed 002 gives it (its samples send 1), not as pydantic's plain boolean.
Flag = Annotated[
    bool, BeforeValidator(_flag), WithJsonSchema({"anyOf": [{"type": "boolean"}, {"type": "integer", "enum": [0, 1]}]})
]
Id20 = Annotated[int, BeforeValidator(_strict_int), Field(ge=1, le=99_999_999_999_999_999_999)]
Int10 = Annotated[int, BeforeValidator(_strict_int), Field(ge=0, le=9_999_999_999)]


def _text(max_length: int, min_length: int = 0) -> Any:
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)]


class InvoiceStatus(StrEnum):
    DRAFT = "Draft"
    PENDING_APPROVAL = "Pending Approval"
    CONFIRMED = "Confirmed"
    SHIPPED = "Shipped"


# What to do next, said in a 409 when an invoice is not in the state a lifecycle call needs.
NEXT_STEP = {
    InvoiceStatus.DRAFT: "check it out (POST /api/invoice.checkout) or change it (PUT /v1/invoices/{id})",
    InvoiceStatus.PENDING_APPROVAL: "confirm it (POST /v1/invoices/{id}/confirm) or change it (PUT /v1/invoices/{id})",
    InvoiceStatus.CONFIRMED: "ship it (POST /v1/invoices/{id}/ship) or change it (PUT /v1/invoices/{id})",
    InvoiceStatus.SHIPPED: "unship it (POST /v1/invoices/{id}/unship), which lets it be changed again",
}


class AdditionalChargeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: _text(10, 1)  # type: ignore[valid-type]
    name: _text(50) | None = None  # type: ignore[valid-type]
    value: Annotated[Decimal, Field(max_digits=10, decimal_places=3)]


class InvoiceItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_item_id: Id20 | None = Field(default=None, alias="orderItemId")
    product_code: _text(20, 1) | None = Field(default=None, alias="productCode")  # type: ignore[valid-type]
    box_type_code: _text(3, 1) | None = Field(default=None, alias="boxTypeCode")  # type: ignore[valid-type]
    units_per_box: Annotated[int, BeforeValidator(_strict_int), Field(ge=1, le=9_999_999_999)] | None = Field(
        default=None, alias="unitsPerBox"
    )
    unit_type: _text(5, 1) | None = Field(default=None, alias="unitType")  # type: ignore[valid-type]
    boxes: Annotated[int, BeforeValidator(_strict_int), Field(ge=1, le=9_999_999_999)]
    price: Annotated[Decimal, Field(ge=0, max_digits=10, decimal_places=2)]
    mark_code: _text(20) | None = Field(default=None, alias="markCode")  # type: ignore[valid-type]
    product_alias: _text(50) | None = Field(default=None, alias="productAlias")  # type: ignore[valid-type]
    notes: _text(200) | None = None  # type: ignore[valid-type]

    @field_validator("unit_type")
    @classmethod
    def _unit_type(cls, value: str | None) -> str | None:
        return None if value is None else UnitType.parse(value).value

    @model_validator(mode="after")
    def _one_way_to_name_the_item(self) -> InvoiceItemIn:
        by_product = [self.product_code, self.box_type_code, self.units_per_box, self.unit_type]
        if self.order_item_id is not None and any(v is not None for v in by_product):
            raise ValueError("give either orderItemId, or productCode + boxTypeCode + unitsPerBox + unitType, not both")
        if self.order_item_id is None:
            names = ["productCode", "boxTypeCode", "unitsPerBox", "unitType"]
            missing = [n for n, v in zip(names, by_product, strict=True) if v is None]
            if len(missing) == 4:
                raise ValueError("orderItemId, or productCode + boxTypeCode + unitsPerBox + unitType, is required")
            if missing:
                raise ValueError(f"with productCode, these are required too: {', '.join(missing)}")
        return self

    def presentation(self) -> str:
        return product_key(
            self.product_code or "", self.box_type_code or "", self.units_per_box or 0, self.unit_type or "Stem"
        )


class InvoiceCreateRequest(BaseModel):
    """Seed 002's parameters, with its types and lengths. ``authenticationToken`` is read by the router."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    authentication_token: _text(50) | None = Field(default=None, alias="authenticationToken")  # type: ignore[valid-type]
    customer_id: Id20 | None = Field(default=None, alias="customerId")
    customer_code: _text(20, 1) | None = Field(default=None, alias="customerCode")  # type: ignore[valid-type]
    customer_description: _text(200, 1) | None = Field(default=None, alias="customerDescription")  # type: ignore[valid-type]
    carrier_id: Id20 | None = Field(default=None, alias="carrierId")
    carrier_code: _text(20, 1) | None = Field(default=None, alias="carrierCode")  # type: ignore[valid-type]
    carrier_description: _text(200, 1) | None = Field(default=None, alias="carrierDescription")  # type: ignore[valid-type]
    ship_date: date = Field(alias="shipDate")
    po_number: _text(20) | None = Field(default=None, alias="poNumber")  # type: ignore[valid-type]
    reference: _text(20) | None = None  # type: ignore[valid-type]
    warehouse_instructions: _text(200) | None = Field(default=None, alias="warehouseInstructions")  # type: ignore[valid-type]
    invoice_notes: _text(200) | None = Field(default=None, alias="invoiceNotes")  # type: ignore[valid-type]
    return_available_boxes: Flag = Field(default=False, alias="returnAvailableBoxes")
    status_draft: Flag = Field(default=False, alias="statusDraft")
    location_id: Id20 | None = Field(default=None, alias="locationId")
    location_code: _text(10, 1) | None = Field(default=None, alias="locationCode")  # type: ignore[valid-type]
    # The store the order belongs to (issue 10); without one, the store marked default, else the implicit one.
    store_id: Id20 | None = Field(default=None, alias="storeId")
    store_code: _text(20, 1) | None = Field(default=None, alias="storeCode")  # type: ignore[valid-type]
    auto_confirm: Flag = Field(default=False, alias="autoConfirm")
    create_carrier_if_not_exists: Flag = Field(default=False, alias="createCarrierIfNotExists")
    use_unknown_customer_if_not_exists: Flag = Field(default=True, alias="useUnknownCustomerIfNotExists")
    additional_charges: list[AdditionalChargeIn] = Field(default_factory=list, alias="additionalCharges", max_length=20)
    items: list[InvoiceItemIn] = Field(min_length=1, max_length=MAX_ITEMS)

    @field_validator("ship_date", mode="before")
    @classmethod
    def _iso_date(cls, value: Any) -> Any:
        return iso_date(value)

    def check(self) -> None:
        """The rules between fields: customer and carrier each by id or by code + description, never both."""
        errors = _exclusive("customer", self.customer_id, self.customer_code, self.customer_description)
        errors += _exclusive("carrier", self.carrier_id, self.carrier_code, self.carrier_description)
        if self.store_id is not None and self.store_code is not None:
            errors.append(FieldError("storeId", "give either storeId or storeCode, not both"))
        if self.status_draft and self.auto_confirm:
            errors.append(
                FieldError("autoConfirm", "statusDraft and autoConfirm cannot both be set: a draft is not confirmed")
            )
        if errors:
            raise ValidationFailed(errors)


def _exclusive(name: str, the_id: int | None, code: str | None, description: str | None) -> list[FieldError]:
    if the_id is not None and (code is not None or description is not None):
        return [FieldError(f"{name}Id", f"give either {name}Id or {name}Code + {name}Description, not both")]
    if the_id is None and code is None and description is None:
        return [FieldError(f"{name}Id", f"{name}Id, or {name}Code + {name}Description, is required")]
    if the_id is None and (code is None or description is None):
        missing = f"{name}Code" if code is None else f"{name}Description"
        return [FieldError(missing, f"is required when {name}Id is not given")]
    return []


class InvoiceItemResult(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    status: int
    order_item_id: int | None = Field(default=None, alias="orderItemId")
    product_code: str | None = Field(default=None, alias="productCode")
    available_boxes: int | None = Field(default=None, alias="availableBoxes")
    invoice_item_id: list[int] = Field(default_factory=list, alias="invoiceItemId")


class InvoiceCreateResponse(BaseModel):
    """Seed 002's response: ``status`` is the string "1" or "0"; item statuses are integers."""

    model_config = ConfigDict(populate_by_name=True)

    status: Literal["1", "0"]
    message: str
    invoice_id: int | None = Field(default=None, alias="invoiceId")
    invoice_number: int | None = Field(default=None, alias="invoiceNumber")
    items: list[InvoiceItemResult] = Field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


# Money and rates in an answer: a JSON number, as ``ledgersync.jsonio`` writes every Decimal (never a string).
Amount = Annotated[Decimal, WithJsonSchema({"type": "number"}, mode="serialization")]


class CheckoutAnswer(_Camel):
    """invoice.checkout's answer: the invoice now Pending Approval."""

    status: Literal["1"] = "1"
    message: Literal["success"] = "success"
    invoice_id: int
    invoice_number: int
    invoice_status: InvoiceStatus


class InvoiceParty(BaseModel):
    """The customer, carrier or location an invoice names, as the directory had it when the invoice was made."""

    id: int | None = None
    code: str | None = None
    name: str | None = None


class SalesInvoiceLine(_Camel):
    """One line: the inventory line it took boxes from; price and amount in the customer's and company's currency."""

    invoice_item_id: int
    order_item_id: int
    product_code: str
    box_type_code: str
    units_per_box: int
    unit_type: str
    boxes: int
    price: Amount
    price_company_currency: Amount
    amount: Amount
    amount_company_currency: Amount
    mark_code: str | None
    product_alias: str | None
    notes: str | None


class SalesInvoiceCharge(_Camel):
    code: str
    name: str | None
    value: Amount
    value_company_currency: Amount


class AccountingStatus(StrEnum):
    NOT_SENT = "not_sent"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    HELD = "held"
    ERROR = "error"
    DELETING = "deleting"
    DELETED = "deleted"


SHOWN: Mapping[SyncStatus, AccountingStatus] = {
    SyncStatus.QUEUED: AccountingStatus.QUEUED,
    SyncStatus.SCHEDULED: AccountingStatus.QUEUED,
    SyncStatus.SENDING: AccountingStatus.SENDING,
    SyncStatus.SYNCHRONIZED: AccountingStatus.SENT,
    SyncStatus.HELD: AccountingStatus.HELD,
    SyncStatus.ERROR: AccountingStatus.ERROR,
    SyncStatus.DELETING: AccountingStatus.DELETING,
    SyncStatus.DELETED: AccountingStatus.DELETED,
    SyncStatus.SUPERSEDED: AccountingStatus.NOT_SENT,
}


class SalesOrderStatus(StrEnum):
    """Where an order's sales order stands (QuickBooks Online: an Estimate; Desktop: a SalesOrder)."""

    NOT_SENT = "not_sent"
    QUEUED = "queued"  # to be created, or an edit to be sent (``externalId`` set)
    SENDING = "sending"
    OPEN = "open"  # in accounting as the order is now
    HELD = "held"
    ERROR = "error"
    CLOSED = "closed"  # the order shipped: its invoice is linked to the sales order, which closed


class SalesOrderAccounting(BaseModel):
    """``accounting.salesOrder`` on the invoice view."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    status: SalesOrderStatus = SalesOrderStatus.NOT_SENT
    external_id: str | None = None  # the Estimate's Id (QuickBooks Online), the SalesOrder's TxnID (Desktop)
    error: str | None = None  # error: the reason and the fix; held: why it waits


class InvoiceAccounting(BaseModel):
    """``accounting`` on the invoice view: where its accounting invoice stands (and its sales order)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    status: AccountingStatus = AccountingStatus.NOT_SENT
    external_id: str | None = None  # the accounting invoice (QuickBooks Online Id, Desktop TxnID)
    doc_number: str | None = None  # its number there (DocNumber, RefNumber)
    scheduled_for: datetime | None = None  # on the automatic queue: sent by then
    sent_at: datetime | None = None
    error: str | None = None  # error: the reason and the fix; held: why it waits
    version: int | None = None  # the invoice version sent (or being sent)
    # the order's sales order (issue 12): on the invoice view always; null in send-now's and send-again's answers
    sales_order: SalesOrderAccounting | None = None

    @classmethod
    def of(cls, state: SyncState | None) -> InvoiceAccounting:
        if state is None:
            return cls()
        shown = SHOWN[state.status]
        return cls(
            status=shown,
            # the accounting invoice that is there, or the one being deleted
            external_id=state.external_ids.get("")
            if shown in {AccountingStatus.SENT, AccountingStatus.DELETING}
            else None,
            doc_number=state.document_number if shown is not AccountingStatus.NOT_SENT else None,
            scheduled_for=state.release_at if state.status is SyncStatus.SCHEDULED else None,
            sent_at=state.synchronized_at if shown is AccountingStatus.SENT else None,
            error=state.reason if shown in {AccountingStatus.ERROR, AccountingStatus.HELD} else None,
            version=state.document_version if shown is not AccountingStatus.NOT_SENT else None,
        )


class SalesInvoice(_Camel):
    """A sales invoice as ``GET /v1/invoices/{id}`` answers it: money in the customer's currency and the company's."""

    invoice_id: int
    invoice_number: int
    status: InvoiceStatus
    customer: InvoiceParty
    carrier: InvoiceParty
    location: InvoiceParty | None
    store: InvoiceParty | None = None  # the store it belongs to (id null: the implicit default store)
    ship_date: date
    po_number: str | None
    reference: str | None
    warehouse_instructions: str | None
    invoice_notes: str | None
    currency: str
    company_currency: str
    exchange_rate: Amount
    items: list[SalesInvoiceLine]
    additional_charges: list[SalesInvoiceCharge]
    sub_total: Amount
    total: Amount
    total_company_currency: Amount
    created_at: datetime
    created_by: str
    updated_at: datetime | None = None  # the last PUT /v1/invoices/{id}, and who made it
    updated_by: str | None = None
    accounting: InvoiceAccounting = Field(default_factory=InvoiceAccounting)  # where it stands in accounting
    version: int = 0  # every lifecycle change is a write conditional on it, and moves it on by one


class InvoicePage(_Camel):
    """``GET /v1/invoices``: a page, oldest first; ``nextCursor`` is null on the last page."""

    invoices: list[SalesInvoice]
    next_cursor: int | None


class ShipRequest(BaseModel):
    """``POST /v1/invoices/{id}/ship``: the day it shipped, today (UTC) when not given."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    ship_date: date | None = Field(default=None, alias="shipDate")

    @field_validator("ship_date", mode="before")
    @classmethod
    def _iso_date(cls, value: Any) -> Any:
        return None if value is None else iso_date(value)


class InvoiceChangeRequest(BaseModel):
    """``PUT /v1/invoices/{id}``: the order's items and additional charges, as invoice.create takes them, replacing
    the invoice's; allowed while it is not Shipped. The boxes it held go back and the new items take theirs."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    additional_charges: list[AdditionalChargeIn] = Field(default_factory=list, alias="additionalCharges", max_length=20)
    items: list[InvoiceItemIn] = Field(min_length=1, max_length=MAX_ITEMS)


class CheckoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    authentication_token: _text(50) | None = Field(default=None, alias="authenticationToken")  # type: ignore[valid-type]
    invoice_number: Annotated[int, BeforeValidator(_strict_int), Field(ge=1, le=9_999_999_999)] = Field(
        alias="invoiceNumber"
    )


@dataclass
class Snapshot:
    """What one consistent read of the company's records found for a request."""

    company: dict[str, Any]
    counter: dict[str, Any]
    rates: list[dict[str, Any]]
    customer: dict[str, Any] | None
    unknown_customer: dict[str, Any] | None
    carrier: dict[str, Any] | None
    location: dict[str, Any] | None
    store: dict[str, Any] | None  # the store named, else the company's default store record, if any
    inventory: dict[int, dict[str, Any]]
    presentations: dict[str, list[int]]
    charges: dict[str, dict[str, Any]]
    replay: dict[str, Any] | None


@dataclass(frozen=True)
class Lookup:
    """The keys one request reads in a single round trip."""

    customer_id: int | None
    customer_code: str | None
    want_unknown_customer: bool
    carrier_id: int | None
    carrier_code: str | None
    location_id: int | None
    location_code: str | None
    order_item_ids: tuple[int, ...]
    presentations: tuple[str, ...]
    charge_codes: tuple[str, ...]
    idempotency_key: str | None
    store_id: int | None = None
    store_code: str | None = None


@dataclass
class Take:
    order_item_id: int
    boxes: int


@dataclass
class CommitPlan:
    """One atomic write: the invoice, the inventory it takes, counters, new charges, the idempotency record."""

    company_id: str
    invoice: dict[str, Any]
    takes: list[Take]
    expected_counter: dict[str, int]
    next_counter: dict[str, int]
    new_charges: list[dict[str, Any]]
    idempotency_key: str | None
    idempotency_record: dict[str, Any] | None


@dataclass
class ChangePlan:
    """One atomic write of a changed invoice: its new fields if its version is still ``expected_version`` and it is
    not Shipped, the inventory each line gives back (negative) or takes (positive), new line numbers, new charges."""

    company_id: str
    invoice_id: int
    expected_version: int
    changes: dict[str, Any]
    inventory_deltas: dict[int, int]
    expected_item_counter: int
    next_item_counter: int
    new_charges: list[dict[str, Any]]
    # the sales order's state, re-sent with the change while it is open (written in the same transaction)
    state: StateWrite | None = None


class InventoryTaken(Conflict):
    """Another request took boxes between our read and our write; the request is planned again."""


class InvoiceStore(Protocol):
    def read(self, company_id: str, lookup: Lookup) -> Snapshot: ...
    def read_inventory(self, company_id: str, order_item_ids: Sequence[int]) -> dict[int, dict[str, Any]]: ...
    def commit(self, plan: CommitPlan) -> None: ...
    def get(self, company_id: str, invoice_id: int) -> dict[str, Any] | None: ...
    def get_by_number(self, company_id: str, invoice_number: int) -> dict[str, Any] | None: ...
    def set_status(self, company_id: str, invoice_id: int, expected: str, status: str) -> dict[str, Any]: ...
    def change(
        self, company_id: str, invoice_id: int, expected_version: int, changes: dict[str, Any]
    ) -> dict[str, Any]:
        """Write ``changes`` and move the version on by one if the stored version is still ``expected_version``
        (a record without one is version 0); raise ``Conflict`` otherwise. Answers the invoice as written."""

    def list(self, company_id: str, limit: int, after: int | None) -> tuple[list[dict[str, Any]], int | None]: ...
    def change_with_state(
        self, company_id: str, invoice_id: int, expected_version: int, changes: dict[str, Any], state: StateWrite
    ) -> dict[str, Any]:
        """``change`` and the sync state's conditional write in one transaction (Conflict when either lost)."""

    def commit_change(self, plan: ChangePlan) -> None:
        """Write ``plan`` all or nothing; ``InventoryTaken`` when any of its conditions fails."""


class MoveSync(Protocol):
    """What an invoice's ship or unship does to its accounting invoice, and where that stands
    (``SalesInvoiceSync``)."""

    def accounting_of(self, company_id: str, invoice_id: int) -> InvoiceAccounting: ...

    def plan_move(
        self, company_id: str, invoice: dict[str, Any], to: InvoiceStatus, next_version: int
    ) -> StateWrite | None: ...

    def after_move(self, written: SyncState | None) -> None: ...


class ChangeSync(Protocol):
    """What an invoice's change does to its sales order while it is open, and where that stands
    (``SalesOrderSync``)."""

    def sales_order_of(self, company_id: str, invoice_id: int) -> SalesOrderAccounting: ...

    def plan_change(self, company_id: str, invoice_id: int, next_version: int) -> StateWrite | None: ...

    def after_change(self, planned: StateWrite) -> None: ...


class DirectoryWriter(Protocol):
    """What invoice.create needs to add to the directory (a new carrier, the Unknown customer)."""

    def add_named(self, company_id: str, kind: str, code: str, name: str) -> dict[str, Any]: ...


@dataclass
class _Line:
    item_index: int
    take: Take
    record: dict[str, Any]
    invoice_item_id: int = 0


@dataclass
class _Fill:
    lines: list[_Line] = field(default_factory=list)
    results: list[InvoiceItemResult] = field(default_factory=list)
    complete: bool = True


def request_fingerprint(body: Any) -> str:
    """A stable digest of a request body, to tell a retry from a different request under the same key."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Invoices:
    """invoice.create and friends. Every create is one atomic write after at most two consistent reads."""

    def __init__(
        self,
        store: InvoiceStore,
        directory: DirectoryWriter,
        pause: Callable[[float], None] = time.sleep,
        clock: Clock = SYSTEM_CLOCK,
        sync: MoveSync | None = None,
        sales_orders: ChangeSync | None = None,
    ) -> None:
        self.store = store
        self.directory = directory
        self.pause = pause
        self.clock = clock
        self.sync = sync
        self.sales_orders = sales_orders

    def create(
        self,
        company_id: str,
        user_id: str,
        request: InvoiceCreateRequest,
        idempotency_key: str | None = None,
    ) -> InvoiceCreateResponse:
        """Create the invoice; returns seed 002's answer, which has no ``invoiceId`` when no item got any box.

        Under an ``idempotency_key`` the first answer is kept with the request's fingerprint: the same request again
        gets that answer, another request under the key is refused."""
        request.check()
        fingerprint = request_fingerprint(
            request.model_dump(mode="json", by_alias=True, exclude={"authentication_token"})
        )
        lookup = _lookup(request, idempotency_key)
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                self.pause(random.uniform(0, min(0.01 * 2 ** min(attempt, 6), 0.3)))  # noqa: S311 - jitter
            snapshot = self.store.read(company_id, lookup)
            if snapshot.replay is not None:
                return _replay(snapshot.replay, fingerprint)
            customer = self._customer(company_id, request, snapshot)
            carrier = self._carrier(company_id, request, snapshot)
            location = _location(request, snapshot)
            store = _store(request, snapshot)
            missing = [i for i in _wanted_inventory(snapshot) if i not in snapshot.inventory]
            if missing:
                snapshot.inventory.update(self.store.read_inventory(company_id, missing))
            fill = _fill(request, snapshot, location)
            if not fill.lines:
                return InvoiceCreateResponse(status="0", message="Item is not available", items=fill.results)
            plan = _plan(
                company_id,
                user_id,
                request,
                snapshot,
                _Parties(customer, carrier, location, store),
                fill,
                idempotency_key,
                fingerprint,
            )
            try:
                self.store.commit(plan)
            except InventoryTaken:
                continue
            return InvoiceCreateResponse.model_validate(plan.invoice["response"])
        raise Conflict("the inventory is changing too fast to take; try again")

    def checkout(self, company_id: str, invoice_number: int) -> CheckoutAnswer:
        """Draft → Pending Approval (seed 002: the order is finalized on the caller's site)."""
        invoice = self.store.get_by_number(company_id, invoice_number)
        if invoice is None:
            raise NotFound(f"no invoice number {invoice_number} in this company")
        if invoice["status"] != InvoiceStatus.DRAFT:
            raise Conflict(f"invoice {invoice_number} is '{invoice['status']}'; only a Draft can be checked out")
        self.store.set_status(
            company_id, int(invoice["invoiceId"]), InvoiceStatus.DRAFT, InvoiceStatus.PENDING_APPROVAL
        )
        return CheckoutAnswer(
            invoice_id=int(invoice["invoiceId"]),
            invoice_number=invoice_number,
            invoice_status=InvoiceStatus.PENDING_APPROVAL,
        )

    def confirm(self, company_id: str, invoice_id: int) -> SalesInvoice:
        """Pending Approval → Confirmed."""
        return self._move(
            company_id, invoice_id, InvoiceStatus.PENDING_APPROVAL, InvoiceStatus.CONFIRMED, {}, "confirmed"
        )

    def ship(self, company_id: str, invoice_id: int, request: ShipRequest) -> SalesInvoice:
        """Confirmed → Shipped, on ``shipDate`` or today (UTC)."""
        ship_date = request.ship_date or self.clock.now().astimezone(UTC).date()
        changes = {"shipDate": ship_date.isoformat()}
        return self._move(company_id, invoice_id, InvoiceStatus.CONFIRMED, InvoiceStatus.SHIPPED, changes, "shipped")

    def unship(self, company_id: str, invoice_id: int) -> SalesInvoice:
        """Shipped → Confirmed: the order can be changed again."""
        return self._move(company_id, invoice_id, InvoiceStatus.SHIPPED, InvoiceStatus.CONFIRMED, {}, "unshipped")

    def _move(
        self,
        company_id: str,
        invoice_id: int,
        expected: InvoiceStatus,
        status: InvoiceStatus,
        changes: dict[str, Any],
        verb: str,
    ) -> SalesInvoice:
        invoice = self._stored(company_id, invoice_id)
        if InvoiceStatus(invoice["status"]) is not expected:
            raise Conflict(_wrong_state(invoice, f"only a '{expected}' invoice can be {verb}"))
        version = int(invoice.get("version", 0))
        plan = self.sync.plan_move(company_id, invoice, status, version + 1) if self.sync else None
        try:
            if plan is None:
                written = self.store.change(company_id, invoice_id, version, {**changes, "status": status.value})
            else:  # the invoice and its sync state move together, or neither does
                written = self.store.change_with_state(
                    company_id, invoice_id, version, {**changes, "status": status.value}, plan
                )
        except Conflict:
            raise Conflict(_changed_meanwhile(self._stored(company_id, invoice_id))) from None
        if plan is not None and self.sync is not None:
            self.sync.after_move(plan.written)
        return self._view(company_id, written)

    def change(self, company_id: str, user_id: str, invoice_id: int, request: InvoiceChangeRequest) -> SalesInvoice:
        """``PUT /v1/invoices/{id}``: new items and charges, at the rate of creation, while the invoice is not
        Shipped. Every item must get all its boxes (the boxes the invoice holds count as available to it), else
        nothing changes. Lines are numbered anew. A write conditional on the version the change was planned on."""
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                self.pause(random.uniform(0, min(0.01 * 2 ** min(attempt, 6), 0.3)))  # noqa: S311 - jitter
            current = self._stored(company_id, invoice_id)
            if InvoiceStatus(current["status"]) is InvoiceStatus.SHIPPED:
                raise Conflict(_wrong_state(current, "a Shipped invoice cannot be changed"))
            version = int(current.get("version", 0))
            plan, view = self._plan_change(company_id, user_id, current, request)
            if self.sales_orders is not None:  # an open sales order is sent again with the change, or neither is
                plan.state = self.sales_orders.plan_change(company_id, invoice_id, version + 1)
            try:
                self.store.commit_change(plan)
            except InventoryTaken:
                latest = self._stored(company_id, invoice_id)
                if int(latest.get("version", 0)) != version:
                    raise Conflict(_changed_meanwhile(latest)) from None
                continue
            if plan.state is not None and self.sales_orders is not None:
                self.sales_orders.after_change(plan.state)
            return self._view(company_id, view)
        raise Conflict("the inventory is changing too fast to take; try again")

    def _plan_change(
        self, company_id: str, user_id: str, current: dict[str, Any], request: InvoiceChangeRequest
    ) -> tuple[ChangePlan, dict[str, Any]]:
        held = Tally[int]()
        for line in current.get("items", []):
            held[int(line["orderItemId"])] += int(line["boxes"])
        wanted_ids = {i.order_item_id for i in request.items if i.order_item_id is not None}
        lookup = Lookup(
            customer_id=None,
            customer_code=None,
            want_unknown_customer=False,
            carrier_id=None,
            carrier_code=None,
            location_id=None,
            location_code=None,
            order_item_ids=tuple(sorted(wanted_ids | set(held))),
            presentations=tuple(dict.fromkeys(i.presentation() for i in request.items if i.order_item_id is None)),
            charge_codes=tuple(dict.fromkeys(c.code.upper() for c in request.additional_charges)),
            idempotency_key=None,
        )
        snapshot = self.store.read(company_id, lookup)
        missing = [i for i in _wanted_inventory(snapshot) if i not in snapshot.inventory]
        if missing:
            snapshot.inventory.update(self.store.read_inventory(company_id, missing))
        for oid, boxes in held.items():  # what the invoice holds is available to it
            if oid in snapshot.inventory:
                record = snapshot.inventory[oid]
                snapshot.inventory[oid] = {**record, "availableBoxes": int(record["availableBoxes"]) + boxes}
        fill = _fill_items(request.items, False, snapshot, current.get("location"))
        if not fill.complete:
            short = [
                FieldError(
                    f"items[{i}].boxes", f"{r.available_boxes or 0} box(es) available, {request.items[i].boxes} asked"
                )
                for i, r in enumerate(fill.results)
                if r.available_boxes is not None and r.available_boxes < request.items[i].boxes
            ]
            raise Conflict("Item is not available: nothing was changed", short)
        rate = Decimal(str(current["exchangeRate"]))
        counter = int(snapshot.counter.get("invoiceItemId", 0))
        lines, last = _priced_lines(request.items, fill, rate, counter)
        charges, new_charges = _priced_charges(request.additional_charges, snapshot, rate)
        taken = Tally[int]()
        for line in lines:
            taken[int(line["orderItemId"])] += int(line["boxes"])
        subtotal = sum((ln["amount"] for ln in lines), Decimal(0))
        total = subtotal + sum((c["value"] for c in charges), Decimal(0))
        changes = {
            "items": lines,
            "additionalCharges": charges,
            "subTotal": to_cents(subtotal),
            "total": to_cents(total),
            "totalCompanyCurrency": to_cents(total * rate),
            "updatedAt": self.clock.now().isoformat(),
            "updatedBy": user_id,
        }
        version = int(current.get("version", 0))
        plan = ChangePlan(
            company_id=company_id,
            invoice_id=int(current["invoiceId"]),
            expected_version=version,
            changes=changes,
            inventory_deltas={
                oid: taken[oid] - held[oid] for oid in sorted(set(taken) | set(held)) if taken[oid] != held[oid]
            },
            expected_item_counter=counter,
            next_item_counter=last,
            new_charges=new_charges,
        )
        return plan, {**current, **changes, "version": version + 1}

    def _stored(self, company_id: str, invoice_id: int) -> dict[str, Any]:
        invoice = self.store.get(company_id, invoice_id)
        if invoice is None:
            raise NotFound(f"no invoice {invoice_id} in this company")
        return invoice

    def get(self, company_id: str, invoice_id: int) -> SalesInvoice:
        invoice = self.store.get(company_id, invoice_id)
        if invoice is None:
            raise NotFound(f"no invoice {invoice_id} in this company")
        return self._view(company_id, invoice)

    def list(
        self,
        company_id: str,
        limit: int,
        after: int | None,
        sent_to_accounting: bool | None = None,
        accounting_status: AccountingStatus | None = None,
    ) -> InvoicePage:
        """A page, oldest first. ``sent_to_accounting`` False keeps every invoice not ``sent`` (Goflow's "Invoice
        Sent to Accounting - No"), True only the ``sent`` ones; ``accounting_status`` keeps one status. Filtered
        pages are read on until ``limit`` invoices match or the invoices end; the cursor is the last one read."""
        if sent_to_accounting is None and accounting_status is None:
            invoices, cursor = self.store.list(company_id, limit, after)
            return InvoicePage(invoices=[self._view(company_id, i) for i in invoices], next_cursor=cursor)
        kept: list[SalesInvoice] = []
        cursor = after
        while True:
            invoices, next_cursor = self.store.list(company_id, limit, cursor)
            for record in invoices:
                view = self._view(company_id, record)
                status = view.accounting.status
                if accounting_status is not None and status is not accounting_status:
                    continue
                if sent_to_accounting is not None and (status is AccountingStatus.SENT) is not sent_to_accounting:
                    continue
                kept.append(view)
                if len(kept) == limit:
                    last = int(record["invoiceId"])
                    more = last != int(invoices[-1]["invoiceId"]) or next_cursor is not None
                    return InvoicePage(invoices=kept, next_cursor=last if more else None)
            if next_cursor is None:
                return InvoicePage(invoices=kept, next_cursor=None)
            cursor = next_cursor

    def _view(self, company_id: str, record: Mapping[str, Any]) -> SalesInvoice:
        view = SalesInvoice.model_validate(record)
        if self.sync is None:
            return view
        accounting = self.sync.accounting_of(company_id, view.invoice_id)
        if self.sales_orders is not None:
            sales_order = self.sales_orders.sales_order_of(company_id, view.invoice_id)
            accounting = accounting.model_copy(update={"sales_order": sales_order})
        return view.model_copy(update={"accounting": accounting})

    def _customer(self, company_id: str, request: InvoiceCreateRequest, snapshot: Snapshot) -> dict[str, Any]:
        found = snapshot.customer
        if found is not None and found.get("active", True):
            return found
        named = (
            f"customerId {request.customer_id}" if request.customer_id else f"customerCode '{request.customer_code}'"
        )
        why = "is inactive" if found is not None else "does not exist"
        if not request.use_unknown_customer_if_not_exists:
            field_name = "customerId" if request.customer_id else "customerCode"
            raise ValidationFailed(
                FieldError(field_name, f"the customer {named} {why}, and useUnknownCustomerIfNotExists is false")
            )
        if snapshot.unknown_customer is not None:
            return snapshot.unknown_customer
        return self.directory.add_named(company_id, "customers", UNKNOWN_CUSTOMER_CODE, "Unknown")

    def _carrier(self, company_id: str, request: InvoiceCreateRequest, snapshot: Snapshot) -> dict[str, Any]:
        if snapshot.carrier is not None:
            return snapshot.carrier
        if request.carrier_id is not None:
            raise ValidationFailed(FieldError("carrierId", f"carrier {request.carrier_id} does not exist"))
        if not request.create_carrier_if_not_exists:
            raise ValidationFailed(
                FieldError(
                    "carrierCode",
                    f"carrier '{request.carrier_code}' does not exist; send "
                    "createCarrierIfNotExists: true to create it",
                )
            )
        return self.directory.add_named(
            company_id, "carriers", request.carrier_code or "", request.carrier_description or ""
        )


def _wrong_state(invoice: dict[str, Any], rule: str) -> str:
    status = InvoiceStatus(invoice["status"])
    step = NEXT_STEP[status].replace("{id}", str(invoice["invoiceId"]))
    return f"invoice {invoice['invoiceNumber']} is '{status}' and {rule}; from '{status}' you can {step}"


def _changed_meanwhile(invoice: dict[str, Any]) -> str:
    return (
        f"invoice {invoice['invoiceNumber']} was changed by another request meanwhile: it is now "
        f"'{invoice['status']}' (version {invoice.get('version', 0)}); read it again and repeat the call if it "
        "still applies"
    )


def _lookup(request: InvoiceCreateRequest, idempotency_key: str | None) -> Lookup:
    return Lookup(
        customer_id=request.customer_id,
        customer_code=request.customer_code,
        want_unknown_customer=request.use_unknown_customer_if_not_exists,
        carrier_id=request.carrier_id,
        carrier_code=request.carrier_code,
        location_id=request.location_id,
        location_code=request.location_code,
        store_id=request.store_id,
        store_code=request.store_code,
        order_item_ids=tuple(i.order_item_id for i in request.items if i.order_item_id is not None),
        presentations=tuple(i.presentation() for i in request.items if i.order_item_id is None),
        charge_codes=tuple(c.code.upper() for c in request.additional_charges),
        idempotency_key=idempotency_key,
    )


def _replay(record: dict[str, Any], fingerprint: str | None) -> InvoiceCreateResponse:
    if fingerprint is not None and record.get("fingerprint") != fingerprint:
        raise ValidationFailed(
            FieldError(
                "Idempotency-Key",
                "this key was already used for a different request body; use a new key for a new invoice",
            )
        )
    return InvoiceCreateResponse.model_validate(record["response"])


def _location(request: InvoiceCreateRequest, snapshot: Snapshot) -> dict[str, Any] | None:
    if request.location_id is None and request.location_code is None:
        return None
    found = snapshot.location
    if found is None:
        field_name, value = (
            ("locationId", request.location_id) if request.location_id else ("locationCode", request.location_code)
        )
        raise ValidationFailed(FieldError(field_name, f"location {value} does not exist"))
    if request.location_code and str(found["code"]).upper() != request.location_code.upper():
        raise ValidationFailed(
            FieldError(
                "locationCode",
                f"location {request.location_id} has code '{found['code']}', not '{request.location_code}'",
            )
        )
    return found


def _store(request: InvoiceCreateRequest, snapshot: Snapshot) -> dict[str, Any]:
    if request.store_id is None and request.store_code is None:
        return snapshot.store or IMPLICIT_STORE
    if snapshot.store is None:
        field_name, value = ("storeId", request.store_id) if request.store_id else ("storeCode", request.store_code)
        raise ValidationFailed(
            FieldError(field_name, f"store {value} does not exist; add it with PUT /v1/directory/stores")
        )
    return snapshot.store


@dataclass(frozen=True)
class _Parties:
    customer: dict[str, Any]
    carrier: dict[str, Any]
    location: dict[str, Any] | None
    store: dict[str, Any]


def _wanted_inventory(snapshot: Snapshot) -> list[int]:
    return [i for ids in snapshot.presentations.values() for i in ids]


def _fill(request: InvoiceCreateRequest, snapshot: Snapshot, location: dict[str, Any] | None) -> _Fill:
    """Plan which inventory lines give each item its boxes; an item takes what is available (seed 002 sample 2)."""
    return _fill_items(request.items, request.return_available_boxes, snapshot, location)


def _fill_items(
    items: Sequence[InvoiceItemIn], return_available_boxes: bool, snapshot: Snapshot, location: dict[str, Any] | None
) -> _Fill:
    fill = _Fill()
    left = {oid: int(rec["availableBoxes"]) for oid, rec in snapshot.inventory.items()}
    location_code = str(location["code"]).upper() if location else None
    for index, item in enumerate(items):
        if item.order_item_id is not None:
            candidates = [item.order_item_id] if item.order_item_id in snapshot.inventory else []
        else:
            candidates = sorted(snapshot.presentations.get(item.presentation(), []))
        candidates = [c for c in candidates if c in snapshot.inventory and _at(snapshot.inventory[c], location_code)]
        available = sum(left[c] for c in candidates)
        wanted = item.boxes
        taken_ids: list[_Line] = []
        for oid in candidates:
            if wanted == 0:
                break
            boxes = min(wanted, left[oid])
            if boxes:
                left[oid] -= boxes
                wanted -= boxes
                taken_ids.append(_Line(index, Take(oid, boxes), snapshot.inventory[oid]))
        fill.lines.extend(taken_ids)
        fill.complete &= wanted == 0
        fill.results.append(
            InvoiceItemResult(
                status=1 if taken_ids else 0,
                order_item_id=item.order_item_id,
                product_code=item.product_code,
                available_boxes=available if (return_available_boxes or wanted) else None,
            )
        )
    return fill


def _at(inventory: dict[str, Any], location_code: str | None) -> bool:
    own = inventory.get("locationCode")
    return location_code is None or not own or str(own).upper() == location_code


def _rate(snapshot: Snapshot, currency: str, company_currency: str, on: date) -> Decimal:
    if currency == company_currency:
        return Decimal(1)
    rate = rate_in_force(snapshot.rates, currency, on)
    if rate is None:
        raise ValidationFailed(
            FieldError(
                "customerId",
                f"the customer's currency is {currency} and there is no "
                f"exchange rate for it in force on {on.isoformat()}; add one "
                "with PUT /v1/directory/exchange-rates",
            )
        )
    return rate


def _priced_lines(
    items: Sequence[InvoiceItemIn], fill: _Fill, rate: Decimal, last_item_id: int
) -> tuple[list[dict[str, Any]], int]:
    """The invoice's lines, numbered on from ``last_item_id``; and the last number used."""
    item_id = last_item_id
    lines = []
    for line in fill.lines:
        item_id += 1
        line.invoice_item_id = item_id
        fill.results[line.item_index].invoice_item_id.append(item_id)
        requested = items[line.item_index]
        amount = to_cents(requested.price * line.take.boxes * int(line.record.get("unitsPerBox", 1)))
        lines.append(
            {
                "invoiceItemId": item_id,
                "orderItemId": line.take.order_item_id,
                "productCode": line.record["productCode"],
                "boxTypeCode": line.record["boxTypeCode"],
                "unitsPerBox": int(line.record["unitsPerBox"]),
                "unitType": line.record["unitType"],
                "boxes": line.take.boxes,
                "price": requested.price,
                "priceCompanyCurrency": to_cents(requested.price * rate),
                "amount": amount,
                "amountCompanyCurrency": to_cents(amount * rate),
                "markCode": requested.mark_code,
                "productAlias": requested.product_alias,
                "notes": requested.notes,
            }
        )
    return lines, item_id


def _priced_charges(
    additional_charges: Sequence[AdditionalChargeIn], snapshot: Snapshot, rate: Decimal
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The invoice's charges, and the charges the directory does not have yet (added with the invoice)."""
    charges = [
        {
            "code": c.code.upper(),
            "name": c.name or snapshot.charges.get(c.code.upper(), {}).get("name"),
            "value": c.value,
            "valueCompanyCurrency": to_cents(c.value * rate),
        }
        for c in additional_charges
    ]
    new_charges = [
        {"code": c.code.upper(), "name": c.name or c.code.upper()}
        for c in additional_charges
        if c.code.upper() not in snapshot.charges
    ]
    return charges, new_charges


def _plan(
    company_id: str,
    user_id: str,
    request: InvoiceCreateRequest,
    snapshot: Snapshot,
    parties: _Parties,
    fill: _Fill,
    idempotency_key: str | None,
    fingerprint: str | None,
) -> CommitPlan:
    customer, carrier, location = parties.customer, parties.carrier, parties.location
    now = datetime.now(UTC)
    company_currency = str(snapshot.company.get("currency", "USD"))
    currency = str(customer.get("currency") or company_currency)
    rate = _rate(snapshot, currency, company_currency, now.date())
    counter = {k: int(snapshot.counter.get(k, 0)) for k in ("invoiceNumber", "invoiceId", "invoiceItemId")}
    number, invoice_id = counter["invoiceNumber"] + 1, counter["invoiceId"] + 1
    lines, item_id = _priced_lines(request.items, fill, rate, counter["invoiceItemId"])
    charges, new_charges = _priced_charges(request.additional_charges, snapshot, rate)
    subtotal = sum((ln["amount"] for ln in lines), Decimal(0))
    charges_total = sum((c["value"] for c in charges), Decimal(0))
    status = (
        InvoiceStatus.DRAFT
        if request.status_draft
        else InvoiceStatus.CONFIRMED
        if request.auto_confirm
        else InvoiceStatus.PENDING_APPROVAL
    )
    response = InvoiceCreateResponse(
        status="1" if fill.complete else "0",
        message="success" if fill.complete else "Item is not available",
        invoice_id=invoice_id,
        invoice_number=number,
        items=fill.results,
    ).body()
    invoice = {
        "invoiceId": invoice_id,
        "invoiceNumber": number,
        "status": status.value,
        "customer": {k: customer.get(k) for k in ("id", "code", "name")},
        "carrier": {k: carrier.get(k) for k in ("id", "code", "name")},
        "location": {k: location.get(k) for k in ("id", "code", "name")} if location else None,
        "store": {k: parties.store.get(k) for k in ("id", "code", "name")},
        "shipDate": request.ship_date.isoformat(),
        "poNumber": request.po_number,
        "reference": request.reference,
        "warehouseInstructions": request.warehouse_instructions,
        "invoiceNotes": request.invoice_notes,
        "currency": currency,
        "companyCurrency": company_currency,
        "exchangeRate": rate,
        "items": lines,
        "additionalCharges": charges,
        "subTotal": to_cents(subtotal),
        "total": to_cents(subtotal + charges_total),
        "totalCompanyCurrency": to_cents((subtotal + charges_total) * rate),
        "createdAt": now.isoformat(),
        "createdBy": user_id,
        "version": 1,
        "response": response,
    }
    return CommitPlan(
        company_id=company_id,
        invoice=invoice,
        takes=[ln.take for ln in fill.lines],
        expected_counter=counter,
        next_counter={"invoiceNumber": number, "invoiceId": invoice_id, "invoiceItemId": item_id},
        new_charges=new_charges,
        idempotency_key=idempotency_key,
        idempotency_record={"fingerprint": fingerprint, "response": response} if idempotency_key else None,
    )
