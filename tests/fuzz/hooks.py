"""Schemathesis hooks for the API fuzz run (loaded by schemathesis in .venv-fuzz through SCHEMATHESIS_HOOKS).

Komet methods read ``authenticationToken`` from the body or the query string before the Bearer header, so a
generated token string would make nearly every Komet call a 401 and leave the methods themselves unfuzzed. Where a
case carries a string token, it is replaced by the run's valid one; a missing or non-string token stays as generated
(those calls still exercise the 400 and 401 paths).
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

TOKEN = os.environ["LEDGERSYNC_FUZZ_TOKEN"]


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if isinstance(case.body, dict) and isinstance(case.body.get("authenticationToken"), str):
        case.body["authenticationToken"] = TOKEN
    if isinstance(case.query, dict) and isinstance(case.query.get("authenticationToken"), str):
        case.query["authenticationToken"] = TOKEN
