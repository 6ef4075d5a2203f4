"""QuickBooks Online's faults: the error bodies (JSON or XML) it answers, and the domain error for each answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import requests
from lxml import etree

from ledgersync.domain.quickbooks_online import (
    AccessTokenRejected,
)
from ledgersync.errors import (
    LedgersyncError,
    PermanentError,
    RetryableError,
)

if TYPE_CHECKING:
    pass

# ---------------------------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class FaultError:
    """One ``Error`` of a QuickBooks ``Fault`` body (JSON, lower-case JSON or XML)."""

    code: str
    message: str
    detail: str
    element: str = ""


class QuickBooksFault(PermanentError):
    """QuickBooks refused a request for a reason retrying will not change (validation, references, names)."""

    def __init__(self, message: str, errors: list[FaultError], status: int) -> None:
        super().__init__(message)
        self.errors = errors
        self.status = status

    @property
    def fault_code(self) -> str:
        """Intuit's error code (610, 6240, ...); ``code`` stays the service's own error code."""
        return self.errors[0].code if self.errors else str(self.status)

    @property
    def detail(self) -> str:
        return self.errors[0].detail if self.errors else ""


class StaleObjectError(RetryableError):
    """Fault 5010: someone changed the entity since it was read; read it again, then write."""


def parse_faults(response: requests.Response) -> list[FaultError]:
    """The errors of a Fault body, whichever of Intuit's shapes it comes in; empty when there are none."""
    text = response.text.strip()
    if text.startswith("<"):
        return _xml_faults(text)
    try:
        body = response.json()
    except ValueError:
        return []
    return json_faults(body) if isinstance(body, dict) else []


def json_faults(body: dict[str, Any]) -> list[FaultError]:
    """Errors of a JSON ``Fault`` (or the 401 gateway's lower-case ``fault``) object or of a body holding one."""
    fault = body.get("Fault") or body.get("fault") or (body if "Error" in body or "error" in body else None)
    if not isinstance(fault, dict):
        return []
    errors = fault.get("Error") or fault.get("error") or []
    return [
        FaultError(
            code=str(e.get("code", "")),
            message=str(e.get("Message") or e.get("message") or ""),
            detail=str(e.get("Detail") or e.get("detail") or ""),
            element=str(e.get("element") or ""),
        )
        for e in errors
        if isinstance(e, dict)
    ]


def _xml_faults(text: str) -> list[FaultError]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(text.encode(), parser=parser)
    except etree.XMLSyntaxError:
        return []
    found = []
    for error in root.iter("{*}Error"):
        message, detail = error.find("{*}Message"), error.find("{*}Detail")
        found.append(
            FaultError(
                code=error.get("code", ""),
                message=(message.text or "") if message is not None else "",
                detail=(detail.text or "") if detail is not None else "",
            )
        )
    return found


def retry_after_seconds(response: requests.Response, default: float) -> float:
    """``Retry-After`` as seconds (either form HTTP allows), or ``default``."""
    value = response.headers.get("Retry-After")
    if not value:
        return default
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return default


def translate_response(response: requests.Response) -> LedgersyncError:
    """The domain error for a QuickBooks answer that is not 200."""
    status = response.status_code
    errors = parse_faults(response)
    first = errors[0] if errors else FaultError("", "", "")
    if status == 401 or first.code == "3200":
        return AccessTokenRejected(
            "QuickBooks Online refused the access token (401, fault 3200); it is refreshed and the request sent again."
        )
    if status == 403:
        return PermanentError(
            "QuickBooks Online refused access (403). The person who connected Ledgersync must be "
            "a QuickBooks admin on a subscription that allows apps; reconnect as an admin, then "
            "send again."
        )
    if status == 429 or first.code == "3001":
        return RetryableError(
            "QuickBooks Online is throttling requests for this company (429 ThrottleExceeded); "
            "the request waits and is sent again.",
            retry_after_seconds=retry_after_seconds(response, 60.0),
        )
    if status >= 500:
        return RetryableError(
            f"QuickBooks Online had a server error ({status}{' ' + first.code if first.code else ''})"
            "; the request is sent again shortly.",
            retry_after_seconds=retry_after_seconds(response, 30.0),
        )
    if first.code == "5010":
        return StaleObjectError(
            "QuickBooks Online says the record changed since it was read (5010); it is read "
            "again before the next write."
        )
    if not errors:
        return PermanentError(
            f"QuickBooks Online refused the request (HTTP {status}) without saying why; check the "
            f"record in QuickBooks, then send again."
        )
    return QuickBooksFault(
        f"QuickBooks refused the request: {first.detail or first.message} ({first.code}). "
        f"Correct it in QuickBooks or in Ledgersync, then send again.",
        errors,
        status,
    )
