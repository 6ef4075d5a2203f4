"""What the bill and the sales invoice gateways share: names resolved to ids once and remembered, a create whose
refusal is explained with its fix, and a transaction found by number, read and deleted."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ledgersync.adapters.quickbooks_online.client import BATCH_LIMIT, QuickBooksOnlineClient
from ledgersync.adapters.quickbooks_online.faults import QuickBooksFault, StaleObjectError, json_faults
from ledgersync.adapters.quickbooks_online.references import ReferenceIdCache
from ledgersync.domain.quickbooks_online import DuplicateDocumentNumber, QuickBooksAccess
from ledgersync.errors import LedgersyncError, PermanentError

PRIVATE_NOTE_MAX = 4000
DESCRIPTION_MAX = 4000
OBJECT_NOT_FOUND = "610"  # a deleted (or never created) transaction, or an inactive name
DUPLICATE_DOC_NUMBER = "6140"
NAME_FIELDS = {"Vendor": "DisplayName", "Customer": "DisplayName", "Item": "Name", "Account": "Name", "Class": "Name"}
KIND_WORDS = {"Vendor": "vendor", "Customer": "customer", "Item": "item", "Account": "account", "Class": "class"}
# The records whose currency a transaction must share (with multicurrency on, each is in one currency for good):
# the vendor or customer, and the A/P or A/R account. Their currency is remembered with their id, so checking it
# before a create costs no read once a name is known.
CURRENCY_ENTITIES = frozenset({"Vendor", "Customer", "Account"})
SAME_CURRENCY = "The transaction needs to be in the same currency as the A/R and A/P accounts"


def currency_cache_kind(kind: str) -> str:
    """The ReferenceIdCache kind a record's currency is kept under, beside its id: ``Vendor`` → ``Currency#Vendor``."""
    return f"Currency#{kind}"


RefKey = tuple[str, str]


def quote(value: str) -> str:
    """A value inside a QuickBooks query's single quotes (``'`` becomes ``\\'``)."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def money(amount: Decimal) -> float:
    """An amount as QuickBooks JSON takes it."""
    # Amounts have at most 14 digits, which a float represents and prints back exactly (shortest repr).
    return float(amount)


def transaction_fields(row: dict[str, Any], party: str) -> dict[str, Any]:
    """What every transaction record keeps of a QuickBooks row: id, number, memo, SyncToken and the id of the
    ``party`` it names (``VendorRef``, ``CustomerRef``), as ``party_id``."""
    return {
        "id": str(row["Id"]),
        "doc_number": row.get("DocNumber"),
        "private_note": row.get("PrivateNote"),
        "sync_token": str(row["SyncToken"]) if row.get("SyncToken") is not None else None,
        "party_id": str((row.get(party) or {}).get("value") or "") or None,
    }


def _name_query(kind: str, name: str, active: bool | None = True) -> str:
    statement = f"SELECT * FROM {kind} WHERE {NAME_FIELDS[kind]} = '{quote(name)}'"  # noqa: S608 - quoted
    return statement if active is None or active else statement + " AND Active = false"


def _id_query(kind: str, entity_id: str) -> str:
    return f"SELECT * FROM {kind} WHERE Id = '{quote(entity_id)}' AND Active IN (true, false)"  # noqa: S608 - quoted


@dataclass(frozen=True)
class DocumentKind:
    """One kind of transaction Ledgersync creates, in QuickBooks' terms and in the words its refusals use."""

    entity: str  # "Bill", "Invoice"
    noun: str  # "bill", "sales invoice"
    references: str  # what it names, for a refusal that cannot say which: "its customer and items"
    missing_advice: Mapping[str, str]  # per entity it names, the fix when QuickBooks has no such name ({name})
    # per entity whose currency must be the transaction's, the fix when it is not ({name}, {theirs}, {ours})
    currency_advice: Mapping[str, str] = field(default_factory=dict)


class QuickBooksDocuments:
    """One kind of transaction in QuickBooks Online, with the names it refers to resolved once and remembered."""

    def __init__(self, client: QuickBooksOnlineClient, ids: ReferenceIdCache, kind: DocumentKind) -> None:
        self.client = client
        self.ids = ids
        self.kind = kind

    def create(
        self,
        access: QuickBooksAccess,
        body: dict[str, Any],
        request_id: str,
        ids: dict[RefKey, str],
        duplicate: DuplicateDocumentNumber,
    ) -> dict[str, Any]:
        """Create the transaction; a refusal becomes ``duplicate`` (6140) or a ``PermanentError`` with the fix."""
        try:
            return self.client.create(access, self.kind.entity, body, request_id=request_id)
        except QuickBooksFault as refused:
            if refused.fault_code == DUPLICATE_DOC_NUMBER:
                raise duplicate from refused
            raise self._explain_refusal(access, ids, refused, str(body.get("DocNumber", ""))) from refused

    def numbered(self, access: QuickBooksAccess, doc_number: str) -> list[dict[str, Any]]:
        """The transactions of this kind whose DocNumber is ``doc_number`` (one query)."""
        statement = f"SELECT * FROM {self.kind.entity} WHERE DocNumber = '{quote(doc_number)}'"  # noqa: S608
        rows: list[dict[str, Any]] = self.client.query(access, statement).get(self.kind.entity, [])
        return rows

    def read(self, access: QuickBooksAccess, entity_id: str) -> dict[str, Any] | None:
        """``GET <entity>/<id>``: the transaction and its SyncToken, or None when QuickBooks has it no more (610)."""
        try:
            return self.client.read(access, self.kind.entity, entity_id)
        except QuickBooksFault as refused:
            if refused.fault_code == OBJECT_NOT_FOUND:
                return None
            raise

    def delete(self, access: QuickBooksAccess, entity_id: str, sync_token: str) -> None:
        """Delete the transaction; one QuickBooks no longer has (610) is already deleted."""
        try:
            self.client.delete(access, self.kind.entity, entity_id, sync_token)
        except StaleObjectError as stale:
            raise StaleObjectError(
                f"QuickBooks Online says {self.kind.noun} {entity_id} changed since its SyncToken {sync_token} was "
                "read (5010); it is looked up again and deleted with the SyncToken it has now."
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
                self._remember_currency(access, key, exact[0])
        return found

    def check_currencies(
        self, access: QuickBooksAccess, currency: str | None, keys: Iterable[RefKey], ids: dict[RefKey, str]
    ) -> None:
        """Refuse, before any create, a transaction in ``currency`` whose vendor or customer, or A/P or A/R account
        (``keys``), QuickBooks keeps in another one: QuickBooks would refuse it ("The transaction needs to be in the
        same currency as the A/R and A/P accounts"). A record without a currency (multicurrency off) is not judged;
        the currency of a name whose id was remembered before its currency was is read once, by id."""
        if not currency:
            return
        for kind, name in keys:
            if kind not in CURRENCY_ENTITIES:
                continue
            theirs = self._currency_of(access, (kind, name), ids[(kind, name)])
            if theirs and theirs != currency:
                advice = self.kind.currency_advice.get(
                    kind, "Correct it in QuickBooks or in Ledgersync, then send again."
                )
                raise PermanentError(
                    f'QuickBooks would refuse the {self.kind.noun} ("{SAME_CURRENCY}"): the {self.kind.noun} is in '
                    f"{currency} and the {KIND_WORDS[kind]} '{name}' is in {theirs} in QuickBooks; nothing was sent. "
                    + advice.format(name=name, theirs=theirs, ours=currency)
                )

    def _remember_currency(self, access: QuickBooksAccess, key: RefKey, row: Mapping[str, Any]) -> None:
        if key[0] in CURRENCY_ENTITIES:
            code = str((row.get("CurrencyRef") or {}).get("value") or "")
            self.ids.put(access.realm_id, currency_cache_kind(key[0]), key[1], code)

    def _currency_of(self, access: QuickBooksAccess, key: RefKey, entity_id: str) -> str:
        """The currency QuickBooks keeps ``key`` in ("" when it names none), from the cache, else read by id."""
        kind, name = key
        known = self.ids.get(access.realm_id, currency_cache_kind(kind), name)
        if known is not None:
            return known
        rows = self.client.query(access, _id_query(kind, entity_id)).get(kind, [])
        if not rows:
            return ""  # gone meanwhile: the create names it (610)
        self._remember_currency(access, key, rows[0])
        return str((rows[0].get("CurrencyRef") or {}).get("value") or "")

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
        word, noun = KIND_WORDS[kind], self.kind.noun
        if near:
            other = near[0].get(NAME_FIELDS[kind])
            return PermanentError(
                f"QuickBooks refused the {noun}: the {word} in QuickBooks is named '{other}', not "
                f"'{name}'; the names must match exactly, including capitals. Correct one of them, "
                f"then send again."
            )
        if self.client.query(access, _name_query(kind, name, active=False)).get(kind):
            return PermanentError(
                f"QuickBooks refused the {noun}: the {word} '{name}' is inactive (610). Reactivate "
                f"it in QuickBooks, then send again."
            )
        advice = self.kind.missing_advice[kind].format(name=name)
        return PermanentError(
            f"QuickBooks refused the {noun}: there is no {word} named '{name}' in QuickBooks. {advice}"
        )

    def _explain_refusal(
        self, access: QuickBooksAccess, ids: dict[RefKey, str], refused: QuickBooksFault, number: str
    ) -> LedgersyncError:
        if refused.fault_code == OBJECT_NOT_FOUND:
            return self._inactive_reference(access, ids, refused)
        return PermanentError(
            f"QuickBooks refused the {self.kind.noun} {number}: "
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
                    f"QuickBooks refused the {self.kind.noun}: the {KIND_WORDS[kind]} '{name}' is {state} "
                    f"(610). Reactivate it in QuickBooks, then send again."
                )
        return PermanentError(
            f"QuickBooks refused the {self.kind.noun}: {refused.detail} (610). Check that {self.kind.references} "
            "are active in QuickBooks, then send again."
        )
