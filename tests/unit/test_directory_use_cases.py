"""The directory's rules at the use-case level, on the in-memory store: who may change it, what a page says, and
what the Komet list methods match."""

from __future__ import annotations

import pytest

from ledgersync import jsonio
from ledgersync.domain.accounts import Principal, Role
from ledgersync.domain.directory import Directory, Kind, KometListFilter
from ledgersync.errors import Forbidden
from tests.fakes import InMemoryDirectoryStore


def principal(*roles: Role) -> Principal:
    return Principal(company_id="C1", user_id="U1", roles=frozenset(roles), token_id="T1")


def directory_with(kind: Kind, records: list[dict[str, object]]) -> Directory:
    directory = Directory(InMemoryDirectoryStore())
    directory.upsert("C1", kind, records)
    return directory


def test_a_user_without_a_writing_role_may_not_change_the_directory_when_upserting() -> None:
    # Given a Sales user
    directory = Directory(InMemoryDirectoryStore())

    # When they upsert carriers, then they are refused and nothing is written
    with pytest.raises(Forbidden, match="change the directory"):
        directory.change(principal(Role.SALES), Kind.CARRIERS, [{"code": "AR", "name": "Armellini"}])
    assert directory.list_page("C1", Kind.CARRIERS, 10, None).records == []


def test_a_procurement_user_changes_the_directory_when_upserting() -> None:
    directory = Directory(InMemoryDirectoryStore())
    result = directory.change(principal(Role.PROCUREMENT), Kind.CARRIERS, [{"code": "AR", "name": "Armellini"}])
    assert (result.created, result.updated) == (1, 0)
    assert [r["code"] for r in directory.list_page("C1", Kind.CARRIERS, 10, None).records] == ["AR"]


CUSTOMERS: list[dict[str, object]] = [
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
    directory = directory_with(Kind.CUSTOMERS, CUSTOMERS)

    # When customer.list is asked with the filter
    answer = directory.komet_list("C1", "customer", wanted).model_dump()

    # Then the answer is seed 002's, with the matching records under "customers"
    assert list(answer) == ["status", "message", "customers"]
    assert (answer["status"], answer["message"]) == ("1", "success")
    assert [r["id"] for r in answer["customers"]] == ids


def test_box_types_come_under_box_types_when_listed() -> None:
    directory = directory_with(Kind.BOX_TYPES, [{"code": "HB", "name": "Half Box"}])
    assert directory.komet_list("C1", "boxtype", KometListFilter()).model_dump()["boxTypes"][0]["code"] == "HB"


def test_a_page_names_its_kind_and_a_null_cursor_when_it_is_the_last() -> None:
    directory = directory_with(Kind.CARRIERS, [{"id": 1, "code": "AR", "name": "Armellini"}])
    page = directory.list_page("C1", Kind.CARRIERS, 10, None)
    assert jsonio.dumps(page.model_dump(by_alias=True)) == jsonio.dumps(
        {"kind": "carriers", "records": [{"id": 1, "code": "AR", "name": "Armellini"}], "nextCursor": None}
    )
