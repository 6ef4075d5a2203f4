"""The export's match-or-add against the QuickBooks Online emulator over loopback HTTP: exact names (apostrophes,
accents, capitals), many names a call, batch creates, refused names explained, 6240 re-read and linked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from devstack.qbo_emulator import EmulatorState, RunningEmulator, serve

from ledgersync.adapters.quickbooks_online.client import QuickBooksOnlineClient
from ledgersync.adapters.quickbooks_online.limits import InProcessRequestLimiter
from ledgersync.adapters.quickbooks_online.names import QuickBooksOnlineNames
from ledgersync.adapters.quickbooks_online.references import InMemoryReferenceIdCache
from ledgersync.domain.directory import Kind
from ledgersync.domain.quickbooks_online import QuickBooksAccess
from tests.integration.test_qbo_emulator import xsd_dir
from tests.support.qbo import emulator_tokens

REALM = "9341453000000001"
pytestmark = pytest.mark.integration


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    running = serve(state=EmulatorState(xsd_dir=xsd_dir(), approve_realm=REALM))
    running.state.add_record(REALM, "Account", {"Name": "Sales of Product Income", "AccountType": "Income"})
    running.state.add_record(REALM, "Customer", {"DisplayName": "O'Brien Floral"})
    running.state.add_record(REALM, "Customer", {"DisplayName": "Fleurs de Lyon"})
    running.state.add_record(REALM, "Customer", {"DisplayName": "Old Bloom", "Active": False})
    running.state.add_record(REALM, "Vendor", {"DisplayName": "Hollandia"})
    running.state.add_record(REALM, "Item", {"Name": "Rose Red 50cm", "IncomeAccountRef": {"value": "1"}})
    yield running
    running.shutdown()


def names(emulator: RunningEmulator) -> tuple[QuickBooksOnlineNames, QuickBooksOnlineClient, InMemoryReferenceIdCache]:
    client = QuickBooksOnlineClient(emulator.url, InProcessRequestLimiter(), read_timeout=5.0)
    ids = InMemoryReferenceIdCache()
    access = QuickBooksAccess(REALM, emulator_tokens(emulator.state, REALM).access_token)
    return QuickBooksOnlineNames(client, ids, access, "Sales of Product Income"), client, ids


def by_name(emulator: RunningEmulator, entity: str, field: str) -> dict[str, str]:
    return {str(r[field]): str(r["Id"]) for r in emulator.state.records(REALM, entity)}


def test_customers_are_matched_exactly_and_the_missing_added_in_a_few_calls(emulator: RunningEmulator) -> None:
    matcher, client, ids = names(emulator)
    fresh = [f"Café Nº {i}" for i in range(40)]
    answer = matcher.match_or_add(Kind.CUSTOMERS, ["O'Brien Floral", "fleurs de lyon", *fresh])

    held = by_name(emulator, "Customer", "DisplayName")
    assert answer.found == {"O'Brien Floral": held["O'Brien Floral"]}
    # a name differing only in capitals is QuickBooks' name (6240 on add): not linked, named with the fix
    assert "fleurs de lyon" in answer.refused and "capitals" in answer.refused["fleurs de lyon"]
    assert answer.added == {name: held[name] for name in fresh}
    assert ids.get(REALM, "Customer", "Café Nº 7") == held["Café Nº 7"]
    # each customer's currency is remembered beside its id (found or added), so its invoices read nothing more
    assert ids.get(REALM, "Currency#Customer", "Café Nº 7") == "USD"
    assert ids.get(REALM, "Currency#Customer", "O'Brien Floral") == "USD"
    # one batch of 2 lookups, 2 batches of creates (30 + 11), 1 re-read of the clash
    assert client.calls == 4


def test_a_second_run_finds_what_the_first_added_and_adds_nothing(emulator: RunningEmulator) -> None:
    first, _, _ = names(emulator)
    added = first.match_or_add(Kind.CUSTOMERS, ["Bloom & Co", "Tulip's"]).added
    again, client, _ = names(emulator)
    answer = again.match_or_add(Kind.CUSTOMERS, ["Bloom & Co", "Tulip's"])
    assert answer.found == added and answer.added == {}
    assert client.calls == 1
    assert len(emulator.state.records(REALM, "Customer")) == 5


def test_refused_and_inactive_names_are_explained_and_not_sent(emulator: RunningEmulator) -> None:
    matcher, _, _ = names(emulator)
    long_name = "L" * 101
    answer = matcher.match_or_add(Kind.CUSTOMERS, [long_name, "Farm: North", "Old Bloom", "Hollandia"])
    assert "101 characters" in answer.refused[long_name] and "accountingName" in answer.refused[long_name]
    assert "colon" in answer.refused["Farm: North"]
    assert "inactive" in answer.refused["Old Bloom"]
    assert "another kind of record" in answer.refused["Hollandia"]  # a vendor holds the name (one name space)
    assert answer.found == {} and answer.added == {}
    assert len(emulator.state.records(REALM, "Customer")) == 3


def test_items_are_added_non_inventory_on_the_income_account(emulator: RunningEmulator) -> None:
    matcher, _, ids = names(emulator)
    answer = matcher.match_or_add(Kind.PRODUCTS, ["Rose Red 50cm", "Tulip Mix"])
    items = {r["Name"]: r for r in emulator.state.records(REALM, "Item")}
    assert answer.found == {"Rose Red 50cm": items["Rose Red 50cm"]["Id"]}
    assert answer.added == {"Tulip Mix": items["Tulip Mix"]["Id"]}
    assert items["Tulip Mix"]["Type"] == "NonInventory"
    assert items["Tulip Mix"]["IncomeAccountRef"]["name"] == "Sales of Product Income"
    assert ids.get(REALM, "Item", "Tulip Mix") == items["Tulip Mix"]["Id"]
