"""EventBridge schedules run locally: ``rate(...)`` expressions on a timer, any schedule on demand.

The first run comes one period after start, as a new EventBridge rule's does. ``cron(...)`` expressions
are not timed locally (a note is printed); they still run on demand.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from devstack.runtime import ACCOUNT_ID
from devstack.template import ScheduleSource

Invoker = Callable[[str, dict[str, Any]], Any]
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> float | None:
    """The period of a ``rate(...)`` expression in seconds, or None for anything else (cron)."""
    found = _RATE.match(expression.strip())
    if not found:
        return None
    value, unit = int(found.group(1)), found.group(2).rstrip("s")
    if value < 1:
        raise ValueError(f"{expression}: the rate must be at least 1")
    return float(value * _UNIT_SECONDS[unit])


def scheduled_event(schedule: ScheduleSource, rule_arn: str, region: str) -> Any:
    """The event EventBridge sends for a scheduled rule (or the schedule's fixed Input)."""
    if schedule.input is not None:
        return json.loads(schedule.input)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


class Schedules:
    """The template's schedules: a timer thread for rate() expressions and run-now by name."""

    def __init__(
        self,
        schedules: list[ScheduleSource],
        rule_arns: dict[str, str],
        invoke: Invoker,
        region: str,
        speedup: float = 1.0,
    ) -> None:
        self.schedules = schedules
        self.rule_arns = rule_arns
        self.invoke = invoke
        self.region = region
        self.speedup = speedup
        self.runs: dict[str, int] = {key(s): 0 for s in schedules}
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def find(self, name: str) -> ScheduleSource:
        """A schedule by ``Function.Event``, event name, or function logical id (when it has one schedule)."""
        candidates = [s for s in self.schedules if name in {key(s), s.event_name, s.function_id}]
        if len(candidates) != 1:
            known = ", ".join(sorted(key(s) for s in self.schedules)) or "none"
            problem = "matches several schedules" if candidates else "is not a schedule"
            raise KeyError(f"'{name}' {problem}; known: {known}")
        return candidates[0]

    def run_now(self, name: str) -> Any:
        """Invoke the schedule's function once with its scheduled event; returns the handler's result."""
        schedule = self.find(name)
        event = scheduled_event(schedule, self.rule_arns.get(key(schedule), ""), self.region)
        with self._lock:
            self.runs[key(schedule)] += 1
        return self.invoke(schedule.function_id, event)

    def start(self, stop: threading.Event) -> None:
        """Fire rate() schedules on time in a background thread until ``stop`` is set."""
        timed: list[tuple[ScheduleSource, float]] = []
        for schedule in self.schedules:
            if not schedule.enabled:
                continue
            period = rate_seconds(schedule.expression)
            if period is None:
                print(
                    f"devstack: {key(schedule)} ({schedule.expression}) runs only on demand locally: "
                    f"POST /__devstack/schedules/{key(schedule)}",
                    file=sys.stderr,
                )
                continue
            timed.append((schedule, period / self.speedup))
        if not timed:
            return
        due = {key(s): time.monotonic() + period for s, period in timed}

        def loop() -> None:
            while not stop.is_set():
                now = time.monotonic()
                for schedule, period in timed:
                    if now >= due[key(schedule)]:
                        due[key(schedule)] = now + period
                        try:
                            self.run_now(key(schedule))
                        except Exception as error:
                            print(f"devstack: schedule {key(schedule)} failed: {error}", file=sys.stderr)
                stop.wait(max(0.01, min(due.values()) - time.monotonic()))

        self._thread = threading.Thread(target=loop, name="devstack-schedules", daemon=True)
        self._thread.start()

    def join(self, timeout: float = 5) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def key(schedule: ScheduleSource) -> str:
    """The name a schedule is known by locally: ``<FunctionLogicalId>.<EventName>``."""
    return f"{schedule.function_id}.{schedule.event_name}"
