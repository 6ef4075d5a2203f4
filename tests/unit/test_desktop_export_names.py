"""The Sales Invoice Export on QuickBooks Desktop (issue 12): a Web Connector session matches or adds the customers
and items the export needs (CustomerQuery/ItemQuery by FullName, then CustomerAdd/ItemNonInventoryAdd for the
missing), against the fake company file, which refuses any request that breaks qbxmlops120.xsd."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from devstack.fake_qb_company import FakeCompany
from devstack.qbwc_simulator import InMemoryPurchaseOrders, InMemorySessionStore

from ledgersync.adapters.quickbooks_desktop import QbxmlCodec
from ledgersync.domain.desktop_sync import ExportNames, ListKind, NameResult, NameToMatch, WebConnectorService
from tests.fakes import FakeClock
from tests.support.desktop import COMPANY, TOKEN, USER, VENDOR, XSD_DIR, purchase_order, web_connector_session

RUN = "run-1"


@dataclass
class ExportSide:
    """The export's side of the session: the names it waits for, and every report it got."""

    names: list[NameToMatch] = field(default_factory=list)
    income_account: str | None = "Sales"
    complete: bool = True
    reports: list[tuple[str, list[NameResult], bool]] = field(default_factory=list)

    def pending_names(self, company_id: str, limit: int) -> ExportNames | None:
        if company_id != COMPANY or not self.names:
            return None
        return ExportNames(RUN, self.names[:limit], self.income_account, self.complete)

    def names_done(self, company_id: str, run_id: str, results: Sequence[NameResult], complete: bool) -> None:
        self.reports.append((run_id, list(results), complete))
        linked = {(r.list_kind, r.name) for r in results if r.list_id}
        self.names = [n for n in self.names if (n.list_kind, n.name) not in linked]

    def result(self, name: str) -> NameResult:
        (_, results, _) = self.reports[-1]
        return next(r for r in results if r.name == name)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger() -> InMemoryPurchaseOrders:
    books = InMemoryPurchaseOrders()
    books.tokens[(USER, TOKEN)] = COMPANY
    return books


@pytest.fixture
def export() -> ExportSide:
    return ExportSide(
        names=[
            NameToMatch(ListKind.CUSTOMER, "Ang Flowers LLC", (7, 8)),
            NameToMatch(ListKind.CUSTOMER, "Bloom Co", (9,)),
            NameToMatch(ListKind.ITEM, "Roses", (21,)),
            NameToMatch(ListKind.ITEM, "Tulips", (22,)),
        ]
    )


@pytest.fixture
def service(ledger: InMemoryPurchaseOrders, clock: FakeClock, export: ExportSide) -> WebConnectorService:
    return WebConnectorService(
        ledger, ledger, ledger, InMemorySessionStore(clock), QbxmlCodec(), clock=clock, export_names=export
    )


@pytest.fixture
def company() -> FakeCompany:
    return FakeCompany(
        vendors=[VENDOR],
        items=["Fresh Cut Flowers", "Roses"],
        accounts=["Freight", "Sales"],
        classes=["Chicago"],
        customers=["Ang Flowers LLC"],
        xsd_dir=XSD_DIR,
    )


def test_a_session_matches_the_names_quickbooks_has_and_adds_the_missing_once(
    service: WebConnectorService, company: FakeCompany, export: ExportSide
) -> None:
    # When the Web Connector runs while an export waits for its names
    run = web_connector_session(service, company)
    # Then one message looked every name up, the next added the missing ones (valid qbXML: the fake checks)
    assert run.progress[-1] == 100 and len(run.requests) == 2
    assert run.requests[0].count("<CustomerQueryRq") == 2 and run.requests[0].count("<ItemQueryRq") == 2
    assert "<CustomerAddRq" in run.requests[1] and "<ItemNonInventoryAddRq" in run.requests[1]
    assert "<Name>Ang Flowers LLC</Name>" not in run.requests[1] and "<Name>Roses</Name>" not in run.requests[1]
    assert company.customers["bloom co"] == "Bloom Co" and company.item_accounts == {"tulips": "Sales"}
    # And the export is told once, with each name's ListID and the records that go by it
    ((run_id, results, complete),) = export.reports
    assert run_id == RUN and complete
    assert export.result("Ang Flowers LLC").record_ids == (7, 8) and not export.result("Ang Flowers LLC").added
    assert export.result("Bloom Co").added and export.result("Tulips").added and not export.result("Roses").added
    assert all(r.list_id and r.problem is None for r in results)
    assert "2 name(s) matched and 2 added for the Sales Invoice Export" in run.close


def test_a_name_quickbooks_has_with_other_capitals_is_refused_with_the_fix(
    service: WebConnectorService, company: FakeCompany, export: ExportSide
) -> None:
    export.names = [NameToMatch(ListKind.CUSTOMER, "ANG FLOWERS LLC", (7,)), NameToMatch(ListKind.ITEM, "Roses", (21,))]
    web_connector_session(service, company)
    refused = export.result("ANG FLOWERS LLC")
    assert refused.list_id is None and refused.problem is not None
    assert "has customer 'Ang Flowers LLC', not 'ANG FLOWERS LLC'" in refused.problem
    assert "match it exactly" in refused.problem
    assert export.result("Roses").list_id and list(company.customers) == ["ang flowers llc"]


def test_an_add_whose_answer_was_lost_is_looked_up_again_never_added_twice(
    service: WebConnectorService, company: FakeCompany, export: ExportSide, clock: FakeClock
) -> None:
    # Given a session cut after QuickBooks added the missing names, before their answer came
    web_connector_session(service, company, cut_after=2)
    assert "bloom co" in company.customers and export.reports == []
    # When the next session runs
    clock.advance(timedelta(hours=1))
    run = web_connector_session(service, company)
    # Then it finds them and links them: no second add (QuickBooks would answer 3100), one report
    assert all("AddRq" not in request for request in run.requests)
    ((_, results, complete),) = export.reports
    assert complete and all(r.list_id and r.problem is None for r in results)


def test_an_income_account_quickbooks_lacks_is_refused_with_the_fix(
    service: WebConnectorService, company: FakeCompany, export: ExportSide
) -> None:
    export.income_account = "Flower Sales"
    web_connector_session(service, company)
    problem = export.result("Tulips").problem or ""
    assert (
        "refused item 'Tulips' (3140)" in problem and "'Flower Sales' (the settings' invoiceIncomeAccount)" in problem
    )
    assert export.result("Bloom Co").list_id  # the others are linked all the same


def test_names_quickbooks_cannot_hold_are_refused_before_anything_is_sent(
    service: WebConnectorService, company: FakeCompany, export: ExportSide, ledger: InMemoryPurchaseOrders
) -> None:
    # Given only names QuickBooks Desktop would refuse, and no income account for a new item
    export.income_account = None
    export.names = [
        NameToMatch(ListKind.CUSTOMER, "A" * 42, (1,)),
        NameToMatch(ListKind.CUSTOMER, "Parent:Child", (2,)),
        NameToMatch(ListKind.ITEM, "Lilies", (3,)),
    ]
    run = web_connector_session(service, company)
    # Then the session has no work, and the export was told why for each
    assert run.status == "none" and run.requests == []
    assert "longer than the 41 characters" in (export.result("A" * 42).problem or "")
    assert "has a colon" in (export.result("Parent:Child").problem or "")
    assert "invoiceIncomeAccount" in (export.result("Lilies").problem or "")
    # and bills still go in the sessions that follow
    ledger.add(purchase_order(1))
    assert web_connector_session(service, company).progress[-1] == 100 and len(company.bills) == 1


def test_a_session_that_takes_only_part_of_the_names_tells_the_export_it_is_not_done(
    service: WebConnectorService, company: FakeCompany, export: ExportSide
) -> None:
    export.complete = False
    web_connector_session(service, company)
    ((_, results, complete),) = export.reports
    assert not complete and len(results) == 4
