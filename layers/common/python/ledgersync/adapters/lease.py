"""The one DynamoDB lease: an item held by one owner until it expires, taken and given back by conditional writes.

A lease is the item ``(pk, sk)`` with its owner and ``expiresAt`` (epoch seconds, the table's TTL attribute, so
DynamoDB removes a lease its owner never released some time after it expired). Whoever finds it free, expired or
already theirs takes it; only its owner renews or releases it. Expiry is wall time (``Clock.now``): every instance
compares against the same number.
"""

from __future__ import annotations

import math
import uuid

from ledgersync.adapters.dynamodb import SingleTable
from ledgersync.clock import Clock, SystemClock
from ledgersync.errors import Conflict

EXPIRES = "expiresAt"


class DynamoLease:
    """Leases in the single table. ``owner_attribute`` names the owner (``holder``; ``lockOwner`` on the Web
    Connector's company lock, as stored before this class)."""

    def __init__(self, table: SingleTable, clock: Clock | None = None, owner_attribute: str = "holder") -> None:
        self.table = table
        self.clock = clock or SystemClock()
        self.owner_attribute = owner_attribute

    def acquire(self, pk: str, sk: str, owner: str, ttl_seconds: float) -> bool:
        """Take the lease for ``ttl_seconds`` when it is free, expired or already ``owner``'s; False when another
        owner holds it."""
        now = self._now()
        try:
            self.table.put(
                {"pk": pk, "sk": sk, self.owner_attribute: owner, EXPIRES: self._expiry(now, ttl_seconds)},
                condition="attribute_not_exists(pk) OR #o = :me OR #e < :now",
                names={"#o": self.owner_attribute, "#e": EXPIRES},
                values={":me": owner, ":now": math.floor(now)},
            )
        except Conflict:
            return False
        return True

    def renew(self, pk: str, sk: str, owner: str, ttl_seconds: float) -> bool:
        """Extend ``owner``'s lease to ``ttl_seconds`` from now; False when it expired or another owner holds it."""
        now = self._now()
        try:
            self.table.update(
                pk,
                sk,
                "SET #e = :until",
                names={"#o": self.owner_attribute, "#e": EXPIRES},
                values={":me": owner, ":now": math.floor(now), ":until": self._expiry(now, ttl_seconds)},
                condition="#o = :me AND #e >= :now",
                returns="NONE",
            )
        except Conflict:
            return False
        return True

    def release(self, pk: str, sk: str, owner: str) -> bool:
        """Give the lease back if ``owner`` holds it; False when someone else took it over (it stays theirs)."""
        try:
            self.table.delete(pk, sk, condition="#o = :me", names={"#o": self.owner_attribute}, values={":me": owner})
        except Conflict:
            return False
        return True

    def _now(self) -> float:
        return self.clock.now().timestamp()

    @staticmethod
    def _expiry(now: float, ttl_seconds: float) -> int:
        return math.floor(now + ttl_seconds)


class DynamoReleaseTurns:
    """``ReleaseTurns`` of the automatic invoice queue: the lease ``COMPANY#<cid>`` / ``AUTOSYNC#<minute>``, taken by
    the minute's first run and left to expire (TTL): a second run in that minute finds it held."""

    TTL_SECONDS = 180

    def __init__(self, table: SingleTable, clock: Clock | None = None) -> None:
        self.lease = DynamoLease(table, clock)

    def take(self, company_id: str, tick: int) -> bool:
        return self.lease.acquire(f"COMPANY#{company_id}", f"AUTOSYNC#{tick}", uuid.uuid4().hex, self.TTL_SECONDS)
