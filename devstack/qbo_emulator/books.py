"""One emulated QuickBooks Online company file: its entities and the rules QuickBooks applies when writing them."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from devstack.qbo_emulator.faults import Fault
from devstack.qbo_emulator.query import Query, QueryError, matches, parse
from devstack.qbo_emulator.schema import EntityValidator, SchemaViolation

# The account type the A/R and A/P refs of a transaction must name.
CONTROL_ACCOUNTS = {"ARAccountRef": "Accounts Receivable", "APAccountRef": "Accounts Payable"}
CURRENCY_LISTS = frozenset({"Vendor", "Customer", "Account"})
ENTITIES = ("Vendor", "Item", "Account", "Class", "Bill", "Invoice", "Estimate", "Customer", "Employee")
NAME_LISTS = {
    "Vendor": "DisplayName",
    "Customer": "DisplayName",
    "Employee": "DisplayName",
    "Item": "Name",
    "Account": "Name",
    "Class": "Name",
}
# Vendors, customers and employees share one name space in QuickBooks.
PEOPLE = ("Vendor", "Customer", "Employee")
NAME_SPACE = {
    "Vendor": PEOPLE,
    "Customer": PEOPLE,
    "Employee": PEOPLE,
    "Item": ("Item",),
    "Account": ("Account",),
    "Class": ("Class",),
}
DOC_NUMBER_MAX = 21
HOME_CURRENCY = "USD"
# Transactions the API deletes with ``?operation=delete``; names (customers, items, ...) are only made inactive.
DELETABLE = ("Invoice", "Bill", "Estimate")
TRANSACTIONS = ("Bill", "Invoice", "Estimate")
# Estimate.TxnStatus (QboEstimateStatusEnum). An invoice links only Pending and Accepted estimates ("Closed and
# Rejected estimates will be ignored", LinkedTxn.TxnId in Finance.xsd); linked, the estimate is Closed, and it opens
# again (Pending) when that invoice is deleted, as QuickBooks Online shows an estimate converted to an invoice.
ESTIMATE_STATUSES = ("Accepted", "Closed", "Pending", "Rejected")
LINKABLE_ESTIMATES = ("Pending", "Accepted")
ITEM_TYPES = ("Service", "NonInventory", "Inventory", "Category", "Group")
FIRST_INVOICE_NUMBER = 1001


def entity_name(raw: str) -> str:
    """``bill`` or ``Bill`` -> ``Bill``; a Fault for entities the emulator does not hold."""
    for name in ENTITIES:
        if name.lower() == raw.lower():
            return name
    raise Fault("2010", element=raw, detail=f"Unsupported entity: {raw}")


def _now() -> str:
    return datetime.now(UTC).astimezone().isoformat(timespec="seconds")


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value))


def _json_number(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01")))


@dataclass
class Preferences:
    """The company preferences the emulator honours, as QuickBooks Online's defaults for a new US company.

    ``custom_txn_numbers`` (SalesFormsPrefs.CustomTxnNumbers, off by default): when off, an invoice created
    without a DocNumber is numbered by QuickBooks (the last number plus one, from 1001); when on it stays blank.
    ``duplicate_doc_number_check`` (on by default): a second invoice with a DocNumber already used by another
    invoice is refused with 6140, as QuickBooks refuses it unless the caller adds ``include=allowduplicatedocnum``.
    """

    custom_txn_numbers: bool = False
    duplicate_doc_number_check: bool = True

    def as_json(self) -> dict[str, Any]:
        return {"CustomTxnNumbers": self.custom_txn_numbers, "DuplicateDocNumberCheck": self.duplicate_doc_number_check}

    def update(self, body: Any) -> None:
        """Apply ``{"CustomTxnNumbers": bool, "DuplicateDocNumberCheck": bool}`` (either may be left out)."""
        if not isinstance(body, dict):
            raise Fault("2010", element="Preferences", detail="Preferences must be a JSON object")
        fields = {"CustomTxnNumbers": "custom_txn_numbers", "DuplicateDocNumberCheck": "duplicate_doc_number_check"}
        for key, value in body.items():
            if key not in fields:
                raise Fault("2010", element=key, detail=f"Property Name:{key} specified is unsupported or invalid")
            if not isinstance(value, bool):
                raise Fault("2010", element=key, detail=f"{key} must be true or false")
        for key, value in body.items():
            setattr(self, fields[key], value)


@dataclass
class Books:
    """The entities of one realm. Callers hold the emulator's lock."""

    realm_id: str
    validator: EntityValidator | None = None
    home_currency: str = HOME_CURRENCY
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {e: {} for e in ENTITIES})
    next_id: int = 1
    preferences: Preferences = field(default_factory=Preferences)
    deleted: dict[str, set[str]] = field(default_factory=lambda: {e: set() for e in ENTITIES})

    # ------------------------------------------------------------------ reads

    def all(self, entity: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(r) for r in self.records[entity].values()]

    def read(self, entity: str, entity_id: str) -> dict[str, Any]:
        record = self.records[entity].get(entity_id)
        if record is None and entity_id in self.deleted[entity]:
            raise _deleted_fault(entity, entity_id)
        if record is None:
            raise Fault(
                "610",
                element=f"{entity} {entity_id}",
                detail=f"Object Not Found : Something you're trying to use has been made inactive. "
                f"Check the fields with accounts, customers, items, vendors or employees. "
                f"({entity} Id={entity_id})",
            )
        return copy.deepcopy(record)

    def query(self, text: str) -> dict[str, Any]:
        """The ``QueryResponse`` for one query."""
        try:
            query = parse(text)
        except QueryError as error:
            raise Fault("4000", element=str(error)) from error
        entity = entity_name(query.entity)
        rows = self._select(entity, query)
        if query.count:
            return {"totalCount": len(rows)}
        page = rows[query.start_position - 1 : query.start_position - 1 + query.max_results]
        if not page:
            return {}
        return {entity: page, "startPosition": query.start_position, "maxResults": len(page)}

    def _select(self, entity: str, query: Query) -> list[dict[str, Any]]:
        rows = list(self.records[entity].values())
        if entity in NAME_LISTS and not query.mentions("Active"):
            rows = [r for r in rows if r.get("Active", True)]  # name lists answer active records unless asked
        rows = [r for r in rows if all(matches(r, c) for c in query.conditions)]
        if query.order_by:
            order = query.order_by
            rows.sort(key=lambda r: str(r.get(order, "")), reverse=query.descending)
        else:
            rows.sort(key=lambda r: int(r["Id"]))
        return [copy.deepcopy(r) for r in rows]

    # ------------------------------------------------------------------ writes

    def add(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        """Set-up: store a record as given (Id, SyncToken and defaults filled in), skipping business rules."""
        record = copy.deepcopy(body)
        record.setdefault("Id", self._new_id())
        record.setdefault("SyncToken", "0")
        if entity in NAME_LISTS:
            record.setdefault("Active", True)
            record.setdefault(NAME_LISTS[entity], record.get("Name") or record.get("DisplayName") or record["Id"])
            record.setdefault("FullyQualifiedName", record[NAME_LISTS[entity]])
        if entity in CURRENCY_LISTS:  # QuickBooks answers each of them with its currency, the home one unless set
            record.setdefault("CurrencyRef", {"value": self.home_currency})
        record.setdefault("domain", "QBO")
        record.setdefault("sparse", False)
        record.setdefault("MetaData", {"CreateTime": _now(), "LastUpdatedTime": _now()})
        self.records[entity][str(record["Id"])] = record
        self.next_id = max(self.next_id, int(record["Id"]) + 1) if str(record["Id"]).isdigit() else self.next_id
        return copy.deepcopy(record)

    def write(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create, or update when ``Id`` is present (full or ``sparse``), with QuickBooks' checks."""
        if not isinstance(body, dict):
            raise Fault("2010", element=entity, detail=f"Request body for {entity} must be an object")
        if self.validator is not None:
            try:
                self.validator.check(entity, body)
            except SchemaViolation as violation:
                raise Fault(
                    "2010" if violation.unsupported else "6000", element=entity, detail=violation.message
                ) from violation
        if body.get("Id") is not None:
            return self._update(entity, body)
        record = copy.deepcopy(body)
        self._apply_rules(entity, record, None)
        record.update(
            {
                "Id": self._new_id(),
                "SyncToken": "0",
                "domain": "QBO",
                "sparse": False,
                "MetaData": {"CreateTime": _now(), "LastUpdatedTime": _now()},
            }
        )
        self.records[entity][record["Id"]] = record
        if entity == "Invoice":
            self._close_linked_estimates(record)
        return copy.deepcopy(record)

    def _update(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        entity_id = str(body["Id"])
        current = self.records[entity].get(entity_id)
        if current is None:
            raise Fault("610", element=f"{entity} {entity_id}")
        if body.get("SyncToken") is None:
            raise Fault("2020", element="SyncToken")
        if str(body["SyncToken"]) != current["SyncToken"]:
            raise Fault("5010", element="SyncToken")
        if body.get("sparse"):
            record = copy.deepcopy(current)
            record.update(copy.deepcopy(body))
        else:
            record = copy.deepcopy(body)
            record["MetaData"] = current["MetaData"]
        self._apply_rules(entity, record, entity_id)
        record.update(
            {"Id": entity_id, "SyncToken": str(int(current["SyncToken"]) + 1), "domain": "QBO", "sparse": False}
        )
        record["MetaData"] = {**current["MetaData"], "LastUpdatedTime": _now()}
        self.records[entity][entity_id] = record
        return copy.deepcopy(record)

    def delete(self, entity: str, body: Any) -> dict[str, Any]:
        """``POST /<entity>?operation=delete`` with ``{Id, SyncToken}``: the transaction is gone, as in QuickBooks."""
        if entity not in DELETABLE:
            raise Fault("2010", element=entity, detail=f"Operation Delete is not supported for {entity}")
        if not isinstance(body, dict):
            raise Fault("2010", element=entity, detail=f"Request body for {entity} must be an object")
        if body.get("Id") is None:
            raise Fault("2020", element="Id")
        if body.get("SyncToken") is None:
            raise Fault("2020", element="SyncToken")
        entity_id = str(body["Id"])
        current = self.records[entity].get(entity_id)
        if current is None:
            if entity_id in self.deleted[entity]:
                raise _deleted_fault(entity, entity_id)
            raise Fault(
                "610",
                element=f"{entity} {entity_id}",
                detail=f"Object Not Found : Something you're trying to use has been made inactive. Check the "
                f"fields with accounts, customers, items, vendors or employees. ({entity} Id={entity_id})",
            )
        if str(body["SyncToken"]) != current["SyncToken"]:
            raise Fault("5010", element="SyncToken")
        self._remove(entity, entity_id)
        return {"status": "Deleted", "domain": "QBO", "Id": entity_id}

    def _close_linked_estimates(self, invoice: dict[str, Any]) -> None:
        """An invoice created linked to estimates closes each, which links back to the invoice."""
        for link in invoice.get("LinkedTxn") or []:
            estimate = self.records["Estimate"].get(str(link.get("TxnId")))
            if link.get("TxnType") != "Estimate" or estimate is None:
                continue
            estimate["TxnStatus"] = "Closed"
            estimate["LinkedTxn"] = [*estimate.get("LinkedTxn", []), {"TxnId": invoice["Id"], "TxnType": "Invoice"}]
            self._touched(estimate)

    def _reopen_linked_estimates(self, invoice: dict[str, Any]) -> None:
        """A deleted invoice's estimates lose the link to it and are open (Pending) again."""
        for link in invoice.get("LinkedTxn") or []:
            estimate = self.records["Estimate"].get(str(link.get("TxnId")))
            if link.get("TxnType") != "Estimate" or estimate is None:
                continue
            kept = [t for t in estimate.get("LinkedTxn", []) if t.get("TxnId") != invoice["Id"]]
            estimate["LinkedTxn"] = kept
            if not any(t.get("TxnType") == "Invoice" for t in kept):
                estimate["TxnStatus"] = "Pending"
            self._touched(estimate)

    @staticmethod
    def _touched(record: dict[str, Any]) -> None:
        record["SyncToken"] = str(int(record["SyncToken"]) + 1)
        record["MetaData"] = {**record["MetaData"], "LastUpdatedTime": _now()}

    def delete_as_person(self, entity: str, entity_id: str) -> dict[str, Any]:
        """What a person deleting the record in QuickBooks gets: a transaction is deleted, a name made inactive."""
        current = self.read(entity, entity_id)
        if entity in TRANSACTIONS:
            self._remove(entity, entity_id)
            return {"status": "Deleted", "domain": "QBO", "Id": entity_id}
        record = self.records[entity][entity_id]
        record["Active"] = False
        record["SyncToken"] = str(int(current["SyncToken"]) + 1)
        record["MetaData"] = {**current["MetaData"], "LastUpdatedTime": _now()}
        return copy.deepcopy(record)

    def _remove(self, entity: str, entity_id: str) -> None:
        removed = self.records[entity].pop(entity_id)
        if entity == "Invoice":
            self._reopen_linked_estimates(removed)
        self.deleted[entity].add(entity_id)

    def _new_id(self) -> str:
        entity_id = str(self.next_id)
        self.next_id += 1
        return entity_id

    # ------------------------------------------------------------------ rules

    def _apply_rules(self, entity: str, record: dict[str, Any], own_id: str | None) -> None:
        if entity in NAME_LISTS:
            self._name_rules(entity, record, own_id)
        elif entity == "Bill":
            self._bill_rules(record, own_id)
        elif entity == "Invoice":
            self._invoice_rules(record, own_id)
        elif entity == "Estimate":
            self._estimate_rules(record, own_id)

    def _name_rules(self, entity: str, record: dict[str, Any], own_id: str | None) -> None:
        name_field = NAME_LISTS[entity]
        if entity in PEOPLE and not record.get("DisplayName"):
            given = " ".join(str(record[k]) for k in ("GivenName", "FamilyName") if record.get(k))
            record["DisplayName"] = record.get("CompanyName") or given
        name = record.get(name_field)
        if not name:
            raise Fault("2020", element=name_field)
        if ":" in str(name) and entity != "Account":
            raise Fault("2010", element=name_field, detail=f"{name_field} cannot contain a colon (:)")
        for other in NAME_SPACE[entity]:
            other_field = NAME_LISTS[other]
            for existing in self.records[other].values():
                if existing["Id"] == own_id and other == entity:
                    continue
                if str(existing.get(other_field, "")).casefold() == str(name).casefold():
                    who = "product or service" if entity == "Item" else "customer, vendor or employee"
                    raise Fault(
                        "6240",
                        element=name_field,
                        detail=f"The name supplied already exists. : Another {who} is already using this name. "
                        f"Please use a different name. Id={existing['Id']}",
                    )
        if own_id is not None and entity in {"Customer", "Vendor"}:
            self._currency_is_fixed(entity, record, own_id)
        elif entity in {"Customer", "Vendor"}:  # QuickBooks answers every vendor and customer with its currency
            record["CurrencyRef"] = {"value": self._currency_of(record)}
        record.setdefault("Active", True)
        record["FullyQualifiedName"] = name
        if entity == "Item":
            self._item_rules(record)
        if entity == "Account":
            record.setdefault("AccountType", "Expense")
            # every account is in one currency (the home one unless given); an A/R or A/P account's is the one of
            # the transactions it takes
            record["CurrencyRef"] = {"value": self._currency_of(record)}
        if entity == "Vendor":
            record.setdefault("PrintOnCheckName", name)
            record.setdefault("Balance", 0)

    def _currency_of(self, record: dict[str, Any], default: str | None = None) -> str:
        """The currency code ``record``'s CurrencyRef names; ``default`` (the home currency) when it names none."""
        return str((record.get("CurrencyRef") or {}).get("value") or default or self.home_currency)

    def _currency_is_fixed(self, entity: str, record: dict[str, Any], own_id: str) -> None:
        """A customer's or vendor's currency is set once, at creation: QuickBooks refuses to change it."""
        current = self._currency_of(self.records[entity][own_id])
        wanted = self._currency_of(record, current)
        if wanted != current:
            raise Fault(
                "6000",
                element="CurrencyRef",
                detail=f"Business Validation Error: You can't change the currency of this {entity.lower()} "
                f"({current}) once it is set; make a new {entity.lower()} for {wanted}.",
            )
        record["CurrencyRef"] = {"value": current}

    def _item_rules(self, record: dict[str, Any]) -> None:
        """Type defaults to NonInventory; a Service item needs an income account, a NonInventory item an income or
        expense account (QuickBooks posts the line there), and the account named must be active."""
        item_type = record.setdefault("Type", "NonInventory")
        if item_type not in ITEM_TYPES:
            raise Fault(
                "2010", element="Type", detail=f"Property Name:Type value {item_type} is unsupported or invalid"
            )
        accounts = [key for key in ("IncomeAccountRef", "ExpenseAccountRef") if record.get(key) is not None]
        if item_type == "Service" and "IncomeAccountRef" not in accounts:
            raise Fault("2020", element="IncomeAccountRef")
        if item_type == "NonInventory" and not accounts:
            raise Fault("2020", element="IncomeAccountRef")
        for key in accounts:
            account = self._active_ref("Account", record[key], key)
            record[key] = {"value": account["Id"], "name": account["Name"]}

    def _active_ref(self, entity: str, ref: Any, element: str) -> dict[str, Any]:
        ref_id = ref.get("value") if isinstance(ref, dict) else None
        if not ref_id:
            raise Fault("2020", element=element)
        found = self.records[entity].get(str(ref_id))
        if found is None or not found.get("Active", True):
            raise Fault("610", element=element)
        return found

    def _lines(self, record: dict[str, Any], details: dict[str, tuple[str, str]]) -> Decimal:
        lines = record.get("Line")
        if not isinstance(lines, list) or not lines:
            raise Fault("2020", element="Line")
        total = Decimal(0)
        for number, line in enumerate(lines, start=1):
            if line.get("Amount") is None:
                raise Fault("2020", element="Line.Amount")
            detail_type = line.get("DetailType")
            if detail_type not in details:
                raise Fault(
                    "2010",
                    element="Line.DetailType",
                    detail=f"Property Name:DetailType {detail_type} is unsupported or invalid for this entity",
                )
            detail = line.get(detail_type) or {}
            line["Id"] = str(number)
            line["LineNum"] = number
            if detail_type == "DiscountLineDetail":
                total -= self._discount(line, detail)
                continue
            ref_field, ref_entity = details[detail_type]
            self._active_ref(ref_entity, detail.get(ref_field), f"Line.{detail_type}.{ref_field}")
            if detail.get("ClassRef") is not None:
                self._active_ref("Class", detail["ClassRef"], f"Line.{detail_type}.ClassRef")
            total += _decimal(line["Amount"])
        return total

    def _discount(self, line: dict[str, Any], detail: dict[str, Any]) -> Decimal:
        """A fixed-amount discount line (PercentBased false): its Amount is subtracted from the total. Its
        DiscountAccountRef, when given, must be an active account. Percent discounts are not emulated (refused)."""
        if detail.get("DiscountAccountRef") is not None:
            self._active_ref("Account", detail["DiscountAccountRef"], "Line.DiscountLineDetail.DiscountAccountRef")
        if detail.get("PercentBased"):
            raise Fault(
                "2010",
                element="Line.DiscountLineDetail.PercentBased",
                detail="Property Name:PercentBased true is unsupported by this emulator; send a fixed Amount",
            )
        return _decimal(line["Amount"])

    def _doc_number(self, entity: str, record: dict[str, Any], own_id: str | None, party: str) -> None:
        number = record.get("DocNumber")
        if number is None:
            return
        if len(str(number)) > DOC_NUMBER_MAX:
            raise Fault(
                "2050",
                element="DocNumber",
                detail=f"String length is either shorter or longer than supported by specification. "
                f"Min:0 Max:{DOC_NUMBER_MAX} supported. DocNumber={number}",
            )
        party_id = (record.get(party) or {}).get("value")
        for existing in self.records[entity].values():
            same_party = entity != "Bill" or (existing.get(party) or {}).get("value") == party_id
            if existing["Id"] != own_id and same_party and existing.get("DocNumber") == number:
                raise Fault(
                    "6140",
                    element="DocNumber",
                    detail=f"Duplicate Document Number Error : You must specify a different number. This "
                    f"number has already been used. DocNumber={number} is assigned to "
                    f"TxnType={entity} with TxnId={existing['Id']}",
                )

    def _currency(self, record: dict[str, Any], party: dict[str, Any]) -> None:
        currency = self._currency_of(record)
        party_currency = self._currency_of(party)
        if currency != party_currency:
            raise Fault(
                "6000",
                element="CurrencyRef",
                # QuickBooks' words for a transaction in another currency than its vendor's or customer's (as
                # integrators report it); the currencies in parentheses are the emulator's, to help a reader.
                detail="Business Validation Error: Transactions can have only one foreign currency at a time. "
                f"(transaction {currency}, {'vendor' if 'VendorRef' in record else 'customer'} "
                f"'{party.get('DisplayName')}' {party_currency})",
            )
        record["CurrencyRef"] = {"value": currency}

    def _control_account(self, record: dict[str, Any], field: str) -> None:
        """The A/R (invoice) or A/P (bill) account named must be one, in the transaction's currency."""
        if record.get(field) is None:
            return
        account = self._active_ref("Account", record[field], field)
        if account.get("AccountType") != CONTROL_ACCOUNTS[field]:
            raise Fault(
                "6000",
                element=field,
                detail=f"Business Validation Error: {field} must name an account of type {CONTROL_ACCOUNTS[field]}; "
                f"'{account['Name']}' is {account.get('AccountType')}.",
            )
        currency, account_currency = record["CurrencyRef"]["value"], self._currency_of(account)
        if currency != account_currency:
            raise Fault(
                "6000",
                element=field,
                detail="Business Validation Error: The transaction needs to be in the same currency as the A/R and "
                f"A/P accounts you use. (transaction {currency}, account '{account['Name']}' {account_currency})",
            )
        record[field] = {"value": account["Id"], "name": account["Name"]}

    def _bill_rules(self, record: dict[str, Any], own_id: str | None) -> None:
        vendor = self._active_ref("Vendor", record.get("VendorRef"), "VendorRef")
        total = self._lines(
            record,
            {
                "ItemBasedExpenseLineDetail": ("ItemRef", "Item"),
                "AccountBasedExpenseLineDetail": ("AccountRef", "Account"),
            },
        )
        self._doc_number("Bill", record, own_id, "VendorRef")
        self._currency(record, vendor)
        self._control_account(record, "APAccountRef")
        self._exchange_rate(record, total, home_field="HomeBalance")  # a Bill has no HomeTotalAmt (v3 schema)
        record["VendorRef"] = {"value": vendor["Id"], "name": vendor["DisplayName"]}
        record.setdefault("TxnDate", datetime.now(UTC).date().isoformat())
        record["TotalAmt"] = _json_number(total)
        record["Balance"] = _json_number(total)

    def _invoice_rules(self, record: dict[str, Any], own_id: str | None) -> None:
        customer = self._active_ref("Customer", record.get("CustomerRef"), "CustomerRef")
        total = self._lines(
            record,
            {"SalesItemLineDetail": ("ItemRef", "Item"), "DiscountLineDetail": ("DiscountAccountRef", "Account")},
        )
        self._sales_amounts(record)
        if record.get("DocNumber") is None and own_id is None and not self.preferences.custom_txn_numbers:
            record["DocNumber"] = self._next_invoice_number()
        if self.preferences.duplicate_doc_number_check:
            self._doc_number("Invoice", record, own_id, "CustomerRef")
        self._currency(record, customer)
        self._control_account(record, "ARAccountRef")
        self._exchange_rate(record, total)
        record["CustomerRef"] = {"value": customer["Id"], "name": customer["DisplayName"]}
        record.setdefault("TxnDate", datetime.now(UTC).date().isoformat())
        record["TotalAmt"] = _json_number(total)
        record["Balance"] = _json_number(total)
        self._estimate_links(record, customer, own_id)

    def _estimate_links(self, invoice: dict[str, Any], customer: dict[str, Any], own_id: str | None) -> None:
        """An invoice's LinkedTxn to an Estimate names one of its customer's; links to a Closed or Rejected
        estimate are ignored (dropped), as QuickBooks documents. Links are made when the invoice is created."""
        links = invoice.get("LinkedTxn")
        if links is None:
            return
        if not isinstance(links, list):
            raise Fault("2010", element="LinkedTxn", detail="LinkedTxn must be a list")
        if own_id is not None:  # an update keeps the links the invoice was created with
            invoice["LinkedTxn"] = copy.deepcopy(self.records["Invoice"][own_id].get("LinkedTxn", []))
            return
        kept = []
        for link in links:
            if not isinstance(link, dict) or link.get("TxnType") != "Estimate":
                raise Fault(
                    "2010",
                    element="LinkedTxn.TxnType",
                    detail=f"Property Name:LinkedTxn.TxnType {link.get('TxnType') if isinstance(link, dict) else link}"
                    " is unsupported or invalid for this entity (an invoice links to an Estimate)",
                )
            estimate_id = str(link.get("TxnId") or "")
            estimate = self.records["Estimate"].get(estimate_id)
            if estimate is None:
                if estimate_id in self.deleted["Estimate"]:
                    raise _deleted_fault("Estimate", estimate_id)
                raise Fault(
                    "610", element=f"Estimate {estimate_id}", detail=f"Object Not Found : Estimate {estimate_id}"
                )
            if (estimate.get("CustomerRef") or {}).get("value") != customer["Id"]:
                raise Fault(
                    "6000",
                    element="LinkedTxn",
                    detail=f"Business Validation Error: estimate {estimate_id} is for another customer than the "
                    "invoice's",
                )
            if estimate.get("TxnStatus", "Pending") in LINKABLE_ESTIMATES:
                kept.append({"TxnId": estimate_id, "TxnType": "Estimate"})
        invoice["LinkedTxn"] = kept

    def _estimate_rules(self, record: dict[str, Any], own_id: str | None) -> None:
        """An estimate: its customer and item lines as an invoice's, its own DocNumbers, its TxnStatus one of
        QboEstimateStatusEnum (Pending when not given); its LinkedTxn is QuickBooks' own (the invoices made from it),
        kept whatever a write sends."""
        customer = self._active_ref("Customer", record.get("CustomerRef"), "CustomerRef")
        total = self._lines(
            record,
            {"SalesItemLineDetail": ("ItemRef", "Item"), "DiscountLineDetail": ("DiscountAccountRef", "Account")},
        )
        self._sales_amounts(record)
        if self.preferences.duplicate_doc_number_check:
            self._doc_number("Estimate", record, own_id, "CustomerRef")
        status = record.setdefault("TxnStatus", "Pending")
        if status not in ESTIMATE_STATUSES:
            raise Fault(
                "2010", element="TxnStatus", detail=f"Property Name:TxnStatus value {status} is unsupported or invalid"
            )
        self._currency(record, customer)
        self._exchange_rate(record, total)
        record["LinkedTxn"] = copy.deepcopy(self.records["Estimate"][own_id].get("LinkedTxn", [])) if own_id else []
        record["CustomerRef"] = {"value": customer["Id"], "name": customer["DisplayName"]}
        record.setdefault("TxnDate", datetime.now(UTC).date().isoformat())
        record["TotalAmt"] = _json_number(total)

    def _sales_amounts(self, record: dict[str, Any]) -> None:
        """Each sales line's Amount must be Qty x UnitPrice when both are given (QuickBooks' 6070)."""
        for line in record["Line"]:
            detail = line.get("SalesItemLineDetail") or {}
            if detail.get("Qty") is None or detail.get("UnitPrice") is None:
                continue
            expected = (_decimal(detail["Qty"]) * _decimal(detail["UnitPrice"])).quantize(Decimal("0.01"))
            if _decimal(line["Amount"]).quantize(Decimal("0.01")) != expected:
                raise Fault(
                    "6070",
                    element="Line.Amount",
                    detail=f"Amount calculation error : Amount is not equal to UnitPrice * Qty. Supplied value:"
                    f"{line['Amount']} (line {line['LineNum']}: {detail['Qty']} x {detail['UnitPrice']} = {expected})",
                )

    def _exchange_rate(self, record: dict[str, Any], total: Decimal, home_field: str = "HomeTotalAmt") -> None:
        """A home-currency invoice or bill has rate 1; a foreign one keeps the rate given (home units per foreign
        unit)."""
        rate = _decimal(record.get("ExchangeRate", 1))
        if rate <= 0:
            raise Fault(
                "6000", element="ExchangeRate", detail="Business Validation Error: ExchangeRate must be positive"
            )
        if record["CurrencyRef"]["value"] == self.home_currency:
            if rate != 1:
                raise Fault(
                    "6000",
                    element="ExchangeRate",
                    detail=f"Business Validation Error: a transaction in the home currency ({self.home_currency}) "
                    f"has an exchange rate of 1, not {rate}.",
                )
            return
        record["ExchangeRate"] = float(rate)
        record[home_field] = _json_number(total * rate)

    def _next_invoice_number(self) -> str:
        numbers = [
            int(r["DocNumber"]) for r in self.records["Invoice"].values() if str(r.get("DocNumber", "")).isdigit()
        ]
        return str(max(numbers, default=FIRST_INVOICE_NUMBER - 1) + 1)


def _deleted_fault(entity: str, entity_id: str) -> Fault:
    return Fault(
        "610",
        element=f"{entity} {entity_id}",
        detail=f"Object Not Found : Another user has deleted this transaction. ({entity} Id={entity_id})",
    )
