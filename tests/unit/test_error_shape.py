"""One error shape everywhere: API Gateway's own answers (template GatewayResponses, served alike by the local
gateway), 401s naming the refused credential, and bodies other than JSON refused on every route."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from devstack.gateway import Gateway
from devstack.runtime import FunctionFailedError
from devstack.template import Template

from tests.conftest import ADMIN_KEY
from tests.support.events import Api

TEMPLATE = Template.load()
RESPONSES = TEMPLATE.gateway_responses()
PARAMETER = re.compile(r"\{[^}]+\}")


def _shape(body: bytes) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(body)
    assert set(payload) == {"code", "message", "errors"}, payload
    assert isinstance(payload["message"], str) and payload["message"]
    assert all(set(e) == {"field", "message"} for e in payload["errors"])
    return payload


def _gateway(invoke: Any = None) -> Gateway:
    return Gateway(
        TEMPLATE.routes,
        invoke or (lambda function_id, event: {"statusCode": 200, "body": "{}"}),
        gateway_responses=RESPONSES,
    )


@pytest.mark.parametrize("kind", ["MISSING_AUTHENTICATION_TOKEN", "REQUEST_TOO_LARGE", "DEFAULT_4XX", "DEFAULT_5XX"])
def test_template_declares_each_gateway_response_in_the_error_shape_when_its_variables_are_filled(kind: str) -> None:
    declared = RESPONSES[kind]
    body = declared.template.replace("$context.error.messageString", json.dumps('a "quoted" message'))
    body = body.replace("$context.error.responseType", kind)
    assert "$context" not in body
    _shape(body.encode())
    assert declared.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nowhere"), ("GET", "/v1"), ("TRACE", "/v1/users"), ("QUERY", "/v1/invoices")],
)
def test_unknown_path_or_a_method_any_does_not_cover_is_404_in_the_error_shape_locally(method: str, path: str) -> None:
    gateway = _gateway()
    try:
        answer = gateway.answer(method, path, [], b"", "127.0.0.1")
    finally:
        gateway.shutdown()
    assert answer.status == 404
    assert ("Content-Type", "application/json") in answer.headers
    payload = _shape(answer.body)
    assert payload["code"] == "NotFound"
    assert payload["errors"][0]["field"] == "path"


def test_body_over_api_gateways_limit_is_413_naming_the_body_when_served_locally() -> None:
    gateway = _gateway()
    try:
        answer = gateway.answer("POST", "/v1/users", [], b"x" * (10 * 1024 * 1024 + 1), "127.0.0.1")
    finally:
        gateway.shutdown()
    assert answer.status == 413
    assert _shape(answer.body)["errors"][0]["field"] == "body"


def test_failing_function_is_502_in_the_error_shape_when_served_locally() -> None:
    def invoke(function_id: str, event: dict[str, Any]) -> Any:
        raise FunctionFailedError(function_id, ValueError("boom"))

    gateway = _gateway(invoke)
    try:
        answer = gateway.answer("GET", "/v1/invoices", [], b"", "127.0.0.1")
        malformed = Gateway(TEMPLATE.routes, lambda f, e: {"body": "x"}, gateway_responses=RESPONSES)
        broken = malformed.answer("GET", "/v1/invoices", [], b"", "127.0.0.1")
        malformed.shutdown()
    finally:
        gateway.shutdown()
    assert answer.status == 502 and broken.status == 502
    assert _shape(answer.body) == {"code": "DEFAULT_5XX", "message": "Internal server error", "errors": []}
    assert _shape(broken.body)["code"] == "DEFAULT_5XX"
    assert any(name == "X-Devstack-Error" for name, _ in answer.headers)


@pytest.mark.parametrize(
    ("url", "headers", "field"),
    [
        ("/v1/invoices", {}, "Authorization"),
        ("/v1/invoices", {"Authorization": "Bearer lsk_unknown"}, "Authorization"),
        ("/api/customer.list", {}, "authenticationToken"),
        ("/api/customer.list?authenticationToken=lsk_unknown", {}, "authenticationToken"),
    ],
)
def test_401_names_the_credential_it_refused_when_the_token_is_missing_or_unknown(
    api: Api, url: str, headers: dict[str, str], field: str
) -> None:
    answer = api.get(url, headers=headers)
    assert answer.status == 401
    payload = answer.json()
    assert payload["code"] == "Unauthorized"
    assert payload["errors"][0]["field"] == field


def test_401_names_the_admin_key_when_a_company_is_created_without_it(api: Api) -> None:
    answer = api.post("/v1/companies", {"name": "X"}, headers={"X-Admin-Key": ADMIN_KEY + "-wrong"})
    assert answer.status == 401
    assert answer.json()["errors"][0]["field"] == "X-Admin-Key"


BODY_ROUTES = sorted(
    {(r.method, PARAMETER.sub("1", r.path)) for r in TEMPLATE.routes if r.method in {"POST", "PUT"}}
    - {("POST", "/qbwc")}
)


@pytest.mark.parametrize(("method", "url"), BODY_ROUTES)
def test_every_body_route_refuses_a_body_that_is_not_json_with_415_naming_content_type(
    api: Api, method: str, url: str
) -> None:
    answer = api.call(method, url, raw_body='{"a": 1}', headers={"Content-Type": "text/plain"})
    assert answer.status == 415, answer.text
    assert answer.json()["errors"][0]["field"] == "Content-Type"


@pytest.mark.parametrize(("method", "url"), BODY_ROUTES)
def test_every_body_route_reads_a_form_typed_body_as_json_when_curl_sends_it(api: Api, method: str, url: str) -> None:
    answer = api.call(method, url, raw_body='{"a": 1}', headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status != 415, answer.text
    assert answer.status < 500, answer.text
