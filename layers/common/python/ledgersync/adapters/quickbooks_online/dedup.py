"""The dedup entries of bills and sales invoices in the single table, every write conditional (see
``ExactlyOnceCreate``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ledgersync.adapters.dynamodb import SingleTable
from ledgersync.domain.quickbooks_online import (
    DedupEntry,
    DedupState,
)
from ledgersync.errors import (
    Conflict,
    RetryableError,
)

if TYPE_CHECKING:
    pass


class DynamoDedupStore:
    """Dedup entries ``COMPANY#<cid>`` / ``DEDUP#qbo#<key>``; every write is conditional."""

    TARGET = "qbo"

    def __init__(self, table: SingleTable) -> None:
        self.table = table

    def _sk(self, key: str) -> str:
        return f"DEDUP#{self.TARGET}#{key}"

    @staticmethod
    def _item(entry: DedupEntry) -> dict[str, Any]:
        item: dict[str, Any] = {
            "state": entry.state.value,
            "attempt": entry.attempt,
            "startedAt": entry.started_at.isoformat(),
            "reference": entry.reference,
        }
        if entry.result_id:
            item["resultId"] = entry.result_id
        return item

    @staticmethod
    def _entry(item: dict[str, Any]) -> DedupEntry:
        return DedupEntry(
            state=DedupState(item["state"]),
            attempt=int(item["attempt"]),
            started_at=datetime.fromisoformat(str(item["startedAt"])),
            reference=str(item["reference"]),
            result_id=item.get("resultId"),
        )

    def get(self, company_id: str, key: str) -> DedupEntry | None:
        """The entry under ``key``, read consistently (what an earlier send recorded), or None."""
        item = self.table.get(f"COMPANY#{company_id}", self._sk(key))
        return self._entry(item) if item is not None else None

    def put_if_absent(self, company_id: str, key: str, entry: DedupEntry) -> DedupEntry | None:
        pk, sk = f"COMPANY#{company_id}", self._sk(key)
        try:
            self.table.put({"pk": pk, "sk": sk, **self._item(entry)}, condition="attribute_not_exists(pk)")
        except Conflict:
            existing = self.table.get(pk, sk)
            if existing is None:
                raise RetryableError("The dedup record changed while it was read; try again.") from None
            return self._entry(existing)
        return None

    def replace(self, company_id: str, key: str, expected: DedupEntry, new: DedupEntry) -> bool:
        try:
            self.table.put(
                {"pk": f"COMPANY#{company_id}", "sk": self._sk(key), **self._item(new)},
                condition="#s = :s AND attempt = :a AND startedAt = :t",
                names={"#s": "state"},
                values={":s": expected.state.value, ":a": expected.attempt, ":t": expected.started_at.isoformat()},
            )
        except Conflict:
            return False
        return True

    def complete(self, company_id: str, key: str, attempt: int, result_id: str) -> None:
        self.table.update(
            f"COMPANY#{company_id}",
            self._sk(key),
            "SET #s = :s, resultId = :r, attempt = :a",
            names={"#s": "state"},
            values={":s": DedupState.COMPLETED.value, ":r": result_id, ":a": attempt},
        )
