"""QuickBooks Online logic with recording fakes: exactly-once bills, token refresh, bill mapping, fault translation."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from ledgersync.adapters.quickbooks_online.bills import bill_payload, bill_refs, currency_refs, quote
from ledgersync.adapters.quickbooks_online.faults import QuickBooksFault, StaleObjectError, translate_response
from ledgersync.adapters.quickbooks_online.limits import InProcessRequestLimiter
from ledgersync.domain.process_log import LogLevel, ProcessLog, RunStatus
from ledgersync.domain.purchase_order_bills import BillDraft, BillLine, BillLineKind
from ledgersync.domain.quickbooks_online import (
    AccessTokenRejected,
    BillOutcome,
    BillRecord,
    BillSync,
    DedupEntry,
    DedupState,
    DuplicateDocumentNumber,
    QuickBooksAccess,
    QuickBooksTokens,
    TokenRefresher,
    TokenSet,
    bill_dedup_key,
    bill_request_id,
)
from ledgersync.errors import PermanentError, ReauthorizationRequired, RetryableError
from tests.fakes import FakeClock, InMemoryProcessLogStore

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------- fakes


def tokens_for(
    clock: FakeClock,
    n: int = 0,
    realm: str = "realm-1",
    refreshed_ago: timedelta = timedelta(0),
    access_left: timedelta = timedelta(minutes=50),
) -> TokenSet:
    now = clock.now()
    return TokenSet(
        realm_id=realm,
        access_token=f"access-{n}",
        refresh_token=f"refresh-{n}",
        access_expires_at=now + access_left,
        refresh_expires_at=now - refreshed_ago + timedelta(days=100),
        refreshed_at=now - refreshed_ago,
    )


class FakeTokenStore:
    def __init__(self) -> None:
        self.saved: dict[str, TokenSet] = {}
        self.history: list[tuple[str, str]] = []

    def load(self, company_id: str) -> TokenSet | None:
        return self.saved.get(company_id)

    def save(self, company_id: str, tokens: TokenSet) -> None:
        self.saved[company_id] = tokens
        self.history.append((company_id, tokens.refresh_token))


class FakeOAuth:
    """Intuit's token endpoint: rotates, or refuses with invalid_grant for refresh tokens listed in ``refused``."""

    def __init__(self, clock: FakeClock, store: FakeTokenStore) -> None:
        self.clock = clock
        self.store = store
        self.refused: set[str] = set()
        self.calls: list[str] = []
        self.stored_before_return: list[bool] = []

    def refresh(self, realm_id: str, refresh_token: str) -> TokenSet:
        self.calls.append(refresh_token)
        if refresh_token in self.refused:
            raise ReauthorizationRequired("Intuit refused the stored QuickBooks authorization (invalid_grant)")
        return tokens_for(self.clock, len(self.calls), realm=realm_id)


class FakeLock:
    def __init__(self) -> None:
        self.held: dict[tuple[str, str], str] = {}
        self.taken = 0

    def acquire(self, company_id: str, name: str, ttl_seconds: int) -> str | None:
        if (company_id, name) in self.held:
            return None
        self.taken += 1
        self.held[(company_id, name)] = f"owner-{self.taken}"
        return self.held[(company_id, name)]

    def release(self, company_id: str, name: str, owner: str) -> None:
        if self.held.get((company_id, name)) == owner:
            del self.held[(company_id, name)]


class FakeNotifier:
    def __init__(self) -> None:
        self.marked: list[tuple[str, str]] = []

    def mark_reauthorization_required(self, company_id: str, reason: str) -> None:
        self.marked.append((company_id, reason))


class FakeMetrics:
    def __init__(self) -> None:
        self.days_left: dict[str, float] = {}
        self.failed: list[tuple[str, str]] = []

    def refresh_token_days_left(self, company_id: str, days: float) -> None:
        self.days_left[company_id] = days

    def token_refresh_failed(self, company_id: str, reason: str) -> None:
        self.failed.append((company_id, reason))


class FakeDedup:
    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], DedupEntry] = {}

    def put_if_absent(self, company_id: str, key: str, entry: DedupEntry) -> DedupEntry | None:
        existing = self.entries.get((company_id, key))
        if existing is None:
            self.entries[(company_id, key)] = entry
        return existing

    def replace(self, company_id: str, key: str, expected: DedupEntry, new: DedupEntry) -> bool:
        if self.entries.get((company_id, key)) != expected:
            return False
        self.entries[(company_id, key)] = new
        return True

    def complete(self, company_id: str, key: str, attempt: int, result_id: str) -> None:
        entry = self.entries[(company_id, key)]
        self.entries[(company_id, key)] = entry.model_copy(
            update={"state": DedupState.COMPLETED, "attempt": attempt, "result_id": result_id}
        )


class FakeQuickBooks:
    """Bills kept by (vendor, DocNumber); ``requestid`` replays; scripted failures are raised in order."""

    def __init__(self) -> None:
        self.bills: list[BillRecord] = []
        self.replies: dict[str, BillRecord] = {}
        self.script: list[Exception | str] = []
        self.create_calls: list[str] = []

    def create_bill(self, access: QuickBooksAccess, draft: BillDraft, request_id: str) -> BillRecord:
        self.create_calls.append(request_id)
        step = self.script.pop(0) if self.script else None
        if isinstance(step, AccessTokenRejected) and access.access_token == "access-0":
            raise step
        if isinstance(step, Exception) and not isinstance(step, AccessTokenRejected):
            if step.args and step.args[0] == "commit-then-fail":
                self._commit(draft, request_id)
            raise step
        if request_id in self.replies:
            return self.replies[request_id]
        if any(b.doc_number == draft.reference(21) and b.vendor_id == "v1" for b in self.bills):
            raise DuplicateDocumentNumber("6140", draft.reference(21))
        return self._commit(draft, request_id)

    def _commit(self, draft: BillDraft, request_id: str) -> BillRecord:
        record = BillRecord(
            id=str(100 + len(self.bills)), doc_number=draft.reference(21), vendor_id="v1", private_note=draft.memo
        )
        self.bills.append(record)
        self.replies[request_id] = record
        return record

    def find_bills(self, access: QuickBooksAccess, draft: BillDraft) -> list[BillRecord]:
        return [b for b in self.bills if b.doc_number == draft.reference(21) and b.vendor_id == "v1"]


def draft(invoice: str = "INV-1", po: str = "PO-100", memo: str | None = None) -> BillDraft:
    return BillDraft(
        company_id="c1",
        purchase_order_id=7,
        po_number=po,
        invoice_number=invoice,
        vendor_name="O'Brien Farms",
        txn_date=date(2025, 2, 28),
        currency=None,
        lines=[
            BillLine(
                kind=BillLineKind.ITEM,
                ref_name="Fresh Cut Flowers",
                amount=Decimal("40.00"),
                description="Fresh Cut Flowers",
                class_name="Miami",
            ),
            BillLine(kind=BillLineKind.ACCOUNT, ref_name="Freight", amount=Decimal("12.50"), description="Freight"),
        ],
        memo=memo or f"Ledgersync PO {po} vendor invoice {invoice} ({po}-{invoice})",
    )


class World:
    def __init__(self) -> None:
        self.clock = FakeClock(START)
        self.store = FakeTokenStore()
        self.oauth = FakeOAuth(self.clock, self.store)
        self.lock = FakeLock()
        self.notifier = FakeNotifier()
        self.metrics = FakeMetrics()
        self.tokens = QuickBooksTokens(
            self.store, self.oauth, self.lock, self.notifier, metrics=self.metrics, clock=self.clock
        )
        self.qbo = FakeQuickBooks()
        self.dedup = FakeDedup()
        self.sync = BillSync(self.qbo, self.tokens, self.dedup, self.clock)
        self.store.saved["c1"] = tokens_for(self.clock)


@pytest.fixture
def world() -> World:
    return World()


# ---------------------------------------------------------------------------------------------- bills, exactly once


def test_bill_is_created_once_when_sent_twice(world: World) -> None:
    first = world.sync.send(draft())
    second = world.sync.send(draft())

    assert first.outcome is BillOutcome.CREATED
    assert second.outcome is BillOutcome.ALREADY_SYNCHRONIZED
    assert second.bill_id == first.bill_id
    assert len(world.qbo.bills) == 1


def test_retry_adopts_the_bill_when_the_first_answer_was_lost_after_commit(world: World) -> None:
    world.qbo.script = [RetryableError("commit-then-fail")]
    with pytest.raises(RetryableError):
        world.sync.send(draft())

    receipt = world.sync.send(draft())

    assert receipt.outcome is BillOutcome.ADOPTED
    assert len(world.qbo.bills) == 1
    assert world.dedup.entries[("c1", bill_dedup_key(draft()))].state is DedupState.COMPLETED


def test_retry_creates_the_bill_with_the_same_request_id_when_the_first_attempt_never_arrived(world: World) -> None:
    world.qbo.script = [RetryableError("connection refused")]
    with pytest.raises(RetryableError):
        world.sync.send(draft())

    receipt = world.sync.send(draft())

    assert receipt.outcome is BillOutcome.CREATED
    assert len(world.qbo.bills) == 1
    assert world.qbo.create_calls[0] == world.qbo.create_calls[1] == bill_request_id(draft(), 1)


def test_send_waits_when_another_send_of_the_same_bill_is_in_flight(world: World) -> None:
    world.dedup.put_if_absent(
        "c1",
        bill_dedup_key(draft()),
        DedupEntry(state=DedupState.PENDING, attempt=1, started_at=world.clock.now(), reference="PO-100-INV-1"),
    )

    with pytest.raises(RetryableError) as raised:
        world.sync.send(draft())

    assert raised.value.retry_after_seconds is not None
    assert world.qbo.bills == []


def test_send_takes_over_when_an_in_flight_send_crashed_long_ago(world: World) -> None:
    world.dedup.put_if_absent(
        "c1",
        bill_dedup_key(draft()),
        DedupEntry(
            state=DedupState.PENDING,
            attempt=1,
            started_at=world.clock.now() - timedelta(minutes=10),
            reference="PO-100-INV-1",
        ),
    )

    receipt = world.sync.send(draft())

    assert receipt.outcome is BillOutcome.CREATED
    assert len(world.qbo.bills) == 1


def test_duplicate_doc_number_adopts_our_own_bill_when_its_memo_names_our_reference(world: World) -> None:
    world.qbo.bills.append(
        BillRecord(
            id="55",
            doc_number="PO-100-INV-1",
            vendor_id="v1",
            private_note="Ledgersync PO PO-100 vendor invoice INV-1 (PO-100-INV-1)",
        )
    )

    receipt = world.sync.send(draft())

    assert receipt == receipt.model_copy(update={"bill_id": "55", "outcome": BillOutcome.ADOPTED})
    assert len(world.qbo.bills) == 1


def test_duplicate_doc_number_is_a_permanent_error_when_someone_else_made_that_bill(world: World) -> None:
    world.qbo.bills.append(BillRecord(id="55", doc_number="PO-100-INV-1", vendor_id="v1", private_note="typed by hand"))

    with pytest.raises(PermanentError) as raised:
        world.sync.send(draft())

    assert "Renumber or delete that bill in QuickBooks" in raised.value.message
    assert "PO-100-INV-1" in raised.value.message
    assert world.dedup.entries[("c1", bill_dedup_key(draft()))].state is DedupState.FAILED


def test_resend_after_a_refusal_uses_a_new_request_id_so_quickbooks_does_not_replay_the_refusal(world: World) -> None:
    world.qbo.script = [PermanentError("the vendor 'X' is inactive (610)")]
    with pytest.raises(PermanentError):
        world.sync.send(draft())

    receipt = world.sync.send(draft())

    assert receipt.outcome is BillOutcome.CREATED
    assert world.qbo.create_calls == [bill_request_id(draft(), 1), bill_request_id(draft(), 2)]


def test_expired_access_token_is_refreshed_once_and_the_bill_sent_again(world: World) -> None:
    world.qbo.script = [AccessTokenRejected("401")]

    receipt = world.sync.send(draft())

    assert receipt.outcome is BillOutcome.CREATED
    assert world.oauth.calls == ["refresh-0"]
    assert world.store.saved["c1"].refresh_token == "refresh-1"


def test_send_is_held_when_the_company_was_never_connected(world: World) -> None:
    del world.store.saved["c1"]

    with pytest.raises(ReauthorizationRequired) as raised:
        world.sync.send(draft())

    assert "Connect it in Settings" in raised.value.message
    assert world.qbo.create_calls == []


def test_request_id_is_deterministic_and_within_fifty_characters_when_references_are_long() -> None:
    long = draft(invoice="I" * 50, po="P" * 20)

    assert bill_request_id(long, 1) == bill_request_id(long, 1)
    assert bill_request_id(long, 1) != bill_request_id(long, 2)
    assert len(bill_request_id(long, 1)) <= 50
    assert len(long.reference(21)) == 21


# ---------------------------------------------------------------------------------------------- tokens


def test_access_token_is_refreshed_before_it_expires_and_rotated_refresh_token_is_stored(world: World) -> None:
    world.store.saved["c1"] = tokens_for(world.clock, access_left=timedelta(minutes=2))

    access = world.tokens.access_for("c1")

    assert access.access_token == "access-1"
    assert world.store.history == [("c1", "refresh-1")]
    assert world.metrics.days_left["c1"] == pytest.approx(100, abs=0.1)


def test_live_access_token_is_used_without_refresh_when_it_has_time_left(world: World) -> None:
    access = world.tokens.access_for("c1")

    assert access == QuickBooksAccess("realm-1", "access-0")
    assert world.oauth.calls == []


def test_invalid_grant_marks_the_company_for_reauthorization_and_holds_later_work(world: World) -> None:
    world.oauth.refused.add("refresh-0")

    with pytest.raises(ReauthorizationRequired):
        world.tokens.refresh("c1")

    assert world.notifier.marked and world.notifier.marked[0][0] == "c1"
    assert world.metrics.failed == [("c1", "invalid_grant")]
    with pytest.raises(ReauthorizationRequired) as held:
        world.tokens.access_for("c1")
    assert "Reconnect it" in held.value.message


def test_refresh_waits_for_the_other_refresher_when_the_lock_is_held(world: World) -> None:
    world.lock.held[("c1", QuickBooksTokens.LOCK_NAME)] = "someone-else"
    world.store.saved["c1"] = tokens_for(world.clock, access_left=timedelta(0))

    class OtherInstance(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            world.store.saved["c1"] = tokens_for(self, n=9)

    world.tokens.clock = OtherInstance(world.clock.now())
    fresh = world.tokens.refresh("c1", rejected_access_token="access-0")

    assert fresh.access_token == "access-9"
    assert world.oauth.calls == []


def test_refresh_gives_up_with_a_retryable_error_when_the_other_refresher_never_finishes(world: World) -> None:
    world.lock.held[("c1", QuickBooksTokens.LOCK_NAME)] = "someone-else"

    with pytest.raises(RetryableError):
        world.tokens.refresh("c1", rejected_access_token="access-0")


def test_scheduled_run_refreshes_only_due_companies_and_reports_each(world: World) -> None:
    world.store.saved["due"] = tokens_for(world.clock, n=5, refreshed_ago=timedelta(hours=21))
    world.store.saved["fresh"] = tokens_for(world.clock, n=6, refreshed_ago=timedelta(hours=1))
    world.store.saved["revoked"] = tokens_for(world.clock, n=7, refreshed_ago=timedelta(days=3))
    world.store.saved["locked"] = tokens_for(world.clock, n=8, refreshed_ago=timedelta(days=2))
    world.lock.held[("locked", QuickBooksTokens.LOCK_NAME)] = "other"
    world.oauth.refused.add("refresh-7")
    del world.store.saved["c1"]

    summary = TokenRefresher(world.tokens).run([*world.store.saved, "never-connected"])

    assert summary.refreshed == ["due"]
    assert summary.not_due == ["fresh"]
    assert summary.not_connected == ["never-connected"]
    assert summary.reauthorization_required == ["revoked"]
    assert summary.skipped_locked == ["locked"]
    assert world.store.saved["due"].refresh_token != "refresh-5"
    assert world.notifier.marked[0][0] == "revoked"
    assert set(world.metrics.days_left) == {"due", "fresh"}


def test_each_refresh_that_ran_is_in_the_process_log_and_the_companies_not_due_are_not(world: World) -> None:
    world.store.saved["due"] = tokens_for(world.clock, n=5, refreshed_ago=timedelta(hours=21))
    world.store.saved["fresh"] = tokens_for(world.clock, n=6, refreshed_ago=timedelta(hours=1))
    world.store.saved["revoked"] = tokens_for(world.clock, n=7, refreshed_ago=timedelta(days=3))
    world.oauth.refused.add("refresh-7")
    del world.store.saved["c1"]
    log = ProcessLog(InMemoryProcessLogStore(), world.clock.now)

    TokenRefresher(world.tokens, process_log=log).run(list(world.store.saved))

    def entries(company_id: str) -> list[tuple[str, RunStatus, dict[str, int]]]:
        return [(r.name, r.status, r.counts) for r in log.store.page(company_id, 10, None)[0]]

    assert entries("due") == [("QuickBooks Online Token Refresh", RunStatus.SUCCEEDED, {"refreshed": 1})]
    assert entries("revoked") == [("QuickBooks Online Token Refresh", RunStatus.FAILED, {"reauthorizationRequired": 1})]
    assert log.store.page("revoked", 1, None)[0][0].messages[0].level is LogLevel.ERROR
    assert entries("fresh") == []


def test_scheduled_run_refreshes_when_the_refresh_token_runs_low(world: World) -> None:
    world.store.saved["c1"] = tokens_for(world.clock, refreshed_ago=timedelta(days=75))

    summary = TokenRefresher(world.tokens).run(["c1"])

    assert summary.refreshed == ["c1"]


# ---------------------------------------------------------------------------------------------- mapping


def test_bill_payload_maps_item_and_charge_lines_with_classes_and_foreign_currency() -> None:
    foreign = draft().model_copy(update={"currency": "EUR"})
    ids = {
        ("Vendor", "O'Brien Farms"): "56",
        ("Item", "Fresh Cut Flowers"): "9",
        ("Class", "Miami"): "3",
        ("Account", "Freight"): "77",
    }

    body = bill_payload(foreign, ids)

    assert bill_refs(foreign) == list(ids)
    assert body["VendorRef"] == {"value": "56", "name": "O'Brien Farms"}
    assert body["DocNumber"] == "PO-100-INV-1"
    assert body["TxnDate"] == "2025-02-28"
    assert body["CurrencyRef"] == {"value": "EUR"}
    assert "(PO-100-INV-1)" in body["PrivateNote"]
    item, charge = body["Line"]
    assert item["DetailType"] == "ItemBasedExpenseLineDetail"
    assert item["ItemBasedExpenseLineDetail"]["ItemRef"]["value"] == "9"
    assert item["ItemBasedExpenseLineDetail"]["ClassRef"]["value"] == "3"
    assert item["Amount"] == 40.0
    assert charge["AccountBasedExpenseLineDetail"] == {"AccountRef": {"value": "77", "name": "Freight"}}
    assert json.loads(json.dumps(body))["Line"][1]["Amount"] == 12.5


def test_a_foreign_bill_payload_carries_the_rate_and_the_ap_account_of_its_currency_and_a_home_one_neither() -> None:
    foreign = draft().model_copy(
        update={
            "currency": "EUR",
            "exchange_rate": Decimal("1.08372913"),
            "ap_account": "Accounts Payable - EUR",
            "company_currency": "USD",
        }
    )
    ids = {
        ("Vendor", "O'Brien Farms"): "56",
        ("Item", "Fresh Cut Flowers"): "9",
        ("Class", "Miami"): "3",
        ("Account", "Freight"): "77",
        ("Account", "Accounts Payable - EUR"): "80",
    }

    body = bill_payload(foreign, ids)
    home = bill_payload(draft(), ids)

    assert bill_refs(foreign) == list(ids)
    assert currency_refs(foreign) == [("Vendor", "O'Brien Farms"), ("Account", "Accounts Payable - EUR")]
    assert (body["CurrencyRef"], body["ExchangeRate"]) == ({"value": "EUR"}, 1.08372913)
    assert body["APAccountRef"] == {"value": "80", "name": "Accounts Payable - EUR"}
    assert not {"CurrencyRef", "ExchangeRate", "APAccountRef"} & set(home)
    assert currency_refs(draft()) == [("Vendor", "O'Brien Farms")]


def test_query_values_escape_single_quotes_when_names_contain_them() -> None:
    assert quote("O'Brien") == "O\\'Brien"


# ---------------------------------------------------------------------------------------------- fault translation


def response(status: int, body: str, headers: dict[str, str] | None = None) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = body.encode()
    answer.headers.update(headers or {})
    return answer


def fault_json(code: str, detail: str) -> str:
    return json.dumps(
        {"Fault": {"Error": [{"Message": "m", "Detail": detail, "code": code}], "type": "ValidationFault"}}
    )


def test_throttling_is_retryable_and_honours_retry_after_when_the_body_is_xml() -> None:
    xml = (
        '<IntuitResponse xmlns="http://schema.intuit.com/finance/v3"><Fault type="ThrottlingFault">'
        '<Error code="3001"><Message>message=ThrottleExceeded</Message></Error></Fault></IntuitResponse>'
    )

    error = translate_response(response(429, xml, {"Retry-After": "7"}))

    assert isinstance(error, RetryableError)
    assert error.retry_after_seconds == 7.0


def test_server_errors_are_retryable_and_unauthorized_asks_for_a_refresh() -> None:
    assert isinstance(translate_response(response(503, "")), RetryableError)
    lower = json.dumps({"fault": {"error": [{"message": "AuthenticationFailed", "code": "3200"}]}})
    assert isinstance(translate_response(response(401, lower)), AccessTokenRejected)


def test_validation_faults_are_permanent_and_stale_sync_token_is_retryable() -> None:
    refused = translate_response(response(400, fault_json("6240", "The name supplied already exists.")))
    stale = translate_response(response(400, fault_json("5010", "Stale Object Error")))

    assert isinstance(refused, QuickBooksFault)
    assert refused.fault_code == "6240"
    assert "The name supplied already exists" in refused.message
    assert isinstance(stale, StaleObjectError)


# ---------------------------------------------------------------------------------------------- the in-process limiter


def test_limiter_never_lets_more_than_the_rate_plus_burst_through_in_any_minute() -> None:
    ticker = FakeClock()
    limiter = InProcessRequestLimiter(450, 4, max_wait_seconds=120, clock=ticker)
    times: list[float] = []

    for _ in range(1000):
        with limiter.slot("realm"):
            times.append(ticker.monotonic())

    worst = max(sum(1 for t in times if start <= t < start + 60) for start in times)
    assert worst <= 454
    assert times[-1] == pytest.approx((1000 - 4) / 7.5, rel=0.01)


def test_limiter_answers_retryable_when_the_wait_would_be_too_long() -> None:
    ticker = FakeClock()
    limiter = InProcessRequestLimiter(60, 1, max_wait_seconds=0.5, clock=ticker)
    with limiter.slot("realm"):
        pass

    with pytest.raises(RetryableError) as raised, limiter.slot("realm"):
        pass

    assert raised.value.retry_after_seconds == pytest.approx(1.0)
