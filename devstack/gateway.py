"""A local API Gateway (REST, Lambda proxy integration): template routes in, v1 proxy events to the handlers.

The event is the REST API's payload format 1.0 (``resource``, ``path``, ``httpMethod``, ``headers``,
``multiValueHeaders``, query string maps, ``pathParameters``, ``requestContext``, ``body``,
``isBase64Encoded``). API Gateway's own answers (an unknown route: ``MISSING_AUTHENTICATION_TOKEN``, a body over
10 MB, a failing function) are the template's ``GatewayResponses`` when it declares them, else API Gateway's
defaults (403 ``Missing Authentication Token``, 413, 502 ``Internal server error``). The ``/__devstack/`` admin
paths answer only clients on this machine (loopback), and what the gateway logs has its tokens and keys masked.
"""

from __future__ import annotations

import base64
import fnmatch
import ipaddress
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from devstack.runtime import ACCOUNT_ID, FunctionCodeMissingError, FunctionFailedError
from devstack.template import ApiRoute, GatewayResponse
from ledgersync.observability import redact_text

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
ADMIN_PREFIX = "/__devstack/"
# Connections the kernel holds while every handler thread is busy starting: a burst of clients is queued,
# not reset (socketserver's default is 5).
LISTEN_BACKLOG = 256
# The methods an API Gateway REST ``ANY`` method stands for (TRACE, QUERY... reach no route)
ANY_METHODS = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"})
Invoker = Callable[[str, dict[str, Any]], Any]
AdminHandler = Callable[[str, str, bytes], tuple[int, Any]]


@dataclass(frozen=True)
class RouteMatch:
    """A route and the path parameters it captured."""

    route: ApiRoute
    path_parameters: dict[str, str]


class RouteTable:
    """Matches a method and path to a template route as API Gateway REST does: first the resource (the most
    specific path that matches; literal segments win over parameters), then its method, else its ``ANY``."""

    def __init__(self, routes: Iterable[ApiRoute]) -> None:
        by_path: dict[str, dict[str, ApiRoute]] = {}
        for route in routes:
            by_path.setdefault(route.path, {}).setdefault(route.method, route)
        self._compiled = sorted(
            ((_specificity(path), path, _pattern(path), methods) for path, methods in by_path.items()),
            key=lambda item: item[0],
            reverse=True,
        )

    def match(self, method: str, path: str) -> RouteMatch | None:
        """The route for ``method`` and ``path``, or None (API Gateway's MISSING_AUTHENTICATION_TOKEN): None also
        when the resource that matches takes neither this method nor ``ANY``, as API Gateway does not try another."""
        for _, _, pattern, methods in self._compiled:
            found = pattern.fullmatch(path)
            if found:
                route = methods.get(method.upper()) or (methods.get("ANY") if method.upper() in ANY_METHODS else None)
                if route is None:
                    return None
                return RouteMatch(route, {k.removesuffix("_greedy"): v for k, v in found.groupdict().items()})
        return None


def _pattern(path: str) -> re.Pattern[str]:
    parts = []
    for segment in path.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("+}"):
            parts.append(f"(?P<{_group(segment[1:-2])}_greedy>.+)")
        elif segment.startswith("{") and segment.endswith("}"):
            parts.append(f"(?P<{_group(segment[1:-1])}>[^/]+)")
        else:
            parts.append(re.escape(segment))
    return re.compile("/" + "/".join(parts))


def _group(name: str) -> str:
    if not name.isidentifier():
        raise ValueError(f"path parameter {{{name}}} is not a valid name")
    return name


def _specificity(path: str) -> tuple[int, int, int]:
    segments = path.strip("/").split("/")
    literal = sum(1 for s in segments if not s.startswith("{"))
    greedy = any(s.endswith("+}") for s in segments)
    return (0 if greedy else 1, literal, len(segments))


def build_event(
    match: RouteMatch,
    *,
    method: str,
    raw_path: str,
    query: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    source_ip: str,
    stage: str,
    api_id: str,
    binary_media_types: Sequence[str] = (),
) -> dict[str, Any]:
    """The REST API proxy event (payload format 1.0) for one HTTP request."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single[name] = value
        multi.setdefault(name, []).append(value)
    query_pairs = parse_qsl(query, keep_blank_values=True)
    query_single = dict(query_pairs)
    query_multi: dict[str, list[str]] = {}
    for key, value in query_pairs:
        query_multi.setdefault(key, []).append(value)
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
    is_binary = _is_binary(content_type, binary_media_types)
    text: str | None = None
    if body:
        if is_binary:
            text = base64.b64encode(body).decode()
        else:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text, is_binary = base64.b64encode(body).decode(), True
    host = single.get("Host") or next((v for k, v in headers if k.lower() == "host"), "127.0.0.1")
    path = unquote(raw_path)
    now = datetime.now(UTC)
    request_id = str(uuid.uuid4())
    return {
        "resource": match.route.path,
        "path": path,
        "httpMethod": method.upper(),
        "headers": single or None,
        "multiValueHeaders": multi or None,
        "queryStringParameters": query_single or None,
        "multiValueQueryStringParameters": query_multi or None,
        "pathParameters": {k: unquote(v) for k, v in match.path_parameters.items()} or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": api_id,
            "resourceId": uuid.uuid5(uuid.NAMESPACE_URL, match.route.path).hex[:6],
            "resourcePath": match.route.path,
            "httpMethod": method.upper(),
            "extendedRequestId": base64.b64encode(uuid.uuid4().bytes[:12]).decode(),
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "path": f"/{stage}{path}",
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": host.split(".")[0].split(":")[0],
            "domainName": host,
            "requestId": request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "apiKey": None,
                "principalOrgId": None,
                "sourceIp": source_ip,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": next((v for k, v in headers if k.lower() == "user-agent"), None),
                "user": None,
                "accessKey": None,
            },
        },
        "body": text,
        "isBase64Encoded": is_binary,
    }


def _is_binary(content_type: str, binary_media_types: Sequence[str]) -> bool:
    media_type = content_type.split(";", maxsplit=1)[0].strip().lower()
    return bool(media_type) and any(fnmatch.fnmatch(media_type, t.lower()) for t in binary_media_types)


@dataclass(frozen=True)
class HttpAnswer:
    """What the gateway writes back: status, headers (a name may repeat) and the body bytes."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def proxy_response(result: Any) -> HttpAnswer:
    """Turn a proxy integration result into the HTTP answer; a malformed one is API Gateway's 502."""
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        return json_answer(502, {"message": "Internal server error"})
    headers: list[tuple[str, str]] = []
    multi = result.get("multiValueHeaders") or {}
    for name, value in (result.get("headers") or {}).items():
        if name not in multi:
            headers.append((str(name), str(value)))
    for name, values in multi.items():
        headers.extend((str(name), str(v)) for v in values)
    body = result.get("body")
    if body is None:
        raw = b""
    elif result.get("isBase64Encoded"):
        raw = base64.b64decode(body)
    else:
        raw = str(body).encode("utf-8")
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return HttpAnswer(int(result["statusCode"]), headers, raw)


def json_answer(status: int, payload: Any, headers: Sequence[tuple[str, str]] = ()) -> HttpAnswer:
    return HttpAnswer(status, [("Content-Type", "application/json"), *headers], json.dumps(payload).encode())


# What API Gateway answers itself when the API declares no gateway response: (status, message, x-amzn-ErrorType)
GATEWAY_DEFAULTS = {
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token", "MissingAuthenticationTokenException"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long", "RequestTooLongException"),
    "DEFAULT_5XX": (502, "Internal server error", "InternalServerErrorException"),
}


def gateway_answer(
    kind: str,
    responses: Mapping[str, GatewayResponse],
    *,
    request_id: str = "",
    extra_headers: Sequence[tuple[str, str]] = (),
) -> HttpAnswer:
    """API Gateway's own answer of ``kind``: the template's gateway response for it (else its DEFAULT_4XX or
    DEFAULT_5XX), its ``$context.error`` variables filled in; API Gateway's default when none is declared."""
    status, message, error_type = GATEWAY_DEFAULTS[kind]
    family = "DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX"
    declared = responses.get(kind) or responses.get(family)
    headers = [("x-amzn-ErrorType", error_type), *extra_headers]
    if declared is None or not declared.template:
        return json_answer(status, {"message": message}, headers)
    variables = {
        "$context.error.messageString": json.dumps(message),
        "$context.error.message": message,
        "$context.error.responseType": kind if kind in responses else family,
        "$context.requestId": request_id,
    }
    body = declared.template
    for name in sorted(variables, key=len, reverse=True):
        body = body.replace(name, variables[name])
    headers = [(k, v) for k, v in declared.headers.items() if k.lower() != "content-type"] + headers
    return HttpAnswer(declared.status or status, [("Content-Type", "application/json"), *headers], body.encode())


class Gateway:
    """The HTTP server: routes from the template, admin paths under ``/__devstack/``."""

    def __init__(
        self,
        routes: Iterable[ApiRoute],
        invoke: Invoker,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        stage: str = "local",
        api_id: str = "devstack",
        binary_media_types: Sequence[str] = (),
        admin: AdminHandler | None = None,
        health_path: str = "/v1/health",
        log: Callable[[str], None] | None = None,
        gateway_responses: Mapping[str, GatewayResponse] | None = None,
    ) -> None:
        self.routes = RouteTable(routes)
        self.gateway_responses = dict(gateway_responses or {})
        self.invoke = invoke
        self.stage = stage
        self.api_id = api_id
        self.binary_media_types = list(binary_media_types)
        self.admin = admin
        self.health_path = health_path
        self.log = log
        self.ready = threading.Event()
        self._server = _Server((host, port), _handler_class(self))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="devstack-gateway", daemon=True
        )
        self._thread.start()

    def shutdown(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def answer(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes, source_ip: str
    ) -> HttpAnswer:
        """Route one request: admin paths, the not-ready health answer, then the template's routes."""
        parts = urlsplit(target)
        path = parts.path or "/"
        if path.startswith(ADMIN_PREFIX) and self.admin is not None:
            if not is_loopback(source_ip):
                return json_answer(
                    403,
                    {
                        "code": "Forbidden",
                        "message": "the devstack admin routes answer only on this machine (127.0.0.1 or ::1)",
                        "errors": [{"field": "sourceIp", "message": f"{source_ip} is not a loopback address"}],
                    },
                )
            status, payload = self.admin(method, path, body)
            return json_answer(status, payload)
        if path == self.health_path and not self.ready.is_set():
            return json_answer(503, {"status": "starting"}, [("Retry-After", "1")])
        if len(body) > MAX_PAYLOAD_BYTES:
            return gateway_answer("REQUEST_TOO_LARGE", self.gateway_responses)
        match = self.routes.match(method, unquote(path))
        if match is None:
            # an unknown path, or a method of a path with no ANY route (every path of template.yaml has one: 405)
            return gateway_answer("MISSING_AUTHENTICATION_TOKEN", self.gateway_responses)
        event = build_event(
            match,
            method=method,
            raw_path=path,
            query=parts.query,
            headers=headers,
            body=body,
            source_ip=source_ip,
            stage=self.stage,
            api_id=self.api_id,
            binary_media_types=self.binary_media_types,
        )
        try:
            result = self.invoke(match.route.function_id, event)
        except FunctionCodeMissingError as missing:
            return json_answer(501, {"message": f"devstack: {missing}"})
        except FunctionFailedError as failed:
            print(redact_text(failed.trace), file=sys.stderr)
            return gateway_answer(
                "DEFAULT_5XX",
                self.gateway_responses,
                request_id=str(event["requestContext"]["requestId"]),
                extra_headers=[("X-Devstack-Error", redact_text(str(failed).replace("\n", " "))[:500])],
            )
        if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
            return gateway_answer("DEFAULT_5XX", self.gateway_responses)  # a malformed proxy result
        return proxy_response(result)


def is_loopback(address: str) -> bool:
    """Whether a client address is this machine (127.0.0.0/8, ::1, or IPv4 loopback mapped into IPv6)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def loggable_target(target: str) -> str:
    """A request target as the log shows it: ``?authenticationToken=lsk_...`` and other credentials masked."""
    return redact_text(target)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG


def _handler_class(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "devstack-gateway"

        def _serve(self) -> None:
            started = time.monotonic()
            body = self._read_body()
            answer = gateway.answer(self.command, self.path, list(self.headers.items()), body, self.client_address[0])
            self.send_response_only(
                answer.status,
                HTTPStatus(answer.status).phrase if answer.status in HTTPStatus._value2member_map_ else None,
            )
            self.send_header("Date", self.date_time_string())
            for name, value in answer.headers:
                if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)
            if gateway.log is not None:
                elapsed_ms = (time.monotonic() - started) * 1000
                gateway.log(f"{self.command} {loggable_target(self.path)} -> {answer.status} ({elapsed_ms:.0f} ms)")

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        # TRACE and QUERY too: API Gateway answers a method ANY does not stand for like an unknown path (its
        # MISSING_AUTHENTICATION_TOKEN gateway response), where http.server would answer 501
        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve  # noqa: N815
        do_TRACE = do_QUERY = _serve  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
            return

    return Handler
