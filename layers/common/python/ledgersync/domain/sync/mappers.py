"""A mapper per document kind, and the registry of them (built only in bootstrap).

A mapper loads a document and maps it to its *drafts*, one per part (a PO's vendor invoices become one bill each).
The consumers of the targets ask the registry for the mapper of a message's document kind, so a new kind of
document needs a mapper registered in bootstrap, not a change to the consumers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ledgersync.domain.settings import AccountingSettings
from ledgersync.domain.sync.documents import DocumentKind, DocumentRef
from ledgersync.domain.sync.state import SyncState
from ledgersync.errors import PermanentError

DocumentT = TypeVar("DocumentT")
DraftT = TypeVar("DraftT")


class Unmappable(PermanentError):
    """The document cannot become drafts as it stands (its vendor has no Accounting Name, ...): the message says
    what to change."""


class Mapper(Protocol[DocumentT, DraftT]):
    @property
    def kind(self) -> DocumentKind:
        """The kind of document it maps."""

    def load(self, company_id: str, ref: DocumentRef, settings: AccountingSettings | None = None) -> DocumentT | None:
        """The document and what its mapping needs (its vendor, the company's settings: read here unless the caller
        already holds them); None when it is gone."""

    def drafts(self, document: DocumentT, state: SyncState | None = None) -> list[DraftT]:
        """Its drafts, one per part, in neutral terms, for the send ``state`` stands for; raises ``Unmappable`` with
        what to change."""

    def part_of(self, draft: DraftT) -> str:
        """The part a draft is (the key of its external id on the state; "" for a one-part document)."""

    def is_current(self, document: DocumentT, state: SyncState) -> bool:
        """Whether ``state`` still sends the document as it is now (False: it moved on, as a reshipped order's
        invoice does, and this state's work is left alone)."""


class UnknownKind(PermanentError):
    """No mapper is registered for a document kind: this deployment cannot send it."""


@dataclass(frozen=True)
class MapperRegistry:
    mappers: Mapping[DocumentKind, Mapper[Any, Any]]

    def get(self, kind: DocumentKind) -> Mapper[Any, Any]:
        try:
            return self.mappers[kind]
        except KeyError as err:
            raise UnknownKind(f"no mapper is registered for {kind.value} documents") from err

    def kinds(self) -> frozenset[DocumentKind]:
        return frozenset(self.mappers)
