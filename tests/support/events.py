"""Call a Lambda API handler in process with an API Gateway REST proxy event, as API Gateway would."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from devstack import lambda_proxy
from devstack.runtime import LambdaContext


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def proxy_event(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None, raw_body: str | None = None
) -> dict[str, Any]:
    parts = urlsplit(url)
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    return lambda_proxy.proxy_event(method, parts.path, parts.query, all_headers, text, stage="test")


class Api:
    """Routes requests to the handler module that serves each path, as the template wires them."""

    ROUTES = (
        ("/api/invoice.", "functions.invoice_create.app"),
        ("/v1/invoices", "functions.invoice_create.app"),
        ("/v1/purchase-orders", "functions.send_to_external.app"),
        ("/v1/documents", "functions.send_to_external.app"),
        ("/", "functions.management_api.app"),
    )

    def __init__(self, token: str | None = None) -> None:
        self.token = token

    def module(self, path: str) -> ModuleType:
        for prefix, name in self.ROUTES:
            if path.startswith(prefix):
                return importlib.import_module(name)
        raise LookupError(path)

    def call(
        self,
        method: str,
        url: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
        raw_body: str | None = None,
    ) -> ApiResponse:
        all_headers = dict(headers or {})
        bearer = token if token is not None else self.token
        if bearer and not url.startswith("/api/"):
            all_headers.setdefault("Authorization", f"Bearer {bearer}")
        event = proxy_event(method, url, body, all_headers, raw_body)
        module = self.module(urlsplit(url).path)
        result = module.lambda_handler(event, LambdaContext())
        headers = {k: v[-1] for k, v in (result.get("multiValueHeaders") or {}).items() if v}
        headers.update(result.get("headers") or {})
        return ApiResponse(result["statusCode"], headers, result.get("body") or "")

    def get(self, url: str, **kw: Any) -> ApiResponse:
        return self.call("GET", url, **kw)

    def post(self, url: str, body: Any = None, **kw: Any) -> ApiResponse:
        return self.call("POST", url, body, **kw)

    def put(self, url: str, body: Any = None, **kw: Any) -> ApiResponse:
        return self.call("PUT", url, body, **kw)

    def delete(self, url: str, **kw: Any) -> ApiResponse:
        return self.call("DELETE", url, **kw)

    def komet(self, method: str, body: dict[str, Any], token: str | None = None, **kw: Any) -> ApiResponse:
        payload = {"authenticationToken": token or self.token, **body}
        return self.call("POST", f"/api/{method}", payload, **kw)
