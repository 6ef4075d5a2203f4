"""Directory records in the single table: one item per record, a code alias item, inventory product keys."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from ledgersync.adapters.dynamodb import SingleTable, company_pk, strip_keys
from ledgersync.domain.directory import ID_KINDS, Kind, another_default_store, default_store_change, product_key
from ledgersync.errors import Conflict, DamagedRecord

K = TypeVar("K")

ID_WIDTH = 20
DEFAULT_STORE_SK = "DEFAULTSTORE"


RATES_SUMMARY_SK = "EXRATES"  # every exchange rate of a company in one item (invoice.create reads it in its batch)


def record_sk(kind: Kind, key: str | int) -> str:
    if kind in ID_KINDS:
        return f"DIR#{kind.value}#{int(key):0{ID_WIDTH}d}"
    return f"DIR#{kind.value}#{key}"


def code_sk(kind: Kind, code: str) -> str:
    return f"DIRCODE#{kind.value}#{code.upper()}"


def product_key_sk(key: str) -> str:
    return f"INVKEY#{key}"


def inventory_key(record: dict[str, Any]) -> str:
    return product_key(record["productCode"], record["boxTypeCode"], int(record["unitsPerBox"]), record["unitType"])


class DynamoDirectoryStore:
    def __init__(self, table: SingleTable) -> None:
        self.table = table

    def get_by_ids(self, company_id: str, kind: Kind, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        pk = company_pk(company_id)
        found = self.table.batch_get([(pk, record_sk(kind, i)) for i in ids])
        return _index(found.values(), lambda item: int(item["id"]))

    def get_by_codes(self, company_id: str, kind: Kind, codes: Sequence[str]) -> dict[str, dict[str, Any]]:
        pk = company_pk(company_id)
        found = self.table.batch_get([(pk, code_sk(kind, c)) for c in codes])
        return _index(found.values(), lambda item: str(item["code"]).upper())

    def get_by_keys(self, company_id: str, kind: Kind, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        pk = company_pk(company_id)
        found = self.table.batch_get([(pk, record_sk(kind, k)) for k in keys])
        return _index(found.values(), lambda item: str(item["sk"]).split("#", 2)[2])

    def exchange_rates(self, company_id: str) -> list[dict[str, Any]]:
        """Every exchange rate of the company (``{currency, effectiveFrom, rate}``), from its one summary item."""
        item = self.table.get(company_pk(company_id), RATES_SUMMARY_SK) or {}
        return list(item.get("rates", []))

    def allocate_ids(self, company_id: str, kind: Kind, count: int) -> list[int]:
        """Fresh ids from the kind's counter, skipping any an outside system already chose for itself."""
        chosen: list[int] = []
        while len(chosen) < count:
            need = count - len(chosen)
            item = self.table.update(
                company_pk(company_id),
                f"COUNTER#dir-{kind.value}",
                "ADD #v :n",
                names={"#v": "value"},
                values={":n": need},
            )
            last = int(item["value"])
            candidates = list(range(last - need + 1, last + 1))
            taken = self.get_by_ids(company_id, kind, candidates)
            chosen.extend(i for i in candidates if i not in taken)
        return chosen

    def write(
        self, company_id: str, kind: Kind, records: Sequence[dict[str, Any]], previous: Sequence[dict[str, Any]]
    ) -> None:
        pk = company_pk(company_id)
        puts: list[dict[str, Any]] = []
        deletes: list[tuple[str, str]] = []
        for record in records:
            key = record.get("id") if kind in ID_KINDS else _natural(kind, record)
            puts.append({"pk": pk, "sk": record_sk(kind, key), **record})  # type: ignore[arg-type]
            if kind in ID_KINDS:
                puts.append({"pk": pk, "sk": code_sk(kind, record["code"]), **record})
        if kind in ID_KINDS:
            new_codes = {(r["id"], str(r["code"]).upper()) for r in records}
            written_ids = {r["id"] for r in records}
            deletes.extend(
                (pk, code_sk(kind, old["code"]))
                for old in previous
                if old["id"] in written_ids and (old["id"], str(old["code"]).upper()) not in new_codes
            )
        if kind is Kind.INVENTORY:
            puts.extend(self._product_keys(pk, records, previous))
        if kind is Kind.EXCHANGE_RATES:
            puts.append(self._rates_summary(pk, records))
        if kind is Kind.STORES:
            default, removed = default_store_change(records, previous)
            if default is not None:
                self._claim_default_store(pk, default, [int(r["id"]) for r in records])
            elif removed:
                deletes.append((pk, DEFAULT_STORE_SK))
        self.table.batch_write(puts=puts, deletes=deletes)

    def _claim_default_store(self, pk: str, default: dict[str, Any], written_ids: list[int]) -> None:
        """Put the default-store item unless another store, not written now, holds it (the one-default rule, kept
        by the condition even when two writes race past the use case's check)."""
        ids = {f":id{i}": store_id for i, store_id in enumerate(written_ids)}
        try:
            self.table.put(
                {**default, "pk": pk, "sk": DEFAULT_STORE_SK},
                condition=f"attribute_not_exists(pk) OR #id IN ({', '.join(ids)})",
                names={"#id": "id"},
                values=ids,
            )
        except Conflict:
            holder = self.table.get(pk, DEFAULT_STORE_SK)
            if holder is None:
                raise
            raise another_default_store(strip_keys(holder), default) from None

    def _rates_summary(self, pk: str, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Every rate of the company in one item, so invoice.create reads it in its single batch read."""
        current = self.table.get(pk, RATES_SUMMARY_SK) or {}
        # effectiveFrom is kept as its ISO text: a record handed in holds a date, a stored one its text, and the two
        # must compare (a second write of rates for a currency sorted a date against a string and failed)
        rates = {(r["currency"], str(r["effectiveFrom"])): r for r in current.get("rates", [])}
        for record in records:
            effective = str(record["effectiveFrom"])
            rates[(record["currency"], effective)] = {
                "currency": record["currency"],
                "effectiveFrom": effective,
                "rate": record["rate"],
            }
        return {
            "pk": pk,
            "sk": RATES_SUMMARY_SK,
            "rates": sorted(rates.values(), key=lambda r: (r["currency"], r["effectiveFrom"])),
        }

    def _product_keys(
        self, pk: str, records: Sequence[dict[str, Any]], previous: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Inventory product-key items after the write: each lists the orderItemIds of one presentation."""
        moves: dict[int, tuple[str | None, str]] = {}
        old_keys = {int(o["orderItemId"]): inventory_key(o) for o in previous}
        for record in records:
            oid = int(record["orderItemId"])
            moves[oid] = (old_keys.get(oid), inventory_key(record))
        touched = {k for pair in moves.values() for k in pair if k}
        current = self.table.batch_get([(pk, product_key_sk(k)) for k in touched])
        members = {
            k: {int(i) for i in current.get((pk, product_key_sk(k)), {}).get("orderItemIds", [])} for k in touched
        }
        for oid, (old, new) in moves.items():
            if old and old != new:
                members[old].discard(oid)
            members[new].add(oid)
        return [{"pk": pk, "sk": product_key_sk(k), "orderItemIds": sorted(ids)} for k, ids in members.items()]

    def list(
        self, company_id: str, kind: Kind, limit: int, after: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        prefix = f"DIR#{kind.value}#"
        start = (
            record_sk(kind, after)
            if after and kind in ID_KINDS and after.isdigit()
            else (f"{prefix}{after}" if after else None)
        )
        items = list(self.table.query_prefix(company_pk(company_id), prefix, limit=limit + 1, start_after=start))
        page = items[:limit]
        cursor = None
        if len(items) > limit:
            cursor = page[-1]["sk"][len(prefix) :]
            cursor = str(int(cursor)) if kind in ID_KINDS else cursor
        return [strip_keys(i) for i in page], cursor


def _natural(kind: Kind, record: dict[str, Any]) -> str:
    if kind is Kind.INVENTORY:
        return str(record["orderItemId"])
    if kind is Kind.CHARGES:
        return str(record["code"]).upper()
    return f"{record['currency']}#{record['effectiveFrom']}"


def _index(items: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], K]) -> dict[K, dict[str, Any]]:
    """Stored records by ``key``; one that lacks its key fields is named rather than failing the whole request."""
    out: dict[K, dict[str, Any]] = {}
    for item in items:
        try:
            out[key(item)] = strip_keys(item)
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise DamagedRecord(
                f"the directory record {item.get('pk')} {item.get('sk')} no longer parses ({err!r}); "
                "PUT it again under /v1/directory to replace it"
            ) from err
    return out
