"""Where sync states are kept: one item per (document, target), each write conditional on the version read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ledgersync.domain.purchase_orders import ExternalSystem
from ledgersync.domain.sync.documents import DocumentRef
from ledgersync.domain.sync.state import SyncState, SyncStatus


@dataclass(frozen=True)
class StateWrite:
    """A sync state to write in the same transaction as a change to its document, conditional on
    ``expected_version`` (None: it must not exist yet)."""

    state: SyncState
    expected_version: int | None

    @property
    def written(self) -> SyncState:
        """The state as stored once this write went through (its version one more than expected)."""
        return self.state.model_copy(update={"version": (self.expected_version or 0) + 1})


class SyncStateStore(Protocol):
    def get(self, company_id: str, ref: DocumentRef, target: ExternalSystem) -> SyncState | None: ...

    def put(self, state: SyncState, expected_version: int | None) -> SyncState:
        """Write ``state`` if its stored version is still ``expected_version`` (None or 0: it must not exist yet);
        Conflict when someone else wrote. Answers the state as stored (its version one more)."""

    def list_by_status(
        self, company_id: str, status: SyncStatus, target: ExternalSystem | None = None
    ) -> list[SyncState]:
        """The company's states in ``status`` (from an eventually consistent index: re-read before changing)."""

    def list_for_document(
        self, company_id: str, ref: DocumentRef, legacy_target: ExternalSystem | None
    ) -> list[SyncState]:
        """Every target's state of one document (a stale answer costs no correctness: every write that follows is
        conditional on the versions read, of the state and of the document). A store that still reads documents
        written before states had their own item answers the state such a document stands for, as one for
        ``legacy_target``."""
