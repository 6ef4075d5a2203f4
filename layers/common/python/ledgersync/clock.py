"""The one clock: wall time (aware UTC) for what is stored and shown, a monotonic count for intervals, and sleep.

Every use case and adapter that needs time takes a ``Clock``; the default is ``SystemClock``, and tests pass
``tests.fakes.FakeClock``, which moves only when told to.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for intervals and caches, not for dates)."""

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""


class SystemClock:
    """The machine's clocks."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()
