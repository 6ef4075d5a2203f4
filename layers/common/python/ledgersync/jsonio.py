"""JSON in and out of the API: strict on the way in (finite, bounded numbers, bounded nesting); Decimals as JSON
numbers (never strings) and dates as ISO text on the way out."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from pydantic import BaseModel

from ledgersync.errors import FieldError, ValidationFailed

MAX_DEPTH = 32
MAX_INTEGER_DIGITS = 20  # Komet ids are integer:20
MAX_EXPONENT = 20  # no number above 1e20 or with more than 20 decimal places means anything here
_NUMBER_RULE = "must be a finite number below 1e20 with at most 20 decimal places"


class _Refused:
    """A number the parser met but cannot keep (NaN, Infinity, 1e-300, 10**5000): reported with its path."""

    def __init__(self, text: str) -> None:
        self.text = text


def _parse_float(text: str) -> Decimal | _Refused:
    value = Decimal(text)
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int) or exponent < -MAX_EXPONENT or (value and value.adjusted() >= MAX_EXPONENT):
        return _Refused(text)
    return value


def _parse_int(text: str) -> int | _Refused:
    return _Refused(text) if len(text.lstrip("-")) > MAX_INTEGER_DIGITS else int(text)


def loads(text: str) -> Any:
    """Parse a request body: decimals stay exact; NaN, Infinity, numbers out of range and nesting deeper than
    ``MAX_DEPTH`` are refused with a ``ValidationFailed`` naming where they are (``json.JSONDecodeError`` for text
    that is not JSON at all)."""
    try:
        value = json.loads(text, parse_float=_parse_float, parse_int=_parse_int, parse_constant=_Refused)
    except RecursionError:
        raise ValidationFailed(FieldError("body", f"nests deeper than {MAX_DEPTH} levels")) from None
    _check(value)
    return value


def _check(value: Any) -> None:
    """Walk the parsed body without recursion: refuse deep nesting and numbers the parser marked."""
    pending: list[tuple[Any, str, int]] = [(value, "", 0)]
    while pending:
        node, path, depth = pending.pop()
        if isinstance(node, _Refused):
            raise ValidationFailed(FieldError(path or "body", f"{_NUMBER_RULE}, got {node.text[:40]}"))
        if isinstance(node, dict | list) and depth >= MAX_DEPTH:
            raise ValidationFailed(FieldError(path or "body", f"nests deeper than {MAX_DEPTH} levels"))
        if isinstance(node, dict):
            pending.extend((v, f"{path}.{k}" if path else str(k), depth + 1) for k, v in node.items())
        elif isinstance(node, list):
            pending.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(node))


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="python", by_alias=True, exclude_none=True)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


def dumps(value: Any) -> str:
    """Serialize for an HTTP response."""
    return json.dumps(value, default=_default, separators=(",", ":"), ensure_ascii=False)
