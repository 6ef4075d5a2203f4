"""The one logger, metrics and tracing of every function (Powertools), and what keeps secrets out of the logs.

Lambda's active tracing records every invocation without any SDK. Powertools' Tracer adds subsegments for
each AWS call, but it imports the X-Ray SDK (about 280 ms of cold start, more than all our own code), so it is
opt-in: set ``LEDGERSYNC_XRAY_SUBSEGMENTS=true`` on a function to get them (docs/decisions.md).

Every log line goes through ``RedactingFormatter``: an event logged with ``log_event``, headers, a URL or an
``extra=`` carrying a token, a key or a webhook secret is written with the secret replaced by ``***``.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

MASK = "***"
Handler = TypeVar("Handler", bound=Callable[..., Any])

# Names (lower case, letters and digits only) whose value is a credential wherever it appears.
_SECRET_NAMES = frozenset(
    {
        "authorization",
        "proxyauthorization",
        "xadminkey",
        "adminkey",
        "apikey",
        "xapikey",
        "cookie",
        "setcookie",
        "secretstring",
        "clientsecret",
    }
)
_SECRET_SUFFIXES = ("token", "secret", "password")
_NOT_SECRETS = frozenset({"synctoken", "nexttoken"})  # QuickBooks' version counter, a page cursor
# Query-string parameters that are credentials only there: an OAuth authorization code.
_QUERY_ONLY_NAMES = frozenset({"code"})
_QUERY_MAPS = frozenset({"querystringparameters", "multivaluequerystringparameters"})

_QUERY_NAME = (
    r"authenticationToken|token|adminToken|access_token|refresh_token|id_token|code|client_secret|clientSecret"
    r"|password|secret|signingSecret|api_key|apiKey|key|X-Admin-Key"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # lsk_ API tokens, wherever they are
    (re.compile(r"lsk_[A-Za-z0-9_\-]+"), "lsk_" + MASK),
    # Authorization: Bearer/Basic <credential>
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=\-]+"), r"\1\2" + MASK),
    # ?authenticationToken=...&code=... in a URL or a form body
    (re.compile(rf"(?i)((?:^|[?&;\s\"'])(?:{_QUERY_NAME})=)[^&#\s\"'<>]*"), r"\1" + MASK),
    # "token": "..." in JSON text (an event's body, a secret's value); also when that JSON is itself escaped
    (
        re.compile(
            r"(?i)(\\?\"(?!(?:sync|next)token\\?\")(?:[a-z_\-]*(?:token|secret|password)|authorization|x-admin-key"
            r"|api_?key)\\?\"\s*:\s*\\?\")"
            r"(?:[^\"\\]|\\[^\"])*"
        ),
        r"\1" + MASK,
    ),
    # X-Admin-Key: value / Authorization: value in header text
    (
        re.compile(r"(?i)\b(x-admin-key|authorization|x-api-key)(\s*[:=]\s*)(?!\*\*\*|(?:bearer|basic)\s)[^\s,;\"']+"),
        r"\1\2" + MASK,
    ),
)


def _normalized(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def is_secret_name(name: str, query: bool = False) -> bool:
    """Whether a field, header or parameter of this name holds a credential."""
    key = _normalized(name)
    if key in _NOT_SECRETS:
        return False
    return key in _SECRET_NAMES or key.endswith(_SECRET_SUFFIXES) or (query and key in _QUERY_ONLY_NAMES)


def redact_text(text: str) -> str:
    """``text`` with every token, key, password and signing secret it shows replaced by ``***``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any, *, query: bool = False) -> Any:
    """A copy of ``value`` (a log record, an event, headers) with credentials masked, by name and by shape."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            name = str(key)
            if item is not None and is_secret_name(name, query):
                out[key] = MASK
            else:
                out[key] = redact(item, query=_normalized(name) in _QUERY_MAPS)
        return out
    if isinstance(value, (list, tuple)):
        return [redact(item, query=query) for item in value]
    return value


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON log lines, with credentials masked in the record and, as a backstop, in the text."""

    def serialize(self, log: Mapping[str, Any]) -> str:
        return redact_text(super().serialize(redact(log)))


_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """Masks credentials in the record itself (message, arguments, ``extra=``), so that every handler the record
    reaches, a root handler or a test's capture included, sees it masked; appended keys are the formatter's."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.msg)
        if record.args:
            record.args = tuple(redact(list(record.args))) if isinstance(record.args, tuple) else redact(record.args)
        for name, value in list(vars(record).items()):
            if name not in _RECORD_ATTRIBUTES:
                setattr(record, name, MASK if value is not None and is_secret_name(name) else redact(value))
        return True


logger = Logger(service="ledgersync", logger_formatter=RedactingFormatter())
logging.getLogger(logger.service).addFilter(RedactingFilter())
metrics = Metrics(namespace="Ledgersync", service="ledgersync")


def keys_per_record(record_handler: Handler) -> Handler:
    """The log keys a record handler appends (a company, a PO) last for its record only, not for the batch's next.

    ``inject_lambda_context(clear_state=True)`` starts each invocation clean; a batch may hold several companies.
    Handlers append their record's keys with ``thread_safe_append_keys``: in the local stack several functions share
    one process (and one formatter), so a record's company must not show on another thread's lines meanwhile.
    """

    @functools.wraps(record_handler)
    def scoped(*args: Any, **kwargs: Any) -> Any:
        before = dict(logger.get_current_keys())
        before_thread = dict(logger.thread_safe_get_current_keys())
        try:
            return record_handler(*args, **kwargs)
        finally:
            after = logger.get_current_keys()
            logger.remove_keys([key for key in list(after) if key not in before])
            logger.append_keys(**{key: value for key, value in before.items() if after.get(key) is not value})
            added = [key for key in logger.thread_safe_get_current_keys() if key not in before_thread]
            logger.thread_safe_remove_keys(added)
            if before_thread:
                logger.thread_safe_append_keys(**before_thread)

    return cast(Handler, scoped)


class Tracing:
    """``capture_lambda_handler`` as Powertools' Tracer has it, building the Tracer only when subsegments are on."""

    def __init__(self) -> None:
        self.enabled = os.environ.get("LEDGERSYNC_XRAY_SUBSEGMENTS", "").lower() in {"1", "true", "yes"}

    def capture_lambda_handler(self, handler: Handler) -> Handler:
        if not self.enabled:
            return handler
        from aws_lambda_powertools import Tracer

        return cast(Handler, Tracer(service="ledgersync").capture_lambda_handler(handler))


tracer = Tracing()
