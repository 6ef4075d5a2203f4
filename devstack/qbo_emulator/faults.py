"""QuickBooks Online faults as Intuit sends them: JSON ``Fault`` bodies, the lower-case 401 body, XML throttling."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape, quoteattr

NAMESPACE = "http://schema.intuit.com/finance/v3"

# code: (HTTP status, fault type, Message, Detail)
KNOWN: dict[str, tuple[int, str, str, str]] = {
    "610": (
        400,
        "ValidationFault",
        "Object Not Found",
        "Object Not Found : Something you're trying to use has been made inactive. Check the fields with "
        "accounts, customers, items, vendors or employees.",
    ),
    "2010": (
        400,
        "ValidationFault",
        "Request has invalid or unsupported property",
        "Property Name:{element} specified is unsupported or invalid",
    ),
    "2020": (
        400,
        "ValidationFault",
        "Required param missing, need to supply the required value for the API",
        "Required parameter {element} is missing in the request",
    ),
    "2050": (
        400,
        "ValidationFault",
        "String length specified does not match the supported length",
        "String length is either shorter or longer than supported by specification. {element}",
    ),
    "2500": (400, "ValidationFault", "Invalid Reference Id", "Invalid Reference Id : {element}"),
    "3200": (
        401,
        "AUTHENTICATION",
        "message=AuthenticationFailed; errorCode=003200; statusCode=401",
        "Token expired: {element}",
    ),
    "3001": (
        429,
        "ThrottlingFault",
        "message=ThrottleExceeded; errorCode=003001; statusCode=429",
        "The request limit was reached.",
    ),
    "4000": (400, "ValidationFault", "Error parsing query", "QueryParserError: {element}"),
    "5010": (
        400,
        "ValidationFault",
        "Stale Object Error",
        "Stale Object Error : You and another user were working on this at the same time. The other user "
        "finished before you did, so your work was not saved.",
    ),
    "6000": (
        400,
        "ValidationFault",
        "A business validation error has occurred while processing your request",
        "Business Validation Error: {element}",
    ),
    "6070": (
        400,
        "ValidationFault",
        "Amount calculation error",
        "Amount calculation error : Amount is not equal to UnitPrice * Qty. {element}",
    ),
    "6140": (
        400,
        "ValidationFault",
        "Duplicate Document Number Error",
        "Duplicate Document Number Error : You must specify a different number. This number has already "
        "been used. {element}",
    ),
    "6240": (
        400,
        "ValidationFault",
        "Duplicate Name Exists Error",
        "The name supplied already exists. : Another customer, vendor or employee is already using this "
        "name. Please use a different name.",
    ),
    "10000": (
        500,
        "SystemFault",
        "An application error has occurred while processing your request",
        "System Failure Error: An unexpected error occurred while accessing or saving your data.",
    ),
    "503": (503, "SystemFault", "Service Unavailable", "The service is temporarily unavailable."),
}
STATUS_DEFAULT_CODE = {400: "6000", 401: "3200", 429: "3001", 500: "10000", 502: "503", 503: "503", 504: "503"}


def timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Fault(Exception):
    """One QuickBooks fault, renderable as the JSON (or XML) body Intuit sends."""

    def __init__(self, code: str, element: str = "", status: int | None = None, detail: str | None = None) -> None:
        known_status, fault_type, message, template = KNOWN.get(
            code, (status or 400, "ValidationFault", "A business validation error has occurred", "{element}")
        )
        self.code = code
        self.status = status or known_status
        self.fault_type = fault_type
        self.message = message
        self.detail = detail or template.replace("{element}", element)
        self.element = element
        super().__init__(f"{code} {self.message}: {self.detail}")

    @classmethod
    def for_status(cls, status: int, code: str | None = None) -> Fault:
        return cls(code or STATUS_DEFAULT_CODE.get(status, "10000"), status=status)

    def as_json(self) -> dict[str, Any]:
        """The body as QuickBooks sends it; 401 comes in Intuit's lower-case gateway shape."""
        if self.status == 401:
            return {
                "warnings": None,
                "intuitObject": None,
                "fault": {
                    "error": [{"message": self.message, "detail": self.detail, "code": self.code, "element": None}],
                    "type": self.fault_type,
                },
                "report": None,
                "queryResponse": None,
                "batchItemResponse": [],
                "attachableResponse": [],
                "syncErrorResponse": None,
                "requestId": None,
                "time": int(datetime.now(UTC).timestamp() * 1000),
                "status": None,
                "cdcresponse": [],
            }
        return {"Fault": self.error_block(), "time": timestamp()}

    def error_block(self) -> dict[str, Any]:
        return {
            "Error": [{"Message": self.message, "Detail": self.detail, "code": self.code, "element": self.element}],
            "type": self.fault_type,
        }

    def as_xml(self) -> str:
        return (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f'<IntuitResponse xmlns="{NAMESPACE}" time={quoteattr(timestamp())}>'
            f"<Fault type={quoteattr(self.fault_type)}><Error code={quoteattr(self.code)}>"
            f"<Message>{escape(self.message)}</Message><Detail>{escape(self.detail)}</Detail>"
            f"</Error></Fault></IntuitResponse>"
        )

    def render(self, xml: bool = False) -> tuple[int, str, str]:
        """(status, body, content type)."""
        if xml:
            return self.status, self.as_xml(), "application/xml"
        return self.status, json.dumps(self.as_json()), "application/json"
