"""Sync states in the single table: one item per (document, target), indexed by status on gsi1."""

from __future__ import annotations

import json
from typing import Any

from ledgersync.adapters.dynamodb import Item, SingleTable, company_pk
from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.sync.documents import DocumentKind, DocumentRef
from ledgersync.domain.sync.state import SyncState, SyncStatus
from ledgersync.errors import Conflict

PREFIX = "SYNC#"


def document_key(ref: DocumentRef, target: ExternalSystem) -> str:
    return f"{ref.kind.value}#{ref.id}#{target.value}"


def state_sk(ref: DocumentRef, target: ExternalSystem) -> str:
    return f"{PREFIX}{document_key(ref, target)}"


def status_index_key(company_id: str, status: SyncStatus) -> str:
    return f"{company_pk(company_id)}#{PREFIX}{status.value}"


def state_item(state: SyncState) -> Item:
    body = state.model_dump(mode="json", exclude={"version"})
    if "" in body["external_ids"]:
        # A one-part document's id is kept under the part "", and DynamoDB refuses an empty attribute name (a map
        # key): such ids are stored as one JSON string instead (``_state`` reads both).
        body["external_ids"] = json.dumps(body["external_ids"])
    return {
        "pk": company_pk(state.company_id),
        "sk": state_sk(state.document, state.target),
        "version": state.version,
        "state": body,
        "gsi1pk": status_index_key(state.company_id, state.status),
        "gsi1sk": document_key(state.document, state.target),
    }


class DynamoSyncStateStore:
    def __init__(self, table: SingleTable) -> None:
        self.table = table

    def get(self, company_id: str, ref: DocumentRef, target: ExternalSystem) -> SyncState | None:
        """The state; for a PO not migrated yet, the one its own fields stand for (version 0: not stored yet)."""
        item = self.table.get(company_pk(company_id), state_sk(ref, target))
        if item:
            return _state(item)
        return self._legacy(company_id, ref, target)

    def _legacy(self, company_id: str, ref: DocumentRef, target: ExternalSystem) -> SyncState | None:
        if ref.kind is not DocumentKind.PURCHASE_ORDER_BILLS:
            return None
        from ledgersync.adapters.purchase_order_store import legacy_state_of, po_sk

        order = self.table.get(company_pk(company_id), po_sk(ref.purchase_order_id))
        return legacy_state_of(order, company_id, target) if order else None

    def put(self, state: SyncState, expected_version: int | None) -> SyncState:
        saved = state.model_copy(update={"version": (expected_version or 0) + 1})
        try:
            if not expected_version:  # None, or 0: a state read from a PO not migrated yet
                self.table.put(state_item(saved), condition="attribute_not_exists(pk)")
            else:
                self.table.put(state_item(saved), condition="version = :v", values={":v": expected_version})
        except Conflict as err:
            raise Conflict(
                f"{state.document} for {state.target.value} was changed by someone else; reload it and try again"
            ) from err
        return saved

    def put_action(self, state: SyncState, expected_version: int | None) -> dict[str, Any]:
        """The transaction action ``put`` would be (``SingleTable.transact``); ``state`` carries its new version."""
        body: dict[str, Any] = {"Item": state_item(state)}
        if not expected_version:
            body["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            body["ConditionExpression"] = "version = :v"
            body["ExpressionAttributeValues"] = {":v": expected_version}
        return {"Put": body}

    def list_by_status(
        self, company_id: str, status: SyncStatus, target: ExternalSystem | None = None
    ) -> list[SyncState]:
        """The states in ``status``, read from the index (it projects the whole item: no read per state)."""
        items = self.table.query_prefix(status_index_key(company_id, status), "", index="gsi1")
        states = [_state(item) for item in items]
        return [s for s in states if s.status is status and (target is None or s.target is target)]

    def list_for_document(
        self, company_id: str, ref: DocumentRef, legacy_target: ExternalSystem | None
    ) -> list[SyncState]:
        """Every target's state of one document; none stored yet, the one a PO not migrated stands for (as a state
        for ``legacy_target``, the company's system)."""
        items = self.table.query_prefix(company_pk(company_id), f"{PREFIX}{ref.kind.value}#{ref.id}#")
        states = [_state(item) for item in items]
        if states:
            return states
        legacy = self._legacy(company_id, ref, legacy_target) if legacy_target else None
        return [legacy] if legacy else []

    def count_by_status(self, company_id: str, status: SyncStatus) -> int:
        return self.table.count_items(status_index_key(company_id, status), index="gsi1")


def _state(item: Item) -> SyncState:
    body = dict(item["state"])
    if isinstance(body.get("external_ids"), str):
        body["external_ids"] = json.loads(body["external_ids"])
    return SyncState.model_validate({**body, "version": int(item["version"])})
