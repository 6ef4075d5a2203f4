"""The QuickBooks Online pre-send currency check (issue 12): a vendor, customer or A/P/A/R account QuickBooks keeps in
another currency than the document's is refused before any create, from the currency remembered beside its id; one
remembered without its currency is read once by id."""

from __future__ import annotations

from typing import Any

import pytest

from ledgersync.adapters.quickbooks_online.bills import BILL
from ledgersync.adapters.quickbooks_online.documents import QuickBooksDocuments, RefKey
from ledgersync.adapters.quickbooks_online.invoices import SALES_INVOICE
from ledgersync.adapters.quickbooks_online.references import InMemoryReferenceIdCache
from ledgersync.domain.quickbooks_online import QuickBooksAccess
from ledgersync.errors import PermanentError

REALM = "r-1"
ACCESS = QuickBooksAccess(REALM, "token")


class RecordingClient:
    """Answers a query by id with the record it holds, and records every statement."""

    def __init__(self, rows: dict[str, dict[str, Any]]) -> None:
        self.rows = rows
        self.statements: list[str] = []

    def query(self, access: QuickBooksAccess, statement: str) -> dict[str, Any]:
        self.statements.append(statement)
        entity = statement.split()[3]
        found = [row for row_id, row in self.rows.items() if f"Id = '{row_id}'" in statement]
        return {entity: found}


def documents(rows: dict[str, dict[str, Any]], kind: Any = BILL) -> tuple[QuickBooksDocuments, RecordingClient]:
    client = RecordingClient(rows)
    return QuickBooksDocuments(client, InMemoryReferenceIdCache(), kind), client  # type: ignore[arg-type]


IDS: dict[RefKey, str] = {("Vendor", "Maple"): "5", ("Account", "A/P CAD"): "9", ("Item", "Roses"): "3"}


def test_a_vendor_remembered_in_another_currency_is_refused_without_a_call() -> None:
    books, client = documents({})
    books.ids.put(REALM, "Currency#Vendor", "Maple", "USD")

    with pytest.raises(PermanentError) as refused:
        books.check_currencies(ACCESS, "CAD", [("Vendor", "Maple")], IDS)

    assert refused.value.message == (
        'QuickBooks would refuse the bill ("The transaction needs to be in the same currency as the A/R and A/P '
        "accounts\"): the bill is in CAD and the vendor 'Maple' is in USD in QuickBooks; nothing was sent. A vendor's "
        "currency cannot change in QuickBooks: set the vendor's currency in Ledgersync to USD (PUT "
        "/v1/directory/vendors), or make a vendor in CAD in QuickBooks and set the vendor's accountingName to its "
        "name, then send again."
    )
    assert client.statements == []


def test_a_name_remembered_before_its_currency_is_read_once_by_id_then_known() -> None:
    books, client = documents({"5": {"Id": "5", "CurrencyRef": {"value": "CAD"}}, "9": {"Id": "9"}})
    keys: list[RefKey] = [("Vendor", "Maple"), ("Account", "A/P CAD"), ("Item", "Roses")]

    books.check_currencies(ACCESS, "CAD", keys, IDS)
    books.check_currencies(ACCESS, "CAD", keys, IDS)

    # the vendor and the account were read once each; the item has no currency to check
    assert len(client.statements) == 2
    assert all("Active IN (true, false)" in s for s in client.statements)
    assert books.ids.get(REALM, "Currency#Vendor", "Maple") == "CAD"
    assert books.ids.get(REALM, "Currency#Account", "A/P CAD") == ""  # no CurrencyRef: multicurrency off, not judged


def test_an_ar_account_in_another_currency_names_the_setting_and_no_currency_means_no_check() -> None:
    books, client = documents({}, SALES_INVOICE)
    books.ids.put(REALM, "Currency#Account", "A/R", "USD")
    keys: list[RefKey] = [("Account", "A/R")]
    ids: dict[RefKey, str] = {("Account", "A/R"): "4"}

    with pytest.raises(PermanentError) as refused:
        books.check_currencies(ACCESS, "CAD", keys, ids)
    books.check_currencies(ACCESS, None, keys, ids)  # a draft that knows no currency is not judged

    assert "the sales invoice is in CAD and the account 'A/R' is in USD in QuickBooks" in refused.value.message
    assert "Map CAD to an A/R account in CAD (PUT /v1/accounting/settings arAccountByCurrency)" in refused.value.message
    assert client.statements == []
