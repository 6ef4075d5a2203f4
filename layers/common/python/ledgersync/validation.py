"""Pydantic and JSON errors as FieldErrors that name the field in the request's own (camelCase) words."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationError
from pydantic.alias_generators import to_camel

from ledgersync.errors import FieldError

_LOCATIONS = {"body", "query", "path", "header", "cookie"}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
DATE_RULE = "must be a date in the format YYYY-MM-DD"


def iso_date(value: Any) -> date:
    """A calendar date written ``YYYY-MM-DD``: ``2024-02-30`` and ``0000-00-00`` match the pattern but are refused."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value.strip()):
        raise ValueError(DATE_RULE)
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{DATE_RULE} (a day that exists), got {value.strip()}") from None


def iso_date_text(value: Any) -> str:
    """The same rule, kept as the ISO text."""
    return iso_date(value).isoformat()


IsoDate = Annotated[date, BeforeValidator(iso_date)]
IsoDateText = Annotated[str, BeforeValidator(iso_date_text)]


def errors_from_details(details: Iterable[Mapping[str, Any]], prefix: str = "", body: Any = None) -> list[FieldError]:
    """Turn pydantic error details into FieldErrors with dotted paths, e.g. ``items[2].price``."""
    out = []
    for detail in details:
        if detail.get("type") == "json_invalid":
            out.append(FieldError("body", _json_message(detail, body)))
            continue
        path = prefix
        loc = tuple(detail.get("loc", ()))
        bad_key = len(loc) >= 2 and loc[-1] == "[key]"  # a map key: (..., key, "[key]")
        if bad_key:
            loc = loc[:-2]
        for part in loc:
            if isinstance(part, int):
                path += f"[{part}]"
            elif (part in _LOCATIONS and not path) or str(part).startswith(
                ("function-", "constrained-", "lax-", "json-or-python", "tagged-union")
            ):
                continue
            else:
                name = to_camel(str(part)) if "_" in str(part) else str(part)
                path = f"{path}.{name}" if path else name
        message = _message(detail)
        if bad_key:
            message = f"key {str(detail.get('loc', ())[-2])[:40]!r}: {message}"
        out.append(FieldError(path or "body", message))
    return out


def field_errors(err: ValidationError, prefix: str = "") -> list[FieldError]:
    return errors_from_details(err.errors(), prefix)


def _json_message(detail: Mapping[str, Any], body: Any) -> str:
    loc = detail.get("loc", ())
    position = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
    reason = (detail.get("ctx") or {}).get("error", "malformed JSON")
    if position is None or not isinstance(body, str):
        return f"the body is not valid JSON: {reason}"
    line = body.count("\n", 0, position) + 1
    column = position - (body.rfind("\n", 0, position) + 1) + 1
    return f"the body is not valid JSON: {reason} at line {line}, column {column}"


def _message(detail: Mapping[str, Any]) -> str:
    kind = detail.get("type", "")
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind == "missing":
        return "is required"
    message = str(detail.get("msg", "is invalid"))
    return message.removeprefix("Value error, ")
