"""The service's own health: it answers once it can reach its table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel


class ServiceHealthAnswer(BaseModel):
    """``GET /v1/health``."""

    status: Literal["ok"] = "ok"


class ServiceHealth:
    """``probe`` reads the table once (an outside fault raises, answered 503 by the API); then the service is up."""

    def __init__(self, probe: Callable[[], object]) -> None:
        self.probe = probe

    def check(self) -> ServiceHealthAnswer:
        self.probe()
        return ServiceHealthAnswer()
