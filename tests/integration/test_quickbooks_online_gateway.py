"""The QuickBooks Online gateway, OAuth and exactly-once bill sync against the emulator over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from devstack.qbo_emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorState, RunningEmulator, serve

from ledgersync.adapters.quickbooks_online.bills import QuickBooksOnlineGateway
from ledgersync.adapters.quickbooks_online.client import QuickBooksOnlineClient
from ledgersync.adapters.quickbooks_online.limits import InProcessRequestLimiter
from ledgersync.adapters.quickbooks_online.oauth import IntuitOAuth
from ledgersync.adapters.quickbooks_online.references import InMemoryReferenceIdCache
from ledgersync.clock import SystemClock
from ledgersync.domain.purchase_order_bills import BillDraft, BillLine, BillLineKind
from ledgersync.domain.quickbooks_online import BillOutcome, BillSync, QuickBooksTokens
from ledgersync.errors import PermanentError, ReauthorizationRequired, RetryableError
from tests.integration.test_qbo_emulator import xsd_dir
from tests.support.qbo import emulator_tokens
from tests.unit.test_quickbooks_online import FakeDedup, FakeLock, FakeMetrics, FakeNotifier, FakeTokenStore

REALM = "9341453000000001"
pytestmark = pytest.mark.integration


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    running = serve(state=EmulatorState(xsd_dir=xsd_dir(), approve_realm=REALM))
    records: list[tuple[str, dict[str, Any]]] = [
        ("Vendor", {"DisplayName": "O'Brien Farms"}),
        ("Item", {"Name": "Fresh Cut Flowers"}),
        ("Account", {"Name": "Freight"}),
        ("Class", {"Name": "Miami"}),
        ("Vendor", {"DisplayName": "Holland Bulbs", "CurrencyRef": {"value": "EUR"}}),
        (
            "Account",
            {"Name": "Accounts Payable - EUR", "AccountType": "Accounts Payable", "CurrencyRef": {"value": "EUR"}},
        ),
        ("Account", {"Name": "Accounts Payable", "AccountType": "Accounts Payable"}),
    ]
    for entity, record in records:
        running.state.add_record(REALM, entity, record)
    yield running
    running.shutdown()


class Stack:
    """The adapters and use case wired over the emulator, with in-memory stores that record."""

    def __init__(self, emulator: RunningEmulator, read_timeout: float = 5.0) -> None:
        self.emulator = emulator
        self.oauth = IntuitOAuth(
            DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, "http://localhost/callback", emulator.discovery_url
        )
        self.store = FakeTokenStore()
        self.notifier = FakeNotifier()
        self.tokens = QuickBooksTokens(
            self.store, self.oauth, FakeLock(), self.notifier, metrics=FakeMetrics(), clock=SystemClock()
        )
        self.client = QuickBooksOnlineClient(emulator.url, InProcessRequestLimiter(), read_timeout=read_timeout)
        self.ids = InMemoryReferenceIdCache()
        self.gateway = QuickBooksOnlineGateway(self.client, self.ids)
        self.dedup = FakeDedup()
        self.sync = BillSync(self.gateway, self.tokens, self.dedup, SystemClock())
        self.connect()

    def connect(self) -> None:
        self.store.save("c1", emulator_tokens(self.emulator.state, REALM))

    def bills(self) -> list[dict[str, Any]]:
        return self.emulator.state.records(REALM, "Bill")

    def fail(self, **rule: Any) -> None:
        answer = requests.post(f"{self.emulator.url}/__emulator/failures", json=rule, timeout=5)
        assert answer.status_code == 201


@pytest.fixture
def stack(emulator: RunningEmulator) -> Stack:
    return Stack(emulator)


def draft(
    invoice: str = "INV-1",
    vendor: str = "O'Brien Farms",
    currency: str | None = None,
    item: str = "Fresh Cut Flowers",
    po: str = "PO-100",
) -> BillDraft:
    return BillDraft(
        company_id="c1",
        purchase_order_id=7,
        po_number=po,
        invoice_number=invoice,
        vendor_name=vendor,
        txn_date=datetime(2025, 2, 28, tzinfo=UTC).date(),
        currency=currency,
        lines=[
            BillLine(
                kind=BillLineKind.ITEM,
                ref_name=item,
                amount=Decimal("40.10"),
                description="Fresh Cut Flowers",
                class_name="Miami",
            ),
            BillLine(
                kind=BillLineKind.ACCOUNT,
                ref_name="Freight",
                amount=Decimal("12.50"),
                description="Freight",
                class_name="Miami",
            ),
        ],
        memo=f"Ledgersync PO {po} vendor invoice {invoice} ({po}-{invoice})",
    )


# ---------------------------------------------------------------------------------------------- bills


def test_first_bill_resolves_names_in_one_batch_and_the_next_bill_is_one_call(stack: Stack) -> None:
    first = stack.sync.send(draft("INV-1"))
    calls_for_first = stack.client.calls
    second = stack.sync.send(draft("INV-2"))

    assert (first.outcome, second.outcome) == (BillOutcome.CREATED, BillOutcome.CREATED)
    assert calls_for_first == 2
    assert stack.client.calls - calls_for_first == 1
    created = stack.bills()[0]
    assert created["DocNumber"] == "PO-100-INV-1"
    assert created["TotalAmt"] == 52.6
    assert created["VendorRef"]["name"] == "O'Brien Farms"
    assert "(PO-100-INV-1)" in created["PrivateNote"]
    assert {line["DetailType"] for line in created["Line"]} == {
        "ItemBasedExpenseLineDetail",
        "AccountBasedExpenseLineDetail",
    }
    assert all(line[line["DetailType"]]["ClassRef"]["name"] == "Miami" for line in created["Line"])


def test_long_reference_is_cut_to_twenty_one_characters_and_memo_keeps_it_whole(stack: Stack) -> None:
    receipt = stack.sync.send(draft(invoice="VENDOR-INVOICE-2025-000123"))

    assert len(receipt.doc_number) == 21
    assert stack.bills()[0]["DocNumber"] == receipt.doc_number
    assert "PO-100-VENDOR-INVOICE-2025-000123" in stack.bills()[0]["PrivateNote"]


def test_foreign_currency_bill_carries_its_currency(stack: Stack) -> None:
    stack.sync.send(draft(vendor="Holland Bulbs", currency="EUR"))

    assert stack.bills()[0]["CurrencyRef"] == {"value": "EUR"}


def foreign(draft: BillDraft, **changes: Any) -> BillDraft:
    """A Holland Bulbs (EUR) bill at 1.0837 USD per EUR on the A/P account in EUR, of a USD company."""
    fields: dict[str, Any] = {
        "vendor_name": "Holland Bulbs",
        "currency": "EUR",
        "exchange_rate": Decimal("1.0837"),
        "ap_account": "Accounts Payable - EUR",
        "company_currency": "USD",
    }
    return draft.model_copy(update=fields | changes)


def test_a_foreign_vendors_bill_carries_its_rate_and_the_ap_account_of_its_currency(stack: Stack) -> None:
    # When a EUR bill is sent (the emulator validates it against Intuit's v3 schema)
    receipt = stack.sync.send(foreign(draft()))
    calls_for_first = stack.client.calls
    stack.sync.send(foreign(draft("INV-2")))

    # Then QuickBooks has it in EUR at the rate, on the A/P account in EUR; the next one is one call
    (created, _) = stack.bills()
    assert receipt.outcome is BillOutcome.CREATED
    assert (created["CurrencyRef"], created["ExchangeRate"]) == ({"value": "EUR"}, 1.0837)
    assert created["APAccountRef"]["name"] == "Accounts Payable - EUR"
    assert created["HomeBalance"] == 57.0
    assert stack.client.calls - calls_for_first == 1


def test_a_vendor_in_another_currency_in_quickbooks_is_refused_before_any_create(stack: Stack) -> None:
    # Given Ledgersync thinks O'Brien Farms bills in EUR, and QuickBooks keeps it in USD
    with pytest.raises(PermanentError) as refused:
        stack.sync.send(foreign(draft(), vendor_name="O'Brien Farms"))

    message = refused.value.message
    assert message.startswith(
        'QuickBooks would refuse the bill ("The transaction needs to be in the same currency as the A/R and A/P '
        "accounts\"): the bill is in EUR and the vendor 'O'Brien Farms' is in USD in QuickBooks; nothing was sent."
    )
    assert "set the vendor's currency in Ledgersync to USD (PUT /v1/directory/vendors)" in message
    assert stack.bills() == []


def test_a_home_bill_of_a_vendor_quickbooks_keeps_in_another_currency_is_refused_before_any_create(
    stack: Stack,
) -> None:
    with pytest.raises(PermanentError) as refused:
        stack.sync.send(draft(vendor="Holland Bulbs").model_copy(update={"company_currency": "USD"}))

    assert "the bill is in USD and the vendor 'Holland Bulbs' is in EUR in QuickBooks" in refused.value.message
    assert stack.bills() == []


def test_an_ap_account_in_another_currency_is_refused_before_any_create_naming_the_setting(stack: Stack) -> None:
    with pytest.raises(PermanentError) as refused:
        stack.sync.send(foreign(draft(), ap_account="Accounts Payable"))

    message = refused.value.message
    assert "the bill is in EUR and the account 'Accounts Payable' is in USD in QuickBooks" in message
    assert "Map EUR to an A/P account in EUR (PUT /v1/accounting/settings apAccountByCurrency)" in message
    assert stack.bills() == []


def test_a_vendor_id_remembered_before_its_currency_is_read_once_by_id_then_known(stack: Stack) -> None:
    # Given the vendor's and the account's ids were remembered by an earlier version (no currency with them)
    books = stack.emulator.state.realm(REALM).books
    for entity, field, name in (("Vendor", "DisplayName", "O'Brien Farms"), ("Account", "Name", "Accounts Payable")):
        (entity_id,) = [k for k, r in books.records[entity].items() if r[field] == name]
        stack.ids.put(REALM, entity, name, entity_id)
    mismatched = foreign(draft(), vendor_name="O'Brien Farms", ap_account="Accounts Payable")

    with pytest.raises(PermanentError, match="the vendor 'O'Brien Farms' is in USD in QuickBooks"):
        stack.sync.send(mismatched)

    assert stack.ids.get(REALM, "Currency#Vendor", "O'Brien Farms") == "USD"
    assert stack.bills() == []


def test_inactive_vendor_is_refused_with_a_message_that_says_what_to_do(stack: Stack) -> None:
    stack.emulator.state.add_record(REALM, "Vendor", {"DisplayName": "Sleepy Farms", "Active": False})

    with pytest.raises(PermanentError) as refused:
        stack.sync.send(draft(vendor="Sleepy Farms"))

    assert refused.value.message == (
        "QuickBooks refused the bill: the vendor 'Sleepy Farms' is inactive (610). "
        "Reactivate it in QuickBooks, then send again."
    )
    assert stack.bills() == []


def test_vendor_made_inactive_after_it_was_remembered_is_named_and_forgotten(stack: Stack) -> None:
    stack.sync.send(draft("INV-1"))
    vendor_id = stack.ids.get(REALM, "Vendor", "O'Brien Farms")
    with stack.emulator.state.lock:
        stack.emulator.state.realm(REALM).books.records["Vendor"][str(vendor_id)]["Active"] = False

    with pytest.raises(PermanentError) as refused:
        stack.sync.send(draft("INV-2"))

    assert "the vendor 'O'Brien Farms' is inactive (610)" in refused.value.message
    assert stack.ids.get(REALM, "Vendor", "O'Brien Farms") is None


def test_missing_item_and_a_name_differing_in_capitals_are_explained(stack: Stack) -> None:
    with pytest.raises(PermanentError) as missing:
        stack.sync.send(draft(item="Tulips"))
    with pytest.raises(PermanentError) as capitals:
        stack.sync.send(draft(invoice="INV-2", vendor="O'BRIEN FARMS"))

    assert "there is no item named 'Tulips' in QuickBooks" in missing.value.message
    assert "named 'O'Brien Farms', not 'O'BRIEN FARMS'" in capitals.value.message


# ---------------------------------------------------------------------------------------------- exactly once


def test_bill_is_adopted_not_duplicated_when_the_answer_timed_out_after_commit(emulator: RunningEmulator) -> None:
    stack = Stack(emulator, read_timeout=0.3)
    stack.sync.send(draft("INV-0"))  # names are known now: the next bill is a single create
    stack.fail(status=0, afterCommit=True, delaySeconds=0.8, operation="write")

    with pytest.raises(RetryableError):
        stack.sync.send(draft("INV-1"))
    retried = stack.sync.send(draft("INV-1"))

    assert retried.outcome is BillOutcome.ADOPTED
    assert [b["DocNumber"] for b in stack.bills()] == ["PO-100-INV-0", "PO-100-INV-1"]


def test_bill_is_adopted_not_duplicated_when_quickbooks_failed_after_commit(stack: Stack) -> None:
    stack.sync.send(draft("INV-0"))
    stack.fail(status=500, afterCommit=True, operation="write")

    with pytest.raises(RetryableError):
        stack.sync.send(draft("INV-1"))
    retried = stack.sync.send(draft("INV-1"))

    assert retried.outcome is BillOutcome.ADOPTED
    assert len(stack.bills()) == 2


def test_duplicate_number_adopts_our_bill_but_refuses_one_typed_by_hand(stack: Stack) -> None:
    vendor_id = stack.emulator.state.records(REALM, "Vendor")[0]["Id"]
    stack.emulator.state.add_record(
        REALM,
        "Bill",
        {"DocNumber": "PO-100-INV-9", "VendorRef": {"value": vendor_id}, "PrivateNote": "entered by the bookkeeper"},
    )
    stack.emulator.state.add_record(
        REALM,
        "Bill",
        {
            "DocNumber": "PO-100-INV-8",
            "VendorRef": {"value": vendor_id},
            "PrivateNote": "Ledgersync ... (PO-100-INV-8)",
        },
    )

    adopted = stack.sync.send(draft("INV-8"))
    with pytest.raises(PermanentError) as collision:
        stack.sync.send(draft("INV-9"))

    assert adopted.outcome is BillOutcome.ADOPTED
    assert "already has a bill numbered PO-100-INV-9" in collision.value.message
    assert len(stack.bills()) == 2


def test_throttling_as_xml_is_retryable_and_carries_retry_after(stack: Stack) -> None:
    stack.fail(status=429, xml=True, retryAfter=5)

    with pytest.raises(RetryableError) as throttled:
        stack.sync.send(draft())

    assert throttled.value.retry_after_seconds == 5.0
    assert stack.sync.send(draft()).outcome is BillOutcome.CREATED
    assert len(stack.bills()) == 1


def test_expired_access_token_is_refreshed_once_through_intuit_and_the_rotated_token_kept(stack: Stack) -> None:
    old = stack.store.saved["c1"]
    stack.emulator.state.expire_access_token(old.access_token)

    receipt = stack.sync.send(draft())

    assert receipt.outcome is BillOutcome.CREATED
    assert stack.store.saved["c1"].refresh_token != old.refresh_token
    assert stack.store.saved["c1"].access_token != old.access_token


def test_revoked_connection_holds_the_bill_and_asks_for_reconnection(stack: Stack) -> None:
    stored = stack.store.saved["c1"]
    stack.oauth.revoke(stored.refresh_token)

    with pytest.raises(ReauthorizationRequired):
        stack.sync.send(draft())

    assert stack.notifier.marked and stack.notifier.marked[0][0] == "c1"
    assert "invalid_grant" in stack.notifier.marked[0][1]
    assert stack.bills() == []


def test_unreachable_quickbooks_is_retryable(emulator: RunningEmulator) -> None:
    stack = Stack(emulator)
    stack.client.base_url = "http://127.0.0.1:9"  # discard port: nothing listens there

    with pytest.raises(RetryableError):
        stack.sync.send(draft())


# ---------------------------------------------------------------------------------------------- OAuth


def test_connecting_a_company_exchanges_the_code_for_tokens_that_live_an_hour_and_100_days(
    emulator: RunningEmulator,
) -> None:
    oauth = IntuitOAuth(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, "http://localhost/callback", emulator.discovery_url)

    url = oauth.authorization_url("state-42")
    redirect = parse_qs(urlsplit(requests.get(url, allow_redirects=False, timeout=5).headers["Location"]).query)
    tokens = oauth.exchange_code(redirect["code"][0], redirect["realmId"][0])
    refreshed = oauth.refresh(tokens.realm_id, tokens.refresh_token)

    assert redirect["state"] == ["state-42"] and tokens.realm_id == REALM
    assert timedelta(minutes=59) < tokens.access_expires_at - tokens.refreshed_at <= timedelta(hours=1)
    assert tokens.refresh_days_left(tokens.refreshed_at) == 100
    assert refreshed.refresh_token != tokens.refresh_token


def test_wrong_app_credentials_are_a_permanent_error_naming_the_secret(emulator: RunningEmulator) -> None:
    oauth = IntuitOAuth("nobody", "nothing", "http://localhost/callback", emulator.discovery_url)

    with pytest.raises(PermanentError) as refused:
        oauth.refresh(REALM, "RT1-anything")

    assert "invalid_client" in refused.value.message
