"""The local stack under load: a burst of connections is queued and answered, and reading e-mails never goes
through moto's data.json (which serialized all of moto's state under its lock every second)."""

from __future__ import annotations

import json
import select
import socket
import tracemalloc
from collections.abc import Iterator

import pytest
import requests
from devstack.gateway import Gateway
from devstack.stack import LocalStack

pytestmark = pytest.mark.integration

BURST = 50


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(schedules=False, pollers=False, emulators=False) as running:
        yield running


def test_a_burst_of_fifty_connections_is_all_answered_when_they_arrive_before_any_is_accepted(
    stack: LocalStack,
) -> None:
    # Given a gateway on the stack's routes that is listening but has not accepted anything yet
    gateway = Gateway(stack.template.routes, stack.invoke)
    gateway.ready.set()
    host, port = gateway.url.removeprefix("http://").split(":")
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(BURST)]
    try:
        # When fifty clients connect at once
        for sock in sockets:
            sock.setblocking(False)
            sock.connect_ex((host, int(port)))
        connected = _handshaken(sockets, rounds=50)
        refused = [s for s in connected if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)]

        # Then the kernel holds every one of them (a backlog of 5 would leave 44 unanswered or reset)
        assert len(connected) == BURST and not refused
        for sock in sockets:
            sock.setblocking(True)
            sock.settimeout(30)
            sock.sendall(f"GET /v1/health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        # And once the gateway serves, each is answered
        gateway.start()
        statuses = [_status(sock) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
        gateway.shutdown()
    assert statuses == [200] * BURST


def _handshaken(sockets: list[socket.socket], rounds: int) -> list[socket.socket]:
    """The sockets whose connection the kernel completed (or refused), waiting up to ``rounds`` tenths of a second."""
    done: list[socket.socket] = []
    pending = list(sockets)
    for _ in range(rounds):
        _, ready, _ = select.select([], pending, [], 0.1)
        done += ready
        pending = [s for s in pending if s not in ready]
        if not pending:
            break
    return done


def _status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1])


def test_emails_are_read_back_without_moto_data_json_when_handlers_send_them(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given data.json made unavailable: the stack must not need it
    ses = stack.client("ses")
    sender = next(iter(stack.resources.email_identities.values()))
    before = len(stack.emails())
    calls: list[str] = []
    real_get = requests.get

    def no_data_json(url: str, *args: object, **kwargs: object) -> requests.Response:
        calls.append(url)
        assert "/moto-api/data.json" not in url
        return real_get(url, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(requests, "get", no_data_json)

    # When a plain and a raw e-mail are sent
    ses.send_email(
        Source=sender,
        Destination={"ToAddresses": ["ops@example.com"]},
        Message={"Subject": {"Data": "PO 7 failed"}, "Body": {"Text": {"Data": "vendor unknown"}}},
    )
    ses.send_raw_email(
        Source=sender,
        Destinations=["ap@example.com"],
        RawMessage={"Data": f"From: {sender}\r\nTo: ap@example.com\r\nSubject: Raw one\r\n\r\nraw body\r\n"},
    )

    # Then both are read back, in the order sent, from the stack and over HTTP
    mails = stack.emails()[before:]
    assert [(m["to"], m["subject"]) for m in mails] == [
        (["ops@example.com"], "PO 7 failed"),
        (["ap@example.com"], "Raw one"),
    ]
    assert mails[0]["body"] == "vendor unknown" and "raw body" in mails[1]["body"]
    with requests.Session() as session:
        listed = session.get(f"{stack.api_url}/__devstack/emails", timeout=10).json()
    assert listed[before:] == json.loads(json.dumps(mails))
    assert not [c for c in calls if "data.json" in c]


def test_memory_does_not_grow_with_the_number_of_email_polls(stack: LocalStack) -> None:
    # Given some e-mails and a warmed-up reader
    ses = stack.client("ses")
    sender = next(iter(stack.resources.email_identities.values()))
    for index in range(20):
        ses.send_email(
            Source=sender,
            Destination={"ToAddresses": ["ops@example.com"]},
            Message={"Subject": {"Data": f"m{index}"}, "Body": {"Text": {"Data": "x" * 500}}},
        )
    stack.emails()

    # When the e-mails are polled 200 and then 2,000 times
    tracemalloc.start()
    try:
        for _ in range(200):
            stack.emails()
        after_few = tracemalloc.get_traced_memory()[0]
        for _ in range(2000):
            stack.emails()
        after_many = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()

    # Then ten times more polls keep no more memory (a small allowance for allocator noise)
    assert after_many - after_few < 64 * 1024, (after_few, after_many)
