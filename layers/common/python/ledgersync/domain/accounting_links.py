"""Accounting links (issue 12): which accounting record a directory customer or product corresponds to, per
accounting system, and the export's match-or-add step that makes them (Rootstock's "Financial System Customer ID"
and "Financial System Product ID", seed 003).

A link is its own item beside the directory record, so a directory upsert never overwrites it. A link into one
accounting system is no link for another: the company's current ``externalSystem`` picks the links that count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from ledgersync.clock import SYSTEM_CLOCK, Clock
from ledgersync.domain.directory import DirectoryStore, Kind
from ledgersync.domain.purchase_orders import ExternalSystem

LINKED_KINDS = (Kind.CUSTOMERS, Kind.PRODUCTS)
PAGE = 1000


class AccountingLink(BaseModel):
    """``accountingLink`` on a customer's or product's read: the accounting record's id and name, and when."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    id: str
    name: str
    system: ExternalSystem
    linked_at: datetime


class AccountingLinkStore(Protocol):
    def get_many(
        self, company_id: str, kind: Kind, record_ids: Sequence[int], system: ExternalSystem
    ) -> dict[int, AccountingLink]:
        """The links of ``record_ids`` into ``system`` (records without one are absent)."""

    def put_many(self, company_id: str, kind: Kind, links: Mapping[int, AccountingLink]) -> None:
        """Keep each record's link (a newer one for the same system replaces it)."""


def accounting_name(kind: Kind, record: Mapping[str, Any], default_item: str) -> str:
    """The name a record has in accounting, by the sales invoice's rules: a customer's accounting name else its name;
    a product's accounting item else the settings' ``invoiceItemName`` (``default_item``), the item its invoice
    lines go on."""
    if kind is Kind.CUSTOMERS:
        return str(record.get("accountingName") or record.get("name") or "")
    return str(record.get("accountingItem") or default_item)


@dataclass(frozen=True)
class NameMatches:
    """What the accounting system answered for a list of names: the id each was matched to (found) or added with
    (added), and, for a name it cannot take, why, with the fix."""

    found: dict[str, str] = field(default_factory=dict)
    added: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)


class NameMatcher(Protocol):
    """One accounting system's customers and items by exact name (QuickBooks Online: ``names IN (...)`` queries,
    batch creates). Raises ``ReauthorizationRequired`` when the system no longer accepts the company's tokens and
    ``RetryableError`` when it cannot answer now; a name it refuses is in ``refused``, not raised."""

    system: ExternalSystem

    def match_or_add(self, kind: Kind, names: Sequence[str]) -> NameMatches: ...


@dataclass(frozen=True)
class LinkProblem:
    """One record the step could not link: ``document`` as the process log names it ("customer 7")."""

    document: str
    message: str


@dataclass
class LinkStep:
    """One chunk of the match-or-add step: the counts, the problems and where the next chunk starts (None: done)."""

    kind: Kind
    matched: int = 0
    added: int = 0
    problems: list[LinkProblem] = field(default_factory=list)
    next_cursor: str | None = None


NOUNS = {Kind.CUSTOMERS: "customer", Kind.PRODUCTS: "product"}


class AccountingLinks:
    """Links on the records' reads, the preview's counts, and the match-or-add step."""

    def __init__(self, directory: DirectoryStore, links: AccountingLinkStore, clock: Clock = SYSTEM_CLOCK) -> None:
        self.directory = directory
        self.links = links
        self.clock = clock

    def shown(
        self, company_id: str, kind: Kind, records: list[dict[str, Any]], system: ExternalSystem | None
    ) -> list[dict[str, Any]]:
        """``records`` with ``accountingLink`` (null when none, or when the company uses another system)."""
        if kind not in LINKED_KINDS:
            return records
        found = self.links.get_many(company_id, kind, [int(r["id"]) for r in records], system) if system else {}
        return [
            {**r, "accountingLink": found[int(r["id"])].model_dump(mode="json", by_alias=True)}
            if int(r["id"]) in found
            else {**r, "accountingLink": None}
            for r in records
        ]

    def unlinked_count(self, company_id: str, kind: Kind, system: ExternalSystem) -> int:
        """How many active records of ``kind`` have no link into ``system`` (the preview's export quantities)."""
        count, cursor = 0, None
        while True:
            records, cursor = self.directory.list(company_id, kind, PAGE, cursor)
            count += len(self._unlinked(company_id, kind, records, system))
            if cursor is None:
                return count

    def link_step(
        self,
        company_id: str,
        kind: Kind,
        matcher: NameMatcher,
        cursor: str | None,
        default_item: str,
        limit: int = 200,
    ) -> LinkStep:
        """Match or add the next ``limit`` records of ``kind`` without a link, and store their links. A record
        whose name the accounting system refuses is a problem naming the record and the fix; the rest go on."""
        records, next_cursor = self.directory.list(company_id, kind, limit, cursor)
        step = LinkStep(kind=kind, next_cursor=next_cursor)
        unlinked = self._unlinked(company_id, kind, records, matcher.system)
        by_name: dict[str, list[dict[str, Any]]] = {}
        for record in unlinked:
            name = accounting_name(kind, record, default_item)
            if not name:
                step.problems.append(
                    LinkProblem(
                        f"{NOUNS[kind]} {record['id']}",
                        f"{NOUNS[kind]} '{record.get('code')}' has no name; give it one with PUT /v1/directory/"
                        f"{kind.value}",
                    )
                )
                continue
            by_name.setdefault(name, []).append(record)
        if not by_name:
            return step
        answer = matcher.match_or_add(kind, list(by_name))
        now = self.clock.now()
        links: dict[int, AccountingLink] = {}
        for name, holders in by_name.items():
            entity_id = answer.found.get(name) or answer.added.get(name)
            if entity_id is None:
                why = answer.refused.get(name, "the accounting system did not answer for this name")
                step.problems.extend(
                    LinkProblem(f"{NOUNS[kind]} {r['id']}", f"{NOUNS[kind]} '{r.get('code')}': {why}") for r in holders
                )
                continue
            for record in holders:
                links[int(record["id"])] = AccountingLink(id=entity_id, name=name, system=matcher.system, linked_at=now)
            if name in answer.added:
                step.added += len(holders)
            else:
                step.matched += len(holders)
        if links:
            self.links.put_many(company_id, kind, links)
        return step

    def unlinked_by_name(
        self,
        company_id: str,
        kind: Kind,
        system: ExternalSystem,
        default_item: str,
        limit: int,
        max_records: int = 5_000,
    ) -> tuple[dict[str, list[int]], bool]:
        """The active records of ``kind`` without a link into ``system``, by the name they have in accounting (a
        record without one is left out), at most ``limit`` names and ``max_records`` records (many products share
        the default item's name: a Web Connector session carries their ids in one item of bounded size); True when
        that is all of them."""
        found: dict[str, list[int]] = {}
        records_found = 0
        cursor = None
        while True:
            records, cursor = self.directory.list(company_id, kind, PAGE, cursor)
            for record in self._unlinked(company_id, kind, records, system):
                name = accounting_name(kind, record, default_item)
                if not name:
                    continue
                if (name not in found and len(found) >= limit) or records_found >= max_records:
                    return found, False
                found.setdefault(name, []).append(int(record["id"]))
                records_found += 1
            if cursor is None:
                return found, True

    def _unlinked(
        self, company_id: str, kind: Kind, records: list[dict[str, Any]], system: ExternalSystem
    ) -> list[dict[str, Any]]:
        active = [r for r in records if r.get("active", True) is not False]
        linked = self.links.get_many(company_id, kind, [int(r["id"]) for r in active], system)
        return [r for r in active if int(r["id"]) not in linked]
