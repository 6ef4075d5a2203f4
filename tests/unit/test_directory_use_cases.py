"""The directory's rules at the use-case level: who may change it, and what the Komet list methods match."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from ledgersync.domain.accounts import Principal, Role
from ledgersync.domain.directory import Directory, Kind, KometListFilter
from ledgersync.errors import Forbidden


class RecordingDirectoryStore:
    """The directory's records in memory, by kind; ``written`` records every write."""

    def __init__(self, records: dict[Kind, list[dict[str, Any]]] | None = None) -> None:
        self.records = records or {}
        self.written: list[tuple[Kind, list[dict[str, Any]]]] = []

    def get_by_ids(self, company_id: str, kind: Kind, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        return {int(r["id"]): r for r in self.records.get(kind, []) if int(r["id"]) in ids}

    def get_by_codes(self, company_id: str, kind: Kind, codes: Sequence[str]) -> dict[str, dict[str, Any]]:
        wanted = {c.upper() for c in codes}
        return {str(r["code"]).upper(): r for r in self.records.get(kind, []) if str(r["code"]).upper() in wanted}

    def get_by_keys(self, company_id: str, kind: Kind, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {}

    def allocate_ids(self, company_id: str, kind: Kind, count: int) -> list[int]:
        return list(range(1, count + 1))

    def write(
        self, company_id: str, kind: Kind, records: Sequence[dict[str, Any]], previous: Sequence[dict[str, Any]]
    ) -> None:
        self.written.append((kind, list(records)))

    def list(
        self, company_id: str, kind: Kind, limit: int, after: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        return self.records.get(kind, [])[:limit], None


def principal(*roles: Role) -> Principal:
    return Principal(company_id="C1", user_id="U1", roles=frozenset(roles), token_id="T1")


def test_a_user_without_a_writing_role_may_not_change_the_directory_when_upserting() -> None:
    # Given a Sales user
    store = RecordingDirectoryStore()

    # When they upsert carriers, then they are refused and nothing is written
    with pytest.raises(Forbidden, match="change the directory"):
        Directory(store).change(principal(Role.SALES), Kind.CARRIERS, [{"code": "AR", "name": "Armellini"}])
    assert store.written == []


def test_a_procurement_user_changes_the_directory_when_upserting() -> None:
    store = RecordingDirectoryStore()
    result = Directory(store).change(principal(Role.PROCUREMENT), Kind.CARRIERS, [{"code": "AR", "name": "Armellini"}])
    assert (result.created, result.updated) == (1, 0)
    assert [kind for kind, _ in store.written] == [Kind.CARRIERS]


CUSTOMERS = [
    {"id": 1, "code": "ANG", "name": "Ang Flowers LLC"},
    {"id": 2, "code": "BLM", "name": "Bloom Angels", "active": False},
    {"id": 3, "code": "CRS", "name": "Crescent"},
]


@pytest.mark.parametrize(
    ("wanted", "ids"),
    [
        (KometListFilter(), [1, 3]),
        (KometListFilter(include_inactive=True), [1, 2, 3]),
        (KometListFilter(code="ang"), [1]),
        (KometListFilter(name="ANG", include_inactive=True), [1, 2]),
        (KometListFilter(record_id=3), [3]),
        (KometListFilter(record_id=2), []),
    ],
)
def test_the_komet_list_answers_the_matching_records_under_the_plural_when_filtered(
    wanted: KometListFilter, ids: list[int]
) -> None:
    # Given customers, one inactive
    directory = Directory(RecordingDirectoryStore({Kind.CUSTOMERS: CUSTOMERS}))

    # When customer.list is asked with the filter
    answer = directory.komet_list("C1", "customer", wanted).model_dump()

    # Then the answer is seed 002's, with the matching records under "customers"
    assert list(answer) == ["status", "message", "customers"]
    assert (answer["status"], answer["message"]) == ("1", "success")
    assert [r["id"] for r in answer["customers"]] == ids


def test_box_types_come_under_box_types_when_listed() -> None:
    directory = Directory(RecordingDirectoryStore({Kind.BOX_TYPES: [{"id": 7, "code": "HB", "name": "Half Box"}]}))
    assert directory.komet_list("C1", "boxtype", KometListFilter()).model_dump()["boxTypes"][0]["code"] == "HB"


def test_a_page_names_its_kind_and_a_null_cursor_when_it_is_the_last() -> None:
    directory = Directory(RecordingDirectoryStore({Kind.CARRIERS: [{"id": 1, "code": "AR", "name": "Armellini"}]}))
    page = directory.list_page("C1", Kind.CARRIERS, 10, None).model_dump(by_alias=True, mode="json")
    assert page == {"kind": "carriers", "records": [{"id": 1, "code": "AR", "name": "Armellini"}], "nextCursor": None}
