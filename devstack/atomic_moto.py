"""moto in server mode, one request at a time, and the e-mails its SES holds, read without a request to it.

moto's backends are not thread-safe: two TransactWriteItems served on two threads can both pass their
condition checks before either applies, which real DynamoDB never allows. Serving one request at a time (a
lock around the WSGI app) gives the atomicity DynamoDB guarantees, while the callers stay concurrent, so
concurrency tests exercise our conditional writes and not moto's races.

moto runs in this process, so the local stack reads sent e-mails straight from the SES backend
(``SesOutbox``): only the messages sent since the last read are copied, under the lock for no longer than a
list slice, instead of ``/moto-api/data.json``, which serializes every object moto ever made while holding the
lock every other request waits for.
"""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server


class AtomicMotoServer:
    """A moto server on ``host``:``port`` (0 = any free port) that applies requests one at a time."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        from moto.server import DomainDispatcherApplication, create_backend_app  # type: ignore[attr-defined]

        app = DomainDispatcherApplication(create_backend_app)
        self.lock = threading.Lock()
        lock = self.lock

        def serialized(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            with lock:
                return list(app(environ, start_response))

        self._server: BaseWSGIServer = make_server(host, port, serialized, threaded=True)
        # stop() waits for the next poll: 0.05 s, as the other local servers, not serve_forever's 0.5 s
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="moto", daemon=True
        )

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


@dataclass(frozen=True)
class OutboxMark:
    """A point in the outbox: messages after it are "new". A moto reset starts a new generation."""

    generation: int
    count: int


class SesOutbox:
    """The e-mails moto's SES backend has sent for one account and region, oldest first, read incrementally."""

    def __init__(self, lock: threading.Lock, account_id: str, region: str) -> None:
        self._moto_lock = lock
        self._account_id = account_id
        self._region = region
        self._mutex = threading.Lock()
        self._source: list[Any] | None = None
        self._copied = 0
        self._generation = 0
        self._messages: list[dict[str, Any]] = []

    def mark(self) -> OutboxMark:
        """Where the outbox stands now."""
        with self._mutex:
            self._refresh()
            return OutboxMark(self._generation, len(self._messages))

    def since(self, mark: OutboxMark) -> tuple[list[dict[str, Any]], OutboxMark]:
        """The messages sent after ``mark`` (all of them after a moto reset), and the mark after them."""
        with self._mutex:
            self._refresh()
            start = mark.count if mark.generation == self._generation else 0
            return list(self._messages[start:]), OutboxMark(self._generation, len(self._messages))

    def _refresh(self) -> None:
        from moto.ses.models import ses_backends

        with self._moto_lock:
            sent: list[Any] = ses_backends[self._account_id][self._region].sent_messages
            if sent is not self._source or len(sent) < self._copied:
                self._source, self._copied, self._generation = sent, 0, self._generation + 1
                self._messages = []
            fresh = sent[self._copied :]
            self._copied += len(fresh)
        self._messages.extend(m for m in map(_readable, fresh) if m is not None)


def _readable(message: Any) -> dict[str, Any] | None:
    """One sent message as the stack shows it; templated messages are not read back (as data.json did not)."""
    from moto.ses.models import Message, RawMessage

    if isinstance(message, Message):
        destinations = message.destinations or {}
        return {
            "id": message.id,
            "source": message.source,
            "to": list(destinations.get("ToAddresses", [])),
            "cc": list(destinations.get("CcAddresses", [])),
            "bcc": list(destinations.get("BccAddresses", [])),
            "subject": message.subject,
            "body": message.body,
            "raw": None,
        }
    if isinstance(message, RawMessage):
        parsed = email.message_from_string(message.raw_data or "", policy=email.policy.default)
        part = parsed.get_body(preferencelist=("plain", "html")) if parsed.is_multipart() else parsed
        content = part.get_content() if part is not None else ""
        return {
            "id": message.id,
            "source": message.source,
            "to": sorted(set(message.destinations or [])) or [str(parsed.get("To", ""))],
            "cc": [],
            "bcc": [],
            "subject": str(parsed.get("Subject", "")),
            "body": content,
            "raw": message.raw_data,
        }
    return None
