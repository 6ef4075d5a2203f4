"""One clock (ledgersync/clock.py): aware UTC wall time, a monotonic count and sleep, and no second clock anywhere."""

from __future__ import annotations

import re
from datetime import UTC, timedelta
from pathlib import Path

from ledgersync.clock import Clock, SystemClock
from tests.fakes import FakeClock

ROOT = Path(__file__).resolve().parents[2]
SECOND_CLOCK = re.compile(r"^(class \w*Clock\b|\w*Clock = Callable|def utc_?now\()", re.MULTILINE)


def test_the_system_clock_answers_aware_utc_and_a_monotonic_count_when_asked() -> None:
    clock: Clock = SystemClock()
    first, now = clock.monotonic(), clock.now()
    clock.sleep(0)
    assert now.tzinfo is UTC
    assert clock.monotonic() >= first


def test_the_fake_clock_moves_wall_and_monotonic_time_together_when_advanced_or_slept() -> None:
    fake = FakeClock()
    clock: Clock = fake
    start = fake.now()
    fake.advance(timedelta(minutes=1))
    clock.sleep(2.5)
    assert fake.now() - start == timedelta(seconds=62.5)
    assert fake.monotonic() == 62.5
    assert fake.slept == [2.5]


def test_no_module_declares_a_clock_of_its_own_when_the_code_is_read() -> None:
    sources = [*(ROOT / "layers/common/python/ledgersync").rglob("*.py"), *(ROOT / "devstack").rglob("*.py")]
    offenders = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in sources
        if path.name != "clock.py"
        for match in SECOND_CLOCK.finditer(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
