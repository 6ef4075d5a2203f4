"""Pydantic and JSON errors as FieldErrors that name the field in the request's own (camelCase) words."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from ledgersync.errors import FieldError

_LOCATIONS = {"body", "query", "path", "header", "cookie"}


def errors_from_details(details: Iterable[Mapping[str, Any]], prefix: str = "", body: Any = None) -> list[FieldError]:
    """Turn pydantic error details into FieldErrors with dotted paths, e.g. ``items[2].price``."""
    out = []
    for detail in details:
        if detail.get("type") == "json_invalid":
            out.append(FieldError("body", _json_message(detail, body)))
            continue
        path = prefix
        for part in detail.get("loc", ()):
            if isinstance(part, int):
                path += f"[{part}]"
            elif (part in _LOCATIONS and not path) or str(part).startswith(
                ("function-", "constrained-", "lax-", "json-or-python", "tagged-union")
            ):
                continue
            else:
                name = to_camel(str(part)) if "_" in str(part) else str(part)
                path = f"{path}.{name}" if path else name
        out.append(FieldError(path or "body", _message(detail)))
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
