"""When a webhook delivery is tried again: the retry schedule, and how one attempt's answer is classified."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

from ledgersync.domain.webhooks.endpoint import safe_endpoint

MAX_VISIBILITY_SECONDS = 12 * 60 * 60 - 5 * 60  # SQS allows 12 h per receive; keep a margin for the handler's own time

# ---------------------------------------------------------------------------------------------------------------------
# Retry schedule: exponential windows with full jitter, anchored on the first attempt, over at least 24 hours


@dataclass(frozen=True)
class RetrySchedule:
    """When to try again after a retryable failure.

    Time since the first attempt is cut into windows whose width doubles from ``base_seconds`` up to
    ``cap_seconds`` (30 s, 1 min, 2 min, ... 2 h, 2 h, ...). After a failure in window *i* the next
    attempt lands at a uniformly random moment of window *i + 1* (full jitter over the whole window),
    so retries of many deliveries spread out, the count of attempts is bounded (``max_attempts``) and
    retries stop only once ``total_seconds`` have passed since the first attempt.
    """

    total_seconds: float = 24 * 3600.0
    base_seconds: float = 30.0
    cap_seconds: float = 2 * 3600.0

    def boundaries(self) -> list[float]:
        """Start of each window, from 0 to the first window that starts at or after ``total_seconds``, plus its end."""
        edges = [0.0]
        width = self.base_seconds
        while edges[-1] < self.total_seconds:
            edges.append(edges[-1] + width)
            width = min(width * 2, self.cap_seconds)
        edges.append(edges[-1] + width)
        return edges

    def max_attempts(self) -> int:
        """The most attempts one delivery can make (first attempt included)."""
        return len(self.boundaries()) - 1

    def next_delay(
        self,
        elapsed: float,
        retry_after: float | None = None,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> int | None:
        """Seconds until the next attempt, or None when the retries are spent (``elapsed >= total_seconds``)."""
        elapsed = max(elapsed, 0.0)
        if elapsed >= self.total_seconds:
            return None
        edges = self.boundaries()
        index = next(i for i in range(len(edges) - 1) if edges[i] <= elapsed < edges[i + 1])
        start, end = edges[index + 1], edges[index + 2]
        delay = uniform(start, end) - elapsed
        if retry_after is not None:
            delay = max(delay, retry_after)
        return int(min(max(delay, 1.0), MAX_VISIBILITY_SECONDS))


# ---------------------------------------------------------------------------------------------------------------------
# Outcome of one attempt


@dataclass(frozen=True)
class WebhookResponse:
    """What the endpoint answered: status, headers (lower-case names) and at most the first 64 KB of the body."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    truncated: bool = False


class Verdict(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FINAL = "final"


@dataclass(frozen=True)
class AttemptResult:
    """How one attempt ended and why."""

    verdict: Verdict
    reason: str
    status: int | None = None
    retry_after: float | None = None
    response: WebhookResponse | None = None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from ``now``: delta-seconds or an HTTP-date; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def classify_response(response: WebhookResponse, now: datetime) -> AttemptResult:
    """2xx delivered; 408, 429 (honouring Retry-After) and 5xx retried; 3xx and every other 4xx final."""
    status = response.status
    if 200 <= status < 300:
        return AttemptResult(Verdict.DELIVERED, f"HTTP {status}", status, response=response)
    retry_after = parse_retry_after(response.headers.get("retry-after"), now)
    if status in (408, 429) or 500 <= status < 600:
        return AttemptResult(Verdict.RETRY, f"HTTP {status}", status, retry_after, response)
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        target = f" to {safe_endpoint(location)}" if location else ""
        reason = f"HTTP {status}: the endpoint redirected{target}; redirects are not followed, set the final URL"
        return AttemptResult(Verdict.FINAL, reason, status, response=response)
    return AttemptResult(Verdict.FINAL, f"HTTP {status}", status, response=response)
