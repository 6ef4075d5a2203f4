"""The QuickBooks Online target's document operations against the emulator over loopback: a bill looked up with its
SyncToken, deleted with it, a stale SyncToken retried after a new look-up, a bill already gone counted as deleted;
and the emulator's ``POST bill?operation=delete``."""

from __future__ import annotations

import pytest
from devstack.qbo_emulator import RunningEmulator

from ledgersync.adapters.quickbooks_online.faults import QuickBooksFault, StaleObjectError
from ledgersync.domain.quickbooks_online import QuickBooksBills
from ledgersync.domain.sync.targets import ExternalDocument
from ledgersync.errors import RetryableError
from tests.integration.test_quickbooks_online_gateway import REALM, Stack, draft, emulator, stack

pytestmark = pytest.mark.integration
__all__ = ["emulator", "stack"]  # the fixtures this module borrows


def target(stack: Stack) -> QuickBooksBills:
    """The QuickBooks Online target's document operations, as bootstrap's ``target_documents`` builds them."""
    return QuickBooksBills(stack.gateway, stack.tokens)


def created_bill(stack: Stack, invoice: str = "INV-1") -> str:
    return stack.sync.send(draft(invoice)).bill_id


def changed_by_a_person(stack: Stack, bill_id: str) -> str:
    """Edit the bill as someone in QuickBooks would: its SyncToken moves on."""
    access = stack.tokens.access_for("c1")
    current = stack.client.read(access, "Bill", bill_id)
    return str(stack.client.create(access, "Bill", {**current, "PrivateNote": "edited in QuickBooks"})["SyncToken"])


def test_the_emulator_deletes_a_bill_with_its_current_sync_token_only(stack: Stack, emulator: RunningEmulator) -> None:
    bill_id = created_bill(stack)
    access = stack.tokens.access_for("c1")

    with pytest.raises(StaleObjectError):
        stack.client.delete(access, "Bill", bill_id, "7")
    answer = stack.client.delete(access, "Bill", bill_id, "0")

    assert answer == {"status": "Deleted", "domain": "QBO", "Id": bill_id}
    assert stack.bills() == []
    with pytest.raises(QuickBooksFault) as again:
        stack.client.delete(access, "Bill", bill_id, "0")
    assert again.value.fault_code == "610" and "deleted this transaction" in again.value.detail
    assert emulator.state.records(REALM, "Bill") == []


def test_a_bill_is_looked_up_with_its_sync_token(stack: Stack) -> None:
    bill_id = created_bill(stack)
    online = target(stack)

    assert online.look_up("c1", bill_id) == ExternalDocument(external_id=bill_id, sync_token="0")
    token = changed_by_a_person(stack, bill_id)
    assert online.look_up("c1", bill_id) == ExternalDocument(external_id=bill_id, sync_token=token)
    assert token == "1"


def test_a_bill_quickbooks_has_no_more_looks_up_as_gone(stack: Stack) -> None:
    bill_id = created_bill(stack)
    online = target(stack)
    online.delete("c1", bill_id, "0")

    assert online.look_up("c1", bill_id) is None
    assert online.look_up("c1", "98765") is None


def test_a_stale_sync_token_is_retryable_and_the_delete_goes_after_a_new_look_up(stack: Stack) -> None:
    bill_id = created_bill(stack)
    online = target(stack)
    changed_by_a_person(stack, bill_id)

    with pytest.raises(RetryableError) as stale:
        online.delete("c1", bill_id, "0")
    assert "5010" in stale.value.message and "looked up again" in stale.value.message
    assert len(stack.bills()) == 1

    current = online.look_up("c1", bill_id)
    assert current is not None
    online.delete("c1", bill_id, current.sync_token)
    assert stack.bills() == []


def test_a_bill_already_gone_counts_as_deleted(stack: Stack) -> None:
    bill_id = created_bill(stack)
    online = target(stack)
    online.delete("c1", bill_id, "0")

    online.delete("c1", bill_id, "0")  # deleted already: nothing to do, no error
    online.delete("c1", "98765", "0")  # never there

    assert stack.bills() == []


def test_an_expired_access_token_is_refreshed_once_for_a_look_up_and_a_delete(stack: Stack) -> None:
    bill_id = created_bill(stack)
    online = target(stack)
    old = stack.store.saved["c1"]
    stack.emulator.state.expire_access_token(old.access_token)

    assert online.look_up("c1", bill_id) == ExternalDocument(external_id=bill_id, sync_token="0")
    stack.emulator.state.expire_access_token(stack.store.saved["c1"].access_token)
    online.delete("c1", bill_id, "0")

    assert stack.bills() == []
    assert stack.store.saved["c1"].access_token != old.access_token
