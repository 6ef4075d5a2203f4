"""The local gateway's events are what API Gateway (REST, proxy) sends: Powertools routes them unchanged."""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventModel
from devstack.gateway import Gateway, RouteMatch, RouteTable, build_event, proxy_response
from devstack.runtime import FunctionFailedError
from devstack.template import ApiRoute

ROUTES = [
    ApiRoute("Fn", "Get", "GET", "/v1/invoices/{id}"),
    ApiRoute("Fn", "Send", "POST", "/v1/purchase-orders/send-to-external"),
    ApiRoute("Fn", "Put", "PUT", "/v1/purchase-orders/{id}"),
    ApiRoute("Fn", "Anything", "ANY", "/files/{proxy+}"),
]

app = APIGatewayRestResolver()


@app.get("/v1/invoices/<invoice_id>")
def get_invoice(invoice_id: str) -> dict[str, Any]:
    event = app.current_event
    return {
        "id": invoice_id,
        "tags": event.multi_value_query_string_parameters.get("tag"),
        "limit": event.get_query_string_value("limit"),
        "key": event.headers.get("x-api-key"),
        "ip": event.request_context.identity.source_ip,
        "stage": event.request_context.stage,
    }


@app.post("/v1/purchase-orders/send-to-external")
def send() -> dict[str, Any]:
    return {"received": app.current_event.json_body}


def event_for(
    method: str,
    path: str,
    *,
    query: str = "",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    binary: tuple[str, ...] = (),
) -> dict[str, Any]:
    match = RouteTable(ROUTES).match(method, path)
    assert match is not None
    return build_event(
        match,
        method=method,
        raw_path=path,
        query=query,
        headers=headers or [("Host", "localhost")],
        body=body,
        source_ip="127.0.0.1",
        stage="local",
        api_id="abc",
        binary_media_types=binary,
    )


class Context:
    function_name = "fn"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:fn"
    aws_request_id = "r"


def test_powertools_routes_path_query_and_headers_when_the_gateway_builds_the_event() -> None:
    # Given
    event = event_for(
        "GET", "/v1/invoices/42", query="tag=a&tag=b&limit=5", headers=[("Host", "localhost"), ("X-Api-Key", "k")]
    )

    # When
    answer = app.resolve(event, Context())  # type: ignore[arg-type]

    # Then
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {
        "id": "42",
        "tags": ["a", "b"],
        "limit": "5",
        "key": "k",
        "ip": "127.0.0.1",
        "stage": "local",
    }


def test_event_validates_as_api_gateway_proxy_event_when_parsed_by_powertools() -> None:
    event = event_for(
        "POST",
        "/v1/purchase-orders/send-to-external",
        body=b'{"ids": [1]}',
        headers=[("Host", "localhost"), ("Content-Type", "application/json")],
    )

    parsed = APIGatewayProxyEventModel.model_validate(event)

    assert parsed.resource == "/v1/purchase-orders/send-to-external"
    assert parsed.requestContext.requestId
    assert parsed.requestContext.path == "/local/v1/purchase-orders/send-to-external"
    assert json.loads(app.resolve(event, Context())["body"]) == {"received": {"ids": [1]}}  # type: ignore[arg-type]


def test_literal_segments_win_over_parameters_when_both_match() -> None:
    table = RouteTable([ApiRoute("A", "p", "POST", "/v1/purchase-orders/{id}"), *ROUTES])

    match = table.match("POST", "/v1/purchase-orders/send-to-external")

    assert match == RouteMatch(ROUTES[1], {})


def test_greedy_parameter_captures_the_rest_when_the_route_has_proxy_plus() -> None:
    match = RouteTable(ROUTES).match("DELETE", "/files/a/b/c.pdf")

    assert match is not None and match.path_parameters == {"proxy": "a/b/c.pdf"}


def test_binary_body_arrives_base64_when_its_type_is_a_binary_media_type() -> None:
    pdf = b"%PDF-1.4\x00\xff"

    event = event_for(
        "PUT",
        "/v1/purchase-orders/7",
        body=pdf,
        binary=("application/pdf",),
        headers=[("Host", "localhost"), ("Content-Type", "application/pdf")],
    )

    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == pdf


def test_text_body_stays_text_when_its_type_is_not_binary() -> None:
    event = event_for(
        "POST",
        "/v1/purchase-orders/send-to-external",
        body="é".encode(),
        headers=[("Host", "localhost"), ("Content-Type", "application/json")],
        binary=("application/pdf",),
    )

    assert event["isBase64Encoded"] is False and event["body"] == "é"


def test_base64_response_is_sent_as_bytes_when_the_handler_says_so() -> None:
    answer = proxy_response(
        {
            "statusCode": 200,
            "headers": {"Content-Type": "application/pdf"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": base64.b64encode(b"\x00\x01").decode(),
            "isBase64Encoded": True,
        }
    )

    assert answer.body == b"\x00\x01"
    assert ("Set-Cookie", "a=1") in answer.headers and ("Set-Cookie", "b=2") in answer.headers


def test_malformed_handler_answer_is_a_502_when_status_code_is_missing() -> None:
    assert proxy_response({"body": "x"}).status == 502
    assert proxy_response(None).status == 502


def test_unknown_route_is_403_missing_token_when_no_template_route_matches() -> None:
    gateway = Gateway(ROUTES, lambda function_id, event: {"statusCode": 200})
    try:
        answer = gateway.answer("GET", "/nowhere", [], b"", "127.0.0.1")
    finally:
        gateway.shutdown()

    assert answer.status == 403
    assert json.loads(answer.body) == {"message": "Missing Authentication Token"}


def test_failing_function_is_a_502_when_the_handler_raises() -> None:
    def invoke(function_id: str, event: dict[str, Any]) -> Any:
        raise FunctionFailedError(function_id, ValueError("boom"))

    gateway = Gateway(ROUTES, invoke)
    try:
        answer = gateway.answer("GET", "/v1/invoices/1", [], b"", "127.0.0.1")
    finally:
        gateway.shutdown()

    assert answer.status == 502
    assert ("X-Devstack-Error", "Fn raised ValueError: boom") in answer.headers


def test_health_answers_503_when_the_stack_is_not_ready() -> None:
    gateway = Gateway([ApiRoute("M", "Health", "GET", "/v1/health")], lambda f, e: {"statusCode": 200, "body": "{}"})
    try:
        before = gateway.answer("GET", "/v1/health", [], b"", "127.0.0.1").status
        gateway.ready.set()
        after = gateway.answer("GET", "/v1/health", [], b"", "127.0.0.1").status
    finally:
        gateway.shutdown()

    assert (before, after) == (503, 200)
