"""moto in server mode, one request at a time.

moto's backends are not thread-safe: two TransactWriteItems served on two threads can both pass their
condition checks before either applies, which real DynamoDB never allows. Serving one request at a time (a
lock around the WSGI app) gives the atomicity DynamoDB guarantees, while the callers stay concurrent, so
concurrency tests exercise our conditional writes and not moto's races.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server


class AtomicMotoServer:
    """A moto server on ``host``:``port`` (0 = any free port) that applies requests one at a time."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        from moto.server import DomainDispatcherApplication, create_backend_app  # type: ignore[attr-defined]

        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def serialized(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            with lock:
                return list(app(environ, start_response))

        self._server: BaseWSGIServer = make_server(host, port, serialized, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self._server.host}:{self._server.server_port}"

    def start(self) -> AtomicMotoServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
