"""A local PO Reconciliation webhook endpoint: records every delivery and fails on request.

Any POST outside ``/__receiver/`` is a delivery: its headers and body are recorded and it is answered 200,
unless told otherwise with ``POST /__receiver/behaviour``:

    {"failTimes": 2, "status": 503, "retryAfter": 1}   the next 2 deliveries get 503 (with Retry-After), then 200
    {"status": 401, "body": "bad token"}               every delivery gets 401 until the behaviour is reset
    {"redirectTo": "https://elsewhere.example/x"}      answer 302 with that Location
    {"delaySeconds": 12}                               wait before answering (timeouts)
    {"bodyBytes": 1000000}                             answer a body of that many bytes (the sender's cap)
    {"secret": "<signing secret>"}                     check X-Ledgersync-Signature and record signatureValid

``GET /__receiver/deliveries`` lists the deliveries, ``DELETE /__receiver/deliveries`` forgets them and
``POST /__receiver/reset`` forgets the behaviour too. Run alone: ``python -m devstack.webhook_receiver --port 8099``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

CONTROL = "/__receiver"


@dataclass
class Behaviour:
    """How the next deliveries are answered."""

    fail_times: int | None = None
    status: int = 503
    retry_after: str | None = None
    body: str | None = None
    redirect_to: str | None = None
    delay_seconds: float = 0.0
    body_bytes: int = 0
    secret: str | None = None
    always: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Behaviour:
        fail_times = data.get("failTimes")
        status = int(data.get("status", 302 if data.get("redirectTo") else 503))
        retry_after = data.get("retryAfter")
        return cls(
            fail_times=int(fail_times) if fail_times is not None else None,
            status=status,
            retry_after=str(retry_after) if retry_after is not None else None,
            body=data.get("body"),
            redirect_to=data.get("redirectTo"),
            delay_seconds=float(data.get("delaySeconds", 0)),
            body_bytes=int(data.get("bodyBytes", 0)),
            secret=data.get("secret"),
            always=fail_times is None and ("status" in data or "redirectTo" in data),
        )


@dataclass
class ReceiverState:
    """Deliveries received and the behaviour to apply; safe to share between server threads."""

    deliveries: list[dict[str, Any]] = field(default_factory=list)
    behaviour: Behaviour = field(default_factory=Behaviour)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer_for(self) -> tuple[int, Behaviour]:
        """The status for the next delivery, consuming one of ``failTimes``."""
        with self.lock:
            behaviour = self.behaviour
            if behaviour.always:
                return behaviour.status, behaviour
            if behaviour.fail_times:
                behaviour.fail_times -= 1
                return behaviour.status, behaviour
            return 200, behaviour


def _signature_valid(secret: str, header: str, body: bytes) -> bool:
    parts = dict(part.strip().partition("=")[::2] for part in header.split(",") if "=" in part)
    timestamp = parts.get("t", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


def _json(status: int, value: Any) -> Response:
    return Response(json.dumps(value), status=status, content_type="application/json")


def create_app(state: ReceiverState) -> Any:
    """The WSGI app of the receiver."""

    @Request.application
    def app(request: Request) -> Response:
        path = request.path
        if path == f"{CONTROL}/deliveries":
            if request.method == "DELETE":
                with state.lock:
                    state.deliveries.clear()
                return _json(200, {"deliveries": []})
            with state.lock:
                return _json(200, {"deliveries": list(state.deliveries)})
        if path == f"{CONTROL}/behaviour" and request.method == "POST":
            with state.lock:
                state.behaviour = Behaviour.from_json(request.get_json(force=True) or {})
            return _json(200, {"ok": True})
        if path == f"{CONTROL}/reset" and request.method == "POST":
            with state.lock:
                state.behaviour = Behaviour()
                state.deliveries.clear()
            return _json(200, {"ok": True})
        if request.method != "POST":
            return _json(405, {"error": "deliveries are POSTed"})
        return _delivery(state, request)

    return app


def _delivery(state: ReceiverState, request: Request) -> Response:
    raw = request.get_data()
    status, behaviour = state.answer_for()
    try:
        parsed: Any = json.loads(raw)
    except ValueError:
        parsed = None
    record: dict[str, Any] = {
        "receivedAt": datetime.now(UTC).isoformat(),
        "method": request.method,
        "path": request.full_path.rstrip("?"),
        "headers": dict(request.headers.items()),
        "body": raw.decode("utf-8", errors="replace"),
        "json": parsed,
        "answeredStatus": status,
    }
    if behaviour.secret:
        record["signatureValid"] = _signature_valid(
            behaviour.secret, request.headers.get("X-Ledgersync-Signature", ""), raw
        )
    with state.lock:
        state.deliveries.append(record)
    if behaviour.delay_seconds:
        time.sleep(behaviour.delay_seconds)
    headers: dict[str, str] = {}
    if behaviour.retry_after is not None and status != 200:
        headers["Retry-After"] = behaviour.retry_after
    if behaviour.redirect_to and 300 <= status < 400:
        headers["Location"] = behaviour.redirect_to
    if behaviour.body_bytes:
        body: str = "x" * behaviour.body_bytes
    elif status != 200 and behaviour.body is not None:
        body = behaviour.body
    else:
        body = json.dumps({"received": True} if status == 200 else {"error": f"answering {status} as told"})
    return Response(body, status=status, headers=headers, content_type="application/json")


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


@dataclass
class RunningReceiver:
    """The receiver serving on loopback; ``url`` is its base URL, deliveries go to any path under it."""

    url: str
    state: ReceiverState
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def deliveries(self) -> list[dict[str, Any]]:
        """A copy of the deliveries received so far, oldest first."""
        with self.state.lock:
            return list(self.state.deliveries)

    def behave(self, **behaviour: Any) -> None:
        """Set the behaviour in process, with the JSON names (``failTimes``, ``status``, ``retryAfter``...)."""
        with self.state.lock:
            self.state.behaviour = Behaviour.from_json(behaviour)

    def reset(self) -> None:
        with self.state.lock:
            self.state.behaviour = Behaviour()
            self.state.deliveries.clear()

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> RunningReceiver:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()


def serve(host: str = "127.0.0.1", port: int = 0) -> RunningReceiver:
    """Start the receiver in a daemon thread (threaded werkzeug server); port 0 picks a free port."""
    state = ReceiverState()
    server = make_server(host, port, create_app(state), threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="webhook-receiver", daemon=True)
    thread.start()
    return RunningReceiver(url=f"http://{host}:{server.server_port}", state=state, server=server, thread=thread)


def main() -> None:
    parser = argparse.ArgumentParser(description="A local PO Reconciliation webhook receiver")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args()
    receiver = serve(args.host, args.port)
    print(f"webhook receiver on {receiver.url} (deliveries: {receiver.url}{CONTROL}/deliveries)")
    try:
        receiver.thread.join()
    except KeyboardInterrupt:
        receiver.shutdown()


if __name__ == "__main__":
    main()
