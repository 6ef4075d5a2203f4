"""In-memory stores that honour the same conditions as the DynamoDB adapters (kept honest by contract tests)."""

from __future__ import annotations

from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.sync.documents import DocumentRef
from ledgersync.domain.sync.state import SyncState, SyncStatus
from ledgersync.errors import Conflict


class InMemorySyncStateStore:
    """``SyncStateStore`` in a dict: a put is refused (Conflict) unless the stored version is the one expected."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, DocumentRef, ExternalSystem], SyncState] = {}

    def get(self, company_id: str, ref: DocumentRef, target: ExternalSystem) -> SyncState | None:
        found = self.items.get((company_id, ref, target))
        return found.model_copy(deep=True) if found else None

    def put(self, state: SyncState, expected_version: int | None) -> SyncState:
        key = (state.company_id, state.document, state.target)
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
            for (company, _, system), s in sorted(self.items.items(), key=lambda kv: _order(kv[1]))
            if company == company_id and s.status is status and (target is None or system is target)
        ]
        return [s.model_copy(deep=True) for s in found]

    def list_for_document(
        self, company_id: str, ref: DocumentRef, legacy_target: ExternalSystem | None
    ) -> list[SyncState]:
        found = [s for (company, doc, _), s in self.items.items() if company == company_id and doc == ref]
        return [s.model_copy(deep=True) for s in sorted(found, key=_order)]


def _order(state: SyncState) -> str:
    return f"{state.document.kind.value}#{state.document.id}#{state.target.value}"
