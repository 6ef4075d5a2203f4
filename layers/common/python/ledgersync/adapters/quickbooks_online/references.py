"""The reference-id cache: QuickBooks ids of vendors, items, accounts and classes by name, per realm."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ledgersync.adapters.dynamodb import SingleTable
from ledgersync.adapters.quickbooks_online.limits import DynamoRequestLimiter

if TYPE_CHECKING:
    pass

# ---------------------------------------------------------------------------------------------- reference ids


class ReferenceIdCache(Protocol):
    """QuickBooks ids of names already looked up (vendors, items, accounts, classes), per realm.

    This is the VendorIdCache the bill needs: the vendor found by Display Name is kept, so the next bill of
    that vendor makes no query. Items, accounts and classes are kept the same way.
    """

    def get(self, realm_id: str, kind: str, name: str) -> str | None: ...

    def put(self, realm_id: str, kind: str, name: str, entity_id: str) -> None: ...

    def forget(self, realm_id: str, kind: str, name: str) -> None: ...


class InMemoryReferenceIdCache:
    """A process-local ReferenceIdCache (tests, the bench, and the front of the DynamoDB one)."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, str, str], str] = {}

    def get(self, realm_id: str, kind: str, name: str) -> str | None:
        return self.ids.get((realm_id, kind, name))

    def put(self, realm_id: str, kind: str, name: str, entity_id: str) -> None:
        self.ids[(realm_id, kind, name)] = entity_id

    def forget(self, realm_id: str, kind: str, name: str) -> None:
        self.ids.pop((realm_id, kind, name), None)


class DynamoReferenceIdCache:
    """ReferenceIdCache in the single table (``QBO#REALM#<realm>`` / ``REF#<kind>#<name>``), memoized per instance."""

    def __init__(self, table: SingleTable) -> None:
        self.table = table
        self.memory = InMemoryReferenceIdCache()

    def get(self, realm_id: str, kind: str, name: str) -> str | None:
        known = self.memory.get(realm_id, kind, name)
        if known is not None:
            return known
        item = self.table.get(DynamoRequestLimiter.pk(realm_id), f"REF#{kind}#{name}", consistent=False)
        if item is None:
            return None
        self.memory.put(realm_id, kind, name, str(item["entityId"]))
        return str(item["entityId"])

    def put(self, realm_id: str, kind: str, name: str, entity_id: str) -> None:
        self.table.put(
            {
                "pk": DynamoRequestLimiter.pk(realm_id),
                "sk": f"REF#{kind}#{name}",
                "entityId": entity_id,
                "kind": kind,
                "name": name,
            }
        )
        self.memory.put(realm_id, kind, name, entity_id)

    def forget(self, realm_id: str, kind: str, name: str) -> None:
        self.table.delete(DynamoRequestLimiter.pk(realm_id), f"REF#{kind}#{name}")
        self.memory.forget(realm_id, kind, name)
