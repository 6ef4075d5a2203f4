"""Issue 12's currency settings: apAccountByCurrency and arAccountByCurrency, by ISO 4217 code, names non-empty."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.events import Api


def test_the_account_by_currency_settings_are_empty_until_put_and_kept_in_upper_case(
    api: Api, company: dict[str, Any]
) -> None:
    before = api.get("/v1/accounting/settings").json()
    body = {
        "apAccountByCurrency": {"cad": "Accounts Payable - CAD"},
        "arAccountByCurrency": {"EUR": "Accounts Receivable - EUR"},
    }

    answer = api.put("/v1/accounting/settings", body)

    assert (before["apAccountByCurrency"], before["arAccountByCurrency"]) == ({}, {})
    assert answer.status == 200, answer.text
    kept = api.get("/v1/accounting/settings").json()
    assert kept["apAccountByCurrency"] == {"CAD": "Accounts Payable - CAD"}
    assert kept["arAccountByCurrency"] == {"EUR": "Accounts Receivable - EUR"}


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"apAccountByCurrency": {"CAX": "Accounts Payable - CAX"}}, "apAccountByCurrency", "CAX is not an ISO 4217"),
        ({"arAccountByCurrency": {"EURO": "A/R"}}, "arAccountByCurrency", ""),
        ({"arAccountByCurrency": {"EUR": " "}}, "arAccountByCurrency.EUR", ""),
        ({"apAccountByCurrency": {"CAD": "a" * 101}}, "apAccountByCurrency.CAD", ""),
    ],
)
def test_an_unknown_currency_or_an_empty_account_name_is_400_naming_the_field(
    api: Api, company: dict[str, Any], body: dict[str, Any], field: str, words: str
) -> None:
    answer = api.put("/v1/accounting/settings", body)

    assert answer.status == 400, answer.text
    errors = answer.json()["errors"]
    assert any(e["field"].startswith(field) for e in errors), errors
    assert any(words in e["message"] for e in errors), errors
    assert api.get("/v1/accounting/settings").json()["apAccountByCurrency"] == {}  # nothing written
