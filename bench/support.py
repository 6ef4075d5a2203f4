"""What the benchmarks share: the moto-backed ones' fake AWS credentials and region, quiet Powertools, and the
in-memory QuickBooks Online token store and refresh lock."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ledgersync.domain.quickbooks_online import TokenSet

MOTO_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "TABLE_NAME": "ledgersync-bench",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
    "POWERTOOLS_METRICS_DISABLED": "1",
}


def use_moto_environment(**extra: str) -> None:
    """Set the environment for moto in process (table ``ledgersync-bench``), plus ``extra`` variables."""
    os.environ.update(MOTO_ENVIRONMENT | extra)


class MemoryTokens:
    """The QuickBooks Online token store of a bench: each company's tokens in a dict."""

    def __init__(self) -> None:
        self.saved: dict[str, TokenSet] = {}

    def load(self, company_id: str) -> TokenSet | None:
        return self.saved.get(company_id)

    def save(self, company_id: str, tokens: TokenSet) -> None:
        self.saved[company_id] = tokens


class MemoryLocks:
    """The QuickBooks Online token-refresh lock of a bench: one per company and name, safe across its threads."""

    def __init__(self) -> None:
        self.guard = threading.Lock()
        self.held: set[tuple[str, str]] = set()

    def acquire(self, company_id: str, name: str, ttl_seconds: int) -> str | None:
        with self.guard:
            if (company_id, name) in self.held:
                return None
            self.held.add((company_id, name))
            return "bench"

    def release(self, company_id: str, name: str, owner: str) -> None:
        with self.guard:
            self.held.discard((company_id, name))
