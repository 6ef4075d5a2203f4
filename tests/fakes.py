"""In-memory stand-ins for the ports the use cases talk to, for tests that need no AWS.

Each store honours the conditions of its DynamoDB (or S3, SES, SQS) adapter and raises the same domain errors
(``Conflict``, ``NotFound``, ``TransactionConflict``, ``InventoryTaken``), with the same messages; values come back
as DynamoDB gives them (numbers as ``Decimal``, a fresh copy on every read). ``tests/unit/test_store_contracts.py``
runs one suite against each fake and its adapter on moto, so a test on fakes can be trusted where it matters.

The fakes record what happened (``FakeNotifier.sent``, ``FakeWorkQueue.bodies``) instead of asserting calls.
"""

from __future__ import annotations

import json
import re
from collections import Counter as Tally
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from ledgersync.adapters.accounting_link_store import link_sk
from ledgersync.adapters.aws_errors import TransactionConflict
from ledgersync.adapters.directory_store import DEFAULT_STORE_SK, code_sk, inventory_key, product_key_sk, record_sk
from ledgersync.adapters.documents import DocumentLinkSigner
from ledgersync.adapters.dynamodb import storable
from ledgersync.adapters.purchase_order_store import indexed_status, legacy_state_of
from ledgersync.adapters.quickbooks_online.references import InMemoryReferenceIdCache
from ledgersync.clock import Clock, SystemClock
from ledgersync.domain.accounting_links import AccountingLink
from ledgersync.domain.accounts import Company, Role, TokenRecord, User
from ledgersync.domain.company_health import CompanyHealth, PurchaseOrderCounts, WebConnectorSessionSummary
from ledgersync.domain.desktop_sync import SessionStatus, WebConnectorSession
from ledgersync.domain.directory import ID_KINDS, Kind, another_default_store, default_store_change
from ledgersync.domain.invoices import (
    UNKNOWN_CUSTOMER_CODE,
    ChangePlan,
    CommitPlan,
    InventoryTaken,
    Lookup,
    Snapshot,
)
from ledgersync.domain.process_log import (
    EXCLUSIVE_HOLD,
    MAX_MESSAGES,
    LogMessage,
    ProcessRun,
    RunInProgress,
    RunStatus,
    new_run_id,
)
from ledgersync.domain.purchase_order_sync import migrated_order
from ledgersync.domain.purchase_orders import PDF_LINK_SECONDS, ExternalSystem, PurchaseOrder, VendorInvoiceStatus
from ledgersync.domain.quickbooks_online import DedupEntry, DedupState
from ledgersync.domain.settings import AccountingSettings, Connection, ConnectionStatus
from ledgersync.domain.sync.documents import DocumentKind, DocumentRef
from ledgersync.domain.sync.messages import SyncMessage
from ledgersync.domain.sync.state import SyncState, SyncStatus
from ledgersync.domain.sync.store import StateWrite
from ledgersync.errors import Conflict, NotFound, RetryableError

__all__ = [
    "CONDITION_FAILED",
    "FakeClock",
    "FakeDocuments",
    "FakeNotifier",
    "FakeWorkQueue",
    "InMemoryAccountStore",
    "InMemoryCompanyHealth",
    "InMemoryDedupStore",
    "InMemoryDirectoryStore",
    "InMemoryInvoiceStore",
    "InMemoryOAuthStates",
    "InMemoryProcessLogStore",
    "InMemoryPurchaseOrderStore",
    "InMemoryReferenceIdCache",
    "InMemorySessionStore",
    "InMemorySettingsStore",
    "InMemorySyncStateStore",
    "SentEmail",
    "as_stored",
]

# What a failed DynamoDB condition becomes (ledgersync.adapters.aws_errors.translate_aws_error)
CONDITION_FAILED = "the record changed or already exists"

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def as_stored(value: Any) -> Any:
    """``value`` as a DynamoDB read gives it back: the adapter's ``storable`` conversion, then numbers as Decimal,
    tuples as lists, and never the caller's own object (what a test keeps can change without changing the store)."""
    return _deserializer.deserialize(_serializer.serialize(storable(value)))


def _condition_failed() -> Conflict:
    return Conflict(CONDITION_FAILED)


# ---------------------------------------------------------------------------------------------- purchase orders


class InMemoryPurchaseOrderStore:
    """``DynamoPurchaseOrderStore``: each save conditional on the version it read; ``save_with_state`` writes the PO
    and its sync state (in ``states``, the sync state store it shares with the use case) all or nothing."""

    def __init__(self, states: InMemorySyncStateStore | None = None) -> None:
        self.states = states if states is not None else InMemorySyncStateStore()
        # (company, PO id) -> {"version", "order" (as stored), "indexed" (the status index it is filed under)}
        self.items: dict[tuple[str, int], dict[str, Any]] = {}
        self.states.purchase_orders = self.items  # the one table: the state store reads a PO not migrated yet

    def get(self, company_id: str, po_id: int) -> PurchaseOrder | None:
        item = self.items.get((company_id, po_id))
        return _order(item) if item else None

    def save(self, order: PurchaseOrder, expected_version: int | None) -> PurchaseOrder:
        saved = order.model_copy(update={"version": (expected_version or 0) + 1})
        current = self.items.get((order.company_id, order.id))
        if expected_version is None:
            if current is not None:
                raise _condition_failed()
        elif current is None or int(current["version"]) != expected_version:
            raise Conflict(f"PO {order.po_number} was changed by someone else; reload it and try again")
        self._write(saved)
        return saved

    def save_with_state(
        self, order: PurchaseOrder, expected_version: int, state: SyncState, expected_state_version: int | None
    ) -> tuple[PurchaseOrder, SyncState]:
        """Both conditions checked before either is written, as the adapter's transaction does."""
        saved = order.model_copy(update={"version": expected_version + 1})
        saved_state = state.model_copy(update={"version": (expected_state_version or 0) + 1})
        current = self.items.get((order.company_id, order.id))
        stored_state = self.states.items.get(_state_key(state))
        po_holds = current is not None and int(current["version"]) == expected_version
        state_holds = (
            stored_state is None
            if not expected_state_version
            else stored_state is not None and stored_state.version == expected_state_version
        )
        if not (po_holds and state_holds):
            raise Conflict(f"PO {order.po_number} was changed or sent by someone else; reload it and try again")
        self._write(saved)
        self.states.items[_state_key(state)] = saved_state.model_copy(deep=True)
        return saved, saved_state

    def list_by_status(self, company_id: str, status: VendorInvoiceStatus) -> list[PurchaseOrder]:
        """The POs filed under ``status`` in the status index that read as filed there (``indexed_status``), in PO
        id order, as the adapter answers."""
        orders = (_order(item) for item in self.filed_under(company_id, status))
        return [order for order in orders if indexed_status(order) is status]

    def filed_under(self, company_id: str, status: VendorInvoiceStatus) -> list[dict[str, Any]]:
        """The items the status index files under ``status`` (what the adapters query or count), in PO id order."""
        return [
            item
            for (cid, _), item in sorted(self.items.items())
            if cid == company_id and item["indexed"] == status.value
        ]

    def _write(self, saved: PurchaseOrder) -> None:
        self.items[(saved.company_id, saved.id)] = as_stored(
            {
                "version": saved.version,
                "order": saved.model_dump(mode="json", by_alias=True, exclude={"sub_total", "total", "total_charges"}),
                "indexed": indexed_status(saved).value,
            }
        )


def _order(item: dict[str, Any]) -> PurchaseOrder:
    """The PO in ``item``; one stored with its sync fields (before the migration) reads as if migrated."""
    return PurchaseOrder.model_validate(migrated_order({**as_stored(item["order"]), "version": int(item["version"])}))


# ---------------------------------------------------------------------------------------------- accounts, settings


class InMemoryAccountStore:
    """``DynamoAccountStore``: companies, users and tokens, each created only once."""

    def __init__(self) -> None:
        self.profiles: dict[str, dict[str, Any]] = {}  # company id -> the profile (its settings live there too)
        self.users: dict[tuple[str, str], dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}  # token hash -> token

    def create_company(self, company: Company, admin: User, token: TokenRecord) -> None:
        if company.id in self.profiles or (admin.company_id, admin.id) in self.users or token.token_hash in self.tokens:
            raise Conflict("the company could not be created; try again")
        self.profiles[company.id] = {
            "companyId": company.id,
            "name": company.name,
            "currency": company.currency,
            "createdAt": company.created_at,
        }
        self._put_user(admin)
        self._put_token(token)

    def get_company(self, company_id: str) -> Company | None:
        item = self.profiles.get(company_id)
        if not item:
            return None
        return Company(id=item["companyId"], name=item["name"], currency=item["currency"], created_at=item["createdAt"])

    def company_ids(self) -> list[str]:
        """Every company, in name order (the adapter reads them from the name index)."""
        ordered = sorted(self.profiles.values(), key=lambda p: (str(p["name"]).casefold(), p["companyId"]))
        return [str(p["companyId"]) for p in ordered]

    def put_user(self, user: User, token: TokenRecord) -> None:
        reasons = [
            "ConditionalCheckFailed" if taken else "None"
            for taken in ((user.company_id, user.id) in self.users, token.token_hash in self.tokens)
        ]
        if "ConditionalCheckFailed" in reasons:
            raise TransactionConflict(reasons)
        self._put_user(user)
        self._put_token(token)

    def get_user(self, company_id: str, user_id: str) -> User | None:
        item = self.users.get((company_id, user_id))
        if not item:
            return None
        return User(
            id=item["userId"],
            company_id=company_id,
            name=item["name"],
            email=item["email"],
            roles=tuple(Role(r) for r in item["roles"]),
        )

    def put_token(self, token: TokenRecord) -> None:
        if token.token_hash in self.tokens:
            raise _condition_failed()
        self._put_token(token)

    def get_token(self, token_hash: str) -> TokenRecord | None:
        item = self.tokens.get(token_hash)
        if not item:
            return None
        return TokenRecord(
            token_id=item["tokenId"],
            token_hash=token_hash,
            company_id=item["companyId"],
            user_id=item["userId"],
            api_methods=tuple(item["apiMethods"]),
            roles=tuple(Role(r) for r in item["roles"]),
            description=item.get("description"),
        )

    def revoke_token(self, company_id: str, token_id: str) -> bool:
        """Delete the company's token whose id is exactly ``token_id``; False when it has none."""
        for token_hash, item in self.tokens.items():
            if item["tokenId"] == token_id and item["companyId"] == company_id:
                del self.tokens[token_hash]
                return True
        return False

    def _put_user(self, user: User) -> None:
        self.users[(user.company_id, user.id)] = as_stored(
            {"userId": user.id, "name": user.name, "email": user.email, "roles": [r.value for r in user.roles]}
        )

    def _put_token(self, token: TokenRecord) -> None:
        item: dict[str, Any] = {
            "tokenId": token.token_id,
            "companyId": token.company_id,
            "userId": token.user_id,
            "apiMethods": list(token.api_methods),
            "roles": [r.value for r in token.roles],
        }
        if token.description:
            item["description"] = token.description
        self.tokens[token.token_hash] = as_stored(item)


class InMemorySettingsStore:
    """``DynamoSettingsStore``: the accounting settings and the connection, kept on the company's profile (so a
    write to a company that does not exist is refused, as its condition ``attribute_exists(pk)`` refuses it)."""

    def __init__(self, accounts: InMemoryAccountStore) -> None:
        self.accounts = accounts

    def _profile(self, company_id: str) -> dict[str, Any]:
        profile = self.accounts.profiles.get(company_id)
        if profile is None:
            raise _condition_failed()
        return profile

    def get_accounting(self, company_id: str) -> tuple[AccountingSettings, Connection]:
        profile = self.accounts.profiles.get(company_id)
        if profile is None:
            raise NotFound(f"no company '{company_id}'")
        settings = AccountingSettings.model_validate(as_stored(profile.get("accountingSettings") or {}))
        if settings.company_currency is None:
            settings.company_currency = str(profile.get("currency", "USD"))
        return settings, Connection.model_validate(as_stored(profile.get("connection") or {}))

    def get_settings(self, company_id: str) -> AccountingSettings:
        return self.get_accounting(company_id)[0]

    def put_settings(self, company_id: str, settings: AccountingSettings) -> None:
        self._profile(company_id)["accountingSettings"] = as_stored(
            settings.model_dump(mode="json", by_alias=True, exclude={"company_currency"})
        )

    def get_connection(self, company_id: str) -> Connection:
        return self.get_accounting(company_id)[1]

    def put_connection(self, company_id: str, connection: Connection) -> None:
        self._profile(company_id)["connection"] = as_stored(connection.model_dump(mode="json", by_alias=True))

    def require_reauthorization(self, company_id: str, connection: Connection) -> bool:
        profile = self.accounts.profiles.get(company_id)
        if profile is None:
            return False
        stored = profile.get("connection") or {}
        if stored.get("status") == ConnectionStatus.REAUTHORIZATION_REQUIRED.value:
            return False
        profile["connection"] = as_stored(connection.model_dump(mode="json", by_alias=True))
        return True

    def clear_reconnect_notice(self, company_id: str) -> bool:
        stored = (self.accounts.profiles.get(company_id) or {}).get("connection") or {}
        if stored.get("status") != ConnectionStatus.REAUTHORIZATION_REQUIRED.value:
            return False
        if stored.get("reconnectNoticePending") is not True:
            return False
        stored["reconnectNoticePending"] = False
        return True

    def is_configured(self, company_id: str) -> bool:
        return bool((self.accounts.profiles.get(company_id) or {}).get("webhookConfigured"))

    def mark_webhook_configured(self, company_id: str) -> None:
        self._profile(company_id)["webhookConfigured"] = True


# ---------------------------------------------------------------------------------------------- directory, invoices


class _Records:
    """Each company's directory and invoice records by sort key (the adapters' keys), so the invoice store reads
    what the directory store wrote, and listings page in the same order."""

    def __init__(self) -> None:
        self.by_company: dict[str, dict[str, dict[str, Any]]] = {}

    def of(self, company_id: str) -> dict[str, dict[str, Any]]:
        return self.by_company.setdefault(company_id, {})

    def read(self, company_id: str, sk: str) -> dict[str, Any] | None:
        item = self.of(company_id).get(sk)
        return as_stored(item) if item is not None else None

    def write(self, company_id: str, sk: str, item: dict[str, Any]) -> None:
        self.of(company_id)[sk] = as_stored(item)

    def after(self, company_id: str, prefix: str, start_after: str | None) -> list[tuple[str, dict[str, Any]]]:
        return [
            (sk, as_stored(item))
            for sk, item in sorted(self.of(company_id).items())
            if sk.startswith(prefix) and (start_after is None or sk > start_after)
        ]


class InMemoryDirectoryStore:
    """``DynamoDirectoryStore``: a record per key, a code alias per id kind, inventory product keys, the rates."""

    def __init__(self, records: _Records | None = None) -> None:
        self.records = records or _Records()
        self.counters: dict[tuple[str, Kind], int] = {}

    def get_by_ids(self, company_id: str, kind: Kind, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        found = (self.records.read(company_id, record_sk(kind, i)) for i in dict.fromkeys(ids))
        return {int(item["id"]): item for item in found if item is not None}

    def get_by_codes(self, company_id: str, kind: Kind, codes: Sequence[str]) -> dict[str, dict[str, Any]]:
        found = (self.records.read(company_id, code_sk(kind, c)) for c in dict.fromkeys(codes))
        return {str(item["code"]).upper(): item for item in found if item is not None}

    def get_by_keys(self, company_id: str, kind: Kind, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        found = ((record_sk(kind, k), self.records.read(company_id, record_sk(kind, k))) for k in dict.fromkeys(keys))
        return {sk.split("#", 2)[2]: item for sk, item in found if item is not None}

    def allocate_ids(self, company_id: str, kind: Kind, count: int) -> list[int]:
        chosen: list[int] = []
        while len(chosen) < count:
            need = count - len(chosen)
            last = self.counters.get((company_id, kind), 0) + need
            self.counters[(company_id, kind)] = last
            candidates = list(range(last - need + 1, last + 1))
            taken = self.get_by_ids(company_id, kind, candidates)
            chosen.extend(i for i in candidates if i not in taken)
        return chosen

    def write(
        self, company_id: str, kind: Kind, records: Sequence[dict[str, Any]], previous: Sequence[dict[str, Any]]
    ) -> None:
        if kind is Kind.INVENTORY:
            self._move_product_keys(company_id, records, previous)
        if kind is Kind.EXCHANGE_RATES:
            self._merge_rates(company_id, records)
        if kind is Kind.STORES:
            default, removed = default_store_change(records, previous)
            holder = self.records.read(company_id, DEFAULT_STORE_SK)
            if default is not None and holder is not None and holder["id"] not in {r["id"] for r in records}:
                raise another_default_store(holder, default)
            if default is not None:
                self.records.write(company_id, DEFAULT_STORE_SK, dict(default))
            elif removed:
                self.records.of(company_id).pop(DEFAULT_STORE_SK, None)
        for record in records:  # puts, then deletes: the adapter's batch keeps the last write of a key
            if kind in ID_KINDS:
                self.records.write(company_id, record_sk(kind, record["id"]), dict(record))
                self.records.write(company_id, code_sk(kind, record["code"]), dict(record))
            else:
                self.records.write(company_id, record_sk(kind, _natural(kind, record)), dict(record))
        if kind in ID_KINDS:
            new_codes = {(r["id"], str(r["code"]).upper()) for r in records}
            written_ids = {r["id"] for r in records}
            for old in previous:
                if old["id"] in written_ids and (old["id"], str(old["code"]).upper()) not in new_codes:
                    self.records.of(company_id).pop(code_sk(kind, old["code"]), None)

    def _merge_rates(self, company_id: str, records: Sequence[dict[str, Any]]) -> None:
        current = self.records.read(company_id, "EXRATES") or {}
        rates = {(r["currency"], r["effectiveFrom"]): r for r in current.get("rates", [])}
        for record in records:
            rates[(record["currency"], record["effectiveFrom"])] = {
                "currency": record["currency"],
                "effectiveFrom": record["effectiveFrom"],
                "rate": record["rate"],
            }
        ordered = sorted(rates.values(), key=lambda r: (r["currency"], r["effectiveFrom"]))
        self.records.write(company_id, "EXRATES", {"rates": ordered})

    def _move_product_keys(
        self, company_id: str, records: Sequence[dict[str, Any]], previous: Sequence[dict[str, Any]]
    ) -> None:
        old_keys = {int(o["orderItemId"]): inventory_key(o) for o in previous}
        moves = {int(r["orderItemId"]): (old_keys.get(int(r["orderItemId"])), inventory_key(r)) for r in records}
        touched = {k for pair in moves.values() for k in pair if k}
        members = {
            k: {int(i) for i in (self.records.read(company_id, product_key_sk(k)) or {}).get("orderItemIds", [])}
            for k in touched
        }
        for oid, (old, new) in moves.items():
            if old and old != new:
                members[old].discard(oid)
            members[new].add(oid)
        for key, ids in members.items():
            self.records.write(company_id, product_key_sk(key), {"orderItemIds": sorted(ids)})

    def list(
        self, company_id: str, kind: Kind, limit: int, after: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        prefix = f"DIR#{kind.value}#"
        start = (
            record_sk(kind, after)
            if after and kind in ID_KINDS and after.isdigit()
            else (f"{prefix}{after}" if after else None)
        )
        items = self.records.after(company_id, prefix, start)[: limit + 1]
        page = items[:limit]
        cursor = None
        if len(items) > limit:
            cursor = page[-1][0][len(prefix) :]
            cursor = str(int(cursor)) if kind in ID_KINDS else cursor
        return [item for _, item in page], cursor


def _natural(kind: Kind, record: dict[str, Any]) -> str:
    if kind is Kind.INVENTORY:
        return str(record["orderItemId"])
    if kind is Kind.CHARGES:
        return str(record["code"]).upper()
    return f"{record['currency']}#{record['effectiveFrom']}"


class InMemoryAccountingLinkStore:
    """``DynamoAccountingLinkStore``: a link per (record, system) beside the directory's records."""

    def __init__(self, records: _Records | None = None) -> None:
        self.records = records or _Records()

    def get_many(
        self, company_id: str, kind: Kind, record_ids: Sequence[int], system: ExternalSystem
    ) -> dict[int, AccountingLink]:
        found = {i: self.records.read(company_id, link_sk(kind, i, system)) for i in dict.fromkeys(record_ids)}
        return {i: AccountingLink.model_validate(item["link"]) for i, item in found.items() if item is not None}

    def put_many(self, company_id: str, kind: Kind, links: Mapping[int, AccountingLink]) -> None:
        for record_id, link in links.items():
            item = {"recordId": record_id, "link": link.model_dump(mode="json", by_alias=True)}
            self.records.write(company_id, link_sk(kind, record_id, link.system), item)


class InMemoryInvoiceStore:
    """``DynamoInvoiceStore``: one read of everything a request needs, one all-or-nothing commit per invoice.

    Give it the directory's ``records`` (``InMemoryInvoiceStore(accounts, directory.records)``): invoices read the
    customers, carriers, inventory and charges the directory wrote, and take boxes from the same inventory.
    """

    COUNTER_SK = "COUNTER#invoice"

    def __init__(
        self,
        accounts: InMemoryAccountStore,
        records: _Records | None = None,
        states: InMemorySyncStateStore | None = None,
    ) -> None:
        self.accounts = accounts
        self.records = records or _Records()
        self.states = states  # the sync states a ship or unship writes with the invoice (change_with_state)
        self.invoices: dict[tuple[str, int], dict[str, Any]] = {}
        self.replays: dict[tuple[str, str], dict[str, Any]] = {}

    def read(self, company_id: str, lookup: Lookup) -> Snapshot:
        profile = self.accounts.profiles.get(company_id)
        if profile is None:
            raise Conflict("this company no longer exists")

        def one(sk: str | None) -> dict[str, Any] | None:
            return self.records.read(company_id, sk) if sk else None

        customer = (
            record_sk(Kind.CUSTOMERS, lookup.customer_id)
            if lookup.customer_id is not None
            else code_sk(Kind.CUSTOMERS, lookup.customer_code)
            if lookup.customer_code
            else None
        )
        carrier = (
            record_sk(Kind.CARRIERS, lookup.carrier_id)
            if lookup.carrier_id is not None
            else code_sk(Kind.CARRIERS, lookup.carrier_code)
            if lookup.carrier_code
            else None
        )
        location = (
            record_sk(Kind.LOCATIONS, lookup.location_id)
            if lookup.location_id is not None
            else code_sk(Kind.LOCATIONS, lookup.location_code)
            if lookup.location_code
            else None
        )
        store = (
            record_sk(Kind.STORES, lookup.store_id)
            if lookup.store_id is not None
            else code_sk(Kind.STORES, lookup.store_code)
            if lookup.store_code
            else DEFAULT_STORE_SK
        )
        replay = self.replays.get((company_id, lookup.idempotency_key)) if lookup.idempotency_key else None
        presentations = {p: one(product_key_sk(p)) for p in lookup.presentations}
        charges = (one(record_sk(Kind.CHARGES, c)) for c in lookup.charge_codes)
        return Snapshot(
            company=as_stored(profile),
            counter=one(self.COUNTER_SK) or {},
            rates=list((one("EXRATES") or {}).get("rates", [])),
            customer=one(customer),
            unknown_customer=one(code_sk(Kind.CUSTOMERS, UNKNOWN_CUSTOMER_CODE))
            if lookup.want_unknown_customer
            else None,
            carrier=one(carrier),
            location=one(location),
            store=one(store),
            inventory=self.read_inventory(company_id, lookup.order_item_ids),
            presentations={
                p: [int(i) for i in item.get("orderItemIds", [])] for p, item in presentations.items() if item
            },
            charges={str(c["code"]): c for c in charges if c is not None},
            replay=as_stored(replay) if replay is not None else None,
        )

    def read_inventory(self, company_id: str, order_item_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        found = (self.records.read(company_id, record_sk(Kind.INVENTORY, oid)) for oid in order_item_ids)
        return {int(item["orderItemId"]): item for item in found if item is not None}

    def commit(self, plan: CommitPlan) -> None:
        """Every condition of the adapter's transaction checked before anything is written."""
        company = plan.company_id
        taken = Tally[int]()
        for take in plan.takes:
            taken[take.order_item_id] += take.boxes
        writes_replay = bool(plan.idempotency_key and plan.idempotency_record is not None)
        actions = 2 + len(taken) + len(plan.new_charges) + (1 if writes_replay else 0)
        if actions > 100:
            raise Conflict(
                "this invoice takes boxes from too many inventory lines for one atomic write (100); "
                "split it into two invoices"
            )
        counter = self.records.read(company, self.COUNTER_SK) or {}
        expected = plan.expected_counter["invoiceNumber"]
        counter_holds = (
            "invoiceNumber" not in counter
            if expected == 0
            else counter.get("invoiceNumber") == expected
            and counter.get("invoiceItemId") == plan.expected_counter["invoiceItemId"]
        )
        reasons = ["None" if counter_holds else "ConditionalCheckFailed"]
        reasons.append("ConditionalCheckFailed" if (company, plan.invoice["invoiceId"]) in self.invoices else "None")
        inventory = {oid: self.records.read(company, record_sk(Kind.INVENTORY, oid)) for oid in taken}
        reasons.extend(
            "None"
            if item is not None and "availableBoxes" in item and item["availableBoxes"] >= taken[oid]
            else "ConditionalCheckFailed"
            for oid, item in inventory.items()
        )
        reasons.extend(
            "ConditionalCheckFailed" if self.records.read(company, record_sk(Kind.CHARGES, c["code"])) else "None"
            for c in plan.new_charges
        )
        if writes_replay:
            reasons.append("ConditionalCheckFailed" if (company, plan.idempotency_key) in self.replays else "None")
        if "ConditionalCheckFailed" in reasons:
            raise InventoryTaken("inventory, numbering or idempotency changed under us") from TransactionConflict(
                reasons
            )
        self.records.write(company, self.COUNTER_SK, {**counter, **plan.next_counter})
        self.invoices[(company, plan.invoice["invoiceId"])] = as_stored(plan.invoice)
        for oid, item in inventory.items():
            assert item is not None  # checked above
            item["availableBoxes"] -= taken[oid]
            self.records.write(company, record_sk(Kind.INVENTORY, oid), item)
        for charge in plan.new_charges:
            self.records.write(company, record_sk(Kind.CHARGES, charge["code"]), charge)
        if writes_replay:
            assert plan.idempotency_key is not None and plan.idempotency_record is not None
            self.replays[(company, plan.idempotency_key)] = as_stored(plan.idempotency_record)

    def get(self, company_id: str, invoice_id: int) -> dict[str, Any] | None:
        item = self.invoices.get((company_id, invoice_id))
        return _public(item) if item else None

    def get_by_number(self, company_id: str, invoice_number: int) -> dict[str, Any] | None:
        for (cid, invoice_id), item in sorted(self.invoices.items()):
            if cid == company_id and int(item["invoiceNumber"]) == invoice_number:
                return self.get(company_id, invoice_id)
        return None

    def set_status(self, company_id: str, invoice_id: int, expected: str, status: str) -> dict[str, Any]:
        item = self.invoices.get((company_id, invoice_id))
        if item is None or item.get("status") != expected:
            raise _condition_failed()
        item["status"] = status
        item["version"] = int(item.get("version", 0)) + 1
        return _public(item)

    def change(
        self, company_id: str, invoice_id: int, expected_version: int, changes: dict[str, Any]
    ) -> dict[str, Any]:
        item = self.invoices.get((company_id, invoice_id))
        if item is None or int(item.get("version", 0)) != expected_version:
            raise _condition_failed()
        item.update(as_stored(changes))
        item["version"] = expected_version + 1
        return _public(item)

    def change_with_state(
        self, company_id: str, invoice_id: int, expected_version: int, changes: dict[str, Any], state: StateWrite
    ) -> dict[str, Any]:
        """Both conditions checked before either is written, as the adapter's transaction does."""
        if self.states is None:
            raise AssertionError("give InMemoryInvoiceStore the sync state store (states=) to ship automatic stores")
        item = self.invoices.get((company_id, invoice_id))
        current = self.states.items.get(_state_key(state.state))
        state_holds = (current is None) == (not state.expected_version) and (
            current is None or current.version == state.expected_version
        )
        if item is None or int(item.get("version", 0)) != expected_version or not state_holds:
            raise _condition_failed()
        self.states.put(state.state, state.expected_version)
        return self.change(company_id, invoice_id, expected_version, changes)

    def commit_change(self, plan: ChangePlan) -> None:
        """Every condition of the adapter's transaction checked before anything is written."""
        company = plan.company_id
        if len(plan.inventory_deltas) + len(plan.new_charges) + 2 > 100:
            raise Conflict(
                "this change moves boxes on too many inventory lines for one atomic write (100); change fewer lines"
            )
        invoice = self.invoices.get((company, plan.invoice_id))
        counter = self.records.read(company, self.COUNTER_SK) or {}
        inventory = {oid: self.records.read(company, record_sk(Kind.INVENTORY, oid)) for oid in plan.inventory_deltas}
        holds = [
            invoice is not None
            and int(invoice.get("version", 0)) == plan.expected_version
            and invoice.get("status") != "Shipped",
            plan.next_item_counter == plan.expected_item_counter
            or counter.get("invoiceItemId") == plan.expected_item_counter,
            *(
                item is not None and (boxes <= 0 or item["availableBoxes"] >= boxes)
                for oid, boxes in plan.inventory_deltas.items()
                for item in [inventory[oid]]
            ),
            *(not self.records.read(company, record_sk(Kind.CHARGES, c["code"])) for c in plan.new_charges),
        ]
        if plan.state is not None:  # the sales order's state, in the same transaction
            if self.states is None:
                raise AssertionError("give InMemoryInvoiceStore the sync state store (states=) to update sales orders")
            current = self.states.items.get(_state_key(plan.state.state))
            holds.append(
                (current is None) == (not plan.state.expected_version)
                and (current is None or current.version == plan.state.expected_version)
            )
        if not all(holds):
            reasons = ["None" if held else "ConditionalCheckFailed" for held in holds]
            raise InventoryTaken("the invoice, its inventory or the numbering changed under us") from (
                TransactionConflict(reasons)
            )
        assert invoice is not None  # checked above
        if plan.state is not None and self.states is not None:
            self.states.put(plan.state.state, plan.state.expected_version)
        invoice.update(as_stored(plan.changes))
        invoice["version"] = plan.expected_version + 1
        if plan.next_item_counter != plan.expected_item_counter:
            self.records.write(company, self.COUNTER_SK, {**counter, "invoiceItemId": plan.next_item_counter})
        for oid, boxes in plan.inventory_deltas.items():
            item = inventory[oid]
            assert item is not None  # checked above
            item["availableBoxes"] -= boxes
            self.records.write(company, record_sk(Kind.INVENTORY, oid), item)
        for charge in plan.new_charges:
            self.records.write(company, record_sk(Kind.CHARGES, charge["code"]), charge)

    def list(self, company_id: str, limit: int, after: int | None) -> tuple[list[dict[str, Any]], int | None]:
        ids = [i for (cid, i) in sorted(self.invoices) if cid == company_id and (not after or i > after)]
        page = [_public(self.invoices[(company_id, i)]) for i in ids[:limit]]
        return page, (int(page[-1]["invoiceId"]) if len(ids) > limit else None)


def _public(item: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = as_stored(item)
    record.pop("response", None)
    return record


# ---------------------------------------------------------------------------------------------- QuickBooks Online


class InMemoryDedupStore:
    """``DynamoDedupStore``: an entry is written once, replaced only from the state it was read in."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def put_if_absent(self, company_id: str, key: str, entry: DedupEntry) -> DedupEntry | None:
        existing = self.items.get((company_id, key))
        if existing is not None:
            return _dedup_entry(existing)
        self.items[(company_id, key)] = _dedup_item(entry)
        return None

    def replace(self, company_id: str, key: str, expected: DedupEntry, new: DedupEntry) -> bool:
        stored = self.items.get((company_id, key))
        if stored is None or (stored.get("state"), stored.get("attempt"), stored.get("startedAt")) != (
            expected.state.value,
            expected.attempt,
            expected.started_at.isoformat(),
        ):
            return False
        self.items[(company_id, key)] = _dedup_item(new)
        return True

    def get(self, company_id: str, key: str) -> DedupEntry | None:
        """What is stored under ``key``, as the adapter's ``get``."""
        item = self.items.get((company_id, key))
        return _dedup_entry(item) if item is not None else None

    def entry(self, company_id: str, key: str) -> DedupEntry | None:
        """What is stored under ``key`` (for a test's Then)."""
        return self.get(company_id, key)

    def complete(self, company_id: str, key: str, attempt: int, result_id: str) -> None:
        """An unconditional update, as the adapter's: it writes the fields even on an entry it never saw."""
        stored = self.items.setdefault((company_id, key), {})
        stored.update(state=DedupState.COMPLETED.value, resultId=result_id, attempt=attempt)


def _dedup_item(entry: DedupEntry) -> dict[str, Any]:
    item: dict[str, Any] = {
        "state": entry.state.value,
        "attempt": entry.attempt,
        "startedAt": entry.started_at.isoformat(),
        "reference": entry.reference,
    }
    if entry.result_id:
        item["resultId"] = entry.result_id
    stored: dict[str, Any] = as_stored(item)
    return stored


def _dedup_entry(item: dict[str, Any]) -> DedupEntry:
    return DedupEntry(
        state=DedupState(item["state"]),
        attempt=int(item["attempt"]),
        started_at=datetime.fromisoformat(str(item["startedAt"])),
        reference=str(item["reference"]),
        result_id=item.get("resultId"),
    )


class InMemoryOAuthStates:
    """``DynamoOAuthStates``: a state is written once and taken once, never after it expired."""

    def __init__(self) -> None:
        self.states: dict[str, tuple[str, str, int]] = {}

    def put(self, state: str, company_id: str, redirect_uri: str, expires_at: datetime) -> None:
        if state in self.states:
            raise _condition_failed()
        self.states[state] = (company_id, redirect_uri, int(expires_at.timestamp()))

    def take(self, state: str, now: datetime) -> tuple[str, str] | None:
        found = self.states.get(state)
        if found is None or found[2] <= int(now.timestamp()):
            return None
        del self.states[state]
        return found[0], found[1]


# ---------------------------------------------------------------------------------------------- Web Connector


class InMemorySessionStore:
    """``DynamoSessionStore``: sessions saved only over the version they were read at, one live one per company,
    and the summary of each company's last session (``last_sessions``, what company health shows)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self.sessions: dict[str, tuple[int, str]] = {}  # ticket -> (version, the session as JSON)
        self.locks: dict[str, tuple[str, int]] = {}  # company -> (ticket, expires at, epoch seconds)
        self.last_sessions: dict[str, dict[str, Any]] = {}

    def create(self, session: WebConnectorSession) -> None:
        if session.ticket in self.sessions:
            raise _condition_failed()
        self.sessions[session.ticket] = (session.version, session.model_dump_json())
        self._summarize(session)

    def load(self, ticket: str) -> WebConnectorSession | None:
        if not ticket or len(ticket) > 100 or ticket not in self.sessions:
            return None
        return WebConnectorSession.model_validate_json(self.sessions[ticket][1])

    def save(self, session: WebConnectorSession) -> None:
        stored = self.sessions.get(session.ticket)
        if stored is None or stored[0] != session.version - 1:
            raise _condition_failed()
        self.sessions[session.ticket] = (session.version, session.model_dump_json())
        if session.status is not SessionStatus.ACTIVE:
            self._summarize(session)

    def claim_company(self, company_id: str, ticket: str, until: datetime) -> bool:
        held = self.locks.get(company_id)
        if held is not None and held[0] != ticket and held[1] >= int(self.clock.now().timestamp()):
            return False
        self.locks[company_id] = (ticket, int(until.timestamp()))
        return True

    def release_company(self, company_id: str, ticket: str) -> None:
        held = self.locks.get(company_id)
        if held is not None and held[0] == ticket:
            del self.locks[company_id]

    def _summarize(self, session: WebConnectorSession) -> None:
        self.last_sessions[session.company_id] = as_stored(
            {
                "userName": session.user_name,
                "status": session.status.value,
                "startedAt": session.created_at.isoformat(),
                "updatedAt": self.clock.now().isoformat(),
                "progress": session.progress,
                "bills": session.job_count("bill"),
                "invoices": len(session.jobs) - session.job_count("bill"),
                "lastError": session.last_error or None,
            }
        )


class InMemoryCompanyHealth:
    """``DynamoCompanyHealth``: the operator's view of one company, from the account, PO, session and sync state
    fakes (``states``: the PO store's unless given). The approval counts are the POs the status index files under
    each lifecycle status (a sent PO is filed under "Sent to External System"), the rest the sync states."""

    def __init__(
        self,
        accounts: InMemoryAccountStore,
        orders: InMemoryPurchaseOrderStore,
        sessions: InMemorySessionStore,
        states: InMemorySyncStateStore | None = None,
    ) -> None:
        self.accounts = accounts
        self.orders = orders
        self.sessions = sessions
        self.states = states if states is not None else orders.states

    def read(self, company_id: str) -> CompanyHealth:
        company = self.accounts.get_company(company_id)
        if company is None:
            raise NotFound(f"no company '{company_id}'")
        settings, connection = InMemorySettingsStore(self.accounts).get_accounting(company_id)
        connection.external_system = settings.external_system

        def count(status: VendorInvoiceStatus) -> int:
            return len(self.orders.filed_under(company_id, status))

        counts = PurchaseOrderCounts(
            pending_approval=count(VendorInvoiceStatus.PENDING_APPROVAL),
            approved=count(VendorInvoiceStatus.APPROVED),
            queued=sum(
                self.states.count_by_status(company_id, status)
                for status in (SyncStatus.QUEUED, SyncStatus.SCHEDULED, SyncStatus.SENDING)
            ),
            held=self.states.count_by_status(company_id, SyncStatus.HELD),
            error=self.states.count_by_status(company_id, SyncStatus.ERROR),
        )
        last = self.sessions.last_sessions.get(company_id)
        return CompanyHealth(
            company_id=company.id,
            name=company.name,
            connection=connection,
            purchase_orders=counts,
            last_web_connector_session=WebConnectorSessionSummary.model_validate(last) if last else None,
        )


# ---------------------------------------------------------------------------------------------- S3, SES, SQS


class FakeDocuments:
    """``S3Documents``: PDFs kept by key, handed out through the same signed links (``DocumentLinkSigner``)."""

    def __init__(self, links: DocumentLinkSigner | None = None, base_url: str = "https://ledgersync.test") -> None:
        self.links = links or DocumentLinkSigner(lambda: b"fake-document-link-key")
        self.base_url = base_url.rstrip("/")
        self.pdfs: dict[str, bytes] = {}

    def put_pdf(self, company_id: str, po_id: int, name: str, data: bytes) -> str:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80]
        key = f"{company_id}/purchase-orders/{po_id}/{safe}.pdf"
        self.pdfs[key] = bytes(data)
        return key

    def delete_pdf(self, key: str) -> None:
        self.pdfs.pop(key, None)

    def presigned_pdf_url(self, key: str, expires_in: int = PDF_LINK_SECONDS) -> str:
        return f"{self.base_url}/v1/documents/{self.links.token(key, expires_in)}"

    def open_pdf(self, token: str) -> bytes:
        grant = self.links.verify(token)
        if grant.key not in self.pdfs:
            raise NotFound("the document is no longer stored")
        return self.pdfs[grant.key]


@dataclass(frozen=True)
class SentEmail:
    to: list[str]
    subject: str
    text: str
    html: str


@dataclass
class FakeNotifier:
    """``SesNotifier``: an outbox of the e-mails sent (to at most five addresses; none without an address).

    ``failures``: how many sends fail first, as SES throttling does (``RetryableError``); nothing is sent then.
    """

    failures: int = 0
    sent: list[SentEmail] = field(default_factory=list)

    def send(self, to: list[str], subject: str, text: str, html: str) -> None:
        if not to:
            return
        if self.failures > 0:
            self.failures -= 1
            raise RetryableError("SES is throttling the notification e-mails")
        self.sent.append(SentEmail(list(to[:5]), subject, text, html))


@dataclass
class FakeWorkQueue:
    """``SqsWorkQueue`` (and the webhook queue's ``enqueue``): the messages one queue received, in order."""

    queue_url: str = "https://sqs.us-east-1.amazonaws.com/123456789012/ledgersync-sync"
    bodies: list[str] = field(default_factory=list)

    def enqueue(self, message: SyncMessage) -> None:
        self.bodies.append(message.to_json())

    def of(self) -> list[dict[str, Any]]:
        """The bodies received, parsed from JSON, in order."""
        return [json.loads(body) for body in self.bodies]


# ---------------------------------------------------------------------------------------------- clock


@dataclass
class FakeClock:
    """The ``ledgersync.clock.Clock`` port, still until told: ``advance`` and ``sleep`` move wall time and the
    monotonic count together; setting ``current`` moves wall time only. ``slept`` records each sleep."""

    current: datetime = field(default_factory=lambda: datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    ticks: float = 0.0
    slept: list[float] = field(default_factory=list)

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return self.ticks

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    def advance(self, by: timedelta | float) -> None:
        """Move both clocks forward by ``by`` (a timedelta or seconds)."""
        seconds = by.total_seconds() if isinstance(by, timedelta) else float(by)
        self.current += timedelta(seconds=seconds)
        self.ticks += seconds


# ---------------------------------------------------------------------------------------------- sync states


class InMemorySyncStateStore:
    """``DynamoSyncStateStore`` in a dict: a put is refused (Conflict) unless the stored version is the one expected.
    A PO not migrated yet (in ``purchase_orders``, the items of the PO store that shares this store) stands for the
    state its own fields describe, as the adapter reads it (version 0: not stored yet)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, DocumentRef, ExternalSystem], SyncState] = {}
        self.purchase_orders: dict[tuple[str, int], dict[str, Any]] = {}

    def get(self, company_id: str, ref: DocumentRef, target: ExternalSystem) -> SyncState | None:
        found = self.items.get((company_id, ref, target))
        return found.model_copy(deep=True) if found else self._legacy(company_id, ref, target)

    def _legacy(self, company_id: str, ref: DocumentRef, target: ExternalSystem) -> SyncState | None:
        if ref.kind is not DocumentKind.PURCHASE_ORDER_BILLS:
            return None
        item = self.purchase_orders.get((company_id, ref.purchase_order_id))
        return legacy_state_of(as_stored(item), company_id, target) if item else None

    def put(self, state: SyncState, expected_version: int | None) -> SyncState:
        key = _state_key(state)
        current = self.items.get(key)
        if (current is None) != (not expected_version) or (current and current.version != expected_version):
            raise Conflict(
                f"{state.document} for {state.target.value} was changed by someone else; reload it and try again"
            )
        saved = state.model_copy(update={"version": (expected_version or 0) + 1}, deep=True)
        self.items[key] = saved
        return saved.model_copy(deep=True)

    def list_by_status(
        self, company_id: str, status: SyncStatus, target: ExternalSystem | None = None
    ) -> list[SyncState]:
        found = [
            s
            for (company, _, system), s in sorted(self.items.items(), key=lambda kv: _state_key_text(kv[1]))
            if company == company_id and s.status is status and (target is None or system is target)
        ]
        return [s.model_copy(deep=True) for s in found]

    def list_for_document(
        self, company_id: str, ref: DocumentRef, legacy_target: ExternalSystem | None
    ) -> list[SyncState]:
        found = [s for (company, doc, _), s in self.items.items() if company == company_id and doc == ref]
        if found:
            return [s.model_copy(deep=True) for s in sorted(found, key=_state_key_text)]
        legacy = self._legacy(company_id, ref, legacy_target) if legacy_target else None
        return [legacy] if legacy else []

    def count_by_status(self, company_id: str, status: SyncStatus) -> int:
        return sum(1 for (company, _, _), s in self.items.items() if company == company_id and s.status is status)


def _state_key(state: SyncState) -> tuple[str, DocumentRef, ExternalSystem]:
    return (state.company_id, state.document, state.target)


def _state_key_text(state: SyncState) -> str:
    """The order both stores list states in (the adapter's sort key, ``document_key``)."""
    return f"{state.document.kind.value}#{state.document.id}#{state.target.value}"


@dataclass
class _Run:
    company_id: str
    run: ProcessRun
    exclusive: bool
    heartbeat_at: datetime


class InMemoryProcessLogStore:
    """``DynamoProcessLogStore``: runs newest first by id, the first ``MAX_MESSAGES`` messages kept and the rest
    counted, an exclusive run holding its name until it finishes or goes silent for ``EXCLUSIVE_HOLD``."""

    def __init__(self) -> None:
        self.runs: dict[tuple[str, str], _Run] = {}
        self.locks: dict[tuple[str, str], str] = {}  # (company, name) -> run id

    def start(self, company_id: str, name: str, now: datetime) -> ProcessRun:
        return self._start(company_id, name, now, exclusive=False)

    def start_exclusive(self, company_id: str, name: str, now: datetime) -> ProcessRun:
        return self._start(company_id, name, now, exclusive=True)

    def _start(self, company_id: str, name: str, now: datetime, exclusive: bool) -> ProcessRun:
        if exclusive:
            holder = self.running(company_id, name, now)
            if holder is not None:
                raise RunInProgress(holder)
        run = ProcessRun(run_id=new_run_id(now), name=name, started_at=now)
        self.runs[(company_id, run.run_id)] = _Run(company_id, run, exclusive, now)
        if exclusive:
            self.locks[(company_id, name)] = run.run_id
        return run.model_copy(deep=True)

    def running(self, company_id: str, name: str, now: datetime) -> ProcessRun | None:
        run_id = self.locks.get((company_id, name))
        held = self.runs.get((company_id, run_id)) if run_id else None
        if held is None or held.run.status is not RunStatus.RUNNING or held.heartbeat_at + EXCLUSIVE_HOLD < now:
            return None
        return held.run.model_copy(deep=True)

    def add(
        self,
        company_id: str,
        run_id: str,
        now: datetime,
        messages: Sequence[LogMessage] = (),
        counts: Mapping[str, int] | None = None,
    ) -> None:
        held = self.runs.get((company_id, run_id))
        if held is None:
            raise _condition_failed()
        held.heartbeat_at = now
        room = max(0, MAX_MESSAGES - len(held.run.messages))
        held.run.messages += [m.model_copy() for m in messages[:room]]
        held.run.messages_not_kept += max(0, len(messages) - room)
        for key, amount in (counts or {}).items():
            held.run.counts[key] = held.run.counts.get(key, 0) + int(amount)

    def finish(self, company_id: str, run_id: str, status: RunStatus, now: datetime) -> ProcessRun:
        held = self.runs.get((company_id, run_id))
        if held is None:
            raise _condition_failed()
        if held.run.status is RunStatus.RUNNING:
            held.run.status = status
            held.run.finished_at = now
            held.heartbeat_at = now
            if self.locks.get((company_id, held.run.name)) == run_id:
                del self.locks[(company_id, held.run.name)]
        return held.run.model_copy(deep=True)

    def get(self, company_id: str, run_id: str) -> ProcessRun | None:
        held = self.runs.get((company_id, run_id))
        return held.run.model_copy(deep=True) if held else None

    def page(
        self, company_id: str, limit: int, cursor: str | None, name: str | None = None
    ) -> tuple[list[ProcessRun], str | None]:
        runs = sorted(
            (
                r.run
                for (c, run_id), r in self.runs.items()
                if c == company_id and (name is None or r.run.name == name) and (cursor is None or run_id < cursor)
            ),
            key=lambda r: r.run_id,
            reverse=True,
        )
        kept = [r.model_copy(deep=True) for r in runs[:limit]]
        return kept, (kept[-1].run_id if len(runs) > limit else None)
