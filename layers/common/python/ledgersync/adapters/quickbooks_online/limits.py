"""QuickBooks Online's limits per company (requests per minute, requests in flight), in one process or shared by
every Lambda instance through the single table."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Protocol

from ledgersync.adapters.dynamodb import SingleTable
from ledgersync.adapters.lease import DynamoLease
from ledgersync.clock import Clock, SystemClock
from ledgersync.errors import (
    Conflict,
    RetryableError,
)
from ledgersync.observability import logger

if TYPE_CHECKING:
    pass

# ---------------------------------------------------------------------------------------------- limits


class RequestLimiter(Protocol):
    """Keeps one company's calls under QuickBooks' limits (requests per minute, requests in flight)."""

    def slot(self, realm_id: str) -> AbstractContextManager[None]: ...


class InProcessRequestLimiter:
    """A token bucket (``requests_per_minute``, burst ``max_in_flight``) and a semaphore per realm, in one process.

    With a burst of b, any 60 seconds see at most ``requests_per_minute + b`` calls: 454 for the defaults,
    under QuickBooks' 500. Waits longer than ``max_wait_seconds`` become a RetryableError.
    """

    def __init__(
        self,
        requests_per_minute: int = 450,
        max_in_flight: int = 4,
        max_wait_seconds: float = 30.0,
        clock: Clock | None = None,
    ) -> None:
        self.rate = requests_per_minute / 60.0
        self.burst = float(max(1, max_in_flight))
        self.max_in_flight = max_in_flight
        self.max_wait_seconds = max_wait_seconds
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}

    @contextmanager
    def slot(self, realm_id: str) -> Iterator[None]:
        with self._lock:
            semaphore = self._semaphores.setdefault(realm_id, threading.BoundedSemaphore(self.max_in_flight))
        if not semaphore.acquire(timeout=self.max_wait_seconds):
            raise RetryableError(
                "Too many QuickBooks requests for this company are in flight; try again shortly.",
                retry_after_seconds=1.0,
            )
        try:
            self._take_token(realm_id, self.clock.monotonic() + self.max_wait_seconds)
            yield
        finally:
            semaphore.release()

    def _take_token(self, realm_id: str, deadline: float) -> None:
        while True:
            with self._lock:
                now = self.clock.monotonic()
                tokens, updated = self._buckets.get(realm_id, (self.burst, now))
                tokens = min(self.burst, tokens + (now - updated) * self.rate)
                if tokens >= 1.0 - 1e-9:  # float dust must not leave a caller sleeping for nothing, forever
                    self._buckets[realm_id] = (max(0.0, tokens - 1.0), now)
                    return
                self._buckets[realm_id] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
            if now + wait > deadline:
                raise RetryableError(
                    "This company's QuickBooks request budget is used up for now; try again shortly.",
                    retry_after_seconds=wait,
                )
            self.clock.sleep(wait)


class DynamoRequestLimiter:
    """The same limits shared by every Lambda instance, in the single table.

    Rate: a counter per realm and 5-second window (``RATE#<window>``), incremented only while under
    ``requests_per_minute * 5 / 60``; any 60 seconds overlap at most 13 windows (481 calls for 450/minute).
    In flight: ``max_in_flight`` lease items (``SLOT#<n>``) taken with a condition and released after the call;
    a lease left by a crashed instance expires after ``lease_seconds``.
    """

    WINDOW_SECONDS = 5

    def __init__(
        self,
        table: SingleTable,
        requests_per_minute: int = 450,
        max_in_flight: int = 4,
        *,
        lease_seconds: int = 60,
        max_wait_seconds: float = 20.0,
        clock: Clock | None = None,
    ) -> None:
        self.table = table
        self.per_window = max(1, requests_per_minute * self.WINDOW_SECONDS // 60)
        self.max_in_flight = max_in_flight
        self.lease_seconds = lease_seconds
        self.max_wait_seconds = max_wait_seconds
        self.clock = clock or SystemClock()
        self.leases = DynamoLease(table, self.clock)

    @staticmethod
    def pk(realm_id: str) -> str:
        return f"QBO#REALM#{realm_id}"

    def _epoch(self) -> float:
        """Wall time in seconds: windows and lease expiries are shared by every instance, so not monotonic."""
        return self.clock.now().timestamp()

    @contextmanager
    def slot(self, realm_id: str) -> Iterator[None]:
        deadline = self._epoch() + self.max_wait_seconds
        owner = uuid.uuid4().hex
        number = self._acquire_slot(realm_id, owner, deadline)
        try:
            self._take_rate(realm_id, deadline)
            yield
        finally:
            try:
                released = self.leases.release(self.pk(realm_id), f"SLOT#{number}", owner)
            except RetryableError:
                released = False
            if not released:  # expired and taken, or DynamoDB busy: it expires by itself
                logger.warning("QuickBooks slot lease was already gone", extra={"realm_id": realm_id})

    def _acquire_slot(self, realm_id: str, owner: str, deadline: float) -> int:
        while True:
            now = self._epoch()
            for number in random.sample(range(self.max_in_flight), self.max_in_flight):
                if self.leases.acquire(self.pk(realm_id), f"SLOT#{number}", owner, self.lease_seconds):
                    return number
            if now >= deadline:
                raise RetryableError(
                    "Too many QuickBooks requests for this company are in flight; try again shortly.",
                    retry_after_seconds=1.0,
                )
            self.clock.sleep(random.uniform(0.05, 0.2))  # noqa: S311 - jitter, not security

    def _take_rate(self, realm_id: str, deadline: float) -> None:
        while True:
            now = self._epoch()
            window = int(now // self.WINDOW_SECONDS)
            try:
                self.table.update(
                    self.pk(realm_id),
                    f"RATE#{window}",
                    "ADD #n :one SET expiresAt = :exp",
                    names={"#n": "count"},
                    values={":one": 1, ":limit": self.per_window, ":exp": int(now) + 120},
                    condition="attribute_not_exists(#n) OR #n < :limit",
                )
            except Conflict:
                next_window = (window + 1) * self.WINDOW_SECONDS
                if next_window > deadline:
                    raise RetryableError(
                        "This company's QuickBooks request budget is used up for now; try again shortly.",
                        retry_after_seconds=next_window - now,
                    ) from None
                self.clock.sleep(next_window - now + random.uniform(0, 0.05))  # noqa: S311 - jitter
                continue
            return
