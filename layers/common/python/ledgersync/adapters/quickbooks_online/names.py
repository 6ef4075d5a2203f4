"""The export's match-or-add in QuickBooks Online (issue 12): customers by DisplayName, items by Name, looked up
exactly, many names a query and up to 30 queries a batch; the missing ones created 30 a batch. Every id found or
made goes into the ReferenceIdCache, so sending the invoices afterwards makes no name query."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from ledgersync.adapters.quickbooks_online.client import BATCH_LIMIT, QuickBooksOnlineClient
from ledgersync.adapters.quickbooks_online.documents import CURRENCY_ENTITIES, NAME_FIELDS, currency_cache_kind, quote
from ledgersync.adapters.quickbooks_online.faults import json_faults
from ledgersync.adapters.quickbooks_online.references import ReferenceIdCache
from ledgersync.domain.accounting_links import NameMatches
from ledgersync.domain.directory import Kind
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.quickbooks_online import AccessTokenRejected, QuickBooksAccess
from ledgersync.errors import PermanentError

T = TypeVar("T")
ENTITIES = {Kind.CUSTOMERS: "Customer", Kind.PRODUCTS: "Item"}
NAME_MAX = 100  # QuickBooks Online: DisplayName and Item Name at most 100 characters
NAMES_PER_QUERY = 30
PAGE = 1000  # MAXRESULTS of one query
DUPLICATE_NAME = "6240"
FIXES = {
    Kind.CUSTOMERS: "set its accountingName (PUT /v1/directory/customers), then export again",
    Kind.PRODUCTS: "set its accountingItem (PUT /v1/directory/products), then export again",
}


class QuickBooksOnlineNames:
    """``NameMatcher`` for one QuickBooks Online company (its realm and a live access token)."""

    system = ExternalSystem("quickbooks_online")

    def __init__(
        self,
        client: QuickBooksOnlineClient,
        ids: ReferenceIdCache,
        access: QuickBooksAccess,
        income_account: str,
        refresh: Callable[[QuickBooksAccess], QuickBooksAccess] | None = None,
    ) -> None:
        self.client = client
        self.ids = ids
        self.access = access
        self.income_account = income_account
        self.refresh = refresh  # a fresh access after a 401; a second 401 is raised (AccessTokenRejected)

    def _call(self, call: Callable[[QuickBooksAccess], T]) -> T:
        try:
            return call(self.access)
        except AccessTokenRejected:
            if self.refresh is None:
                raise
            self.access = self.refresh(self.access)
            return call(self.access)

    def match_or_add(self, kind: Kind, names: Sequence[str]) -> NameMatches:
        entity = ENTITIES[kind]
        answer = NameMatches()
        wanted: list[str] = []
        for name in dict.fromkeys(names):
            why = refused_name(name)
            if why:
                answer.refused[name] = f"QuickBooks Online refuses the name '{name}': {why}; {FIXES[kind]}"
            else:
                wanted.append(name)
        answer.found.update(self._found(entity, wanted, answer))
        missing = [n for n in wanted if n not in answer.found and n not in answer.refused]
        if missing:
            self._add(kind, entity, missing, answer)
        for name, entity_id in {**answer.found, **answer.added}.items():
            self.ids.put(self.access.realm_id, entity, name, entity_id)
        return answer

    def _found(self, entity: str, names: list[str], answer: NameMatches) -> dict[str, str]:
        """The ids of ``names`` QuickBooks has (active or not: an inactive one is a refusal naming the fix)."""
        field = NAME_FIELDS[entity]
        chunks = [names[i : i + NAMES_PER_QUERY] for i in range(0, len(names), NAMES_PER_QUERY)]
        rows: list[dict[str, Any]] = []
        for start in range(0, len(chunks), BATCH_LIMIT):
            batch = chunks[start : start + BATCH_LIMIT]
            rows += self._query_all(entity, field, batch)
        found: dict[str, str] = {}
        wanted = set(names)
        for row in rows:
            name = row.get(field)
            if name not in wanted or name in found:
                continue  # the query matches without regard to case; the link is for the exact name only
            if row.get("Active", True) is False:
                answer.refused[str(name)] = (
                    f"the {entity.lower()} '{name}' is inactive in QuickBooks Online; reactivate it there, "
                    "then export again"
                )
                continue
            found[str(name)] = str(row["Id"])
            self._remember_currency(entity, str(name), row)
        return found

    def _remember_currency(self, entity: str, name: str, row: dict[str, Any]) -> None:
        """A customer's currency goes into the cache beside its id, so sending its invoices reads nothing more."""
        if entity in CURRENCY_ENTITIES:
            code = str((row.get("CurrencyRef") or {}).get("value") or "")
            self.ids.put(self.access.realm_id, currency_cache_kind(entity), name, code)

    def _query_all(self, entity: str, field: str, chunks: list[list[str]]) -> list[dict[str, Any]]:
        statements = [_in_query(entity, field, chunk) for chunk in chunks]
        if len(statements) == 1:
            return list(self._call(lambda a: self.client.query(a, statements[0])).get(entity, []))
        queries = [{"bId": str(i), "Query": q} for i, q in enumerate(statements)]
        answers = self._call(lambda a: self.client.batch(a, queries))
        rows: list[dict[str, Any]] = []
        for answer in answers:
            if "Fault" in answer:
                errors = json_faults({"Fault": answer["Fault"]})
                raise PermanentError(f"QuickBooks Online refused a name lookup: {errors[0].detail if errors else ''}")
            rows += answer.get("QueryResponse", {}).get(entity, [])
        return rows

    def _add(self, kind: Kind, entity: str, names: list[str], answer: NameMatches) -> None:
        income = self._income_account() if kind is Kind.PRODUCTS else None
        again: list[str] = []
        for start in range(0, len(names), BATCH_LIMIT):
            chunk = names[start : start + BATCH_LIMIT]
            items = [
                {"bId": str(i), "operation": "create", entity: _new_record(entity, name, income)}
                for i, name in enumerate(chunk)
            ]
            created = self._call(partial(self.client.batch, items=items))
            by_id = {str(result.get("bId")): result for result in created}
            for i, name in enumerate(chunk):
                result = by_id.get(str(i), {})
                if entity in result:
                    answer.added[name] = str(result[entity]["Id"])
                    self._remember_currency(entity, name, result[entity])
                    continue
                errors = json_faults({"Fault": result.get("Fault") or {}})
                if errors and errors[0].code == DUPLICATE_NAME:
                    again.append(name)  # made meanwhile (another export), or held by another kind of name
                    continue
                detail = errors[0].detail or errors[0].message if errors else "no answer"
                answer.refused[name] = f"QuickBooks Online refused to add '{name}': {detail}; {FIXES[kind]}"
        if again:
            found = self._found(entity, again, answer)
            answer.found.update(found)
            for name in again:
                if name not in found and name not in answer.refused:
                    answer.refused[name] = (
                        f"QuickBooks Online has the name '{name}' on another kind of record (a vendor, an employee "
                        f"or another {entity.lower()} differing only in capitals); {FIXES[kind]}"
                    )

    def _income_account(self) -> str:
        known = self.ids.get(self.access.realm_id, "Account", self.income_account)
        if known:
            return known
        statement = f"SELECT * FROM Account WHERE Name = '{quote(self.income_account)}'"  # noqa: S608 - quoted
        rows = self._call(lambda a: self.client.query(a, statement)).get("Account", [])
        exact = [r for r in rows if r.get("Name") == self.income_account]
        if not exact:
            raise PermanentError(
                f"QuickBooks Online has no account named '{self.income_account}' for new items; set "
                "invoiceIncomeAccount (PUT /v1/accounting/settings) to an income account QuickBooks has, then "
                "export again"
            )
        self.ids.put(self.access.realm_id, "Account", self.income_account, str(exact[0]["Id"]))
        return str(exact[0]["Id"])


def refused_name(name: str) -> str | None:
    """Why QuickBooks Online would refuse ``name`` (None: it takes it)."""
    if len(name) > NAME_MAX:
        return f"it is {len(name)} characters long, and QuickBooks Online takes at most {NAME_MAX}"
    if ":" in name:
        return "it contains a colon (:), which QuickBooks Online keeps for sub-customers and sub-items"
    return None


def _in_query(entity: str, field: str, names: list[str]) -> str:
    values = ", ".join(f"'{quote(n)}'" for n in names)
    return (
        f"SELECT * FROM {entity} WHERE {field} IN ({values}) AND Active IN (true, false) "  # noqa: S608 - quoted
        f"MAXRESULTS {PAGE}"
    )


def _new_record(entity: str, name: str, income_account: str | None) -> dict[str, Any]:
    if entity == "Customer":
        return {"DisplayName": name}
    return {"Name": name, "Type": "NonInventory", "IncomeAccountRef": {"value": income_account}}
