"""Where each company's QuickBooks Online tokens live (a Secrets Manager secret) and the lock one refresher holds."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from ledgersync.adapters.dynamodb import SingleTable, company_pk
from ledgersync.adapters.lease import DynamoLease
from ledgersync.adapters.secrets import SecretsManagerJsonStore
from ledgersync.clock import Clock
from ledgersync.domain.quickbooks_online import (
    TokenSet,
)
from ledgersync.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


class SecretsManagerTokenStore:
    """One secret per company, ``<prefix>/qbo/<companyId>``, holding its TokenSet as JSON (encrypted at rest)."""

    def __init__(self, prefix: str, client: SecretsManagerClient | None = None) -> None:
        self.secrets = SecretsManagerJsonStore(f"{prefix.rstrip('/')}/qbo", "the QuickBooks tokens of company", client)

    def load(self, company_id: str) -> TokenSet | None:
        """The company's tokens, or None when it never connected."""
        value = self.secrets.load(company_id)
        return None if value is None else TokenSet.model_validate(value)

    def save(self, company_id: str, tokens: TokenSet) -> None:
        """Store the tokens as the secret's current version (creating the secret on first connection)."""
        self.secrets.save(
            company_id, tokens.model_dump(mode="json"), f"QuickBooks Online tokens of company {company_id}"
        )


class DynamoLock:
    """A lease ``COMPANY#<cid>`` / ``LOCK#<name>`` (``DynamoLease``); expired leases can be taken over."""

    def __init__(self, table: SingleTable, clock: Clock | None = None) -> None:
        self.lease = DynamoLease(table, clock)

    def acquire(self, company_id: str, name: str, ttl_seconds: int) -> str | None:
        owner = uuid.uuid4().hex
        return owner if self.lease.acquire(company_pk(company_id), f"LOCK#{name}", owner, ttl_seconds) else None

    def release(self, company_id: str, name: str, owner: str) -> None:
        if not self.lease.release(company_pk(company_id), f"LOCK#{name}", owner):
            logger.warning("lock was taken over before release", extra={"company_id": company_id, "lock": name})
