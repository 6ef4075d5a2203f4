"""The QuickBooks Online v3 REST client: base URLs, minorversion, timeouts, the per-company limiter, and faults
translated."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from ledgersync.adapters.quickbooks_online.faults import translate_response
from ledgersync.adapters.quickbooks_online.limits import RequestLimiter
from ledgersync.config import Settings
from ledgersync.domain.quickbooks_online import (
    QuickBooksAccess,
)
from ledgersync.errors import (
    RetryableError,
)

if TYPE_CHECKING:
    pass

API_BASE_URLS = {
    "sandbox": "https://sandbox-quickbooks.api.intuit.com",
    "production": "https://quickbooks.api.intuit.com",
    "prod": "https://quickbooks.api.intuit.com",
}
MINOR_VERSION = 75
BATCH_LIMIT = 30

# ---------------------------------------------------------------------------------------------- HTTP client


class QuickBooksOnlineClient:
    """The v3 REST API over requests: timeouts, minorversion, the per-company limiter, faults translated."""

    def __init__(
        self,
        base_url: str,
        limiter: RequestLimiter,
        session: requests.Session | None = None,
        *,
        connect_timeout: float = 3.05,
        read_timeout: float = 20.0,
        minor_version: int = MINOR_VERSION,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter
        self.session = session or requests.Session()
        self.timeout = (connect_timeout, read_timeout)
        self.minor_version = minor_version
        self.calls = 0

    def read(self, access: QuickBooksAccess, entity: str, entity_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._send(access, "GET", f"{entity.lower()}/{entity_id}")[entity]
        return answer

    def create(
        self, access: QuickBooksAccess, entity: str, body: dict[str, Any], request_id: str | None = None
    ) -> dict[str, Any]:
        """Create (or, with Id and SyncToken, update) one entity; ``request_id`` makes a retry replay, not repeat."""
        answer: dict[str, Any] = self._send(access, "POST", entity.lower(), body=body, request_id=request_id)[entity]
        return answer

    def delete(self, access: QuickBooksAccess, entity: str, entity_id: str, sync_token: str) -> dict[str, Any]:
        """``POST <entity>?operation=delete`` with the Id and the SyncToken QuickBooks holds (a transaction only)."""
        body = {"Id": entity_id, "SyncToken": sync_token}
        answer: dict[str, Any] = self._send(access, "POST", entity.lower(), params={"operation": "delete"}, body=body)[
            entity
        ]
        return answer

    def query(self, access: QuickBooksAccess, statement: str) -> dict[str, Any]:
        """The ``QueryResponse`` of one query."""
        answer: dict[str, Any] = self._send(access, "GET", "query", params={"query": statement}).get(
            "QueryResponse", {}
        )
        return answer

    def batch(
        self, access: QuickBooksAccess, items: list[dict[str, Any]], request_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Up to 30 operations in one call; each answer carries its ``bId`` and an entity, QueryResponse or Fault."""
        if len(items) > BATCH_LIMIT:
            raise ValueError(f"a QuickBooks batch holds at most {BATCH_LIMIT} operations")
        answer: list[dict[str, Any]] = self._send(
            access, "POST", "batch", body={"BatchItemRequest": items}, request_id=request_id
        ).get("BatchItemResponse", [])
        return answer

    def _send(
        self,
        access: QuickBooksAccess,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        url = f"{self.base_url}/v3/company/{access.realm_id}/{path}"
        query = {"minorversion": str(self.minor_version), **(params or {})}
        if request_id:
            query["requestid"] = request_id
        headers = {"Authorization": f"Bearer {access.access_token}", "Accept": "application/json"}
        with self.limiter.slot(access.realm_id):
            self.calls += 1
            try:
                response = self.session.request(
                    method, url, params=query, json=body, headers=headers, timeout=self.timeout
                )
            except requests.Timeout as timeout:
                raise RetryableError(
                    f"QuickBooks Online did not answer within {self.timeout[1]:g} seconds; the "
                    "request is checked and sent again.",
                    retry_after_seconds=30.0,
                ) from timeout
            except requests.RequestException as failure:
                raise RetryableError(
                    f"QuickBooks Online could not be reached ({type(failure).__name__}); the "
                    "request is sent again shortly.",
                    retry_after_seconds=30.0,
                ) from failure
        if response.status_code != 200:
            raise translate_response(response)
        try:
            answer: dict[str, Any] = response.json()
        except ValueError as unreadable:
            raise RetryableError(
                "QuickBooks Online answered with something that is not JSON; the request is sent again shortly."
            ) from unreadable
        return answer


def api_base_url(settings: Settings) -> str:
    """QBO_API_BASE_URL, else Intuit's host for the environment, else the discovery URL's origin (the emulator)."""
    if settings.qbo_api_base_url:
        return settings.qbo_api_base_url.rstrip("/")
    known = API_BASE_URLS.get(settings.qbo_environment.lower())
    if known:
        return known
    parts = urlsplit(settings.qbo_environment)
    return f"{parts.scheme}://{parts.netloc}"
