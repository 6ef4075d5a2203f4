"""The operator's methods refuse a missing or wrong admin key before doing anything (use-case level)."""

from __future__ import annotations

import pytest

from ledgersync.domain.accounts import Accounts, Company, CompanyCreate, TokenRecord, User
from ledgersync.domain.company_health import CompanyHealth, PurchaseOrderCounts
from ledgersync.domain.operator import ADMIN_KEY_HEADER, Operator
from ledgersync.domain.settings import Connection
from ledgersync.errors import Unauthorized


class RecordingAccountStore:
    def __init__(self) -> None:
        self.companies: list[Company] = []

    def create_company(self, company: Company, admin: User, token: TokenRecord) -> None:
        self.companies.append(company)

    def get_company(self, company_id: str) -> Company | None:
        return next((c for c in self.companies if c.id == company_id), None)

    def put_user(self, user: User, token: TokenRecord) -> None: ...
    def get_user(self, company_id: str, user_id: str) -> User | None:
        return None

    def put_token(self, token: TokenRecord) -> None: ...
    def get_token(self, token_hash: str) -> TokenRecord | None:
        return None

    def revoke_token(self, company_id: str, token_id: str) -> bool:
        return False


class RecordingHealth:
    def __init__(self) -> None:
        self.read_for: list[str] = []

    def read(self, company_id: str) -> CompanyHealth:
        self.read_for.append(company_id)
        counts = PurchaseOrderCounts(pending_approval=0, approved=0, queued=0, held=0, error=0)
        return CompanyHealth(company_id=company_id, name="Demo", connection=Connection(), purchase_orders=counts)


def operator() -> tuple[Operator, RecordingAccountStore, RecordingHealth]:
    store, health = RecordingAccountStore(), RecordingHealth()
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
    assert store.companies == [] and health.read_for == []


def test_the_admin_key_creates_a_company_and_reads_its_health_when_given() -> None:
    use_case, store, health = operator()
    created = use_case.create_company("the-admin-key", CompanyCreate(name="B"))
    assert [c.id for c in store.companies] == [created.company_id]
    assert use_case.company_health("the-admin-key", created.company_id).company_id == created.company_id
    assert health.read_for == [created.company_id]
