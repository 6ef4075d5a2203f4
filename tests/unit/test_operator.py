"""The operator's methods refuse a missing or wrong admin key before doing anything (use-case level)."""

from __future__ import annotations

import pytest

from ledgersync.domain.accounts import Accounts, CompanyCreate
from ledgersync.domain.company_health import CompanyHealth
from ledgersync.domain.operator import ADMIN_KEY_HEADER, Operator
from ledgersync.errors import Unauthorized
from tests.fakes import InMemoryAccountStore, InMemoryCompanyHealth, InMemoryPurchaseOrderStore, InMemorySessionStore


class RecordingHealth(InMemoryCompanyHealth):
    """The in-memory company health; ``read_for`` records the companies read."""

    def __init__(self, accounts: InMemoryAccountStore) -> None:
        super().__init__(accounts, InMemoryPurchaseOrderStore(), InMemorySessionStore())
        self.read_for: list[str] = []

    def read(self, company_id: str) -> CompanyHealth:
        self.read_for.append(company_id)
        return super().read(company_id)


def operator() -> tuple[Operator, InMemoryAccountStore, RecordingHealth]:
    store = InMemoryAccountStore()
    health = RecordingHealth(store)
    return Operator(Accounts(store), health, lambda: "the-admin-key"), store, health


@pytest.mark.parametrize("given", [None, "", "the-admin-kez", "the-admin-key "])
def test_a_missing_or_wrong_admin_key_is_refused_naming_the_header_when_an_operator_method_is_called(
    given: str | None,
) -> None:
    # Given the operator's methods with the admin key "the-admin-key"
    use_case, store, health = operator()

    # When either is called without that key, then it is refused naming X-Admin-Key and nothing happens
    with pytest.raises(Unauthorized) as refused:
        use_case.create_company(given, CompanyCreate(name="B"))
    assert refused.value.field_errors[0].field == ADMIN_KEY_HEADER
    with pytest.raises(Unauthorized):
        use_case.company_health(given, "co_1")
    assert store.profiles == {} and health.read_for == []


def test_the_admin_key_creates_a_company_and_reads_its_health_when_given() -> None:
    use_case, store, health = operator()
    created = use_case.create_company("the-admin-key", CompanyCreate(name="B"))
    assert list(store.profiles) == [created.company_id]
    assert use_case.company_health("the-admin-key", created.company_id).company_id == created.company_id
    assert health.read_for == [created.company_id]
