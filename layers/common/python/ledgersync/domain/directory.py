"""The directory: customers, vendors, carriers, locations, products, box types, inventory, charges, rates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
)
from pydantic.alias_generators import to_camel

from ledgersync.domain.accounts import Principal, Role
from ledgersync.errors import Conflict, FieldError, ValidationFailed
from ledgersync.validation import field_errors

MAX_RECORDS = 1000
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
RecordId = Annotated[int, Field(ge=1, le=99_999_999_999_999_999_999)]


class Kind(StrEnum):
    CUSTOMERS = "customers"
    VENDORS = "vendors"
    CARRIERS = "carriers"
    LOCATIONS = "locations"
    PRODUCTS = "products"
    BOX_TYPES = "box-types"
    INVENTORY = "inventory"
    CHARGES = "charges"
    EXCHANGE_RATES = "exchange-rates"
    STORES = "stores"


class UnitType(StrEnum):
    STEM = "Stem"
    BUNCH = "Bunch"

    @classmethod
    def parse(cls, value: str) -> UnitType:
        for member in cls:
            if member.value.casefold() == value.strip().casefold():
                return member
        raise ValueError("must be Stem or Bunch")


MAX_ATTRIBUTES = 50
MAX_ATTRIBUTE_TEXT = 500
AttributeName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,49}$")]


def _scalar(value: Any) -> str | int | bool | Decimal | None:
    """An attribute's value: text up to 500 characters, a bounded number, a boolean or null; nothing nested."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if len(value) > MAX_ATTRIBUTE_TEXT:
            raise ValueError(f"must be at most {MAX_ATTRIBUTE_TEXT} characters")
        return value
    if isinstance(value, int | float | Decimal):
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
        exponent = number.as_tuple().exponent
        if not isinstance(exponent, int) or exponent < -8 or abs(number) >= 10**15:
            raise ValueError("must be a finite number below 1e15 with at most 8 decimal places")
        return value if isinstance(value, int) else number
    raise ValueError("must be a string, a number, true, false or null")


AttributeValue = Annotated[str | int | bool | Decimal | None, PlainValidator(_scalar)]


class _Record(BaseModel):
    """Unknown fields are refused; what an outside system wants kept beside a record goes in ``attributes``, a
    flat map of named scalars (see docs/decisions.md), so nothing stored can make the directory unreadable."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=False)

    attributes: dict[AttributeName, AttributeValue] | None = Field(default=None, max_length=MAX_ATTRIBUTES)


class NamedRecord(_Record):
    """Carriers, locations, products and box types: an id, a code and a name."""

    id: RecordId | None = None
    code: Code
    name: Name


class BoxTypeRecord(NamedRecord):
    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=3)]


class LocationRecord(NamedRecord):
    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10)]


AccountingPartyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=41)]
AccountingItemName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=31)]


class CustomerRecord(NamedRecord):
    # The customer's name in the accounting system (QuickBooks' 41-character limit), when it is not ``name``.
    accounting_name: AccountingPartyName | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    active: bool = True


class ProductRecord(NamedRecord):
    # The accounting item its invoice lines go on (QuickBooks' 31-character item name); else the settings'
    # ``invoiceItemName``.
    accounting_item: AccountingItemName | None = None


class CustomerMode(StrEnum):
    DIRECT = "direct"  # the invoice goes to the order's own customer
    CHANNEL = "channel"  # every invoice of the store goes to one accounting customer (a marketplace, a channel)


class InvoiceSync(StrEnum):
    MANUAL = "manual"
    AUTOMATIC = "automatic"


MAX_INVOICE_PREFIX = 10


class StoreRecord(NamedRecord):
    """A store (issue 10): who its invoices are billed to, how they are sent, how their numbers start."""

    customer_mode: CustomerMode = CustomerMode.DIRECT
    accounting_customer: AccountingPartyName | None = Field(default=None, validate_default=True)
    invoice_sync: InvoiceSync = InvoiceSync.MANUAL
    invoice_prefix: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_INVOICE_PREFIX)] | None
    ) = None
    default: bool = False

    @field_validator("accounting_customer")
    @classmethod
    def _channel_names_its_customer(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("customer_mode") is CustomerMode.CHANNEL:
            raise ValueError(
                "is required when customerMode is channel: the name of the accounting customer every invoice of "
                "this store is billed to"
            )
        return value


class VendorRecord(NamedRecord):
    accounting_name: AccountingPartyName | None = None
    type: Annotated[str, StringConstraints(max_length=50)] | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    active: bool = True


class InventoryRecord(_Record):
    order_item_id: RecordId
    product_code: Code
    box_type_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=3)]
    units_per_box: Annotated[int, Field(ge=1, le=9_999_999_999)]
    unit_type: UnitType
    available_boxes: Annotated[int, Field(ge=0, le=9_999_999_999)]
    cost: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)] = Decimal("0")
    location_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10)] | None = None

    @field_validator("unit_type", mode="before")
    @classmethod
    def _unit_type(cls, value: Any) -> UnitType:
        if not isinstance(value, str):
            raise ValueError("must be Stem or Bunch")  # noqa: TRY004 - pydantic wants ValueError
        return UnitType.parse(value)

    def product_key(self) -> str:
        return product_key(self.product_code, self.box_type_code, self.units_per_box, self.unit_type)


class ChargeRecord(_Record):
    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10)]
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)] | None = None


class ExchangeRateRecord(_Record):
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    rate: Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=8)]
    effective_from: date


MODELS: dict[Kind, type[_Record]] = {
    Kind.CUSTOMERS: CustomerRecord,
    Kind.VENDORS: VendorRecord,
    Kind.CARRIERS: NamedRecord,
    Kind.LOCATIONS: LocationRecord,
    Kind.PRODUCTS: ProductRecord,
    Kind.BOX_TYPES: BoxTypeRecord,
    Kind.INVENTORY: InventoryRecord,
    Kind.CHARGES: ChargeRecord,
    Kind.EXCHANGE_RATES: ExchangeRateRecord,
    Kind.STORES: StoreRecord,
}
ID_KINDS = {Kind.CUSTOMERS, Kind.VENDORS, Kind.CARRIERS, Kind.LOCATIONS, Kind.PRODUCTS, Kind.BOX_TYPES, Kind.STORES}
# The store an invoice belongs to when invoice.create names none and no store is the default (issue 10).
IMPLICIT_STORE: dict[str, Any] = {
    "id": None,
    "code": "DEFAULT",
    "name": "Default store",
    "customerMode": CustomerMode.DIRECT.value,
    "accountingCustomer": None,
    "invoiceSync": InvoiceSync.MANUAL.value,
    "invoicePrefix": None,
    "default": True,
}


def product_key(product_code: str, box_type_code: str, units_per_box: int, unit_type: str) -> str:
    """The key that finds every inventory line of one product presentation (codes compare case-insensitively)."""
    return f"{product_code.upper()}#{box_type_code.upper()}#{units_per_box}#{UnitType.parse(unit_type).value}"


def default_store_change(
    records: Sequence[dict[str, Any]], previous: Sequence[dict[str, Any]]
) -> tuple[dict[str, Any] | None, bool]:
    """What a write of stores does to the company's default-store record (kept so that invoice.create reads it in
    its one batch read): the store to keep there, or whether to remove it (the default store stopped being one)."""
    new_default = next((r for r in records if r.get("default")), None)
    if new_default is not None:
        return new_default, False
    written = {r["id"] for r in records}
    return None, any(old.get("default") and old["id"] in written for old in previous)


def another_default_store(holder: dict[str, Any], wanted: dict[str, Any]) -> Conflict:
    """The 409 when ``wanted`` would be a second default store beside ``holder``."""
    return Conflict(
        f"store '{holder['code']}' (id {holder['id']}) is already the default store; send it with "
        f"\"default\": false first (or in the same request) to make '{wanted['code']}' the default"
    )


def natural_key(kind: Kind, record: _Record) -> str:
    """The key a record is stored under when it has no integer id (inventory, charges, exchange rates)."""
    if isinstance(record, InventoryRecord):
        return str(record.order_item_id)
    if isinstance(record, ChargeRecord):
        return record.code.upper()
    if isinstance(record, ExchangeRateRecord):
        return f"{record.currency}#{record.effective_from.isoformat()}"
    raise ValueError(kind)


class DirectoryStore(Protocol):
    def get_by_ids(self, company_id: str, kind: Kind, ids: Sequence[int]) -> dict[int, dict[str, Any]]: ...
    def get_by_codes(self, company_id: str, kind: Kind, codes: Sequence[str]) -> dict[str, dict[str, Any]]: ...
    def get_by_keys(self, company_id: str, kind: Kind, keys: Sequence[str]) -> dict[str, dict[str, Any]]: ...
    def allocate_ids(self, company_id: str, kind: Kind, count: int) -> list[int]: ...
    def write(
        self, company_id: str, kind: Kind, records: Sequence[dict[str, Any]], previous: Sequence[dict[str, Any]]
    ) -> None:
        """Write ``records``. For stores, a new default is claimed first, conditionally: a default store that is
        not among ``records`` refuses the write (``another_default_store``), even between two racing writes."""

    def list(
        self, company_id: str, kind: Kind, limit: int, after: str | None
    ) -> tuple[list[dict[str, Any]], str | None]: ...


class UpsertResult(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    kind: Kind
    created: int
    updated: int
    records: list[dict[str, Any]]


class DirectoryPage(BaseModel):
    """``GET /v1/directory/{kind}``: one page of records, and the cursor of the next (null on the last page)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    kind: Kind
    records: list[dict[str, Any]]
    next_cursor: str | None


class KometList(BaseModel):
    """A Komet list method's answer (seed 002): ``status`` "1", ``message`` and the records under the kind's plural
    (``KOMET_LIST_ANSWERS``)."""

    status: Literal["1"] = "1"
    message: Literal["success"] = "success"


# The Komet list methods by name, the kind each reads and the key its records come under.
KOMET_LISTS: dict[str, tuple[Kind, str]] = {
    "customer": (Kind.CUSTOMERS, "customers"),
    "carrier": (Kind.CARRIERS, "carriers"),
    "location": (Kind.LOCATIONS, "locations"),
    "product": (Kind.PRODUCTS, "products"),
    "boxtype": (Kind.BOX_TYPES, "boxTypes"),
    "inventory": (Kind.INVENTORY, "inventory"),
}
KOMET_LIST_ANSWERS: dict[str, type[KometList]] = {
    method: create_model(
        f"Komet{method.capitalize()}List",
        __base__=KometList,
        __doc__=f"Komet {method}.list: the matching {kind.value} records.",
        **{plural: (list[dict[str, Any]], ...)},  # type: ignore[call-overload]
    )
    for method, (kind, plural) in KOMET_LISTS.items()
}


@dataclass(frozen=True)
class KometListFilter:
    """Seed 002's list filters: id and code exact (code in any case), name contained (any case), inactive records
    only when asked."""

    record_id: int | None = None
    code: str | None = None
    name: str | None = None
    include_inactive: bool = False

    def matches(self, record: dict[str, Any]) -> bool:
        if self.record_id is not None and int(record.get("id", record.get("orderItemId", 0))) != self.record_id:
            return False
        code = str(record.get("code", record.get("productCode", "")))
        if self.code is not None and code.casefold() != self.code.casefold():
            return False
        if self.name is not None and self.name.casefold() not in str(record.get("name", "")).casefold():
            return False
        return self.include_inactive or record.get("active", True) is not False


# The roles that may change the directory.
DIRECTORY_WRITERS = frozenset(
    {Role.ADMIN, Role.PROCUREMENT, Role.PROCUREMENT_MANAGER, Role.ACCOUNTING, Role.ACCOUNTS_PAYABLE}
)


class Directory:
    """Bulk upserts (validated whole before anything is written) and listings."""

    def __init__(self, store: DirectoryStore) -> None:
        self.store = store

    def change(self, caller: Principal, kind: Kind, rows: Any) -> UpsertResult:
        """``PUT /v1/directory/{kind}``: the caller's upsert, for the roles that may change the directory."""
        caller.require_role(set(DIRECTORY_WRITERS), "change the directory")
        return self.upsert(caller.company_id, kind, rows)

    def list_page(self, company_id: str, kind: Kind, limit: int, cursor: str | None) -> DirectoryPage:
        records, next_cursor = self.page(company_id, kind, limit, cursor)
        return DirectoryPage(kind=kind, records=records, next_cursor=next_cursor)

    def komet_list(self, company_id: str, method: str, wanted: KometListFilter) -> KometList:
        """A Komet list method (``customer``, ``carrier``, ...): the records of its kind that ``wanted`` matches."""
        kind, plural = KOMET_LISTS[method]
        records = self.candidates(company_id, kind, wanted.record_id, wanted.code)
        return KOMET_LIST_ANSWERS[method].model_validate({plural: [r for r in records if wanted.matches(r)]})

    def upsert(self, company_id: str, kind: Kind, rows: Any) -> UpsertResult:
        records = self._validate(kind, rows)
        if kind in ID_KINDS:
            return self._upsert_by_id(company_id, kind, records)
        keys = [natural_key(kind, r) for r in records]
        _refuse_duplicates(keys, "orderItemId" if kind is Kind.INVENTORY else "code")
        existing = self.store.get_by_keys(company_id, kind, keys)
        dumped = [_dump(r) for r in records]
        self.store.write(company_id, kind, dumped, [existing[k] for k in keys if k in existing])
        created = sum(1 for k in keys if k not in existing)
        return UpsertResult(kind=kind, created=created, updated=len(keys) - created, records=dumped)

    def add_named(self, company_id: str, kind: str, code: str, name: str) -> dict[str, Any]:
        """Add one record by code and name (a carrier or the Unknown customer created on the fly)."""
        result = self.upsert(company_id, Kind(kind), [{"code": code, "name": name}])
        return result.records[0]

    def page(
        self, company_id: str, kind: Kind, limit: int = 1000, after: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        return self.store.list(company_id, kind, limit, after)

    def candidates(self, company_id: str, kind: Kind, record_id: int | None, code: str | None) -> list[dict[str, Any]]:
        """The records a Komet list filter can match: fetched by key when it names an id or a code, else all."""
        if record_id is not None:
            if kind is Kind.INVENTORY:
                return list(self.store.get_by_keys(company_id, kind, [str(record_id)]).values())
            return list(self.store.get_by_ids(company_id, kind, [record_id]).values())
        if code is not None and kind in ID_KINDS:
            return list(self.store.get_by_codes(company_id, kind, [code]).values())
        records, _ = self.store.list(company_id, kind, 100_000, None)
        return records

    def _validate(self, kind: Kind, rows: Any) -> list[_Record]:
        if not isinstance(rows, list):
            raise ValidationFailed(FieldError("records", "must be a JSON array of records"))
        if not rows:
            raise ValidationFailed(FieldError("records", "must hold at least one record"))
        if len(rows) > MAX_RECORDS:
            raise ValidationFailed(FieldError("records", f"at most {MAX_RECORDS} records at once, got {len(rows)}"))
        model = MODELS[kind]
        errors: list[FieldError] = []
        records: list[_Record] = []
        for index, row in enumerate(rows):
            try:
                records.append(model.model_validate(row))
            except ValidationError as err:
                errors.extend(field_errors(err, prefix=f"records[{index}]"))
        if errors:
            raise ValidationFailed(errors, f"{len(errors)} error(s) in the records; nothing was written")
        return records

    def _upsert_by_id(self, company_id: str, kind: Kind, records: list[_Record]) -> UpsertResult:
        named = [r for r in records if isinstance(r, NamedRecord)]
        codes = [r.code.upper() for r in named]
        _refuse_duplicates(codes, "code")
        _refuse_duplicates([str(r.id) for r in named if r.id is not None], "id")
        by_code = self.store.get_by_codes(company_id, kind, codes)
        by_id = self.store.get_by_ids(company_id, kind, [r.id for r in named if r.id is not None])
        errors: list[FieldError] = []
        missing_ids = 0
        for index, record in enumerate(named):
            holder = by_code.get(record.code.upper())
            if record.id is None:
                if holder:
                    record.id = int(holder["id"])
                else:
                    missing_ids += 1
            elif holder and int(holder["id"]) != record.id:
                errors.append(
                    FieldError(f"records[{index}].code", f"code '{record.code}' already belongs to id {holder['id']}")
                )
        if errors:
            raise ValidationFailed(errors, f"{len(errors)} error(s) in the records; nothing was written")
        if kind is Kind.STORES:
            self._one_default_store(company_id, named)
        fresh = iter(self.store.allocate_ids(company_id, kind, missing_ids) if missing_ids else [])
        created = 0
        for record in named:
            if record.id is None:
                record.id = next(fresh)
                created += 1
            elif record.id not in by_id:
                created += 1
        dumped = [_dump(r) for r in named]
        previous = [by_id[r.id] for r in named if r.id in by_id]
        previous += [v for v in by_code.values() if int(v["id"]) not in by_id]
        self.store.write(company_id, kind, dumped, previous)
        return UpsertResult(kind=kind, created=created, updated=len(named) - created, records=dumped)

    def _one_default_store(self, company_id: str, stores: list[NamedRecord]) -> None:
        """At most one store of a company has ``"default": true``: a second one is refused naming the first."""
        asked = [(i, r) for i, r in enumerate(stores) if isinstance(r, StoreRecord) and r.default]
        if len(asked) > 1:
            first = asked[0][1].code
            raise ValidationFailed(
                [
                    FieldError(f"records[{i}].default", f"only one store can be the default; records give '{first}'")
                    for i, _ in asked[1:]
                ]
            )
        if not asked:
            return
        codes = {r.code.upper() for r in stores}
        ids = {r.id for r in stores if r.id is not None}
        existing, _ = self.store.list(company_id, Kind.STORES, MAX_RECORDS, None)
        holders = [
            s for s in existing if s.get("default") and str(s["code"]).upper() not in codes and s["id"] not in ids
        ]
        if holders:
            raise another_default_store(holders[0], {"code": asked[0][1].code})


def _dump(record: _Record) -> dict[str, Any]:
    return record.model_dump(
        mode="python", by_alias=True, exclude_none=False, exclude={"attributes"} if record.attributes is None else None
    )


def _refuse_duplicates(keys: list[str], field: str) -> None:
    seen: dict[str, int] = {}
    errors = []
    for index, key in enumerate(keys):
        if key in seen:
            errors.append(FieldError(f"records[{index}].{field}", f"repeats records[{seen[key]}] in the same request"))
        seen.setdefault(key, index)
    if errors:
        raise ValidationFailed(errors, f"{len(errors)} error(s) in the records; nothing was written")


KindLiteral = Literal[
    "customers",
    "vendors",
    "carriers",
    "locations",
    "products",
    "box-types",
    "inventory",
    "charges",
    "exchange-rates",
    "stores",
]
