"""A local QuickBooks Online: Intuit OAuth 2.0 and the v3 REST API, with QuickBooks' faults, limits and schemas.

``create_app(state)`` gives the Flask app; ``serve()`` runs it on loopback in a daemon thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from devstack.qbo_emulator.app import create_app
from devstack.qbo_emulator.faults import Fault
from devstack.qbo_emulator.state import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REALM,
    EmulatorState,
    FailureRule,
)

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_REALM",
    "EmulatorState",
    "FailureRule",
    "Fault",
    "RunningEmulator",
    "create_app",
    "serve",
]


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


@dataclass
class RunningEmulator:
    """An emulator serving on loopback; ``url`` is its base URL (discovery at ``discovery_url``)."""

    url: str
    state: EmulatorState
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def discovery_url(self) -> str:
        """What intuit-oauth takes as its ``environment``."""
        return f"{self.url}/.well-known/openid_configuration"

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()


def serve(host: str = "127.0.0.1", port: int = 0, state: EmulatorState | None = None) -> RunningEmulator:
    """Start the emulator in a daemon thread (threaded werkzeug server); port 0 picks a free port."""
    state = state or EmulatorState()
    server = make_server(host, port, create_app(state), threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="qbo-emulator", daemon=True
    )
    thread.start()
    return RunningEmulator(url=f"http://{host}:{server.server_port}", state=state, server=server, thread=thread)
