"""The one logger, metrics and tracing of every function (Powertools).

Lambda's active tracing records every invocation without any SDK. Powertools' Tracer adds subsegments for
each AWS call, but it imports the X-Ray SDK (about 280 ms of cold start, more than all our own code), so it is
opt-in: set ``LEDGERSYNC_XRAY_SUBSEGMENTS=true`` on a function to get them (docs/decisions.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="ledgersync")
metrics = Metrics(namespace="Ledgersync", service="ledgersync")
Handler = TypeVar("Handler", bound=Callable[..., Any])


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
