"""The one DynamoDB lease (adapters/lease.py) on moto: one owner at a time, expiry, take-over, renew and release."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from ledgersync.adapters.dynamodb import SingleTable
from ledgersync.adapters.lease import DynamoLease
from tests.fakes import FakeClock

PK, SK = "COMPANY#c1", "LOCK#test"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def lease(aws: None, clock: FakeClock) -> DynamoLease:
    return DynamoLease(SingleTable(os.environ["TABLE_NAME"]), clock)


def test_one_owner_holds_the_lease_until_it_expires_when_two_ask(lease: DynamoLease, clock: FakeClock) -> None:
    assert lease.acquire(PK, SK, "a", 60)
    assert not lease.acquire(PK, SK, "b", 60)
    assert lease.acquire(PK, SK, "a", 60)  # already ours: taken again, for a new term
    assert lease.acquire(PK, "LOCK#other", "b", 60)  # another lease is another item
    clock.advance(timedelta(seconds=60))
    assert not lease.acquire(PK, SK, "b", 60)  # it expires after its last second, not on it
    clock.advance(timedelta(seconds=1))
    assert lease.acquire(PK, SK, "b", 60)


def test_an_expired_lease_is_taken_over_and_its_old_owner_can_neither_renew_nor_release_it(
    lease: DynamoLease, clock: FakeClock
) -> None:
    # Given a's lease expired and b took it over
    assert lease.acquire(PK, SK, "a", 30)
    clock.advance(31)
    assert lease.acquire(PK, SK, "b", 30)
    # When a, late, renews and releases
    renewed, released = lease.renew(PK, SK, "a", 30), lease.release(PK, SK, "a")
    # Then both are refused and b still holds it
    assert (renewed, released) == (False, False)
    assert not lease.acquire(PK, SK, "c", 30)
    assert lease.table.get(PK, SK) == {
        "pk": PK,
        "sk": SK,
        "holder": "b",
        "expiresAt": int(clock.now().timestamp()) + 30,
    }


def test_releasing_frees_the_lease_only_for_its_owner_when_released(lease: DynamoLease) -> None:
    assert lease.acquire(PK, SK, "a", 60)
    assert not lease.release(PK, SK, "b")
    assert not lease.acquire(PK, SK, "b", 60)
    assert lease.release(PK, SK, "a")
    assert lease.table.get(PK, SK) is None
    assert lease.acquire(PK, SK, "b", 60)
    assert not lease.release(PK, "LOCK#never-taken", "b")


def test_renewing_extends_the_owners_term_but_not_once_it_expired(lease: DynamoLease, clock: FakeClock) -> None:
    assert lease.acquire(PK, SK, "a", 30)
    clock.advance(20)
    assert lease.renew(PK, SK, "a", 30)
    clock.advance(20)  # 40 s after taking it, 20 s after renewing: still a's
    assert not lease.acquire(PK, SK, "b", 30)
    clock.advance(31)
    assert not lease.renew(PK, SK, "a", 30)
    assert lease.acquire(PK, SK, "b", 30)


def test_the_owner_is_stored_under_the_name_each_user_keeps_when_named(aws: None, clock: FakeClock) -> None:
    table = SingleTable(os.environ["TABLE_NAME"])
    qbwc = DynamoLease(table, clock, owner_attribute="lockOwner")
    assert qbwc.acquire(PK, "LOCK#qbwc", "ticket-1", 60)
    stored = table.get(PK, "LOCK#qbwc")
    assert stored is not None and stored["lockOwner"] == "ticket-1" and "holder" not in stored
    assert qbwc.release(PK, "LOCK#qbwc", "ticket-1")
