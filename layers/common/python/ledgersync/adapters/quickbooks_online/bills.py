"""Bills in QuickBooks Online: the bill payload of a draft, the name look-ups it needs and the gateway."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ledgersync.adapters.quickbooks_online.client import BATCH_LIMIT, QuickBooksOnlineClient
from ledgersync.adapters.quickbooks_online.faults import QuickBooksFault, StaleObjectError, json_faults
from ledgersync.adapters.quickbooks_online.references import ReferenceIdCache
from ledgersync.domain.purchase_order_bills import BillDraft, BillLineKind
from ledgersync.domain.quickbooks_online import (
    DOC_NUMBER_MAX,
    BillRecord,
    DuplicateDocumentNumber,
    QuickBooksAccess,
)
from ledgersync.errors import (
    LedgersyncError,
    PermanentError,
)

if TYPE_CHECKING:
    pass

PRIVATE_NOTE_MAX = 4000
OBJECT_NOT_FOUND = "610"  # a deleted (or never created) transaction, or an inactive name
DESCRIPTION_MAX = 4000
NAME_FIELDS = {"Vendor": "DisplayName", "Item": "Name", "Account": "Name", "Class": "Name"}
KIND_WORDS = {"Vendor": "vendor", "Item": "item", "Account": "account", "Class": "class"}

# ---------------------------------------------------------------------------------------------- the gateway


def quote(value: str) -> str:
    """A value inside a QuickBooks query's single quotes (``'`` becomes ``\\'``)."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _money(amount: Decimal) -> float:
    # Amounts have at most 14 digits, which a float represents and prints back exactly (shortest repr).
    return float(amount)


RefKey = tuple[str, str]


def bill_refs(draft: BillDraft) -> list[RefKey]:
    """Every (entity, name) a draft's bill refers to, vendor first, without repeats."""
    keys: list[RefKey] = [("Vendor", draft.vendor_name)]
    for line in draft.lines:
        keys.append(("Item" if line.kind is BillLineKind.ITEM else "Account", line.ref_name))
        if line.class_name:
            keys.append(("Class", line.class_name))
    return list(dict.fromkeys(keys))


def bill_payload(draft: BillDraft, ids: dict[RefKey, str]) -> dict[str, Any]:
    """The QuickBooks Bill for a draft, given the ids of the names it refers to."""
    lines: list[dict[str, Any]] = []
    for line in draft.lines:
        if line.kind is BillLineKind.ITEM:
            detail_type = "ItemBasedExpenseLineDetail"
            detail: dict[str, Any] = {
                "ItemRef": {"value": ids[("Item", line.ref_name)], "name": line.ref_name},
                "Qty": 1,
                "UnitPrice": _money(line.amount),
            }
        else:
            detail_type = "AccountBasedExpenseLineDetail"
            detail = {"AccountRef": {"value": ids[("Account", line.ref_name)], "name": line.ref_name}}
        if line.class_name:
            detail["ClassRef"] = {"value": ids[("Class", line.class_name)], "name": line.class_name}
        entry: dict[str, Any] = {"DetailType": detail_type, "Amount": _money(line.amount), detail_type: detail}
        if line.description:
            entry["Description"] = line.description[:DESCRIPTION_MAX]
        lines.append(entry)
    body: dict[str, Any] = {
        "VendorRef": {"value": ids[("Vendor", draft.vendor_name)], "name": draft.vendor_name},
        "TxnDate": draft.txn_date.isoformat(),
        "DocNumber": draft.reference(DOC_NUMBER_MAX),
        "PrivateNote": draft.memo[:PRIVATE_NOTE_MAX],
        "Line": lines,
    }
    if draft.currency:
        body["CurrencyRef"] = {"value": draft.currency}
    return body


def _bill_record(bill: dict[str, Any]) -> BillRecord:
    return BillRecord(
        id=str(bill["Id"]),
        doc_number=bill.get("DocNumber"),
        vendor_id=str((bill.get("VendorRef") or {}).get("value") or "") or None,
        private_note=bill.get("PrivateNote"),
        sync_token=str(bill["SyncToken"]) if bill.get("SyncToken") is not None else None,
    )


def _name_query(kind: str, name: str, active: bool | None = True) -> str:
    statement = f"SELECT * FROM {kind} WHERE {NAME_FIELDS[kind]} = '{quote(name)}'"  # noqa: S608 - quoted
    return statement if active is None or active else statement + " AND Active = false"


def _id_query(kind: str, entity_id: str) -> str:
    return f"SELECT * FROM {kind} WHERE Id = '{quote(entity_id)}' AND Active IN (true, false)"  # noqa: S608 - quoted


class QuickBooksOnlineGateway:
    """Bills in QuickBooks Online, with names resolved to ids once and remembered."""

    def __init__(self, client: QuickBooksOnlineClient, ids: ReferenceIdCache) -> None:
        self.client = client
        self.ids = ids

    def create_bill(self, access: QuickBooksAccess, draft: BillDraft, request_id: str) -> BillRecord:
        """Create the draft's bill (one call when every name is already known)."""
        ids = self.resolve(access, bill_refs(draft))
        try:
            bill = self.client.create(access, "Bill", bill_payload(draft, ids), request_id=request_id)
        except QuickBooksFault as refused:
            raise self._explain_refusal(access, draft, ids, refused) from refused
        return _bill_record(bill)

    def find_bills(self, access: QuickBooksAccess, draft: BillDraft) -> list[BillRecord]:
        """Bills of the draft's vendor numbered like the draft."""
        vendor_id = self.resolve(access, [("Vendor", draft.vendor_name)])[("Vendor", draft.vendor_name)]
        statement = f"SELECT * FROM Bill WHERE DocNumber = '{quote(draft.reference(DOC_NUMBER_MAX))}'"  # noqa: S608
        rows = self.client.query(access, statement).get("Bill", [])
        return [record for record in map(_bill_record, rows) if record.vendor_id == vendor_id]

    def read_bill(self, access: QuickBooksAccess, bill_id: str) -> BillRecord | None:
        """``GET bill/<id>``: the bill and its SyncToken, or None when QuickBooks has it no more (610)."""
        try:
            return _bill_record(self.client.read(access, "Bill", bill_id))
        except QuickBooksFault as refused:
            if refused.fault_code == OBJECT_NOT_FOUND:
                return None
            raise

    def delete_bill(self, access: QuickBooksAccess, bill_id: str, sync_token: str) -> None:
        """Delete the bill; one QuickBooks no longer has (610) is already deleted."""
        try:
            self.client.delete(access, "Bill", bill_id, sync_token)
        except StaleObjectError as stale:
            raise StaleObjectError(
                f"QuickBooks Online says bill {bill_id} changed since its SyncToken {sync_token} was read (5010); "
                "it is looked up again and deleted with the SyncToken it has now."
            ) from stale
        except QuickBooksFault as refused:
            if refused.fault_code != OBJECT_NOT_FOUND:
                raise

    def resolve(self, access: QuickBooksAccess, keys: Iterable[RefKey]) -> dict[RefKey, str]:
        """Ids for (entity, name) pairs: from the cache, else one query (or one batch of queries) for the rest."""
        found: dict[RefKey, str] = {}
        missing: list[RefKey] = []
        for kind, name in keys:
            known = self.ids.get(access.realm_id, kind, name)
            if known is None:
                missing.append((kind, name))
            else:
                found[(kind, name)] = known
        for start in range(0, len(missing), BATCH_LIMIT):
            chunk = missing[start : start + BATCH_LIMIT]
            for key, rows in zip(chunk, self._lookup(access, chunk), strict=True):
                exact = [row for row in rows if row.get(NAME_FIELDS[key[0]]) == key[1]]
                if not exact:
                    raise self._unresolved(access, key, rows)
                found[key] = str(exact[0]["Id"])
                self.ids.put(access.realm_id, key[0], key[1], found[key])
        return found

    def _lookup(self, access: QuickBooksAccess, keys: list[RefKey]) -> list[list[dict[str, Any]]]:
        if len(keys) == 1:
            kind, name = keys[0]
            return [self.client.query(access, _name_query(kind, name)).get(kind, [])]
        answers = self.client.batch(
            access, [{"bId": str(i), "Query": _name_query(kind, name)} for i, (kind, name) in enumerate(keys)]
        )
        by_id = {str(answer.get("bId")): answer for answer in answers}
        results: list[list[dict[str, Any]]] = []
        for i, (kind, _) in enumerate(keys):
            answer = by_id.get(str(i), {})
            if "Fault" in answer:
                errors = json_faults({"Fault": answer["Fault"]})
                raise QuickBooksFault(f"QuickBooks refused a lookup: {errors[0].detail if errors else ''}", errors, 400)
            results.append(answer.get("QueryResponse", {}).get(kind, []))
        return results

    def _unresolved(self, access: QuickBooksAccess, key: RefKey, near: list[dict[str, Any]]) -> PermanentError:
        kind, name = key
        word = KIND_WORDS[kind]
        if near:
            other = near[0].get(NAME_FIELDS[kind])
            return PermanentError(
                f"QuickBooks refused the bill: the {word} in QuickBooks is named '{other}', not "
                f"'{name}'; the names must match exactly, including capitals. Correct one of them, "
                f"then send again."
            )
        if self.client.query(access, _name_query(kind, name, active=False)).get(kind):
            return PermanentError(
                f"QuickBooks refused the bill: the {word} '{name}' is inactive (610). Reactivate "
                f"it in QuickBooks, then send again."
            )
        advice = {
            "Vendor": "The vendor's Accounting Name in Ledgersync must be exactly its Display Name in QuickBooks; "
            "correct one of them, then send again.",
            "Item": f"Create the item '{name}' in QuickBooks (Sales > Products and services) or choose another "
            "bill item in Ledgersync's QuickBooks settings, then send again.",
            "Account": f"Create the account '{name}' in QuickBooks' chart of accounts or map the charge to an "
            "existing account in Ledgersync's QuickBooks settings, then send again.",
            "Class": f"Create the class '{name}' in QuickBooks (with class tracking on) or change the class "
            "mapping in Ledgersync's QuickBooks settings, then send again.",
        }[kind]
        return PermanentError(f"QuickBooks refused the bill: there is no {word} named '{name}' in QuickBooks. {advice}")

    def _explain_refusal(
        self, access: QuickBooksAccess, draft: BillDraft, ids: dict[RefKey, str], refused: QuickBooksFault
    ) -> LedgersyncError:
        if refused.fault_code == "6140":
            number = draft.reference(DOC_NUMBER_MAX)
            return DuplicateDocumentNumber(
                f"QuickBooks already has a bill numbered {number} for vendor '{draft.vendor_name}' (6140).", number
            )
        if refused.fault_code == "610":
            return self._inactive_reference(access, ids, refused)
        return PermanentError(
            f"QuickBooks refused the bill {draft.reference(DOC_NUMBER_MAX)}: "
            f"{refused.detail or refused.message} ({refused.fault_code}). Correct it in QuickBooks "
            f"or in Ledgersync's QuickBooks settings, then send again."
        )

    def _inactive_reference(
        self, access: QuickBooksAccess, ids: dict[RefKey, str], refused: QuickBooksFault
    ) -> LedgersyncError:
        """Find which remembered id QuickBooks no longer accepts, forget it, and name it."""
        keys = list(ids)
        answers = self.client.batch(
            access,
            [{"bId": str(i), "Query": _id_query(kind, ids[(kind, name)])} for i, (kind, name) in enumerate(keys)],
        )
        by_id = {str(answer.get("bId")): answer for answer in answers}
        for i, (kind, name) in enumerate(keys):
            rows = by_id.get(str(i), {}).get("QueryResponse", {}).get(kind, [])
            if not rows or not rows[0].get("Active", True):
                self.ids.forget(access.realm_id, kind, name)
                state = "inactive" if rows else "deleted"
                return PermanentError(
                    f"QuickBooks refused the bill: the {KIND_WORDS[kind]} '{name}' is {state} "
                    f"(610). Reactivate it in QuickBooks, then send again."
                )
        return PermanentError(
            f"QuickBooks refused the bill: {refused.detail} (610). Check that its vendor, items, "
            "accounts and classes are active in QuickBooks, then send again."
        )
