"""Fakes for the ports, shared by the tests: each records what happened and honours its port's rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


@dataclass
class FakeClock:
    """The ``ledgersync.clock.Clock`` port, still until told: ``advance`` and ``sleep`` move wall time and the
    monotonic count together; setting ``current`` moves wall time only. ``slept`` records each sleep."""

    current: datetime = field(default_factory=lambda: datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    ticks: float = 0.0
    slept: list[float] = field(default_factory=list)

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return self.ticks

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    def advance(self, by: timedelta | float) -> None:
        """Move both clocks forward by ``by`` (a timedelta or seconds)."""
        seconds = by.total_seconds() if isinstance(by, timedelta) else float(by)
        self.current += timedelta(seconds=seconds)
        self.ticks += seconds
